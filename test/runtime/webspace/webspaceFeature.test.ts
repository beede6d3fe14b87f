import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import fc from 'fast-check'
import WebSocket from 'ws'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { Hub } from '../../../runtime/Hub.ts'
import { WebspaceFeature } from '../../../runtime/webspace/webspaceFeature.ts'
import { webspaceUrl } from '../../../runtime/browser/webspaceClient.ts'
import { connectPeer } from '../../helpers/webspacePeer.ts'
import { tmpDir, until } from '../../helpers/tmp.ts'
import { LogReplayer } from '../../../actors/index.ts'
import { LogReader, parseLogHeader } from '../../../protocol/log.ts'
import { webspace } from '../../../machines/webspace.ts'

const TOKEN = 'test-token-123'

async function start(dir = tmpDir(), opts: ConstructorParameters<typeof WebspaceFeature>[0] = {}) {
  const ws = new WebspaceFeature(opts)
  const hub = await Hub.start({ data: dir, token: TOKEN }, [ws])
  return { hub, ws, dir }
}

async function api(hub: Hub, method: string, path: string, body?: unknown, token = TOKEN) {
  const res = await fetch(hub.url + path, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  return { status: res.status, body: (await res.json()) as any }
}

const text = (p: { client: { doc: any } }) => p.client.doc.getText('t').toString()

// ---------------------------------------------------------------------------------------------
const sync = suite('webspaces - sync over /yws')

sync('two clients converge; every update is acked once persisted', async () => {
  const { hub, ws } = await start()
  try {
    const a = await connectPeer(hub.url, 'doc1', TOKEN)
    const b = await connectPeer(hub.url, 'doc1', TOKEN)
    for (let i = 0; i < 50; i++) a.client.doc.getText('t').insert(0, 'a')
    for (let i = 0; i < 50; i++) b.client.doc.getText('t').insert(0, 'b')
    await until(() => text(a).length === 100 && text(b).length === 100, 5000, 'convergence')
    assert.is(text(a), text(b))
    await until(() => a.client.acked === a.client.sent && b.client.acked === b.client.sent, 5000, 'acks')
    assert.ok(a.client.acked >= 50)
    const info = await api(hub, 'GET', '/api/webspaces/doc1?content=1')
    assert.is(info.status, 200)
    assert.equal(info.body.value, { synced: 'ready' })
    assert.is(info.body.content.t, text(a))
    assert.ok(ws.host.counters.persisted >= 100)
    a.destroy()
    b.destroy()
  } finally {
    await hub.close()
  }
})

sync('needs the token; a bad name is refused', async () => {
  const { hub, ws } = await start()
  try {
    const closed = (url: string) =>
      new Promise<number>((r) => new WebSocket(url).on('close', (c) => r(c)).on('error', () => {}))
    assert.is(await closed(webspaceUrl(hub.url, 'doc1', 'wrong')), 4401)
    assert.is(await closed(webspaceUrl(hub.url, 'bad name!', TOKEN)), 4400)
    assert.is(ws.counters.wsRefused, 2)
    assert.is((await api(hub, 'POST', '/api/webspaces/doc1/reset', undefined, '')).status, 401)
  } finally {
    await hub.close()
  }
})

sync('the document survives a hub restart, through compaction', async () => {
  const dir = tmpDir()
  let { hub } = await start(dir, { compactEvery: 20 })
  const a = await connectPeer(hub.url, 'doc1', TOKEN)
  for (let i = 0; i < 75; i++) a.client.doc.getText('t').insert(i, String(i % 10))
  await until(() => a.client.acked === a.client.sent && a.client.sent >= 75, 5000, 'acks')
  const expected = text(a)
  a.destroy()
  await hub.close()
  ;({ hub } = await start(dir, { compactEvery: 20 }))
  try {
    const b = await connectPeer(hub.url, 'doc1', TOKEN)
    assert.is(text(b), expected)
    b.destroy()
  } finally {
    await hub.close()
  }
})

sync('a first sync that hangs heals: the provider is recreated and a client still gets the document', async () => {
  const { hub, ws } = await start(tmpDir(), { policy: { firstSyncTimeoutMs: 300, backoffMs: 50, maxBackoffMs: 200 } })
  try {
    // fault: the first read of the document's storage never answers
    const log = ws.host.log
    const read = log.read.bind(log)
    let calls = 0
    log.read = (name: string) => (++calls === 1 ? new Promise(() => {}) : read(name))
    const t0 = Date.now()
    const a = await connectPeer(hub.url, 'slow', TOKEN)
    assert.ok(Date.now() - t0 >= 300, 'waited for the timeout')
    assert.is(calls, 2)
    const st = ws.state('slow')!
    assert.is(st.context.heals, 1)
    assert.equal(st.value, { synced: 'ready' })
    a.client.doc.getText('t').insert(0, 'ok')
    await until(() => a.client.acked === a.client.sent, 5000, 'acked')
    a.destroy()
  } finally {
    await hub.close()
  }
})

// ---------------------------------------------------------------------------------------------
const ops = suite('webspaces - backup, restore, reset, reload')

ops('backup then restore while clients are connected brings them to the restored state', async () => {
  const { hub, dir } = await start()
  try {
    const a = await connectPeer(hub.url, 'doc1', TOKEN)
    const b = await connectPeer(hub.url, 'doc1', TOKEN)
    a.client.doc.getText('t').insert(0, 'before backup')
    await until(() => text(b) === 'before backup', 5000, 'b sees the edit')
    const backup = await api(hub, 'POST', '/api/webspaces/doc1/backup')
    assert.is(backup.status, 200)
    assert.equal(backup.body.value, { synced: 'ready' })
    const file = backup.body.lastBackup.file
    assert.ok(file.startsWith(join(dir, 'backups')), file)
    assert.ok(existsSync(file))
    // edits after the backup, then a restore: both clients must end at the backup's content
    a.client.doc.getText('t').insert(0, 'after ')
    await until(() => text(b) === 'after before backup', 5000, 'b sees the later edit')
    await until(() => a.client.acked === a.client.sent, 5000, 'a acked')
    const restored = await api(hub, 'POST', '/api/webspaces/doc1/restore', { file })
    assert.is(restored.status, 200)
    assert.is(restored.body.epoch, 1)
    // the old sockets are closed; members reconnect, see the new epoch and drop their copy
    await a.closed
    await b.closed
    const a2 = await connectPeer(hub.url, 'doc1', TOKEN, a.client)
    const b2 = await connectPeer(hub.url, 'doc1', TOKEN, b.client)
    await until(() => text(a2) === 'before backup' && text(b2) === 'before backup', 5000, 'restored state')
    assert.is(a2.client.epoch, 1)
    const content = await api(hub, 'GET', '/api/webspaces/doc1?content=1')
    assert.is(content.body.content.t, 'before backup')
    a2.destroy()
    b2.destroy()
  } finally {
    await hub.close()
  }
})

ops('reset empties the document; reload keeps it; each is an observable transition', async () => {
  const { hub } = await start()
  try {
    const seen: string[] = []
    const off = hub.system.feed.listen((e: any) => {
      if (e.path === 'webspace:doc2' && e.type === '@xstate.event') seen.push(e.event.type)
    })
    const a = await connectPeer(hub.url, 'doc2', TOKEN)
    a.client.doc.getText('t').insert(0, 'hello')
    await until(() => a.client.acked === a.client.sent, 5000, 'acked')
    const reload = await api(hub, 'POST', '/api/webspaces/doc2/reload')
    assert.is(reload.status, 200)
    await a.closed
    const a2 = await connectPeer(hub.url, 'doc2', TOKEN, a.client)
    assert.is(text(a2), 'hello')
    assert.is((await api(hub, 'GET', '/api/webspaces/doc2?content=1')).body.content.t, 'hello')
    const reset = await api(hub, 'POST', '/api/webspaces/doc2/reset')
    assert.is(reset.status, 200)
    assert.is(reset.body.epoch, 1)
    await a2.closed
    const a3 = await connectPeer(hub.url, 'doc2', TOKEN, a.client)
    await until(() => text(a3) === '', 5000, 'reset state')
    assert.is((await api(hub, 'GET', '/api/webspaces/doc2?content=1')).body.content.t ?? null, null)
    off()
    assert.ok(seen.includes('webspace.reload') && seen.includes('webspace.reset'), seen.join(','))
    // journaled: the operator's events are in the actor's log
    const log = await (await fetch(`${hub.url}/api/actors/webspace:doc2/log`)).text()
    assert.match(log, /"webspace.reload"/)
    assert.match(log, /"webspace.reset"/)
    // and it replays through the pure machine with --verify: no divergence
    const full = await (await fetch(`${hub.url}/api/actors/webspace:doc2/log?snapshots=all`)).text()
    const lines = full.trimEnd().split('\n')
    const r = new LogReplayer(webspace, { verify: true })
    r.start(parseLogHeader(lines[0], 1))
    const reader = new LogReader()
    for (let i = 1; i < lines.length; i++) if (!r.line(reader.line(lines[i], i + 1), i + 1)) break
    const res = r.result()
    assert.ok(res.ok, JSON.stringify(res.divergence))
    assert.ok(res.snapshotsChecked >= 6, `${res.snapshotsChecked} snapshots checked`)
    a3.destroy()
  } finally {
    await hub.close()
  }
})

ops('bad operator input is a typed 4xx', async () => {
  const { hub } = await start()
  try {
    assert.is((await api(hub, 'POST', '/api/webspaces/nope/reset')).body.error, 'UNKNOWN_WEBSPACE')
    assert.is((await api(hub, 'POST', '/api/webspaces', { name: 'd3' })).status, 201)
    await until(async () => (await api(hub, 'GET', '/api/webspaces/d3')).body.value?.synced === 'ready', 5000, 'synced')
    assert.is((await api(hub, 'POST', '/api/webspaces', { name: 'd3' })).body.error, 'WEBSPACE_EXISTS')
    assert.is((await api(hub, 'POST', '/api/webspaces', { name: 'a b' })).body.error, 'BAD_NAME')
    assert.is(
      (await api(hub, 'POST', '/api/webspaces', { name: 'x', policy: { firstSyncTimeoutMs: -1 } })).body.error,
      'BAD_BODY',
    )
    assert.is((await api(hub, 'POST', '/api/webspaces/d3/restore', {})).body.error, 'BAD_BODY')
    assert.is(
      (await api(hub, 'POST', '/api/webspaces/d3/restore', { file: '/nonexistent.ydoc' })).body.error,
      'NO_SUCH_FILE',
    )
    assert.is((await api(hub, 'POST', '/api/webspaces/d3/explode')).status, 404)
    const list = await api(hub, 'GET', '/api/webspaces')
    assert.equal(
      list.body.webspaces.map((w: any) => w.name),
      ['d3'],
    )
  } finally {
    await hub.close()
  }
})

// ---------------------------------------------------------------------------------------------
const bad = suite('webspaces - bad frames')

function rawSocket(hub: Hub, name: string): Promise<{ ws: WebSocket; closed: Promise<number>; errors: string[] }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(webspaceUrl(hub.url, name, TOKEN))
    const errors: string[] = []
    const closed = new Promise<number>((r) => ws.on('close', (c) => r(c)))
    ws.on('message', (d: Buffer) => {
      if (d[0] === 102) errors.push(d.subarray(2, 2 + d[1]).toString())
    })
    ws.on('open', () => resolve({ ws, closed, errors }))
    ws.on('error', () => {})
  })
}

