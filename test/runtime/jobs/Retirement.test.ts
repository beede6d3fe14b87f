/**
 * Retirement of finished jobs (runtime/jobs/Retirement.ts), on LevelStore over memory-level with a
 * SimulatedClock: retention by count and by age, archived jobs found by id and by key, dead letters
 * kept, recovery that reads no finished job's journal, and a fast-check property over crash
 * points: wherever the process dies, every acknowledged job is found after the restart, live or
 * archived, never both.
 */
import { readFileSync } from 'node:fs'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import fc from 'fast-check'
import { MemoryLevel } from 'memory-level'
import { ActorSystem, SimulatedClock, type StoreOp } from '../../../actors/index.ts'
import { LevelStore } from '../../../runtime/LevelStore.ts'
import { JobError, JobQueue, type JobQueueOptions } from '../../../runtime/jobs/JobQueue.ts'
import { LocalWorker } from '../../../runtime/jobs/LocalWorker.ts'
import { type RetentionOptions, retentionWith } from '../../../runtime/jobs/Retirement.ts'
import { setting } from '../../../runtime/config.ts'
import { builtinJobTypes, defineJobType } from '../../../runtime/jobs/jobTypes.ts'
import { settleSystem } from '../../helpers/jobs.ts'

const failing = defineJobType('failing', [
  {
    name: 'only',
    run: async () => {
      throw new Error('always')
    },
    retry: { maxAttempts: 1 },
  },
])
const TYPES = [...builtinJobTypes, failing]
const MACHINES = Object.fromEntries(TYPES.map((t) => [t.machineName, t.machine]))

const memoryDb = () => new MemoryLevel<string, string>({ keyEncoding: 'utf8', valueEncoding: 'utf8' })

/** A queue with an in-process worker on `store`; `retention` as the queue takes it. */
async function rig(store: LevelStore, clock: SimulatedClock, retention: RetentionOptions | false) {
  // the hub's order: the queue (the jobs.host service) before recovery, its start after
  const system = new ActorSystem({ store, clock, machines: MACHINES })
  const queue = new JobQueue(system, { seed: 3, retention } as JobQueueOptions)
  for (const t of TYPES) queue.addType(t)
  await system.recover()
  queue.start()
  new LocalWorker(queue)
  return { system, queue }
}

const Count = suite('retirement - by count and by age')

Count('past the count the oldest finished jobs are archived; found by id and by key, no action', async () => {
  const clock = new SimulatedClock(1_000_000)
  const store = new LevelStore(memoryDb() as any)
  const { system, queue } = await rig(store, clock, { maxCount: 2, maxAgeMs: Infinity })
  const ids: string[] = []
  const before = new Map<string, unknown>()
  for (let i = 0; i < 5; i++) {
    ids.push((await queue.submit({ type: 'echo', input: { i }, key: `k${i}` })).id)
    await settleSystem(system)
    before.set(ids[i], queue.view(ids[i]))
    clock.increment(10)
  }
  await queue.retirement!.run()
  await settleSystem(system)
  assert.equal([...queue.jobs.keys()].sort(), ids.slice(3).sort(), 'the two newest stay live')
  for (const id of ids.slice(0, 3)) {
    const { archived, archivedAt, ...rest } = (await queue.find(id))!
    assert.equal(rest, before.get(id), 'an archived job reads as it did live')
    assert.equal([archived, typeof archivedAt], [true, 'number'])
  }
  for (const [i, id] of ids.entries()) {
    const v = (await queue.find(id))!
    assert.is(v.id, id)
    assert.is(v.status, 'COMPLETED')
    assert.equal(v.input, { i })
    assert.equal(v.output, { i })
    assert.is(v.archived, i < 3 ? true : undefined)
    assert.is(system.hosted(id) === undefined, i < 3, 'an archived job has no live actor')
    const again = await queue.submit({ type: 'echo', input: 'again', key: `k${i}` })
    assert.equal([again.id, again.created, again.status], [id, false, 'COMPLETED'], 'its key names it')
  }
  const err = await queue.act(ids[0], 'stop').catch((e) => e)
  assert.instance(err, JobError)
  assert.is(err.code, 'BAD_STATE')
  // the log of an archived job is its whole journal
  const meta = (await store.getMeta(ids[0]))!
  assert.is(meta.status, 'archived')
  const liveMeta = (await store.getMeta(ids[4]))!
  assert.equal(
    [meta.machine, meta.machineHash, meta.codeHash],
    [liveMeta.machine, liveMeta.machineHash, liveMeta.codeHash],
    'the archive keeps the meta as it was stored',
  )
  assert.is(meta.machineHash.length, 64)
  const events = []
  for await (const r of store.events(ids[0])) events.push(r.event.type)
  assert.equal(events, ['xstate.done.actor.echo'])
  const page = await store.archivedPage(2)
  assert.equal(
    page.records.map((r) => r.meta.path),
    [ids[2], ids[1]],
    'the archive pages newest finish first',
  )
  assert.equal(
    (await store.archivedPage(2, page.next!)).records.map((r) => r.meta.path),
    [ids[0]],
  )
  queue.close()
  await system.close()
})

