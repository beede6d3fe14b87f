import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import fc from 'fast-check'
import { MemoryLevel } from 'memory-level'
import { GroupCommit, Journal } from '../../actors/index.ts'
import { GroupWriter } from '../../runtime/link/GroupWriter.ts'
import { LevelStore } from '../../runtime/LevelStore.ts'

const t = suite('GroupCommit - one write-behind mechanism')

/** A write function that records its batches and can be told to fail or hold. */
function recorder() {
  const batches: Array<{ ops: number[]; sync: boolean }> = []
  let failNext: Error | undefined
  let hold: Promise<void> | undefined
  return {
    batches,
    failOnce(err: Error) {
      failNext = err
    },
    holdUntil(p: Promise<void>) {
      hold = p
    },
    write: async (ops: number[], sync: boolean) => {
      const h = hold
      hold = undefined
      if (h) await h
      if (failNext) {
        const e = failNext
        failNext = undefined
        throw e
      }
      batches.push({ ops: [...ops], sync })
    },
  }
}

const sinkLog = () => {
  const log: string[] = []
  return {
    log,
    sink: {
      committed: (op: number) => void log.push(`ok ${op}`),
      failed: (op: number, err: Error) => void log.push(`failed ${op}: ${err.message}`),
    },
  }
}

t('ops of one tick share one batch; while it is written the next gathers; sinks run in append order', async () => {
  const w = recorder()
  const gc = new GroupCommit<number>({ write: w.write })
  const { log, sink } = sinkLog()
  let release!: () => void
  w.holdUntil(new Promise((r) => (release = r)))
  for (let i = 1; i <= 3; i++) gc.append(i, sink)
  await new Promise((r) => setImmediate(r))
  for (let i = 4; i <= 6; i++) gc.append(i, sink) // gathers while 1-3 are written
  release()
  await gc.flush()
  assert.equal(
    w.batches.map((b) => b.ops),
    [
      [1, 2, 3],
      [4, 5, 6],
    ],
  )
  assert.ok(
    w.batches.every((b) => b.sync),
    'fsync batch: every batch synced',
  )
  assert.equal(
    log,
    [1, 2, 3, 4, 5, 6].map((i) => `ok ${i}`),
  )
  assert.equal(gc.stats, { batches: 2, ops: 6, errors: 0 })
})

t('fsync policies: always writes one op per synced write; none writes unsynced batches', async () => {
  for (const [fsync, sizes, sync] of [
    ['always', [1, 1, 1], true],
    ['none', [3], false],
  ] as const) {
    const w = recorder()
    const gc = new GroupCommit<number>({ write: w.write, fsync })
    for (let i = 0; i < 3; i++) gc.append(i)
    await gc.flush()
    assert.equal(
      w.batches.map((b) => b.ops.length),
      sizes,
      fsync,
    )
    assert.ok(
      w.batches.every((b) => b.sync === sync),
      fsync,
    )
  }
})

t('batches are bounded by count, or by weight (one op at least)', async () => {
  const w = recorder()
  const byCount = new GroupCommit<number>({ write: w.write, maxBatch: 2 })
  for (let i = 0; i < 5; i++) byCount.append(i)
  await byCount.flush()
  assert.equal(
    w.batches.map((b) => b.ops),
    [[0, 1], [2, 3], [4]],
  )
  const v = recorder()
  const byWeight = new GroupCommit<number>({ write: v.write, maxBatch: 10, weigh: (n) => n })
  for (const n of [4, 5, 2, 30, 1]) byWeight.append(n)
  await byWeight.flush()
  assert.equal(
    v.batches.map((b) => b.ops),
    [[4, 5], [2], [30], [1]],
  )
})

t('a failed write fails its ops; the writer goes on, or with stopOnFailure fails everything after', async () => {
  const w = recorder()
  const errors: string[] = []
  const goesOn = new GroupCommit<number>({ write: w.write, onError: (e) => void errors.push(e.message) })
  const a = sinkLog()
  w.failOnce(new Error('disk full'))
  goesOn.append(1, a.sink)
  await goesOn.flush().then(
    () => assert.unreachable('flush resolved'),
    (e) => assert.is(e.message, 'disk full'),
  )
  goesOn.append(2, a.sink)
  await goesOn.flush()
  assert.equal(a.log, ['failed 1: disk full', 'ok 2'])
  assert.equal(errors, ['disk full'])

  const v = recorder()
  const stops = new GroupCommit<number>({ write: v.write, stopOnFailure: true })
  const b = sinkLog()
  let release!: () => void
  v.holdUntil(new Promise((r) => (release = r)))
  v.failOnce(new Error('io'))
  stops.append(1, b.sink)
  await new Promise((r) => setImmediate(r))
  stops.append(2, b.sink) // queued behind the failing write
  release()
  await stops.flush().catch(() => {})
  stops.append(3, b.sink) // after the failure
  assert.equal(b.log, ['failed 1: io', 'failed 2: io', 'failed 3: io'])
  assert.is(stops.failed?.message, 'io')
  await stops.flush().then(
    () => assert.unreachable('flush resolved'),
    (e) => assert.is(e.message, 'io'),
  )
  assert.equal(v.batches, [], 'nothing written after the failure')
})

t('committed means everything appended before is committed too (fast-check, with failures and holds)', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.oneof(fc.constant('op'), fc.constant('tick'), fc.constant('fail')), { maxLength: 60 }),
      fc.constantFrom('always', 'batch', 'none'),
      fc.integer({ min: 1, max: 8 }),
      async (script, fsync, maxBatch) => {
        const w = recorder()
        const gc = new GroupCommit<number>({ write: w.write, fsync, maxBatch })
        const committed: number[] = []
        const failed: number[] = []
        const sink = { committed: (n: number) => void committed.push(n), failed: (n: number) => void failed.push(n) }
        let n = 0
        for (const step of script) {
          if (step === 'op') gc.append(n++, sink)
          else if (step === 'fail') w.failOnce(new Error('x'))
          else await new Promise((r) => setImmediate(r))
        }
        await gc.flush().catch(() => {})
        const written = w.batches.flatMap((b) => b.ops)
        assert.equal(committed, written, 'committed = written, in order')
        assert.equal(
          [...committed, ...failed].sort((a, b) => a - b),
          [...Array(n).keys()],
          'every op answered once',
        )
        for (const b of w.batches) assert.ok(b.ops.length <= (fsync === 'always' ? 1 : maxBatch))
        for (let i = 1; i < committed.length; i++) assert.ok(committed[i] > committed[i - 1])
      },
    ),
    { numRuns: 300, seed: 17 },
  )
})

t('the journal and the link writer are the same mechanism over LevelDB (memory-level)', async () => {
  const store = new LevelStore(new MemoryLevel({ keyEncoding: 'utf8', valueEncoding: 'utf8' }) as any)
  const journal = new Journal(store, 'batch')
  assert.instance(journal, GroupCommit)
  journal.append({ type: 'incident', incident: { at: 1, class: 'x', message: 'm' } })
  await journal.flush()
  assert.is((await store.incidents()).length, 1)
  const writer = new GroupWriter(store, true, 64)
  const writes = [
    writer.write([{ type: 'put', key: 'k', value: '1' }]),
    writer.write([{ type: 'put', key: 'k', value: '2' }]),
  ]
  writes.push(writer.write([{ type: 'put', key: 'big', value: 'x'.repeat(100) }]))
  await Promise.all(writes)
  assert.is(await store.db.get('k'), '2', 'the last write of a key wins')
  assert.equal(writer.stats, { batches: 2, entries: 2, maxBatch: 1, failures: 0 })
  await store.close()
})

t.run()