bad('malformed frames and oversized updates are refused; the document is untouched', async () => {
  const { hub, ws } = await start(tmpDir(), { maxUpdateBytes: 4096 })
  try {
    const a = await connectPeer(hub.url, 'doc1', TOKEN)
    a.client.doc.getText('t').insert(0, 'keep me')
    await until(() => a.client.acked === a.client.sent, 5000, 'acked')
    const cases: Array<[string, Uint8Array, number]> = [
      ['truncated update', new Uint8Array([0, 2, 10, 1, 2]), 1007],
      ['garbage update', new Uint8Array([0, 2, 3, 255, 255, 255]), 1007],
      ['unknown sync step', new Uint8Array([0, 9, 0]), 1007],
      ['unknown type', new Uint8Array([42, 0]), 1007],
      ['trailing bytes', new Uint8Array([0, 0, 1, 0, 7]), 1007],
      ['bad awareness', new Uint8Array([1, 3, 1, 1, 1]), 1007],
    ]
    for (const [what, frame, code] of cases) {
      const r = await rawSocket(hub, 'doc1')
      r.ws.send(frame)
      assert.is(await r.closed, code, what)
    }
    // oversized: a real update of 10 KB
    const { WebspaceClient } = await import('../../../runtime/browser/webspaceClient.ts')
    const big = new WebspaceClient('doc1')
    let frame: Uint8Array | null = null
    big.attach((f) => (frame = f))
    big.doc.getText('t').insert(0, 'x'.repeat(10_000))
    const r = await rawSocket(hub, 'doc1')
    r.ws.send(frame!)
    assert.is(await r.closed, 1009)
    assert.is(ws.host.counters.refused.UPDATE_TOO_LARGE, 1)
    assert.ok(ws.host.counters.refused.MALFORMED_FRAME >= 4)
    assert.is(ws.host.counters.refused.UNKNOWN_MESSAGE, 1)
    // the good client is still connected and the document is what it was
    assert.is(a.ws.readyState, WebSocket.OPEN)
    assert.is(ws.host.doc('doc1')!.getText('t').toString(), 'keep me')
    a.client.doc.getText('t').insert(7, '!')
    await until(() => ws.host.doc('doc1')!.getText('t').toString() === 'keep me!', 5000, 'still editable')
    a.destroy()
    big.destroy()
  } finally {
    await hub.close()
  }
})

bad('fuzzed frames never change the document', async () => {
  const { hub, ws } = await start(tmpDir(), { maxUpdateBytes: 4096 })
  try {
    const a = await connectPeer(hub.url, 'doc1', TOKEN)
    a.client.doc.getText('t').insert(0, 'stable')
    await until(() => a.client.acked === a.client.sent, 5000, 'acked')
    const sv = () => Buffer.from(ws.host.doc('doc1')!.getText('t').toString()).toString('hex')
    const before = sv()
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.constantFrom(0, 1), async (body, type) => {
        // a frame of a real type (sync / awareness) with random content
        const frame = new Uint8Array([type, ...body])
        const r = await rawSocket(hub, 'doc1')
        r.ws.send(frame)
        await new Promise((res) => setTimeout(res, 5))
        r.ws.close()
        await r.closed
        return sv() === before
      }),
      { numRuns: 60, seed: 7 },
    )
    assert.is(a.ws.readyState, WebSocket.OPEN)
    assert.is(ws.host.doc('doc1')!.getText('t').toString(), 'stable')
    a.destroy()
  } finally {
    await hub.close()
  }
})

sync.run()
ops.run()
bad.run()
