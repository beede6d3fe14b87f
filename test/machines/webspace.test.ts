import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createActor, fromPromise } from 'xstate'
import { SimulatedClock } from '../../actors/index.ts'
import { webspace, webspaceEvents } from '../../machines/webspace.ts'

/** A webspace actor on a simulated clock with effects the test resolves by hand. */
function harness(policy = { firstSyncTimeoutMs: 1000, backoffMs: 100, maxBackoffMs: 400 }) {
  const clock = new SimulatedClock(0)
  const calls: string[] = []
  const pending: Array<{ what: string; resolve: (v: any) => void; reject: (e: any) => void }> = []
  const deferred = (what: string) =>
    fromPromise<any, any>(({ input }) => {
      calls.push(`${what}${input?.file ? ' ' + input.file : ''}`)
      return new Promise((resolve, reject) => pending.push({ what, resolve, reject }))
    })
  const served: string[] = []
  const m = webspace.provide({
    actors: {
      load: deferred('load'),
      recreateProvider: deferred('recreate'),
      backup: deferred('backup'),
      restore: deferred('restore'),
      reset: deferred('reset'),
    },
    actions: { serve: () => void served.push('serve'), unserve: () => void served.push('unserve') },
  })
  const actor = createActor(m, { input: { name: 'd', policy }, clock }).start()
  const settle = async (what: string, value: unknown, ok = true) => {
    let i = pending.length - 1
    while (i >= 0 && pending[i].what !== what) i--
    assert.ok(i >= 0, `no pending ${what}; calls: ${calls.join(',')}`)
    const [p] = pending.splice(i, 1)
    ok ? p.resolve(value) : p.reject(value)
    await new Promise((r) => setTimeout(r, 0))
  }
  return {
    actor,
    clock,
    calls,
    settle,
    served,
    value: () => actor.getSnapshot().value,
    ctx: () => actor.getSnapshot().context,
  }
}

const lifecycle = suite('webspace - lifecycle')

lifecycle('loading -> synced serves; backup keeps serving; restore and reset bump the epoch and reload', async () => {
  const h = harness()
  assert.is(h.value(), 'loading')
  await h.settle('load', { bytes: 10, updates: 2, epoch: 0 })
  assert.equal(h.value(), { synced: 'ready' })
  assert.equal(h.served, ['serve'])
  h.actor.send(webspaceEvents.backup())
  assert.equal(h.value(), { synced: 'backingUp' })
  await h.settle('backup', { file: '/b/d.1.ydoc', bytes: 10 })
  assert.equal(h.value(), { synced: 'ready' })
  assert.equal(h.ctx().lastBackup, { file: '/b/d.1.ydoc', bytes: 10 })
  assert.equal(h.served, ['serve'], 'a backup does not disconnect anyone')
  h.actor.send(webspaceEvents.restore('/b/d.1.ydoc'))
  assert.is(h.value(), 'restoring')
  assert.equal(h.served, ['serve', 'unserve'])
  await h.settle('restore', { file: '/b/d.1.ydoc', bytes: 10, epoch: 1 })
  assert.is(h.value(), 'loading')
  await h.settle('load', { bytes: 10, updates: 0, epoch: 1 })
  assert.is(h.ctx().epoch, 1)
  h.actor.send(webspaceEvents.reset())
  assert.is(h.value(), 'resetting')
  await h.settle('reset', { epoch: 2 })
  await h.settle('load', { bytes: 0, updates: 0, epoch: 2 })
  assert.is(h.ctx().epoch, 2)
  h.actor.send(webspaceEvents.reload())
  assert.is(h.value(), 'loading')
  assert.is(h.ctx().lastAction, 'reload')
})

lifecycle('a backup that fails is reported and the webspace stays served', async () => {
  const h = harness()
  await h.settle('load', { bytes: 0, updates: 0, epoch: 0 })
  h.actor.send(webspaceEvents.backup('/nope/x.ydoc'))
  await h.settle('backup', new Error('EACCES'), false)
  assert.equal(h.value(), { synced: 'ready' })
  assert.match(String(h.ctx().lastError), /backup failed: EACCES/)
})

lifecycle('backup is ignored while loading (the API answers 409 before sending)', () => {
  const h = harness()
  h.actor.send(webspaceEvents.backup())
  assert.is(h.value(), 'loading')
})

const heal = suite('webspace - first-sync timeout heals by policy')

heal('a load that hangs past the timeout recreates the provider and loads again after backoff', async () => {
  const h = harness()
  h.clock.increment(999)
  assert.is(h.value(), 'loading')
  h.clock.increment(1)
  assert.equal(h.value(), { healing: 'recreating' })
  assert.is(h.ctx().attempts, 1)
  assert.match(String(h.ctx().lastError), /within 1000 ms/)
  await h.settle('recreate', undefined)
  assert.equal(h.value(), { healing: 'waiting' })
  assert.is(h.ctx().heals, 1)
  h.clock.increment(99)
  assert.equal(h.value(), { healing: 'waiting' })
  h.clock.increment(1)
  assert.is(h.value(), 'loading')
  // second attempt fails outright: backoff doubles
  await h.settle('load', new Error('disk busy'), false)
  assert.is(h.ctx().attempts, 2)
  await h.settle('recreate', undefined)
  h.clock.increment(199)
  assert.equal(h.value(), { healing: 'waiting' })
  h.clock.increment(1)
  assert.is(h.value(), 'loading')
  await h.settle('load', { bytes: 1, updates: 1, epoch: 0 })
  assert.equal(h.value(), { synced: 'ready' })
  assert.is(h.ctx().attempts, 0)
  assert.is(h.ctx().heals, 2)
  assert.is(h.calls.filter((c) => c === 'load').length, 3)
})

heal('the backoff is capped', async () => {
  const h = harness()
  for (let i = 0; i < 5; i++) {
    h.clock.increment(1000)
    await h.settle('recreate', undefined)
    h.clock.increment(Math.min(400, 100 * 2 ** i))
    assert.is(h.value(), 'loading', `attempt ${i}`)
  }
  assert.is(h.ctx().attempts, 5)
})

lifecycle.run()
heal.run()
