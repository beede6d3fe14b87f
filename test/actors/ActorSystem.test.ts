import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { ActorSystem, SimulatedClock, ReplayState } from '../../actors/index.ts'
import { counter } from '../../machines/counter.ts'
import { alarms, calls, chatty, door, fragile, withEffect } from '../fixtures/machines.ts'
import { crash, openSystem } from '../helpers/system.ts'
import { sleep, tmpDir, until } from '../helpers/tmp.ts'

const machines = { door, alarms, fragile, withEffect, counter, chatty }

// ---------------------------------------------------------------------------------------------
const basics = suite('ActorSystem - basics')

basics('spawn, send, list, get and stop memory actors under id paths', async () => {
  const sys = new ActorSystem({ machines })
  await sys.spawn('hub-1', 'counter')
  await sys.spawn('hub-1/c', counter)
  sys.send('hub-1/c', { type: 'inc' })
  sys.send('hub-1/c', { type: 'inc', by: 5 })
  assert.is(sys.get('hub-1/c')!.getSnapshot().context.count, 6)
  const list = sys.list()
  assert.equal(
    list.map((a) => a.path),
    ['hub-1', 'hub-1/c'],
  )
  assert.is(list[1].parent, 'hub-1')
  assert.is(list[1].status, 'active')
  await sys.stop('hub-1')
  assert.equal(sys.list(), [], 'stopping a parent stops its children')
  await sys.close()
})

basics('typed errors: unknown actor, bad path, duplicate, missing parent, unknown machine', async () => {
  const sys = new ActorSystem({ machines })
  await sys.spawn('a', 'counter')
  const code = async (fn: () => unknown) => {
    try {
      await fn()
    } catch (err) {
      return (err as any).code
    }
    return 'no error'
  }
  assert.is(await code(() => sys.send('nope', { type: 'inc' })), 'UNKNOWN_ACTOR')
  assert.is(await code(() => sys.spawn('bad path!', 'counter')), 'BAD_PATH')
  assert.is(await code(() => sys.spawn('a', 'counter')), 'ACTOR_EXISTS')
  assert.is(await code(() => sys.spawn('x/y', 'counter')), 'UNKNOWN_PARENT')
  assert.is(await code(() => sys.spawn('b', 'nomachine')), 'UNKNOWN_MACHINE')
  assert.is(await code(() => sys.spawn('d', 'counter', { durable: true })), 'NO_STORE')
  assert.is(await code(() => sys.send('a', { nottype: 1 } as any)), 'BAD_EVENT')
  await sys.close()
})

basics('memory actors run their timers on the injected clock', async () => {
  const clock = new SimulatedClock(1000)
  const sys = new ActorSystem({ machines, clock })
  await sys.spawn('d', 'door')
  sys.send('d', { type: 'open' })
  assert.is(sys.get('d')!.getSnapshot().value, 'open')
  clock.increment(99)
  assert.is(sys.get('d')!.getSnapshot().value, 'open')
  clock.increment(1)
  assert.is(sys.get('d')!.getSnapshot().value, 'closed')
  await sys.close()
})

basics('the inspection feed carries seq, id path, clock time, event and snapshot', async () => {
  const clock = new SimulatedClock(5000)
  const sys = new ActorSystem({ machines, clock })
  const feed = sys.inspect()
  const it = feed[Symbol.asyncIterator]()
  await sys.spawn('c', 'counter')
  sys.send('c', { type: 'inc' }, 'tester')
  const first = (await it.next()).value as any
  assert.is(first.type, '@xstate.actor')
  assert.is(first.path, 'c')
  const ev = (await it.next()).value as any
  assert.is(ev.type, '@xstate.event')
  assert.is(ev.path, 'c')
  assert.is(ev.at, 5000)
  assert.equal(ev.event, { type: 'inc' })
  assert.is(ev.sourceId, 'tester')
  assert.equal(ev.snapshot.context, { count: 1 })
  assert.ok(ev.seq > first.seq)
  feed.close()
  await sys.close()
})

