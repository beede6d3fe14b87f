import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { LevelStore } from '../../../runtime/LevelStore.ts'
import { GroupWriter } from '../../../runtime/link/GroupWriter.ts'
import { Outbox } from '../../../runtime/link/Outbox.ts'
import { tmpDir } from '../../helpers/tmp.ts'

const O = suite('Outbox - persisted Class A records, cursors never repeat')

O('appends get consecutive cursors, persisted before they resolve; acks forget them', async () => {
  const dir = tmpDir()
  let store = await LevelStore.open(dir)
  let ob = await Outbox.open(new GroupWriter(store, true), 'h1')
  const [a, b] = await Promise.all([ob.append('s', [1, 2, 3]), ob.append('s', [4])])
  assert.equal(a, { from: 1, to: 3 })
  assert.equal(b, { from: 4, to: 4 })
  const s = ob.stream('s')
  assert.is(s.persisted, 4)
  assert.equal(JSON.parse(s.records.get(2)!).payload, 2)
  assert.ok(ob.ack('s', 2))
  assert.not.ok(ob.ack('s', 2), 'an old ack changes nothing')
  assert.not.ok(ob.ack('s', 9), 'an ack beyond what was appended is refused')
  await ob.writer.flush()
  await store.close()

  // Reopen: records 3 and 4 are still there (3 from a partly acked segment), acked is 2.
  store = await LevelStore.open(dir)
  ob = await Outbox.open(new GroupWriter(store, true), 'h1')
  const r = ob.stream('s')
  assert.is(r.acked, 2)
  assert.equal([...r.records.keys()].sort(), [3, 4])
  assert.is(r.next, 5)
  ob.ack('s', 4)
  await ob.writer.flush()
  await store.close()

  // Everything acked and deleted: the next cursor still continues.
  store = await LevelStore.open(dir)
  ob = await Outbox.open(new GroupWriter(store, true), 'h1')
  assert.is(ob.stream('s').next, 5)
  assert.equal(await ob.append('s', ['x']), { from: 5, to: 5 })
  assert.is(ob.pending(), 1)
  await store.close()
})

O('hubs sharing a store keep separate outboxes', async () => {
  const store = await LevelStore.open(tmpDir())
  const w = new GroupWriter(store, false)
  const a = await Outbox.open(w, 'a')
  const b = await Outbox.open(w, 'b')
  await a.append('s', [1])
  await b.append('s', [1, 2])
  const a2 = await Outbox.open(w, 'a')
  assert.is(a2.stream('s').next, 2)
  await store.close()
})

O('a long backlog stays on disk and is read back in cursor order as acks make room', async () => {
  const dir = tmpDir()
  let store = await LevelStore.open(dir)
  let ob = await Outbox.open(new GroupWriter(store, true), 'h', 3)
  const refills: string[] = []
  ob.onRefill = (id) => refills.push(id)
  await ob.append('s', [1, 2])
  await ob.append('s', [3, 4, 5])
  await ob.append('s', [6, 7, 8, 9, 10])
  const s = ob.stream('s')
  assert.equal([...s.records.keys()], [1, 2, 3], 'only the oldest 3 in memory')
  assert.is(s.persisted, 10)
  ob.ack('s', 2)
  await new Promise((r) => setTimeout(r, 50))
  assert.equal([...s.records.keys()], [3, 4, 5])
  assert.equal(refills, ['s'])
  const seen: number[] = []
  while (s.acked < 10) {
    const c = s.acked + 1
    assert.ok(s.records.has(c), `cursor ${c} is in memory when it is next`)
    seen.push(JSON.parse(s.records.get(c)!).payload)
    ob.ack('s', c)
    await new Promise((r) => setTimeout(r, 20))
  }
  assert.equal(seen, [3, 4, 5, 6, 7, 8, 9, 10])
  await ob.append('s', [11, 12, 13, 14])
  await ob.writer.flush()
  await store.close()
  store = await LevelStore.open(dir)
  ob = await Outbox.open(new GroupWriter(store, true), 'h', 3)
  const r = ob.stream('s')
  assert.equal([...r.records.keys()], [11, 12, 13], 'after a restart: the oldest 3 again')
  assert.equal([r.next, r.persisted, r.acked], [15, 14, 10])
  await store.close()
})

O.run()
