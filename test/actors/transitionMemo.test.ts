import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import fc from 'fast-check'
import { and, assign, enqueueActions, setup } from 'xstate'
import { ActorSystem, exportLog, hostPure, LogReplayer, SimulatedClock } from '../../actors/index.ts'
import { MAX_EVENT_TYPES, memoBlocker, memoStats } from '../../actors/transitionMemo.ts'
import { createJobMachine } from '../../machines/job.ts'
import { parseLog } from '../../protocol/log.ts'
import { JobQueue } from '../../runtime/jobs/JobQueue.ts'
import { LocalWorker } from '../../runtime/jobs/LocalWorker.ts'
import { defineJobType } from '../../runtime/jobs/jobTypes.ts'
import { crash, openSystem } from '../helpers/system.ts'
import { tmpDir, until } from '../helpers/tmp.ts'

const t = suite('transitionMemo - replaying what XState computed')

// A counter with a guard that reads the context and the event, an assign, a custom action with
// params, an eventless transition and a final state.
const seen: Array<[string, unknown, number, string]> = []
const counter = setup({
  types: {
    context: {} as { n: number; limit: number; trail: string[] },
    input: {} as { limit: number },
    events: {} as any,
  },
  guards: {
    below: ({ context, event }) => context.n + (event.by ?? 1) <= context.limit,
    atLimit: ({ context }) => context.n >= context.limit,
  },
  actions: {
    add: assign({ n: ({ context, event }) => context.n + (event.by ?? 1) }),
    mark: assign(({ context, event }, p: { tag: string }) => ({ trail: [...context.trail, `${p.tag}:${event.type}`] })),
    report: ({ context, event }, p: { what: string }) => {
      seen.push([p.what, event.type, context.n, context.trail.join(',')])
    },
  },
}).createMachine({
  id: 'counter',
  context: ({ input }) => ({ n: 0, limit: input.limit, trail: [] }),
  initial: 'counting',
  states: {
    counting: {
      entry: { type: 'report', params: { what: 'counting' } },
      always: { guard: 'atLimit', target: 'full', actions: { type: 'mark', params: { tag: 'always' } } },
      on: {
        inc: [
          {
            guard: 'below',
            actions: ['add', { type: 'mark', params: { tag: 'inc' } }, { type: 'report', params: { what: 'inc' } }],
          },
          { target: 'refused', actions: { type: 'mark', params: { tag: 'refused' } } },
        ],
      },
    },
    refused: { entry: { type: 'report', params: { what: 'refused' } }, on: { retry: 'counting', inc: 'counting' } },
    full: { type: 'final', entry: { type: 'report', params: { what: 'full' } } },
  },
})

t('a machine that reads data only through named guards and assigns is memoized; the others say why not', () => {
  assert.is(memoBlocker(counter), undefined)
  assert.is(
    memoBlocker(createJobMachine({ name: 'x', steps: [{ name: 'a', timeoutMs: 10 }, { name: 'b' }] })),
    undefined,
  )
  const blocked = (config: any, impl: any = {}) => memoBlocker(setup(impl).createMachine(config))
  assert.match(
    blocked({ initial: 'a', states: { a: { on: { go: { guard: () => true, target: 'a' } } } } })!,
    /inline guard/,
  )
  assert.match(
    blocked({ initial: 'a', states: { a: { on: { go: { actions: assign({ x: 1 }) } } } } })!,
    /inline xstate.assign/,
  )
  assert.match(blocked({ type: 'parallel', states: { a: {}, b: {} } })!, /is parallel/)
  assert.match(
    blocked(
      { initial: 'a', states: { a: { on: { go: { guard: { type: 'g', params: () => ({}) } } } } } },
      { guards: { g: () => true } },
    )!,
    /params computed from context/,
  )
  assert.match(
    blocked(
      { initial: 'a', states: { a: { on: { go: { guard: and(['g', 'g']) } } } } },
      { guards: { g: () => true } },
    )!,
    /inline guard/,
  )
  assert.match(
    blocked(
      { initial: 'a', states: { a: { on: { go: { guard: 'both' } } } } },
      { guards: { g: () => true, both: and(['g', 'g']) } },
    )!,
    /"both" is not a plain named guard/,
  )
  assert.match(
    blocked({ initial: 'a', states: { a: { entry: 'q' } } }, { actions: { q: enqueueActions(() => {}) } })!,
    /enqueueActions/,
  )
  assert.ok(memoStats(hostPure(counter)).memoized)
  assert.not.ok(memoStats(hostPure(counter, { effects: [], memo: false })).memoized)
  assert.not.ok(memoStats(hostPure(setup({}).createMachine({ type: 'parallel', states: { a: {}, b: {} } }))).memoized)
})