basics('a slow feed subscriber loses its oldest events, counted, with a marker', async () => {
  const sys = new ActorSystem({ machines })
  await sys.spawn('c', 'counter')
  const feed = sys.inspect({ limit: 10, replayCurrent: false })
  for (let i = 0; i < 25; i++) sys.send('c', { type: 'inc' })
  assert.is(feed.dropped, 15)
  const it = feed[Symbol.asyncIterator]()
  const marker = (await it.next()).value as any
  assert.equal(marker, { type: 'aether.dropped', count: 15 })
  const next = (await it.next()).value as any
  assert.equal(next.snapshot.context, { count: 16 }, 'the oldest kept event follows the marker')
  feed.close()
  await sys.close()
})

basics('child actors can talk to their parent through XState (sendParent) and it is journaled', async () => {
  const dir = tmpDir()
  const { system } = await openSystem(dir, { machines })
  const parentMachine = (await import('xstate')).setup({}).createMachine({
    id: 'parent',
    context: { pongs: 0 },
    invoke: { id: 'kid', src: chatty },
    on: {
      poke: { actions: (await import('xstate')).sendTo('kid', { type: 'ping' }) },
      pong: { actions: (await import('xstate')).assign({ pongs: ({ context }: any) => context.pongs + 1 }) },
    },
  } as any)
  system.register('parent', parentMachine)
  await system.spawn('p', 'parent', { durable: true })
  await system.sendCommitted('p', { type: 'poke' })
  await until(() => system.get('p')!.getSnapshot().context.pongs === 1)
  await system.flush()
  const types: string[] = []
  for await (const r of system.store!.events('p')) types.push(r.event.type)
  assert.equal(types, ['poke', 'pong'])
  await system.close()
})

// ---------------------------------------------------------------------------------------------
const durable = suite('ActorSystem - durability on LevelDB')

durable('events are journaled before they take effect; recovery restores state and context', async () => {
  const dir = tmpDir()
  let { system, store } = await openSystem(dir, { machines, snapshotEvery: 4 })
  await system.spawn('c', 'counter', { durable: true })
  for (let i = 0; i < 10; i++) system.send('c', { type: 'inc', by: i })
  assert.is(system.get('c')!.getSnapshot().context.count, 0, 'not applied before the batch commits')
  await system.flush()
  assert.is(system.get('c')!.getSnapshot().context.count, 45)
  system.send('c', { type: 'lock' })
  await crash(system, store)
  ;({ system, store } = await openSystem(dir, { machines, snapshotEvery: 4 }))
  const s = system.get('c')!.getSnapshot()
  assert.is(s.value, 'locked')
  assert.is(s.context.count, 45)
  assert.is(system.hosted('c')!.appliedSeq, 11)
  system.send('c', { type: 'unlock' })
  await system.flush()
  assert.is(system.hosted('c')!.appliedSeq, 12, 'seq continues after recovery')
  await system.close()
})

durable('the recovered state equals pure replay of the whole journal', async () => {
  const dir = tmpDir()
  let { system, store } = await openSystem(dir, { machines, snapshotEvery: 3 })
  await system.spawn('c', 'counter', { durable: true })
  for (let i = 0; i < 20; i++) system.send('c', { type: i % 7 === 3 ? 'lock' : i % 7 === 5 ? 'unlock' : 'inc', by: i })
  await crash(system, store)
  ;({ system, store } = await openSystem(dir, { machines, snapshotEvery: 3 }))
  const meta = (await store.getMeta('c'))!
  const rs = new ReplayState(counter, 'c').init(meta.input, meta.createdAt)
  for await (const r of store.events('c')) rs.apply(r)
  const live = system.get('c')!.getSnapshot()
  assert.equal(live.value, rs.snapshot.value)
  assert.equal(live.context, rs.snapshot.context)
  await system.close()
})

durable('fsync policies always and none journal the same way', async () => {
  for (const fsync of ['always', 'none'] as const) {
    const dir = tmpDir()
    let { system, store } = await openSystem(dir, { machines, fsync })
    await system.spawn('c', 'counter', { durable: true })
    for (let i = 0; i < 5; i++) system.send('c', { type: 'inc' })
    await crash(system, store)
    ;({ system, store } = await openSystem(dir, { machines, fsync }))
    assert.is(system.get('c')!.getSnapshot().context.count, 5, fsync)
    await system.close()
  }
})