Count('past the age, on the clock; dead letters stay until an operator acts', async () => {
  const clock = new SimulatedClock(1_000_000)
  const store = new LevelStore(memoryDb() as any)
  const { system, queue } = await rig(store, clock, { maxAgeMs: 60_000, everyMs: 1000 })
  const done = (await queue.submit({ type: 'echo', input: 1 })).id
  const dead = (await queue.submit({ type: 'failing', input: 2 })).id
  await settleSystem(system)
  assert.is(queue.view(dead)!.status, 'FAILED')
  clock.increment(59_000)
  await settleSystem(system)
  assert.ok(queue.entry(done), 'younger than the age: live')
  clock.increment(2_000)
  await settleSystem(system)
  assert.not.ok(queue.entry(done), 'older: archived')
  assert.is((await queue.find(done))!.archived, true)
  assert.ok(queue.entry(dead), 'a dead letter is not retired')
  assert.is(await queue.act(dead, 'stop'), 'STOPPED')
  clock.increment(61_000)
  await settleSystem(system)
  assert.is((await queue.find(dead))!.archived, true, 'once stopped it retires like any finished job')
  queue.close()
  await system.close()
})

Count('settings: ages with units, counts, over the file; errors name the flag or variable', () => {
  const age = (v: string) => setting('jobs-retain-age', v)
  assert.is(age('1500'), 1500)
  assert.is(age('90s'), 90_000)
  assert.is(age('1h'), 3_600_000)
  assert.is(age('7d'), 604_800_000)
  assert.is(age('never'), Infinity)
  assert.is(setting('jobs-retain-count', '0'), 0)
  assert.is(setting('jobs-retain-count', 'all'), Infinity)
  assert.is(setting('jobs-retain-age', undefined, { AETHER_JOBS_RETAIN_AGE: '15m' }), 900_000)
  assert.is(setting('jobs-retain-age', undefined, {}), undefined, 'unset: the file or the built-in default')
  assert.throws(() => age('soon'), /--jobs-retain-age must be milliseconds/)
  assert.throws(
    () => setting('jobs-retain-count', undefined, { AETHER_JOBS_RETAIN_COUNT: '-1' }),
    /AETHER_JOBS_RETAIN_COUNT \(setting jobs-retain-count\) must be a whole number >= 0 or "all"/,
  )
  assert.equal(retentionWith({ maxAgeMs: 5, maxCount: 7 }, undefined, 3), { maxAgeMs: 5, maxCount: 3 })
  assert.equal(retentionWith(false, undefined, undefined), false)
})

const Recovery = suite('retirement - recovery reads no finished job')

Recovery('after a crash: archived jobs are not loaded, finished live ones not replayed', async () => {
  const db = memoryDb()
  const clock = new SimulatedClock(1_000_000)
  const a = await rig(new LevelStore(db as any), clock, { maxCount: 3, maxAgeMs: Infinity })
  const ids: string[] = []
  for (let i = 0; i < 10; i++) ids.push((await a.queue.submit({ type: 'echo', input: i })).id)
  const pending = (await a.queue.submit({ type: 'echo', input: 'later', runAt: 2_000_000 })).id
  await settleSystem(a.system)
  await a.queue.retirement!.run()
  await settleSystem(a.system)
  // the live finished jobs' final checkpoints are written a second after they finish
  clock.increment(1000)
  await settleSystem(a.system)
  a.queue.close() // the process dies here: no close, no clean marker
  const store = new LevelStore(db as any)
  const read: string[] = []
  const events = store.events.bind(store)
  store.events = (path, after, until) => (read.push(path), events(path, after, until))
  const b = await rig(store, clock, { maxCount: 3, maxAgeMs: Infinity })
  assert.equal(read, [pending], 'only the unfinished job has its journal read')
  assert.is(b.system.list().filter((i) => i.machine.startsWith('job:')).length, 4, '3 finished + 1 pending live')
  for (const id of ids) assert.is((await b.queue.find(id))?.status, 'COMPLETED')
  b.queue.close()
  await b.system.close()
})

