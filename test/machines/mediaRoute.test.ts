// mediaRoute hosted as a durable actor on a real LevelDB store with a SimulatedClock: selection
// (direct preferred, relay as the degradation class, unavailable with the reason), failure
// reports and connect deadlines making a path suspect, failover when a target leaves, stale
// reports ignored, policy changes, the retry going back to direct, the `execute` effect told of
// every attempt, and the journal replaying with `--verify` (the CLI's replayFile; the e2e runs the
// CLI itself on a live route's log).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { ActorSystem, SimulatedClock, exportLog } from '../../actors/index.ts'
import { mediaRoute, routeEvents as ev, type MediaRouteContext } from '../../machines/mediaRoute.ts'
import { LevelStore } from '../../runtime/LevelStore.ts'
import { replayFile } from '../../runtime/commands/replay.ts'

const PATH = 'route:page-1:clock'
const able = { reachable: true, authorized: true, healthy: true }

interface Executed {
  seq: number
  target: string | null
  path: string | null
  status: string
}

async function open(dir: string, clock: SimulatedClock) {
  const executed: Executed[] = []
  const machine = mediaRoute.provide({
    actions: {
      execute: ({ context }) => {
        const a = context.attempt!
        executed.push({ seq: a.seq, target: a.target, path: a.path, status: a.status })
      },
    },
  })
  const system = await ActorSystem.open({ store: await LevelStore.open(dir), clock, machines: { mediaRoute: machine } })
  return { system, executed }
}

async function tick(system: ActorSystem, n = 4) {
  for (let i = 0; i < n; i++) {
    await system.flush()
    await new Promise((r) => setImmediate(r))
  }
}

const ctx = (s: ActorSystem) => s.hosted(PATH)!.actor.getSnapshot().context as MediaRouteContext
const value = (s: ActorSystem) => JSON.stringify(s.hosted(PATH)!.actor.getSnapshot().value)

async function spawnRoute(system: ActorSystem, clock: SimulatedClock, extra: Record<string, unknown> = {}) {
  await system.spawn(PATH, 'mediaRoute', {
    durable: true,
    input: { consumer: 'page-1', need: 'clock', connectMs: 1000, retryMs: 5000, at: clock.now(), ...extra },
  })
}
const send = (system: ActorSystem, e: { type: string }) => system.sendCommitted(PATH, e as any)

let dir = ''
const tmp = () => mkdtempSync(join(tmpdir(), 'aether-route-'))

const select = suite('mediaRoute - selection')
select.before.each(() => {
  dir = tmp()
})
select.after.each(() => rmSync(dir, { recursive: true, force: true }))

select('mediaRoute - nothing advertised: unavailable, and it says why', async () => {
  const clock = new SimulatedClock(1_000)
  const { system, executed } = await open(dir, clock)
  await spawnRoute(system, clock)
  await tick(system)
  assert.is(value(system), '"unavailable"')
  assert.match(ctx(system).degradation.reason!, /no target advertises "clock"/)
  assert.equal(executed.at(-1), { seq: 1, target: null, path: null, status: 'unavailable' })
  await send(system, ev.release('the page closed', clock.now()))
  await tick(system)
  assert.is(value(system), '"released"', 'an unavailable route is released too')
  await system.close()
})

select('mediaRoute - a capable, able target is routed direct; reported up makes it live', async () => {
  const clock = new SimulatedClock(1_000)
  const { system, executed } = await open(dir, clock)
  await spawnRoute(system, clock)
  await send(system, ev.capability('cam-1', ['clock'], ['direct', 'relay'], clock.now()))
  await tick(system)
  assert.is(value(system), '"unavailable"', 'capable but its ability is unknown')
  assert.match(ctx(system).degradation.reason!, /cam-1: ability unknown/)
  await send(system, ev.ability('cam-1', able, clock.now()))
  await tick(system)
  assert.is(value(system), '{"direct":"connecting"}')
  const c = ctx(system)
  assert.is(c.attempt!.target, 'cam-1')
  assert.is(c.attempt!.seq, 2)
  assert.is(c.attempt!.cause, 'a target became available')
  assert.is(c.degradation.active, 'none')
  assert.equal(executed.at(-1), { seq: 2, target: 'cam-1', path: 'direct', status: 'connecting' })
  clock.increment(50)
  await send(system, ev.observed(2, 'up', clock.now()))
  await tick(system)
  assert.is(value(system), '{"direct":"live"}')
  assert.is(ctx(system).attempt!.liveAt, 1_050)
  await system.close()
})

