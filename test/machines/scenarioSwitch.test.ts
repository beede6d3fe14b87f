/** scenarioSwitch: effective changes only on a completed commit; a failure keeps the previous one and says why. */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createActor, fromPromise, waitFor } from 'xstate'
import { type ScenarioRef, scenarioEvents, scenarioSwitch } from '../../machines/scenarioSwitch.ts'

const ref = (name: string): ScenarioRef => ({
  name,
  version: '1.0.0',
  checksum: 'sha256:x',
  skills: [],
  projection: { ui: { name }, data: {} },
})

function start(opts: { failPrepare?: string; failCommit?: string; gate?: Promise<void> } = {}) {
  const commits: string[] = []
  const logic = scenarioSwitch.provide({
    actors: {
      prepare: fromPromise(async ({ input }: { input: { webspace: string; name: string } }) => {
        await opts.gate
        if (input.name === opts.failPrepare) throw new Error(`skill of ${input.name} does not load`)
        return { at: 5, scenario: ref(input.name) }
      }),
      commit: fromPromise(async ({ input }: { input: { webspace: string; scenario: ScenarioRef } }) => {
        if (input.scenario.name === opts.failCommit) throw { message: 'disk full', code: 'EIO' }
        commits.push(input.scenario.name)
        return { at: 7 }
      }),
    },
  })
  const actor = createActor(logic, { input: { webspace: 'desktop' } }).start()
  return { actor, commits }
}

const settled = (a: ReturnType<typeof start>['actor']) => waitFor(a, (s) => s.matches('settled'))

const s = suite('scenarioSwitch')

s('a switch prepares, commits once, then names the scenario effective', async () => {
  const { actor, commits } = start()
  actor.send(scenarioEvents.set('kiosk', 1))
  assert.is(actor.getSnapshot().value, 'preparing')
  assert.equal(actor.getSnapshot().context.requested, { id: 1, name: 'kiosk', at: 1 })
  assert.is(actor.getSnapshot().context.effective, null)
  const snap = await settled(actor)
  assert.equal(commits, ['kiosk'])
  assert.is(snap.context.effective?.name, 'kiosk')
  assert.is(snap.context.effective?.since, 7)
  assert.is(snap.context.requested, null)
  assert.is(snap.context.error, null)
})

s('a failed prepare or commit leaves the previous scenario effective and records why', async () => {
  const { actor, commits } = start({ failPrepare: 'broken', failCommit: 'full' })
  actor.send(scenarioEvents.set('kiosk', 1))
  await settled(actor)
  actor.send(scenarioEvents.set('broken', 2))
  let snap = await settled(actor)
  assert.is(snap.context.effective?.name, 'kiosk')
  assert.equal(snap.context.error, {
    id: 2,
    scenario: 'broken',
    step: 'prepare',
    message: 'skill of broken does not load',
    at: 7,
  })
  actor.send(scenarioEvents.set('full', 9))
  snap = await settled(actor)
  assert.is(snap.context.effective?.name, 'kiosk')
  assert.is(snap.context.error?.step, 'commit')
  assert.is(snap.context.error?.code, 'EIO')
  assert.equal(commits, ['kiosk'])
  assert.equal(
    snap.context.history.map((h) => [h.scenario, h.outcome]),
    [
      ['kiosk', 'effective'],
      ['broken', 'failed'],
      ['full', 'failed'],
    ],
  )
})

s('one switch at a time; a reproject needs an effective scenario', async () => {
  let open!: () => void
  const { actor, commits } = start({ gate: new Promise((r) => (open = r)) })
  assert.is(actor.getSnapshot().can(scenarioEvents.reproject(1)), false)
  actor.send(scenarioEvents.set('kiosk', 1))
  assert.is(actor.getSnapshot().can(scenarioEvents.set('lobby', 2)), false)
  actor.send(scenarioEvents.set('lobby', 2))
  open()
  await settled(actor)
  assert.equal(commits, ['kiosk'])
  actor.send(scenarioEvents.reproject(3))
  assert.is(actor.getSnapshot().value, 'reprojecting')
  await settled(actor)
  assert.equal(commits, ['kiosk', 'kiosk'])
})

s.run()