Recovery(
  'a crash before the final checkpoints are due: the finished jobs are replayed, then checkpointed',
  async () => {
    const db = memoryDb()
    const clock = new SimulatedClock(1_000_000)
    const a = await rig(new LevelStore(db as any), clock, { maxCount: 3, maxAgeMs: Infinity })
    const ids: string[] = []
    for (let i = 0; i < 5; i++) ids.push((await a.queue.submit({ type: 'echo', input: i })).id)
    await settleSystem(a.system)
    await a.queue.retirement!.run()
    await settleSystem(a.system)
    a.queue.close() // dies within the second after the jobs finished
    const live = ids.slice(-3)
    const readBack = async (onRead: (path: string) => void) => {
      const store = new LevelStore(db as any)
      const events = store.events.bind(store)
      store.events = (path, after, until) => (onRead(path), events(path, after, until))
      return rig(store, clock, { maxCount: 3, maxAgeMs: Infinity })
    }
    const read: string[] = []
    const b = await readBack((p) => read.push(p))
    assert.equal(read.sort(), [...live].sort(), 'the live finished jobs are replayed from their journals')
    for (const id of ids) assert.is((await b.queue.find(id))?.status, 'COMPLETED')
    b.queue.close() // and dies again as soon as it has started: recovery's checkpoints are on disk
    const again: string[] = []
    const c = await readBack((p) => again.push(p))
    assert.equal(again, [], 'recovery checkpointed them: the next start reads no journal')
    c.queue.close()
    await c.system.close()
  },
)

const Writes = suite('retirement - what a finished job writes')

Writes('final checkpoints are written once a job has been finished a second, one by one', async () => {
  const db = memoryDb()
  const clock = new SimulatedClock(1_000_000)
  const { system, queue } = await rig(new LevelStore(db as any), clock, false)
  const latest = async (id: string) => (await db.get(`l!${id}`)) !== undefined
  const x = (await queue.submit({ type: 'echo', input: 'x' })).id
  await settleSystem(system)
  clock.increment(600)
  const y = (await queue.submit({ type: 'echo', input: 'y' })).id
  await settleSystem(system)
  assert.equal([await latest(x), await latest(y)], [false, false], 'none within its second')
  clock.increment(400)
  await settleSystem(system)
  assert.equal([await latest(x), await latest(y)], [true, false], 'x a second after it finished, y not yet')
  clock.increment(600)
  await settleSystem(system)
  assert.equal([await latest(x), await latest(y)], [true, true], 'y a second after it finished')
  queue.close()
  await system.close()
})

Writes('an archive deletes the latest checkpoint only of a job that wrote one', async () => {
  const db = memoryDb()
  const clock = new SimulatedClock(1_000_000)
  const store = new LevelStore(db as any)
  const archives: StoreOp[] = []
  const write = store.write.bind(store)
  store.write = (ops, sync) => {
    for (const op of ops) if (op.type === 'archive') archives.push(op)
    return write(ops, sync)
  }
  const { system, queue } = await rig(store, clock, { maxCount: 1, maxAgeMs: Infinity })
  const old = (await queue.submit({ type: 'echo', input: 'old' })).id
  await settleSystem(system)
  clock.increment(1000) // its final checkpoint
  await settleSystem(system)
  assert.ok((await db.get(`l!${old}`)) !== undefined)
  const quick = (await queue.submit({ type: 'echo', input: 'quick' })).id
  const last = (await queue.submit({ type: 'echo', input: 'last' })).id
  await settleSystem(system)
  await queue.retirement!.run()
  await settleSystem(system)
  const byPath = new Map(archives.map((op) => [(op as any).record.meta.path, op]))
  assert.equal([...byPath.keys()].sort(), [old, quick].sort(), 'past the count: the two oldest')
  assert.is((byPath.get(old) as any).unchecked, undefined, 'checkpointed: its l! is deleted')
  assert.is((byPath.get(quick) as any).unchecked, true, 'archived within its second: no l! to delete')
  for (const id of [old, quick]) {
    assert.is(await db.get(`l!${id}`), undefined, `${id}: no latest checkpoint left`)
    assert.is(await db.get(`m!${id}`), undefined, `${id}: no live meta left`)
    assert.is((await queue.find(id))?.archived, true)
  }
  assert.is((await queue.find(last))?.archived, undefined, 'the newest stays live')
  queue.close()
  await system.close()
})