select('mediaRoute - a target that serves only relay, or a policy without direct, is relayed and says so', async () => {
  const clock = new SimulatedClock(1_000)
  const { system } = await open(dir, clock)
  await spawnRoute(system, clock)
  await send(system, ev.capability('cam-1', ['clock'], ['relay'], clock.now()))
  await send(system, ev.ability('cam-1', able, clock.now()))
  await tick(system)
  assert.is(value(system), '{"relayed":"connecting"}')
  assert.is(ctx(system).degradation.active, 'relay')
  assert.match(ctx(system).degradation.reason!, /no target serves "clock" directly/)
  await send(system, ev.capability('cam-2', ['clock'], ['direct'], clock.now()))
  await send(system, ev.ability('cam-2', able, clock.now()))
  await tick(system)
  assert.is(value(system), '{"relayed":"connecting"}', 'a relayed route does not jump at once')
  await send(system, ev.observed(ctx(system).attempt!.seq, 'up', clock.now()))
  await send(system, ev.policy(false, true, clock.now()))
  await tick(system)
  assert.is(value(system), '{"relayed":"live"}')
  clock.increment(5000)
  await tick(system)
  assert.is(value(system), '{"relayed":"live"}', 'the retry finds no direct path the policy allows')
  await send(system, ev.policy(true, false, clock.now()))
  await tick(system)
  assert.is(value(system), '{"direct":"connecting"}', 'relay no longer allowed: the route goes to cam-2 direct')
  assert.is(ctx(system).attempt!.target, 'cam-2')
  assert.match(ctx(system).attempt!.cause, /relay is no longer allowed/)
  await system.close()
})

const failures = suite('mediaRoute - failures and failover')
failures.before.each(() => {
  dir = tmp()
})
failures.after.each(() => rmSync(dir, { recursive: true, force: true }))

failures('mediaRoute - a failed direct path degrades to relay, then the retry goes direct again', async () => {
  const clock = new SimulatedClock(1_000)
  const { system, executed } = await open(dir, clock)
  await spawnRoute(system, clock)
  await send(system, ev.capability('cam-1', ['clock'], ['direct', 'relay'], clock.now()))
  await send(system, ev.ability('cam-1', able, clock.now()))
  await tick(system)
  const seq = ctx(system).attempt!.seq
  await send(system, ev.observed(seq, 'up', clock.now()))
  clock.increment(200)
  await send(system, ev.observed(seq, 'failed', clock.now(), 'no frame for 300 ms'))
  await tick(system)
  assert.is(value(system), '{"relayed":"connecting"}')
  const c = ctx(system)
  assert.is(c.attempt!.target, 'cam-1')
  assert.is(c.attempt!.path, 'relay')
  assert.is(c.attempt!.seq, seq + 1)
  assert.is(c.switches, 2, 'unavailable -> direct -> relay')
  assert.equal(c.previous, {
    seq,
    target: 'cam-1',
    path: 'direct',
    endedBy: 'failed: no frame for 300 ms',
    at: 1_200,
  })
  assert.equal(c.observed, { seq, target: 'cam-1', path: 'direct', failure: 'no frame for 300 ms', at: 1_200 })
  assert.equal(Object.keys(c.suspect), ['direct:cam-1'])
  assert.is(c.degradation.active, 'relay')
  assert.match(c.degradation.reason!, /direct is not possible: no frame for 300 ms/)
  // a late report of the old attempt changes nothing
  await send(system, ev.observed(seq, 'up', clock.now()))
  await tick(system)
  assert.is(ctx(system).monitoring.staleReports, 1)
  assert.is(value(system), '{"relayed":"connecting"}')
  await send(system, ev.observed(seq + 1, 'up', clock.now()))
  await tick(system)
  assert.is(value(system), '{"relayed":"live"}')
  clock.increment(5000)
  await tick(system)
  assert.is(value(system), '{"direct":"connecting"}', 'the retry tries direct again')
  assert.is(ctx(system).attempt!.cause, 'retry: the suspect paths are tried again')
  assert.is(ctx(system).now, 6_200)
  assert.equal(
    executed.map((e) => `${e.seq}:${e.path}`),
    ['1:null', '2:direct', '3:relay', '4:direct'],
  )
  await system.close()
})

failures('mediaRoute - a missed connect deadline makes the path suspect', async () => {
  const clock = new SimulatedClock(1_000)
  const { system } = await open(dir, clock)
  await spawnRoute(system, clock, { relay: false })
  await send(system, ev.capability('cam-1', ['clock'], ['direct', 'relay'], clock.now()))
  await send(system, ev.ability('cam-1', able, clock.now()))
  await tick(system)
  clock.increment(1000)
  await tick(system)
  assert.is(value(system), '"unavailable"')
  const c = ctx(system)
  assert.is(c.observed!.failure, 'not live within 1000 ms')
  assert.is(c.now, 2_000)
  assert.match(c.degradation.reason!, /cam-1: its allowed paths failed/)
  clock.increment(5000)
  await tick(system)
  assert.is(value(system), '{"direct":"connecting"}', 'forgiven by the retry')
  await system.close()
})

