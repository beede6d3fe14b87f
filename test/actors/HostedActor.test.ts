import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import fc from 'fast-check'
import { MemoryLevel } from 'memory-level'
import { assign, setup } from 'xstate'
import { ActorSystem, exportLog, hostPure, SimulatedClock } from '../../actors/index.ts'
import { LevelStore } from '../../runtime/LevelStore.ts'
import { faulty } from '../fixtures/faulty.ts'
import { counter } from '../../machines/counter.ts'
import { replayFile } from '../../runtime/commands/replay.ts'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { crash, openSystem } from '../helpers/system.ts'
import { tmpDir, until } from '../helpers/tmp.ts'

const hostings = {
  xstate: faulty,
  xstateDeclared: hostPure(faulty, { effects: [], pure: false }),
  pure: hostPure(faulty, { effects: [], memo: false }),
  memo: hostPure(faulty),
}

const throwing = suite('HostedActor - an actor that throws never escapes')

throwing(
  'a guard, assign or action that throws, under every hosting, memory and durable: no uncaught error, every send answered, no trace left (fast-check)',
  async () => {
    const uncaught: unknown[] = []
    const onUncaught = (err: unknown) => uncaught.push(err)
    process.on('uncaughtException', onUncaught)
    process.on('unhandledRejection', onUncaught)
    const hit = fc.record({
      type: fc.constant('hit' as const),
      where: fc.constantFrom('none', 'none', 'guard', 'assign', 'action'),
      by: fc.integer({ min: 1, max: 9 }),
    })
    const op = fc.oneof(hit, hit, hit, fc.constantFrom({ type: 'subscribe' as const }, { type: 'noisy' as const }))
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 12 }), async (ops) => {
          const clock = new SimulatedClock(1000)
          const store = new LevelStore(new MemoryLevel({ keyEncoding: 'utf8', valueEncoding: 'utf8' }) as any)
          const sys = await ActorSystem.open({
            clock,
            store,
            machines: hostings,
            supervision: { maxRestarts: 1000, backoffMs: 1, maxBackoffMs: 1 },
          })
          const paths: string[] = []
          for (const name of Object.keys(hostings))
            for (const durable of [true, false]) {
              const path = `${name}-${durable ? 'd' : 'm'}`
              await sys.spawn(path, name, { durable })
              paths.push(path)
            }
          let expected = 0
          for (const o of ops) {
            if (o.type === 'subscribe' || o.type === 'noisy') {
              // runtime code subscribes without an error listener; a subscriber may throw
              for (const path of paths) {
                const live = sys.hosted(path)!.actor
                if (typeof live.subscribe !== 'function') continue
                live.subscribe(
                  o.type === 'noisy'
                    ? () => {
                        throw new Error('a subscriber bug')
                      }
                    : () => {},
                )
              }
              continue
            }
            const answers = await Promise.allSettled(paths.map((p) => sys.sendCommitted(p, o)))
            for (const [i, a] of answers.entries()) {
              if (o.where === 'none') assert.is(a.status, 'fulfilled', `${paths[i]}: a plain hit`)
              else {
                assert.is(a.status, 'rejected', `${paths[i]}: the ${o.where} threw`)
                const err = (a as PromiseRejectedResult).reason
                assert.is(err.code, 'EVENT_REJECTED', `${paths[i]}: ${err.message}`)
                assert.is(err.path, paths[i])
              }
            }
            if (o.where === 'none') expected += o.by
            // let every actor restart (its backoff runs on the simulated clock)
            clock.increment(5)
            await sys.flush()
            await until(() => paths.every((p) => sys.hosted(p)!.status === 'active'), 5000, 'the restarts')
          }
          for (const path of paths) assert.is(sys.get(path)!.getSnapshot().context.n, expected, path)
          await sys.close()
          // XState rethrows from a timer: give it its turn before judging
          await new Promise((r) => setTimeout(r, 1))
          assert.equal(uncaught, [], 'nothing escaped')
        }),
        { numRuns: 60, seed: 16 },
      )
    } finally {
      process.off('uncaughtException', onUncaught)
      process.off('unhandledRejection', onUncaught)
    }
  },
)

