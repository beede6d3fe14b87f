import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import fc from 'fast-check'
import { assign, createActor, fromPromise, setup, spawnChild } from 'xstate'
import {
  ActorSystem,
  hostPure,
  PureActor,
  pureSpecOf,
  RESUME_EVENT,
  SimulatedClock,
  STOP_EVENT,
} from '../../actors/index.ts'
import { createJobMachine } from '../../machines/job.ts'
import { memoStats } from '../../actors/transitionMemo.ts'
import { crash, openSystem } from '../helpers/system.ts'
import { tmpDir, until } from '../helpers/tmp.ts'

/** Effects started by the `work` action, by the `self` that started them (what a runtime would hold). */
const started: Array<{ self: any; k: number; event: string; n: number }> = []
/** Effects cancelled by the `quit` exit action. */
const cancelled: Array<{ k: number; event: string }> = []

const worker = setup({
  types: { context: {} as { n: number; log: string[]; out: unknown }, events: {} as any },
  actions: {
    work: ({ self, context, event }, p: { k: number }) => {
      started.push({ self, k: p.k, event: event.type, n: context.n })
    },
    quit: ({ event }, p: { k: number }) => {
      cancelled.push({ k: p.k, event: event.type })
    },
    note: assign(({ context, event }) => ({ log: [...context.log, event.type] })),
    echoSelf: ({ self }) => self.send({ type: 'echoed' }),
    explode: () => {
      throw new Error('boom in an action')
    },
  },
}).createMachine({
  id: 'worker',
  context: { n: 0, log: [], out: null },
  initial: 'idle',
  states: {
    idle: {
      on: {
        go: { target: 'working', actions: assign({ n: ({ context }) => context.n + 1 }) },
        shout: { actions: 'echoSelf' },
        echoed: { actions: 'note' },
        boom: { actions: 'explode' },
      },
    },
    working: {
      entry: [{ type: 'work', params: { k: 7 } }, 'note'],
      exit: { type: 'quit', params: { k: 7 } },
      after: { 100: { target: 'idle', actions: 'note' } },
      on: {
        'work.done': { target: 'idle', actions: [assign({ out: ({ event }) => event.output }), 'note'] },
        stop: 'done',
      },
    },
    done: { type: 'final' },
  },
})
const pureWorker = hostPure(worker, { effects: ['work'], cancels: ['quit'] })

const events = [
  { type: 'go' },
  { type: 'work.done', output: 1 },
  { type: 'shout' },
  { type: 'go' },
  { type: 'work.done', output: { a: 2 } },
  { type: 'go' },
  { type: 'stop' },
]

const t = suite('PureActor - pure hosting')

t('hostPure refuses a machine that invokes', () => {
  const m = setup({ actors: { p: fromPromise(async () => 1) } }).createMachine({
    initial: 'a',
    states: { a: { invoke: { id: 'job', src: 'p' } } },
  })
  assert.throws(() => hostPure(m), /cannot be hosted pure: state .* invokes "job"/)
})

t('the same events give the same snapshots as an XState actor (memory and durable)', async () => {
  const clock = new SimulatedClock(1000)
  const dir = tmpDir()
  const { system } = await openSystem(dir, { clock, machines: { worker: pureWorker } })
  const mem = new ActorSystem({ clock, machines: { worker: pureWorker } })
  await system.spawn('w', 'worker', { durable: true })
  await mem.spawn('w', 'worker')
  // the reference actor runs on the same simulated clock: its 100 ms `after` must not fire on a
  // slow run between a send and the comparison (it did, under load: "idle" expected, "working")
  const ref = createActor(worker, { clock: clock as any }).start()
  assert.instance(system.hosted('w')!.actor, PureActor)
  for (const e of events) {
    ref.send(e)
    mem.send('w', e)
    await system.sendCommitted('w', e)
    await system.flush() // what the actor sent itself meanwhile
    const want = ref.getSnapshot()
    for (const got of [mem.get('w')!.getSnapshot(), system.get('w')!.getSnapshot()]) {
      assert.equal(got.value, want.value, `value after ${e.type}`)
      assert.equal(got.context, want.context, `context after ${e.type}`)
      assert.is(got.status, want.status)
    }
  }
  assert.equal(ref.getSnapshot().context.log, ['go', 'work.done', 'echoed', 'go', 'work.done', 'go'])
  assert.is(system.list()[0].status, 'done')
  await mem.close()
  await system.close()
})

