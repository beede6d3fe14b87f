import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { execFile } from 'node:child_process'
import { Hub } from '../../../runtime/Hub.ts'
import { WebspaceFeature } from '../../../runtime/webspace/webspaceFeature.ts'
import { connectPeer } from '../../helpers/webspacePeer.ts'
import { tmpDir, until } from '../../helpers/tmp.ts'

const TOKEN = 'cli-token'
const cli = (...args: string[]) =>
  new Promise<{ code: number; out: string; err: string }>((resolve) =>
    execFile(process.execPath, ['bin/aether.mjs', 'webspace', ...args], (e, out, err) =>
      resolve({ code: e ? (e as any).code : 0, out, err }),
    ),
  )

const cmd = suite('aether webspace - operator actions over the API')

cmd('create, backup, reset, restore, reload, list; usage errors exit 2', async () => {
  const feature = new WebspaceFeature()
  const hub = await Hub.start({ data: tmpDir(), token: TOKEN }, [feature])
  try {
    const t = ['--url', hub.url, '--token', TOKEN]
    assert.is((await cli('create', 'notes', ...t)).code, 0)
    await until(() => (feature.state('notes')?.value as any)?.synced === 'ready', 5000, 'synced')
    const p = await connectPeer(hub.url, 'notes', TOKEN)
    p.client.doc.getText('t').insert(0, 'v1')
    await until(() => p.client.acked === p.client.sent, 5000, 'acked')
    const b = await cli('backup', 'notes', ...t, '--json')
    assert.is(b.code, 0, b.err)
    const file = JSON.parse(b.out).lastBackup.file
    const r = await cli('reset', 'notes', ...t)
    assert.is(r.code, 0, r.err)
    assert.match(r.out, /epoch 1/)
    assert.is(feature.host.view('notes')!.t ?? null, null)
    const s = await cli('restore', 'notes', '--file', file, ...t)
    assert.is(s.code, 0, s.err)
    assert.match(s.out, /epoch 2/)
    assert.is(feature.host.view('notes')!.t, 'v1')
    assert.is((await cli('reload', 'notes', ...t)).code, 0)
    const l = await cli('list', '--url', hub.url)
    assert.match(l.out, /notes\s+\{"synced":"ready"\}\s+epoch 2/)
    const show = await cli('show', 'notes', '--content', '--url', hub.url)
    assert.is(JSON.parse(show.out).content.t, 'v1')
    assert.is((await cli('reset', 'notes', '--url', hub.url)).code, 2, 'no token')
    assert.is((await cli('reset', 'notes', '--url', hub.url, '--token', 'wrong')).code, 2, 'bad token')
    assert.is((await cli('restore', 'notes', ...t)).code, 2, 'restore without --file')
    assert.is((await cli('explode', 'notes', ...t)).code, 2)
    assert.is((await cli('backup', 'nope', ...t)).code, 2, 'unknown webspace')
    p.destroy()
  } finally {
    await hub.close()
  }
})

cmd.run()