failures(
  'mediaRoute - a target that leaves fails over to another one; the last one leaving makes it unavailable',
  async () => {
    const clock = new SimulatedClock(1_000)
    const { system } = await open(dir, clock)
    await spawnRoute(system, clock)
    for (const t of ['cam-2', 'cam-1'])
      await send(system, ev.capability(t, ['clock'], ['direct', 'relay'], clock.now()))
    for (const t of ['cam-2', 'cam-1']) await send(system, ev.ability(t, able, clock.now()))
    await tick(system)
    assert.is(ctx(system).attempt!.target, 'cam-2', 'the first able one')
    await send(system, ev.left('cam-2', 'signaling socket closed', clock.now()))
    await send(system, ev.capability('cam-2', ['clock'], ['direct', 'relay'], clock.now()))
    await send(system, ev.ability('cam-2', able, clock.now()))
    await tick(system)
    assert.is(ctx(system).attempt!.target, 'cam-1', 'sticky: cam-2 coming back takes nothing from cam-1')
    await send(system, ev.observed(ctx(system).attempt!.seq, 'up', clock.now()))
    await send(system, ev.left('cam-1', 'signaling socket closed', clock.now()))
    await tick(system)
    assert.is(value(system), '{"direct":"connecting"}')
    const c = ctx(system)
    assert.is(c.attempt!.target, 'cam-2')
    assert.is(c.previous!.target, 'cam-1')
    assert.is(c.attempt!.cause, 'lost: cam-1 no longer advertises "clock"')
    assert.equal(c.suspect, {}, 'a target that left is not a failed path')
    assert.is(c.ability['cam-1'].reachable, false)
    await send(system, ev.ability('cam-2', { ...able, healthy: false, reason: 'producer stopped' }, clock.now()))
    await tick(system)
    assert.is(value(system), '"unavailable"')
    assert.match(ctx(system).degradation.reason!, /cam-2: unhealthy \(producer stopped\)/)
    await send(system, ev.capability('cam-1', ['clock'], ['direct'], clock.now()))
    await send(system, ev.ability('cam-1', able, clock.now()))
    await tick(system)
    assert.is(ctx(system).attempt!.target, 'cam-1', 'back when it returns')
    const seq = ctx(system).attempt!.seq
    const switches = ctx(system).switches
    await send(system, ev.refresh('the consumer asked again', clock.now()))
    await tick(system)
    assert.is(ctx(system).attempt!.seq, seq + 1, 'a refresh is a fresh attempt')
    assert.is(ctx(system).attempt!.target, 'cam-1')
    assert.is(ctx(system).switches, switches, 'on the same route: not a switch')
    assert.is(ctx(system).attempt!.cause, 'refreshed: the consumer asked again')
    await send(system, ev.release('the page closed', clock.now()))
    await tick(system)
    assert.is(value(system), '"released"')
    assert.is(system.hosted(PATH)!.actor.getSnapshot().status, 'done')
    await system.close()
  },
)

const journal = suite('mediaRoute - journal')
journal.before.each(() => {
  dir = tmp()
})
journal.after.each(() => rmSync(dir, { recursive: true, force: true }))

journal('mediaRoute - a route through failures and failover exports and replays with --verify', async () => {
  const clock = new SimulatedClock(1_000)
  const { system } = await open(dir, clock)
  await spawnRoute(system, clock)
  for (const t of ['cam-1', 'cam-2']) {
    await send(system, ev.capability(t, ['clock'], ['direct', 'relay'], clock.now()))
    await send(system, ev.ability(t, able, clock.now()))
  }
  await tick(system)
  await send(system, ev.observed(ctx(system).attempt!.seq, 'up', clock.now()))
  clock.increment(100)
  await send(system, ev.observed(ctx(system).attempt!.seq, 'failed', clock.now(), 'probe silent'))
  await tick(system)
  clock.increment(1000) // cam-2 direct misses its deadline
  await tick(system)
  await send(system, ev.left('cam-1', 'signaling socket closed', clock.now()))
  clock.increment(5000)
  await tick(system)
  await send(system, ev.release('done', clock.now()))
  await tick(system)
  let text = ''
  for await (const chunk of exportLog(system.store!, PATH, { snapshots: 'all', machine: mediaRoute })) text += chunk
  await system.close()
  const file = join(dir, 'route.aether.log')
  writeFileSync(file, text)
  const run = await replayFile(file, mediaRoute, { verify: true })
  assert.is(run.code, 0, JSON.stringify(run.result?.divergence ?? run.error))
  assert.ok(run.result!.snapshotsChecked >= 8, `${run.result!.snapshotsChecked} snapshots checked`)
  assert.is(run.result!.final.value, 'released')
})

select.run()
failures.run()
journal.run()
