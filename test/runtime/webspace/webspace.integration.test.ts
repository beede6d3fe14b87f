/**
 * kill -9 of a hub (a child process) while members edit: after the restart the webspace comes
 * back from LevelDB with every update the hub had acknowledged.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { connectPeer, type WsPeer } from '../../helpers/webspacePeer.ts'
import { sleep, tmpDir } from '../../helpers/tmp.ts'

const TOKEN = 'kill-test-token'

function startHub(dir: string, port = 0): Promise<{ child: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/hubChild.ts', dir, TOKEN, String(port)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    const rl = createInterface({ input: child.stdout! })
    rl.on('line', (l) => l.startsWith('URL ') && resolve({ child, url: l.slice(4) }))
    child.once('exit', (code) => reject(new Error(`hub exited ${code}`)))
  })
}

const kill = suite('webspace - kill -9 during editing')

kill('every acknowledged update survives; nothing is duplicated', async () => {
  const dir = tmpDir()
  let seed = 12345
  const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32
  for (let round = 0; round < 3; round++) {
    const { child, url } = await startHub(dir)
    const peers: WsPeer[] = []
    for (let c = 0; c < 3; c++) peers.push(await connectPeer(url, 'doc', TOKEN))
    if (round > 0) {
      // the previous round's acknowledged edits are all here, once each
      const t = peers[0].client.doc.getText('t').toString()
      for (const e of ackedEdits) assert.is(t.split(e).length - 1, 1, `edit ${e} after restart ${round}`)
    }
    const editsAt: Array<{ id: string; peer: WsPeer; n: number }> = []
    let stop = false
    const editing = peers.map(async (p, c) => {
      let k = 0
      while (!stop) {
        const id = `<${round}.${c}.${k++}>`
        p.client.doc.getText('t').insert(p.client.doc.getText('t').length, id)
        editsAt.push({ id, peer: p, n: p.client.sent })
        await sleep(1 + Math.floor(rand() * 4))
      }
    })
    // Killed at a random point after enough edits were acknowledged (counted, not timed: on a loaded
    // machine a fixed window may hold few edits), while the peers keep editing.
    const wanted = 25 + Math.floor(rand() * 40)
    const acked = () => editsAt.filter((e) => e.peer.client.acked >= e.n).length
    const until = Date.now() + 30_000
    while (acked() < wanted && Date.now() < until && child.exitCode === null) await sleep(5)
    await sleep(Math.floor(rand() * 50))
    child.kill('SIGKILL')
    stop = true
    await Promise.all(editing)
    await new Promise((r) => (child.exitCode !== null || child.signalCode ? r(null) : child.once('exit', r)))
    for (const e of editsAt) if (e.peer.client.acked >= e.n) ackedEdits.push(e.id)
    for (const p of peers) p.destroy()
    assert.ok(acked() >= wanted, `${acked()} of ${editsAt.length} edits acknowledged before the kill, wanted ${wanted}`)
  }
  const { child, url } = await startHub(dir)
  try {
    const p = await connectPeer(url, 'doc', TOKEN)
    const t = p.client.doc.getText('t').toString()
    let lost = 0
    let dup = 0
    for (const e of ackedEdits) {
      const n = t.split(e).length - 1
      if (n === 0) lost++
      if (n > 1) dup++
    }
    assert.ok(ackedEdits.length > 60, `${ackedEdits.length} acknowledged edits`)
    assert.is(lost, 0, 'lost')
    assert.is(dup, 0, 'duplicated')
    p.destroy()
  } finally {
    child.kill('SIGKILL')
  }
})

const ackedEdits: string[] = []
kill.run()