t('after a crash the effect of the active state runs again, with the resume event; its timer still fires', async () => {
  const clock = new SimulatedClock(1000)
  const dir = tmpDir()
  let { system, store } = await openSystem(dir, { clock, machines: { worker: pureWorker } })
  await system.spawn('w', 'worker', { durable: true })
  started.length = 0
  await system.sendCommitted('w', { type: 'go' })
  assert.equal(
    started.map(({ k, event, n }) => ({ k, event, n })),
    [{ k: 7, event: 'go', n: 1 }],
  )
  await crash(system, store)
  clock.increment(40)
  ;({ system, store } = await openSystem(dir, { clock, machines: { worker: pureWorker } }))
  assert.equal(
    started.slice(1).map(({ k, event, n }) => ({ k, event, n })),
    [{ k: 7, event: RESUME_EVENT.type, n: 1 }],
    're-run once, same context',
  )
  const a = system.hosted('w')!
  assert.is(started[1].self, a.actor, 'the effect answers the new live actor')
  clock.increment(59)
  await system.flush()
  assert.is(system.get('w')!.getSnapshot().value, 'working')
  clock.increment(1)
  await until(() => system.get('w')!.getSnapshot().value === 'idle', 2000, 'the durable timer to fire')
  // a result from the resumed effect goes through the journal door like any event
  started[1].self.send({ type: 'go' })
  await system.flush()
  assert.is(system.get('w')!.getSnapshot().value, 'working')
  await system.close()
})

t('stopping runs the cancel actions of the active states once and drops what the effects send afterwards', async () => {
  const sys = new ActorSystem({ machines: { worker: pureWorker } })
  await sys.spawn('w', 'worker')
  cancelled.length = 0
  started.length = 0
  sys.send('w', { type: 'go' })
  sys.send('w', { type: 'work.done', output: 1 })
  assert.equal(cancelled, [{ k: 7, event: 'work.done' }], 'an ordinary exit')
  sys.send('w', { type: 'go' })
  const self = started.at(-1)!.self
  const a = sys.hosted('w')!
  await sys.stop('w')
  assert.equal(cancelled.slice(1), [{ k: 7, event: 'aether.stop' }])
  a.actor.stop()
  assert.is(cancelled.length, 2, 'once')
  self.send({ type: 'work.done', output: 2 })
  assert.is(a.actor.getSnapshot().value, 'working', 'a late result is dropped')
  await sys.close()
})

t('an action that throws restarts the actor from its journal without that event; spawning is refused', async () => {
  const clock = new SimulatedClock(1000)
  const dir = tmpDir()
  const { system } = await openSystem(dir, { clock, machines: { worker: pureWorker }, supervision: { backoffMs: 1 } })
  await system.spawn('w', 'worker', { durable: true })
  await system.sendCommitted('w', { type: 'go' })
  await system.sendCommitted('w', { type: 'work.done', output: 5 })
  system.send('w', { type: 'boom' })
  await system.flush()
  assert.ok(
    system.incidents.some((i) => /boom in an action/.test(i.message)),
    'incident',
  )
  clock.increment(5)
  await until(() => system.hosted('w')!.status === 'active', 2000, 'restart')
  assert.equal(system.get('w')!.getSnapshot().context.out, 5, 'state before the bad event')

  const spawner = hostPure(
    setup({ actors: { p: fromPromise(async () => 1) } }).createMachine({
      initial: 'a',
      states: { a: { on: { go: { actions: spawnChild('p', { id: 'kid' }) } } } },
    }),
  )
  system.register('spawner', spawner)
  await system.spawn('s', 'spawner')
  system.send('s', { type: 'go' })
  assert.ok(
    system.incidents.some((i) => i.path === 's' && /hosted pure and cannot spawn children/.test(i.message)),
    JSON.stringify(system.incidents.at(-1)),
  )
  await system.close()
})