/**
 * A store that dies at its `crashAt`-th write: that write lands whole (`lands`) or not at all, and
 * nothing after it is written (the process is gone). LevelDB batches are atomic, so this is every
 * state a kill -9 can leave.
 */
class DyingStore extends LevelStore {
  writes = 0
  dead = false
  constructor(
    db: any,
    private crashAt: number,
    private lands: boolean,
  ) {
    super(db)
  }
  override async write(ops: StoreOp[], sync: boolean): Promise<void> {
    if (this.dead) return new Promise(() => {})
    if (++this.writes === this.crashAt) {
      if (this.lands) await super.write(ops, sync)
      this.dead = true
      return new Promise(() => {})
    }
    return super.write(ops, sync)
  }
}

/** Lets promises and immediates run (a dead store's flush never resolves, so no settleSystem). */
async function spin(n = 30): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r))
}

const Crash = suite('retirement - crash points (fast-check)')

Crash(
  'wherever the process dies, every acknowledged job is found after restart, live or archived, never both',
  async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 3, max: 8 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 1, max: 24 }),
        fc.boolean(),
        async (jobs, maxCount, crashAt, lands) => {
          const db = memoryDb()
          const clock = new SimulatedClock(1_000_000)
          const retention = { maxCount, maxAgeMs: 5_000, everyMs: 1_000 }
          const dying = new DyingStore(db, crashAt, lands)
          const a = await rig(dying, clock, retention)
          const acked = new Map<string, string>() // key -> id
          for (let i = 0; i < jobs; i++) {
            const key = `k${i}`
            void a.queue.submit({ type: 'echo', input: i, key }).then(
              (r) => acked.set(key, r.id),
              () => {},
            )
            await spin(3)
            clock.increment(1_500)
          }
          for (let i = 0; i < 6; i++) {
            await spin()
            clock.increment(1_500)
          }
          a.queue.close()
          // restart on what the store holds
          const clock2 = new SimulatedClock(clock.now())
          const store = new LevelStore(db as any)
          const b = await rig(store, clock2, retention)
          for (let i = 0; i < 8; i++) {
            await settleSystem(b.system)
            clock2.increment(1_500)
          }
          await b.queue.retirement!.run()
          await settleSystem(b.system)
          for (const [key, id] of acked) {
            const v = await b.queue.find(id)
            assert.ok(v, `acknowledged ${id} (${key}) is found (crash at write ${crashAt}, lands ${lands})`)
            assert.is(v!.status, 'COMPLETED')
            const live = (await db.get(`m!${id}`)) !== undefined
            const archived = (await db.get(`a!${id}`)) !== undefined
            assert.ok(live !== archived, `${id}: live ${live}, archived ${archived}`)
            assert.is(live, b.queue.entry(id) !== undefined, `${id}: the index agrees with the store`)
            const again = await b.queue.submit({ type: 'echo', input: 'again', key })
            assert.is(again.id, id, `${key} still names ${id}`)
          }
          // after the restart retirement catches up: the finished jobs left live are within the count
          const live = [...b.queue.jobs.values()].filter((e) => e.status === 'COMPLETED').length
          assert.ok(live <= maxCount, `${live} finished jobs live, count ${maxCount}`)
          b.queue.close()
          await b.system.close()
        },
      ),
      { numRuns: Number(process.env.AETHER_RETIRE_RUNS ?? 60), seed: Number(process.env.AETHER_RETIRE_SEED ?? 16_07) },
    )
  },
)

const Format = suite('retirement - the store format (runtime/actorRecords.ts)')

// test/fixtures/storeFormat1.json: every key and value of a memory-level store written by the code
// before format 2 (main at 981d022; retention maxCount 2): jobs 0 (key "first") and 1 archived,
// 2 live finished with its final checkpoint, 3 live finished without, 4 delayed an hour (PENDING).
const format1 = JSON.parse(readFileSync(new URL('../../fixtures/storeFormat1.json', import.meta.url), 'utf8')) as [
  string,
  string,
][]
const [job0, job1, job2, job3, job4] = [
  'job-00000lfls-00000',
  'job-00000lh5c-00001',
  'job-00000liow-00002',
  'job-00000lk8g-00003',
  'job-00000lk8g-00004',
]