durable('group commit: events of the same tick share one batch', async () => {
  const dir = tmpDir()
  const { system } = await openSystem(dir, { machines, snapshotEvery: 10_000 })
  await system.spawn('c', 'counter', { durable: true })
  const before = system.journal!.stats.batches
  for (let i = 0; i < 1000; i++) system.send('c', { type: 'inc' })
  await system.flush()
  assert.is(system.journal!.stats.batches - before, 1)
  await system.close()
})

durable('a stopped durable actor is not recovered; its journal stays', async () => {
  const dir = tmpDir()
  let { system } = await openSystem(dir, { machines })
  await system.spawn('c', 'counter', { durable: true })
  await system.sendCommitted('c', { type: 'inc' })
  await system.stop('c')
  await system.close()
  let store: Awaited<ReturnType<typeof openSystem>>['store']
  ;({ system, store } = await openSystem(dir, { machines }))
  assert.is(system.get('c'), undefined)
  let n = 0
  for await (const _ of store.events('c')) n++
  assert.is(n, 1)
  await system.close()
})

durable('compaction keeps the last N snapshots and the events after the oldest kept one', async () => {
  const dir = tmpDir()
  let { system, store } = await openSystem(dir, { machines, snapshotEvery: 5, retain: 2 })
  await system.spawn('c', 'counter', { durable: true })
  // one group commit per event, so every event is its own journal segment
  for (let i = 0; i < 23; i++) await system.sendCommitted('c', { type: 'inc' })
  await system.flush()
  await sleep(50) // compaction runs after the snapshot commits
  const snaps: number[] = []
  for await (const s of store.snapshots('c')) snaps.push(s.seq)
  assert.equal(snaps, [15, 20])
  const seqs: number[] = []
  for await (const r of store.events('c')) seqs.push(r.seq)
  assert.equal(seqs, [16, 17, 18, 19, 20, 21, 22, 23])
  await crash(system, store)
  ;({ system, store } = await openSystem(dir, { machines, snapshotEvery: 5, retain: 2 }))
  assert.is(system.get('c')!.getSnapshot().context.count, 23)
  await system.close()
})

durable('a corrupted journal entry fails that actor with an incident; the others recover', async () => {
  const dir = tmpDir()
  let { system, store } = await openSystem(dir, { machines })
  await system.spawn('good', 'counter', { durable: true })
  await system.spawn('bad', 'counter', { durable: true })
  for (let i = 0; i < 3; i++) {
    system.send('good', { type: 'inc' })
    system.send('bad', { type: 'inc' })
  }
  await crash(system, store)
  const raw = await LevelStoreRaw(dir)
  await raw.put(`e!bad!${(2).toString(16).padStart(12, '0')}`, '{"seq":2,"at":17000000')
  await raw.close()
  ;({ system, store } = await openSystem(dir, { machines }))
  assert.is(system.hosted('bad')!.status, 'failed')
  assert.is(system.hosted('good')!.status, 'active')
  assert.is(system.get('good')!.getSnapshot().context.count, 3)
  const inc = system.incidents.find((i) => i.path === 'bad')
  assert.ok(inc, 'an incident names the actor')
  assert.match(inc!.message, /corrupt/)
  await system.close()
})

async function LevelStoreRaw(dir: string) {
  const { Level } = await import('level')
  const db = new Level<string, string>(dir)
  await db.open()
  return db
}

// ---------------------------------------------------------------------------------------------
const timers = suite('ActorSystem - durable timers')

timers('a pending delay survives a crash and fires after recovery', async () => {
  const dir = tmpDir()
  const clock = new SimulatedClock(10_000)
  let { system, store } = await openSystem(dir, { machines, clock })
  await system.spawn('d', 'door', { durable: true })
  await system.sendCommitted('d', { type: 'open' })
  assert.equal(
    system
      .hosted('d')!
      .pendingTimers()
      .map((t) => t.due),
    [10_100],
  )
  await crash(system, store)
  ;({ system, store } = await openSystem(dir, { machines, clock }))
  assert.is(system.get('d')!.getSnapshot().value, 'open')
  assert.equal(
    system
      .hosted('d')!
      .pendingTimers()
      .map((t) => t.due),
    [10_100],
    're-armed with its original due time',
  )
  clock.increment(100)
  await system.flush()
  assert.is(system.get('d')!.getSnapshot().value, 'closed')
  await system.close()
})