t('pure hosting and the memo can be turned off per machine; the machine behaves the same', async () => {
  const plain = hostPure(worker, { effects: ['work'], cancels: ['quit'], pure: false })
  const noMemo = hostPure(worker, { effects: ['work'], cancels: ['quit'], memo: false })
  assert.is(pureSpecOf(plain)!.pure, false)
  assert.is(pureSpecOf(noMemo)!.pure, true)
  const counting = setup({
    types: { context: {} as { n: number } },
    actions: { add: assign({ n: ({ context }) => context.n + 1 }) },
  }).createMachine({ context: { n: 0 }, on: { inc: { actions: 'add' } } })
  assert.ok(memoStats(hostPure(counting)).memoized, 'memoized by default')
  assert.not.ok(memoStats(hostPure(counting, { effects: [], memo: false })).memoized, 'memo: false')
  assert.not.ok(memoStats(hostPure(counting, { effects: [], pure: false })).memoized, 'no memo without pure hosting')
  const clock = new SimulatedClock(1000)
  const dir = tmpDir()
  const machines = { plain, noMemo, pure: pureWorker }
  let { system, store } = await openSystem(dir, { clock, machines })
  for (const name of Object.keys(machines)) await system.spawn(name, name, { durable: true })
  assert.not.instance(system.hosted('plain')!.actor, PureActor, 'pure: false is hosted by XState')
  assert.instance(system.hosted('noMemo')!.actor, PureActor)
  for (const e of events.slice(0, 4)) {
    for (const name of Object.keys(machines)) await system.sendCommitted(name, e)
    await system.flush()
    const want = system.get('pure')!.getSnapshot()
    for (const name of ['plain', 'noMemo']) {
      const got = system.get(name)!.getSnapshot()
      assert.equal(got.value, want.value, `${name}: value after ${e.type}`)
      assert.equal(got.context, want.context, `${name}: context after ${e.type}`)
    }
  }
  // in `working`: after a crash each hosting re-runs the effect with the resume event
  started.length = 0
  await crash(system, store)
  ;({ system, store } = await openSystem(dir, { clock, machines }))
  const resumed = (name: string) => started.filter((s) => s.self === system.hosted(name)!.actor)
  for (const name of Object.keys(machines))
    assert.equal(
      resumed(name).map(({ k, event }) => ({ k, event })),
      [{ k: 7, event: RESUME_EVENT.type }],
      `${name}: the effect re-ran once after the restore`,
    )
  // and a stop runs the cancel action with the stop event
  cancelled.length = 0
  for (const name of Object.keys(machines)) await system.stop(name)
  assert.equal(
    cancelled,
    [1, 2, 3].map(() => ({ k: 7, event: STOP_EVENT.type })),
  )
  await system.close()
})

t.run()

// ---------------------------------------------------------------------------------------------
const prop = suite('PureActor - the job machine, pure-hosted and XState-hosted, agree (fast-check)')

