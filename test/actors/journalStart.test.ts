import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { exportLog, journalStart, JournalGapError } from '../../actors/index.ts'
import { counter } from '../../machines/counter.ts'
import { parseLog } from '../../protocol/log.ts'
import { LevelStore } from '../../runtime/LevelStore.ts'
import { openSystem } from '../helpers/system.ts'
import { tmpDir } from '../helpers/tmp.ts'

const machines = { counter }

const start = suite('journalStart - where a journal can be read from')

async function exported(store: LevelStore, path: string) {
  let text = ''
  for await (const chunk of exportLog(store, path, { machine: counter })) text += chunk
  return parseLog(text)
}

start('journalStart - a journal that was never compacted starts at the actor creation', async () => {
  const { system, store } = await openSystem(tmpDir(), { machines, snapshotEvery: 3 })
  await system.spawn('c', 'counter', { durable: true })
  for (let i = 0; i < 7; i++) await system.sendCommitted('c', { type: 'inc' })
  await system.flush()
  const js = await journalStart(store, 'c')
  assert.is(js!.firstSeq, 1)
  assert.is(js!.base, undefined)
  assert.is(await journalStart(store, 'nobody'), undefined)
  await system.close()
})

start(
  'journalStart - a segment that straddles the kept checkpoint is split: the journal starts right after it',
  async () => {
    const dir = tmpDir()
    const { system } = await openSystem(dir, { machines, snapshotEvery: 5, retain: 2 })
    await system.spawn('c', 'counter', { durable: true })
    // 23 events sent in one tick share one group commit: one journal segment, seq 1 to 23
    const sent: Promise<number>[] = []
    for (let i = 0; i < 23; i++) sent.push(system.sendCommitted('c', { type: 'inc' }))
    await Promise.all(sent)
    // close checkpoints at 23 and waits for the compactions: the kept checkpoints are 20 and 23
    await system.close()
    const store = await LevelStore.open(dir)
    try {
      const snaps: number[] = []
      for await (const s of store.snapshots('c')) snaps.push(s.seq)
      assert.equal(snaps, [20, 23])
      const seqs: number[] = []
      for await (const r of store.events('c')) seqs.push(r.seq)
      assert.equal(seqs, [21, 22, 23], 'the covered records of the straddling segment are gone')
      const js = await journalStart(store, 'c')
      assert.equal([js!.base?.seq, js!.firstSeq], [20, 21])
      assert.equal(js!.base!.snapshot.context, { count: 20 })
      const log = await exported(store, 'c')
      assert.equal(log.lines[0], { seq: 20, at: js!.base!.at, snapshot: js!.base!.snapshot }, 'the log starts there')
      assert.is(log.lines[1].seq, 21)
    } finally {
      await store.close()
    }
  },
)

start('journalStart - a fully compacted journal is its newest checkpoint', async () => {
  const dir = tmpDir()
  const { system } = await openSystem(dir, { machines, snapshotEvery: 2, retain: 1 })
  await system.spawn('c', 'counter', { durable: true })
  for (let i = 0; i < 4; i++) await system.sendCommitted('c', { type: 'inc' })
  await system.close()
  const store = await LevelStore.open(dir)
  try {
    const js = await journalStart(store, 'c')
    assert.equal([js!.base?.seq, js!.firstSeq], [4, 5])
    const log = await exported(store, 'c')
    assert.is(log.lines.length, 1, 'the log is its starting checkpoint')
  } finally {
    await store.close()
  }
})

start('journalStart - a head missing with no checkpoint covering it is a JournalGapError', async () => {
  const store = await LevelStore.open(tmpDir())
  try {
    await store.write(
      [
        { type: 'meta', meta: { path: 'g', machine: 'counter', machineHash: 'x', createdAt: 1, status: 'live' } },
        { type: 'event', path: 'g', record: { seq: 5, at: 2, event: { type: 'inc' } } },
        { type: 'event', path: 'g', record: { seq: 6, at: 3, event: { type: 'inc' } } },
      ],
      false,
    )
    try {
      await journalStart(store, 'g')
      assert.unreachable('a gap was read')
    } catch (err) {
      assert.instance(err, JournalGapError)
      assert.is((err as JournalGapError).code, 'JOURNAL_GAP')
      assert.match((err as Error).message, /starts at seq 5 and no checkpoint covers seq 4/)
    }
  } finally {
    await store.close()
  }
})

start.run()
