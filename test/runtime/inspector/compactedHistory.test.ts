import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import WebSocket from 'ws'
import { InspectorModel } from '../../../inspector/src/model.ts'
import { decodeFeedFrame } from '../../../protocol/inspectorFeed.ts'
import { isSnapshotLine, parseLog } from '../../../protocol/log.ts'
import { Hub } from '../../../runtime/Hub.ts'
import { InspectorServer } from '../../../runtime/inspector/InspectorServer.ts'
import { tmpDir } from '../../helpers/tmp.ts'

/** Asks the inspector feed one `history` page. */
async function history(url: string, path: string, after: number): Promise<any> {
  const ws = new WebSocket(url.replace(/^http/, 'ws') + '/inspector/feed')
  try {
    return await new Promise((resolve, reject) => {
      ws.on('error', reject)
      ws.on('open', () => ws.send(JSON.stringify({ id: 1, cmd: 'history', path, after, limit: 1000 })))
      ws.on('message', (d, isBinary) => {
        const f: any = decodeFeedFrame(isBinary ? (d as Buffer) : String(d))
        if (f.id === 1) resolve(f)
      })
    })
  } finally {
    ws.close()
  }
}

const compacted = suite('compacted journal - export and the inspector start at the same place')

compacted('compacted journal - log export, the feed history, REST history and the model agree', async () => {
  const data = tmpDir()
  const opts = { data, port: 0, token: 'tok-compacted', snapshotEvery: 5, retain: 2 }
  let hub = await Hub.start(opts, [new InspectorServer()])
  try {
    await hub.system.spawn('c', 'counter', { durable: true })
    for (let i = 0; i < 3; i++) await hub.system.sendCommitted('c', { type: 'inc' })
    // 20 events in one tick share one journal segment, which straddles a kept checkpoint
    const sent: Promise<number>[] = []
    for (let i = 0; i < 20; i++) sent.push(hub.system.sendCommitted('c', { type: 'inc', by: 2 }))
    await Promise.all(sent)
    for (let i = 0; i < 2; i++) await hub.system.sendCommitted('c', { type: 'inc' })
  } finally {
    // close checkpoints and waits for the compactions it starts
    await hub.close()
  }
  hub = await Hub.start(opts, [new InspectorServer()])
  try {
    const log = parseLog(await (await fetch(`${hub.url}/api/actors/c/log`)).text())
    const base = log.lines[0]
    assert.ok(isSnapshotLine(base), 'the compacted log starts with its checkpoint')
    assert.ok(base.seq > 1)
    assert.is(log.lines[1].seq, base.seq + 1)

    const page = await history(hub.url, 'c', 0)
    assert.is(page.t, 'history', JSON.stringify(page))
    assert.is(page.startSeq, base.seq, 'the same first seq')
    assert.equal(
      { value: page.start.value, context: page.start.context },
      { value: base.snapshot.value, context: base.snapshot.context },
      'the same base state',
    )
    assert.is(page.entries[0].seq, base.seq + 1)
    const events = log.lines.filter((l) => !isSnapshotLine(l))
    assert.equal(
      page.entries.map((e: any) => e.seq),
      events.map((l) => l.seq),
    )
    const lastSnap = log.lines[log.lines.length - 1]
    assert.ok(isSnapshotLine(lastSnap))
    assert.equal(page.entries[page.entries.length - 1].snapshot.context, lastSnap.snapshot.context)
    assert.equal(lastSnap.snapshot.context, { count: 45 })

    const rest = await (await fetch(`${hub.url}/api/actors/c/history?after=0`)).json()
    assert.equal(rest.base, { seq: base.seq, at: base.at, snapshot: base.snapshot })
    assert.is(rest.records[0].seq, base.seq + 1)

    const model = new InspectorModel()
    model.applySnapshot(
      [
        {
          path: 'c',
          machine: 'counter',
          status: 'active',
          durable: true,
          actorSeq: lastSnap.seq,
          at: 0,
          snapshot: page.entries[page.entries.length - 1].snapshot,
        },
      ],
      0,
    )
    model.applyHistory('c', 0, page.start, page.entries, page.startSeq)
    const a = model.actors.get('c')!
    assert.is(a.entries[0].seq, base.seq)
    assert.is(a.journalFrom, base.seq)
    assert.is(a.truncated, false, 'nothing earlier to load')
  } finally {
    await hub.close()
  }
})

compacted.run()