throwing.run()

// ---------------------------------------------------------------------------------------------
const journal = suite('HostedActor - the journal holds only what JSON can')

const keeper = setup({
  types: { context: {} as { v: unknown; n: number }, events: {} as { type: 'set'; v: unknown } | { type: 'make' } },
  actions: {
    set: assign({ v: ({ event }) => (event as any).v, n: ({ context }) => context.n + 1 }),
    make: assign({ v: () => new Map([[1, 2]]) }),
  },
}).createMachine({
  id: 'keeper',
  context: { v: null, n: 0 },
  on: { set: { actions: 'set' }, make: { actions: 'make' } },
})

journal(
  'events and steps JSON cannot hold are refused, naming where; the state after a restart is the one before',
  async () => {
    const clock = new SimulatedClock(1000)
    const dir = tmpDir()
    let { system, store } = await openSystem(dir, { clock, machines: { keeper }, supervision: { backoffMs: 1 } })
    await system.spawn('k', 'keeper', { durable: true })
    const refused = [
      [Number.POSITIVE_INFINITY, 'event.v', 'Infinity'],
      [{ a: [1, Number.NaN] }, 'event.v.a[1]', 'NaN'],
      [[1, undefined], 'event.v[1]', 'undefined'],
      [10n, 'event.v', 'BigInt'],
      [new Date(0), 'event.v', 'Date'],
      [new Set([1]), 'event.v', 'Set'],
      [() => 1, 'event.v', 'function'],
    ] as const
    for (const [v, where, what] of refused) {
      const err = await system.sendCommitted('k', { type: 'set', v }).then(
        () => undefined,
        (e) => e,
      )
      assert.is(err?.code, 'UNJOURNALABLE', `${where}: ${what}`)
      assert.match(err.message, where)
      assert.match(err.message, what)
      assert.match(err.message, '"k"')
    }
    const cyclic: any = { a: 1 }
    cyclic.self = cyclic
    assert.throws(() => system.send('k', { type: 'set', v: cyclic }), /event\.v\.self.* cyclic/)
    // accepted: what reads back the same
    await system.sendCommitted('k', { type: 'set', v: { a: undefined, b: -0, c: [null, 'x', { d: true }] } })
    assert.is(system.get('k')!.getSnapshot().context.n, 1, 'only the plain value was taken')
    // a step whose context cannot be journaled is rejected, the actor restarted without it
    const err = await system.sendCommitted('k', { type: 'make' }).then(
      () => undefined,
      (e) => e,
    )
    assert.is(err?.code, 'EVENT_REJECTED')
    assert.match(err.message, 'context.v is a Map')
    assert.ok(
      system.incidents.some((i) => i.path === 'k' && /rejected event "make": context\.v is a Map/.test(i.message)),
      'an incident names the actor and the path',
    )
    clock.increment(5)
    await until(() => system.hosted('k')!.status === 'active', 2000, 'the restart')
    const before = system.get('k')!.getSnapshot()
    assert.equal(before.context, { v: { c: [null, 'x', { d: true }], b: 0 }, n: 1 })
    await crash(system, store)
    ;({ system, store } = await openSystem(dir, { clock, machines: { keeper } }))
    const after = system.get('k')!.getSnapshot()
    assert.equal(after.context, before.context, 'the context after a restart')
    assert.is(system.hosted('k')!.appliedSeq, 2)
    // a spawn input JSON cannot hold is refused before anything is journaled
    await system.spawn('k2', 'keeper', { durable: true, input: { when: new Date(0) } }).then(
      () => assert.unreachable('spawned'),
      (e) => assert.match(e.message, 'input.when of actor "k2" is a Date'),
    )
    assert.is(system.hosted('k2'), undefined)
    await system.close()
  },
)

