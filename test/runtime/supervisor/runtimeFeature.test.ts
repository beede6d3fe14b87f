// The hub's side of supervision, in process: identity and role in /api/health, a candidate
// refusing every change until promoted, the live-media count the continuity gate asks for, and
// the runtime WebSocket greeting with its identity.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import WebSocket from 'ws'
import { Hub } from '../../../runtime/Hub.ts'
import { liveMedia, runtimeFeature } from '../../../runtime/supervisor/runtimeFeature.ts'

const role = suite('runtimeFeature - role and identity')
let dir = ''
let hub: Hub | undefined
role.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), 'aether-rf-'))
})
role.after.each(async () => {
  await hub?.close()
  hub = undefined
  liveMedia.clear()
  rmSync(dir, { recursive: true, force: true })
})

const post = (url: string, token: string, body: unknown) =>
  fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })

role('runtimeFeature - a candidate refuses changes until promoted; health reports id and role', async () => {
  hub = await Hub.start(
    { data: dir, token: 't', role: 'candidate', runtimeInstanceId: 'rt-test', version: '3.1.0', slot: 'B' },
    [runtimeFeature()],
  )
  const h = await (await fetch(`${hub.url}/api/health`)).json()
  assert.equal([h.runtimeInstanceId, h.role, h.version, h.slot], ['rt-test', 'candidate', '3.1.0', 'B'])
  const refused = await post(`${hub.url}/api/actors`, 't', { path: 'c1', machine: 'counter' })
  assert.is(refused.status, 503)
  const body = await refused.json()
  assert.is(body.error, 'CANDIDATE_PASSIVE')
  assert.is(hub.system.list().length, 0, 'nothing was spawned')
  // the guard is a middleware of the hub's server: its listeners are the ones it was built with
  assert.is(hub.server.server.listenerCount('request'), 1)
  hub.setRole('active')
  const ok = await post(`${hub.url}/api/actors`, 't', { path: 'c1', machine: 'counter' })
  assert.is(ok.status, 201)
  assert.is(hub.system.list().length, 1)
  assert.is((await (await fetch(`${hub.url}/api/health`)).json()).role, 'active')
})

role('runtimeFeature - /api/media/live counts registered live subflows (the continuity gate)', async () => {
  hub = await Hub.start({ data: dir, token: 't' }, [runtimeFeature()])
  assert.equal(await (await fetch(`${hub.url}/api/media/live`)).json(), { live: 0, subflows: [] })
  liveMedia.add('peer-1/camera')
  liveMedia.add('peer-1/microphone')
  assert.is((await (await fetch(`${hub.url}/api/media/live`)).json()).live, 2)
  liveMedia.delete('peer-1/camera')
  assert.is((await (await fetch(`${hub.url}/api/media/live`)).json()).live, 1)
})

role('runtimeFeature - hosted mediaSubflow actors with media flowing count as live media', async () => {
  const { setup } = await import('xstate')
  // A stand-in with the subflow's state names; the real one needs a peer's executor.
  const subflow = setup({}).createMachine({
    id: 'subflow',
    initial: 'off',
    states: {
      off: { on: { go: 'live' } },
      live: { on: { lose: 'degraded', stop: 'stopped' } },
      degraded: {},
      stopped: {},
    },
  })
  hub = await Hub.start({ data: dir, token: 't', machines: { mediaSubflow: subflow } }, [runtimeFeature()])
  await hub.system.spawn('m1', 'mediaSubflow')
  await hub.system.spawn('m2', 'mediaSubflow')
  const live = async () => await (await fetch(`${hub!.url}/api/media/live`)).json()
  assert.is((await live()).live, 0)
  hub.system.send('m1', { type: 'go' })
  hub.system.send('m2', { type: 'go' })
  hub.system.send('m2', { type: 'lose' })
  assert.equal((await live()).subflows.sort(), ['m1', 'm2'])
  hub.system.send('m1', { type: 'stop' })
  assert.equal(await live(), { live: 1, subflows: ['m2'] })
})

role('runtimeFeature - the runtime socket greets with the runtime identity and echoes', async () => {
  hub = await Hub.start({ data: dir, token: 't', runtimeInstanceId: 'rt-ws', role: 'active' }, [runtimeFeature()])
  const ws = new WebSocket(`${hub.url.replace('http', 'ws')}/api/runtime/ws`)
  const msgs: any[] = []
  await new Promise<void>((resolve) => {
    ws.on('message', (d) => {
      msgs.push(JSON.parse(String(d)))
      if (msgs.length === 1) ws.send('ping')
      if (msgs.length === 2) resolve()
    })
  })
  ws.close()
  assert.is(msgs[0].type, 'runtime.hello')
  assert.is(msgs[0].runtimeInstanceId, 'rt-ws')
  assert.is(msgs[1].data, 'ping')
})

role.run()