Format('a store written in format 1 is recovered, read and archived into, beside format 2 records', async () => {
  const db = memoryDb()
  await db.batch(format1.map(([key, value]) => ({ type: 'put' as const, key, value })))
  const hashes = JSON.parse(format1.find(([k]) => k === `m!${job2}`)![1])
  const clock = new SimulatedClock(1_006_000)
  const retention = { maxCount: 2, maxAgeMs: Infinity }
  const a = await rig(new LevelStore(db as any), clock, retention)
  assert.equal(
    [job2, job3].map((id) => a.queue.view(id)?.status),
    ['COMPLETED', 'COMPLETED'],
  )
  assert.is(a.queue.view(job4)?.status, 'PENDING')
  const first = await a.queue.find(job0)
  assert.equal([first?.archived, first?.key, first?.output, first?.finishedAt], [true, 'first', { i: 0 }, 1_000_000])
  assert.is((await a.queue.submit({ type: 'echo', input: { i: 9 }, key: 'first' })).id, job0, 'its key still names it')
  const meta0 = await a.system.store!.getMeta(job0)
  assert.equal([meta0?.status, meta0?.machineHash, meta0?.codeHash], ['archived', hashes.machineHash, hashes.codeHash])
  // job 4 falls due and finishes: three finished live, so job 2 (a format 1 meta) is archived
  clock.increment(3_600_000)
  await settleSystem(a.system)
  await a.queue.retirement!.run()
  await settleSystem(a.system)
  const raw = async (key: string) => JSON.parse((await db.get(key))!)
  assert.ok((await raw(`a!${job2}`)).h, 'archived now: format 2')
  assert.ok((await raw(`a!${job0}`)).meta, 'archived before: format 1, untouched')
  assert.ok((await raw(`m!${job4}`)).machineHash, 'live before: format 1, untouched')
  assert.is(await db.get('f!store'), '2')
  a.queue.close() // the process dies: no clean close

  const b = await rig(new LevelStore(db as any), clock, retention)
  const page = await b.system.store!.archivedPage(10)
  assert.equal(
    page.records.map((r) => [r.meta.path, r.meta.machineHash, r.meta.codeHash, r.meta.status]),
    [job2, job1, job0].map((id) => [id, hashes.machineHash, hashes.codeHash, 'live']),
    'both formats read the same, newest finish first',
  )
  for (const [id, i] of [
    [job0, 0],
    [job1, 1],
    [job2, 2],
    [job3, 3],
    [job4, 4],
  ] as const) {
    const v = await b.queue.find(id)
    assert.equal([v?.status, v?.output], ['COMPLETED', { i }], id)
  }
  assert.equal((await b.queue.find(job2))?.archived, true)
  const job5 = (await b.queue.submit({ type: 'echo', input: { i: 5 }, runAt: clock.now() + 1000 })).id
  await settleSystem(b.system)
  assert.ok((await raw(`m!${job5}`)).h, 'a new meta: format 2')
  // a clean close writes the recovery image from the stored metas of both formats
  b.queue.close()
  await b.system.close()
  await db.open() // memory-level keeps its data when closed
  assert.ok((await db.get('c!image!000000')) !== undefined, 'the next start reads the image')
  const c = await rig(new LevelStore(db as any), clock, retention)
  assert.equal(
    [job3, job4, job5].map((id) => c.queue.view(id)?.status),
    ['COMPLETED', 'COMPLETED', 'PENDING'],
  )
  for (const id of [job4, job5]) assert.equal((await c.system.store!.getMeta(id))?.codeHash, hashes.codeHash)
  c.queue.close()
  await c.system.close()
})

Format('a store of a newer format is refused with a code that says what to do', async () => {
  const db = memoryDb()
  await db.put('f!store', '3')
  const err = await rig(new LevelStore(db as any), new SimulatedClock(0), false).catch((e) => e)
  assert.is(err?.code, 'STORE_FORMAT')
  assert.match(err.message, /newer Aether/)
})

Count.run()
Recovery.run()
Format.run()
Writes.run()
Crash.run()