timers('delays that fell due while down fire at once, in due order, exactly once', async () => {
  const dir = tmpDir()
  const clock = new SimulatedClock(0)
  let { system, store } = await openSystem(dir, { machines, clock })
  await system.spawn('al', 'alarms', { durable: true })
  await crash(system, store)
  clock.set(10_000) // everything fell due while the process was down
  ;({ system, store } = await openSystem(dir, { machines, clock }))
  clock.increment(0)
  await system.flush()
  assert.equal(system.get('al')!.getSnapshot().context.fired, ['b', 'c', 'a'])
  await crash(system, store)
  ;({ system, store } = await openSystem(dir, { machines, clock }))
  clock.increment(1000)
  await system.flush()
  const fires: string[] = []
  for await (const r of store.events('al')) if (r.timer) fires.push(r.timer)
  assert.is(fires.length, 3, 'each timer fired once, across two recoveries')
  assert.equal(system.get('al')!.getSnapshot().context.fired, ['b', 'c', 'a'])
  await system.close()
})

timers('a cancelled delay does not fire (leaving the state cancels it)', async () => {
  const dir = tmpDir()
  const clock = new SimulatedClock(0)
  const { system, store } = await openSystem(dir, { machines, clock })
  await system.spawn('d', 'door', { durable: true })
  await system.sendCommitted('d', { type: 'open' })
  await system.sendCommitted('d', { type: 'close' })
  assert.equal(system.hosted('d')!.pendingTimers(), [])
  clock.increment(500)
  await system.flush()
  const types: string[] = []
  for await (const r of store.events('d')) types.push(r.event.type)
  assert.equal(types, ['open', 'close'])
  await system.close()
})

timers('a fire journaled after its instance was re-armed is stale and skipped, live and in replay', async () => {
  const dir = tmpDir()
  const clock = new SimulatedClock(0)
  const { system, store } = await openSystem(dir, { machines, clock })
  await system.spawn('d', 'door', { durable: true })
  await system.sendCommitted('d', { type: 'open' })
  clock.increment(100) // fires: the fire event is appended, not yet applied
  system.send('d', { type: 'close' }) // same tick: these land in the batch after the fire ...
  system.send('d', { type: 'open' })
  await system.flush()
  // ... so the fire applies first (door closes), then close (no-op), then open re-arms.
  assert.is(system.get('d')!.getSnapshot().value, 'open')
  const meta = (await store.getMeta('d'))!
  const rs = new ReplayState(door, 'd').init(meta.input, meta.createdAt)
  for await (const r of store.events('d')) rs.apply(r)
  assert.equal(rs.snapshot.value, 'open')
  assert.equal(
    [...rs.timers.values()].map((t) => t.due),
    system
      .hosted('d')!
      .pendingTimers()
      .map((t) => t.due),
  )
  await system.close()
})

// ---------------------------------------------------------------------------------------------
const supervision = suite('ActorSystem - supervision')

supervision('an actor whose action throws is restarted without the event; the process stays up', async () => {
  const dir = tmpDir()
  const { system, store } = await openSystem(dir, { machines, supervision: { backoffMs: 5 } })
  await system.spawn('f', 'fragile', { durable: true })
  system.send('f', { type: 'inc' })
  system.send('f', { type: 'boom' })
  system.send('f', { type: 'inc' })
  await system.flush()
  await until(() => system.hosted('f')!.status === 'active' && system.hosted('f')!.appliedSeq === 3)
  assert.is(system.get('f')!.getSnapshot().context.n, 2)
  const recs: any[] = []
  for await (const r of store.events('f')) recs.push(r)
  assert.is(recs[1].event.type, 'boom')
  assert.match(recs[1].rejected, /kaboom/)
  assert.ok(system.incidents.some((i) => i.path === 'f' && /kaboom/.test(i.message)))
  system.send('f', { type: 'inc' })
  await system.flush()
  assert.is(system.get('f')!.getSnapshot().context.n, 3)
  await system.close()
})