prop('random event sequences give the same value, context and status in both hostings', async () => {
  const spec = {
    name: 'two',
    steps: [
      { name: 'a', retry: { maxAttempts: 3, baseMs: 100, factor: 2, maxMs: 1000, jitter: 0.5 } },
      { name: 'b', retry: { maxAttempts: 2, baseMs: 50, factor: 2, maxMs: 500, jitter: 0 }, timeoutMs: 300 },
    ],
  }
  // the steps record what was asked (by the actor that asked, with the context it saw) and answer
  // nothing: the property's events answer for them
  const calls = new Map<unknown, unknown[]>()
  const log =
    (type: string) =>
    ({ self, context }: any, params: unknown) => {
      if (!calls.has(self)) calls.set(self, [])
      calls.get(self)!.push([type, params, context])
    }
  const impl = { runStep: log('runStep'), cancelStep: log('cancelStep'), notify: log('notify') }
  const asXState = createJobMachine(spec).provide({ actions: impl })
  // pure with the transition memo (the default) and without it: XState computes every step
  const asPure = hostPure(createJobMachine(spec).provide({ actions: impl }), {
    effects: ['runStep'],
    cancels: ['cancelStep'],
  })
  const asPureNoMemo = hostPure(createJobMachine(spec).provide({ actions: impl }), {
    effects: ['runStep'],
    cancels: ['cancelStep'],
    memo: false,
  })
  assert.ok(memoStats(asPure).memoized)
  assert.not.ok(memoStats(asPureNoMemo).memoized)
  const event = fc.oneof(
    fc.constant({ type: 'job.start', worker: 'w1' }),
    fc.constantFrom(
      { type: 'job.pause' },
      { type: 'job.resume' },
      { type: 'job.stop' },
      { type: 'job.retry' },
      { type: 'job.lease.expired' },
    ),
    fc.record({ type: fc.constantFrom('xstate.done.actor.a', 'xstate.done.actor.b'), output: fc.integer() }),
    fc.record({
      type: fc.constantFrom('xstate.error.actor.a', 'xstate.error.actor.b'),
      error: fc.record({ message: fc.constantFrom('x', 'y') }),
    }),
    fc.record({ advance: fc.integer({ min: 1, max: 700 }) }),
  )
  let runs = 0
  const seen = new Set<string>()
  await fc.assert(
    fc.asyncProperty(fc.array(event, { minLength: 1, maxLength: 40 }), fc.boolean(), async (events, leased) => {
      const clock = new SimulatedClock(1000)
      const sys = new ActorSystem({ clock, machines: { x: asXState, p: asPure, n: asPureNoMemo } })
      const input = { id: 'job-1', type: 'two', input: { q: 1 }, seed: 9, ...(leased ? { lease: 'w0' } : {}) }
      calls.clear()
      await sys.spawn('x', 'x', { input })
      await sys.spawn('p', 'p', { input })
      await sys.spawn('n', 'n', { input })
      assert.instance(sys.hosted('p')!.actor, PureActor)
      assert.instance(sys.hosted('n')!.actor, PureActor)
      assert.not.instance(sys.hosted('x')!.actor, PureActor)
      const same = (after: string) => {
        const x = sys.get('x')!.getSnapshot()
        for (const path of ['p', 'n']) {
          const p = sys.get(path)!.getSnapshot()
          assert.equal(p.value, x.value, `${path}: value after ${after}`)
          assert.equal(p.context, x.context, `${path}: context after ${after}`)
          assert.is(p.status, x.status, `${path}: status after ${after}`)
        }
        // the memo runs the same actions, in the same order, with the same params and context, as
        // XState does (compared between the two pure hostings: after a crash a pure actor re-runs
        // its effect and an XState-hosted one has no invoked child to restart)
        const p = calls.get(sys.hosted('p')!.actor) ?? []
        const n = calls.get(sys.hosted('n')!.actor) ?? []
        assert.equal(p, n, `actions run after ${after}`)
      }
      same('start')
      for (const e of events as any[]) {
        if (e.advance) clock.increment(e.advance)
        else {
          const outcome = (path: string) => {
            try {
              // a step's result comes from the job's own effect (`self.send`): the system refuses
              // XState's reserved event types from outside
              if (e.type.startsWith('xstate.')) sys.hosted(path)!.actor.send(e)
              else sys.send(path, e)
              return 'ok'
            } catch (err) {
              return (err as any).code ?? 'threw'
            }
          }
          const x = outcome('x')
          assert.is(outcome('p'), x, `send ${e.type}`)
          assert.is(outcome('n'), x, `send ${e.type} (no memo)`)
        }
        same(e.type ?? `+${e.advance} ms`)
        const v = sys.get('p')!.getSnapshot().value
        seen.add(typeof v === 'string' ? v : JSON.stringify(v))
      }
      runs++
      await sys.close()
    }),
    { numRuns: 300, seed: 11 },
  )
  assert.is(runs, 300)
  // the memo served most steps (paths through timers and backoff are XState's each time)
  const stats = memoStats(asPure)
  assert.ok(stats.hits > stats.misses, `memo hits ${stats.hits}, misses ${stats.misses}`)
  // the sequences reach every kind of state, backoff waits and both steps included
  for (const s of [
    'pending',
    'paused',
    'completed',
    'failed',
    'stopped',
    '{"running":"a"}',
    '{"running":"a$wait"}',
    '{"running":"b"}',
    '{"running":"b$wait"}',
  ])
    assert.ok(seen.has(s), `never reached ${s}: ${[...seen].join(', ')}`)
})

prop.run()