t(
  'random events: memoized, unmemoized and XState-hosted actors agree on state, context and actions (fast-check)',
  async () => {
    const memo = hostPure(counter)
    const plain = hostPure(counter, { effects: [], memo: false })
    const event = fc.oneof(
      fc.record({ type: fc.constant('inc'), by: fc.integer({ min: 0, max: 3 }) }),
      fc.constant({ type: 'inc' }),
      fc.constant({ type: 'retry' }),
      fc.constant({ type: 'nope' }),
    )
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 6 }), fc.array(event, { maxLength: 25 }), async (limit, events) => {
        const sys = new ActorSystem({ clock: new SimulatedClock(0), machines: { m: memo, p: plain, x: counter } })
        const logs: Record<string, unknown[]> = {}
        for (const path of ['m', 'p', 'x']) {
          seen.length = 0
          await sys.spawn(path, path, { input: { limit } })
          for (const e of events) if (sys.hosted(path)!.status === 'active') sys.send(path, e)
          logs[path] = [...seen]
        }
        const snap = (path: string) => {
          const s = sys.get(path)!.getSnapshot()
          return { value: s.value, context: s.context, status: s.status }
        }
        assert.equal(snap('m'), snap('x'))
        assert.equal(snap('p'), snap('x'))
        assert.equal(logs.m, logs.x)
        assert.equal(logs.p, logs.x)
        await sys.close()
      }),
      { numRuns: 300, seed: 5 },
    )
    const s = memoStats(memo)
    // every (state, event type, guard results) path is computed by XState once, then replayed
    assert.ok(s.misses < 20, `misses ${s.misses}`)
    assert.ok(s.hits > 1000, `hits ${s.hits}`)
  },
)

t('a guard giving another result falls back to XState, which records that path too', async () => {
  const m = hostPure(counter)
  const sys = new ActorSystem({ clock: new SimulatedClock(0), machines: { m } })
  await sys.spawn('a', 'm', { input: { limit: 2 } })
  await sys.spawn('b', 'm', { input: { limit: 2 } })
  assert.equal(memoStats(m), { hits: 1, misses: 1, memoized: true }) // b's start replayed a's
  const before = memoStats(m)
  sys.send('a', { type: 'inc', by: 1 }) // computed by XState: below() true
  sys.send('b', { type: 'inc', by: 1 }) // replayed
  sys.send('a', { type: 'inc', by: 5 }) // below() false: XState computes, records
  sys.send('b', { type: 'inc', by: 5 }) // replayed
  const after = memoStats(m)
  assert.is(after.misses - before.misses, 2) // a's two incs
  assert.is(after.hits - before.hits, 2) // b's two incs, the second on the second path
  assert.equal(sys.get('a')!.getSnapshot().value, 'refused')
  assert.equal(sys.get('b')!.getSnapshot().value, 'refused')
  assert.equal(sys.get('b')!.getSnapshot().context, sys.get('a')!.getSnapshot().context)
  await sys.close()
})

t('event types the machine does not know are recorded up to a bound per state (they come from outside)', async () => {
  const m = hostPure(counter)
  const sys = new ActorSystem({ clock: new SimulatedClock(0), machines: { m } })
  await sys.spawn('a', 'm', { input: { limit: 1000 } })
  for (let i = 0; i < MAX_EVENT_TYPES + 50; i++) sys.send('a', { type: `junk.${i}` })
  const before = memoStats(m)
  for (let i = 0; i < MAX_EVENT_TYPES + 50; i++) sys.send('a', { type: `junk.${i}` })
  const after = memoStats(m)
  // the second round replays the recorded types ("inc" was never sent, so all are junk) and computes the rest
  assert.is(after.hits - before.hits, MAX_EVENT_TYPES)
  assert.is(after.misses - before.misses, 50)
  sys.send('a', { type: 'inc' })
  assert.is(sys.get('a')!.getSnapshot().context.n, 1)
  await sys.close()
})

t('macrosteps with delayed events are XState computed each time, and their timers still fire', async () => {
  const m = hostPure(
    setup({
      types: { context: {} as { k: number } },
      actions: { bump: assign({ k: ({ context }) => context.k + 1 }) },
    }).createMachine({
      id: 'timed',
      context: { k: 0 },
      initial: 'idle',
      states: {
        idle: { on: { go: { target: 'waiting', actions: 'bump' } } },
        waiting: {
          after: { 100: { target: 'idle', actions: 'bump' } },
          on: { go: { target: 'waiting', reenter: true, actions: 'bump' } },
        },
      },
    }),
  )
  const clock = new SimulatedClock(0)
  const sys = new ActorSystem({ clock, machines: { m } })
  await sys.spawn('a', 'm')
  const before = memoStats(m)
  for (let i = 0; i < 3; i++) {
    sys.send('a', { type: 'go' })
    sys.send('a', { type: 'go' })
    clock.increment(100)
    await new Promise((r) => setImmediate(r))
  }
  const after = memoStats(m)
  assert.equal(sys.get('a')!.getSnapshot().value, 'idle')
  assert.is(sys.get('a')!.getSnapshot().context.k, 9) // 6 gos, 3 timers
  assert.is(after.hits - before.hits, 0) // every one of those steps runs raise or cancel
  await sys.close()
})