supervision('after the restart limit the actor is marked failed with an incident', async () => {
  const sys = new ActorSystem({ machines, supervision: { backoffMs: 1, maxRestarts: 2 } })
  await sys.spawn('f', 'fragile')
  for (let i = 0; i < 3; i++) {
    sys.send('f', { type: 'boom' })
    await until(() => sys.hosted('f')!.status !== 'restarting')
  }
  assert.is(sys.hosted('f')!.status, 'failed')
  assert.ok(sys.incidents.some((i) => i.path === 'f' && /failed/.test(i.message)))
  let code = ''
  try {
    sys.send('f', { type: 'inc' })
  } catch (err) {
    code = (err as any).code
  }
  assert.is(code, 'ACTOR_NOT_RUNNING')
  await sys.close()
})

supervision('a memory actor restarts from the state before the event that threw', async () => {
  const sys = new ActorSystem({ machines, supervision: { backoffMs: 1 } })
  await sys.spawn('f', 'fragile')
  sys.send('f', { type: 'inc' })
  sys.send('f', { type: 'boom' })
  await until(() => sys.hosted('f')!.status === 'active')
  assert.is(sys.get('f')!.getSnapshot().context.n, 1)
  await sys.close()
})

// ---------------------------------------------------------------------------------------------
const effects = suite('ActorSystem - effects')

effects('an effect keeps its idempotency key when it is re-run after a crash', async () => {
  const dir = tmpDir()
  calls.length = 0
  let { system, store } = await openSystem(dir, { machines })
  await system.spawn('w', 'withEffect', { durable: true })
  await system.sendCommitted('w', { type: 'go', x: 21 })
  assert.is(calls.length, 1)
  const key = calls[0].key
  assert.is(key, 'w/work@1')
  await crash(system, store) // before the effect completed
  ;({ system, store } = await openSystem(dir, { machines }))
  assert.is(calls.length, 2, 'the effect is re-run on recovery')
  assert.is(calls[1].key, key, '... with the same key')
  await until(() => system.get('w')!.getSnapshot().value === 'idle')
  assert.equal(system.get('w')!.getSnapshot().context.result, { doubled: 42 })
  await system.flush()
  await crash(system, store)
  ;({ system, store } = await openSystem(dir, { machines }))
  await sleep(40)
  assert.is(calls.length, 2, 'a completed effect is not re-run')
  assert.equal(system.get('w')!.getSnapshot().context.result, { doubled: 42 })
  await system.close()
})

effects('an effect that rejects with an Error is journaled and delivered as plain data, so replay agrees', async () => {
  const { setup, assign, fromPromise } = await import('xstate')
  const failing = setup({
    actors: {
      boom: fromPromise(async () => {
        throw Object.assign(new Error('disk on fire'), { code: 'EFIRE' })
      }),
    },
  }).createMachine({
    id: 'failing',
    context: { err: null as unknown },
    initial: 'run',
    states: {
      run: {
        invoke: { src: 'boom', onError: { target: 'failed', actions: assign({ err: ({ event }) => event.error }) } },
      },
      failed: {},
    },
  })
  const dir = tmpDir()
  const { system, store } = await openSystem(dir, { machines: { failing } })
  await system.spawn('f', 'failing', { durable: true })
  await until(() => system.get('f')!.getSnapshot().value === 'failed')
  const live = system.get('f')!.getSnapshot().context.err
  assert.equal(live, { name: 'Error', message: 'disk on fire', code: 'EFIRE' })
  await system.flush()
  const meta = (await store.getMeta('f'))!
  const rs = new ReplayState(failing, 'f').init(meta.input, meta.createdAt)
  for await (const r of store.events('f')) rs.apply(r)
  assert.equal(rs.snapshot.context.err, live)
  await system.close()
})

basics.run()
durable.run()
timers.run()
supervision.run()
effects.run()