journal.run()

const gaps = suite('HostedActor - a failed journal write leaves no gap')

gaps(
  'the sender is told, later events go on, the seq is filled with a skipped marker; export, replay and recovery agree',
  async () => {
    const clock = new SimulatedClock(1000)
    const dir = tmpDir()
    let { system, store } = await openSystem(dir, { clock, machines: { counter } })
    await system.spawn('c', 'counter', { durable: true })
    await system.hosted('c')!.sendCommitted({ type: 'inc', by: 1 })
    // the next batch that holds the event with seq 2 fails once, as a full disk would
    const write = store.write.bind(store)
    let failures = 0
    store.write = async (ops, sync) => {
      if (failures === 0 && ops.some((op) => op.type === 'event' && op.record.seq === 2 && !op.record.rejected)) {
        failures++
        throw new Error('ENOSPC: no space left on device')
      }
      return write(ops, sync)
    }
    const a = system.hosted('c')!
    const second = a.sendCommitted({ type: 'inc', by: 10 })
    second.catch(() => {}) // settled below
    await new Promise((r) => setTimeout(r, 5)) // its batch is being written now
    const third = a.sendCommitted({ type: 'inc', by: 100 })
    const [secondDone, thirdDone] = await Promise.allSettled([second, third])
    assert.is(secondDone.status, 'rejected')
    assert.match(String((secondDone as PromiseRejectedResult).reason), /ENOSPC/)
    // a flush that spans the failed batch reports it; the next one has nothing failed to report
    await system.flush().catch((err) => assert.match(String(err), /ENOSPC/))
    await system.flush()
    assert.is(failures, 1)
    const fourth = await a.sendCommitted({ type: 'inc', by: 1000 })
    assert.equal(thirdDone, { status: 'fulfilled', value: 3 })
    assert.is(fourth, 4)
    assert.is(a.actor.getSnapshot().context.count, 1101)
    const seqs: number[] = []
    for await (const rec of store.events('c')) seqs.push(rec.seq)
    assert.equal(seqs, [1, 2, 3, 4], 'no gap in the journal')

    let text = ''
    for await (const chunk of exportLog(store, 'c', { machine: counter })) text += chunk
    const file = join(dir, 'c.log')
    writeFileSync(file, text)
    const run = await replayFile(file, counter, { verify: true })
    assert.is(run.code, 0, JSON.stringify(run.error))
    assert.is(run.result!.divergence, undefined)
    assert.is(run.result!.unverified, undefined)
    assert.equal((run.result!.final.context as any).count, 1101)

    await crash(system, store)
    ;({ system, store } = await openSystem(dir, { clock, machines: { counter } }))
    assert.equal(system.hosted('c')!.actor.getSnapshot().context.count, 1101, 'recovery skips the marker too')
    await system.close()
  },
)

gaps('LevelStore: a filled seq written in one batch with later events reads back in seq order', async () => {
  const store = await LevelStore.open(tmpDir())
  const ev = (seq: number) => ({ type: 'event' as const, path: 'p', record: { seq, at: seq, event: { type: 'e' } } })
  await store.write([ev(1)], true)
  await store.write([ev(3), ev(4)], true) // seq 2's write failed meanwhile
  const fill = {
    ...ev(2),
    record: { ...ev(2).record, rejected: 'journal write failed: ENOSPC' },
    unwritten: true as const,
  }
  await store.write([fill, ev(5)], true)
  const read: Array<[number, string | undefined]> = []
  for await (const r of store.events('p')) read.push([r.seq, r.rejected])
  assert.equal(read, [
    [1, undefined],
    [2, 'journal write failed: ENOSPC'],
    [3, undefined],
    [4, undefined],
    [5, undefined],
  ])
  await store.close()
})

gaps.run()