t('an action that synchronously drives another actor of the same machine does not mix the recordings', async () => {
  const peers = setup({
    types: {
      context: {} as { peer: string | null; got: number },
      input: {} as { peer: string | null },
      events: {} as any,
    },
    guards: { hasPeer: ({ context }) => context.peer !== null },
    actions: {
      got: assign({ got: ({ context }) => context.got + 1 }),
      poke: ({ context }) => sysRef.send(context.peer!, { type: 'ping' }),
    },
  }).createMachine({
    id: 'peers',
    context: ({ input }) => ({ peer: input.peer, got: 0 }),
    on: { ping: [{ guard: 'hasPeer', actions: ['got', 'poke'] }, { actions: 'got' }] },
  })
  const m = hostPure(peers)
  const sysRef = new ActorSystem({ clock: new SimulatedClock(0), machines: { m, x: peers } })
  for (const [kind, a, b] of [
    ['m', 'm1', 'm2'],
    ['x', 'x1', 'x2'],
  ]) {
    await sysRef.spawn(b, kind, { input: { peer: null } })
    await sysRef.spawn(a, kind, { input: { peer: b } })
    for (let i = 0; i < 3; i++) sysRef.send(a, { type: 'ping' })
  }
  assert.is(sysRef.get('m1')!.getSnapshot().context.got, sysRef.get('x1')!.getSnapshot().context.got)
  assert.is(sysRef.get('m2')!.getSnapshot().context.got, sysRef.get('x2')!.getSnapshot().context.got)
  assert.is(sysRef.get('m2')!.getSnapshot().context.got, 3)
  assert.ok(memoStats(m).hits >= 4)
  await sysRef.close()
})

t.run()

// ---------------------------------------------------------------------------------------------
const durable = suite('transitionMemo - jobs on LevelDB: the journal replays under XState alone')

durable(
  'memoized jobs with retries replay to the live states with an unmemoized machine, and recover after a crash',
  async () => {
    const fails = new Map<string, number>()
    // step "a" fails the first attempt of every third job (a retry after backoff), "b" echoes
    const flaky = defineJobType('flaky', [
      {
        name: 'a',
        run: async ({ jobId, input, attempt }) => {
          if (input.i % 3 === 0 && attempt === 1) {
            fails.set(jobId, (fails.get(jobId) ?? 0) + 1)
            throw new Error('first attempt fails')
          }
          return attempt
        },
        retry: { maxAttempts: 3, baseMs: 5, factor: 1, maxMs: 5, jitter: 0 },
      },
      { name: 'b', run: async ({ results }) => ({ from: results.a }) },
    ])
    assert.ok(memoStats(flaky.machine).memoized)
    const dir = tmpDir()
    const N = 60
    let { system, store } = await openSystem(dir, { fsync: 'batch', machines: { [flaky.machineName]: flaky.machine } })
    let queue = new JobQueue(system, { seed: 3 })
    queue.addType(flaky)
    queue.start()
    new LocalWorker(queue)
    const ids: string[] = []
    for (let i = 0; i < N; i++) ids.push((await queue.submit({ type: 'flaky', input: { i } })).id)
    await until(() => ids.every((id) => queue.view(id)?.status === 'COMPLETED'), 10_000, 'all jobs completed')
    assert.is(fails.size, 20)
    assert.ok(memoStats(flaky.machine).hits > 2 * N, `memo hits ${memoStats(flaky.machine).hits}`)
    const live = new Map(ids.map((id) => [id, system.get(id)!.getSnapshot()]))
    // XState alone (no memo, no host) replays each journal to the state the memo produced
    const plain = createJobMachine({
      name: 'flaky',
      steps: [{ name: 'a', retry: { maxAttempts: 3, baseMs: 5, factor: 1, maxMs: 5, jitter: 0 } }, { name: 'b' }],
    })
    for (const id of ids) {
      let text = ''
      // the stored checkpoints, and the final state as the hosted (memoized) machine computes it
      for await (const chunk of exportLog(store, id, { snapshots: 'stored', machine: flaky.machine })) text += chunk
      const { header, lines } = parseLog(text)
      const r = new LogReplayer(plain, { verify: true })
      r.start(header)
      lines.forEach((l, k) => {
        r.line(l, k + 2)
      })
      const res = r.result()
      assert.ok(res.ok, `${id}: ${JSON.stringify(res.divergence)}`)
      assert.equal(res.warnings, [], "the memoized machine has the plain machine's hash")
      assert.equal(res.final.value, live.get(id)!.value, `${id} value`)
      assert.equal(res.final.context, JSON.parse(JSON.stringify(live.get(id)!.context)), `${id} context`)
    }
    // a crash and a restart: the recovered jobs hold the same states, and a new job still runs
    queue.close()
    await crash(system, store)
    ;({ system, store } = await openSystem(dir, { fsync: 'batch', machines: { [flaky.machineName]: flaky.machine } }))
    queue = new JobQueue(system, { seed: 3 })
    queue.addType(flaky)
    queue.start()
    new LocalWorker(queue)
    for (const id of ids)
      assert.equal(system.get(id)!.getSnapshot().context, live.get(id)!.context, `${id} after recovery`)
    const { id } = await queue.submit({ type: 'flaky', input: { i: 'after' } })
    await until(() => queue.view(id)?.status === 'COMPLETED', 5000, 'the job after recovery')
    queue.close()
    await system.close()
  },
)

durable.run()
