// The live-media gate fed by a real peer session (issue 20.6): a Node member (werift, a synthetic
// camera) peers with the active hub runtime through the supervisor; an update requested while its
// camera is live waits in the gate, and runs (committed) once the camera stops.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import WebSocket from 'ws'
import { ActorSystem } from '../../../actors/index.ts'
import { RtcNode } from '../../../runtime/rtc/RtcNode.ts'
import { syntheticMediaSource, weriftBackend } from '../../../runtime/rtc/werift.ts'
import { exitWhenDone } from '../../helpers/rtcPair.ts'
import { buildVersion } from '../../helpers/slotFixture.ts'
import {
  freePort,
  reapRuntimes,
  startSupervisor,
  until,
  type SupervisorHandle,
} from '../../helpers/supervisorProcess.ts'

const Gate = suite('supervisor - the live-media gate and real peer sessions')

let dir: string
let sup: SupervisorHandle | undefined
let ws: WebSocket | undefined
let member: RtcNode | undefined
let memberSystem: ActorSystem | undefined

Gate.after(async () => {
  ws?.close()
  member?.close()
  await memberSystem?.close()
  await sup?.stop()
  reapRuntimes(join(dir, 'slots'))
  rmSync(dir, { recursive: true, force: true })
  exitWhenDone()
})

Gate('supervisor - an update waits in the gate while a camera is live and runs once it stops', async () => {
  dir = mkdtempSync(join(tmpdir(), 'aether-gate-'))
  buildVersion(join(dir, 'slots', 'A'), '1.0.0')
  buildVersion(join(dir, 'v2'), '2.0.0')
  sup = await startSupervisor({
    slots: join(dir, 'slots'),
    data: join(dir, 'data'),
    port: await freePort(),
    slotPorts: [await freePort(), await freePort()],
    args: ['--countdown-ms', '100', '--min-interval-ms', '0', '--defer-ms', '300'],
  })
  await until(async () => (await sup!.status()).phase === 'serving', 30_000, 'serving')
  // the member: signaling over the supervisor's proxied /ws
  ws = new WebSocket(`${sup.url.replace('http', 'ws')}/ws?token=${sup.token}`)
  await new Promise<void>((resolve, reject) => {
    ws!.once('open', () => resolve())
    ws!.once('error', reject)
  })
  ws.send(JSON.stringify({ v: 1, kind: 'hello', nodeId: 'cam-1' }))
  memberSystem = await ActorSystem.open({ hostId: 'cam-1' })
  const m = new RtcNode(memberSystem, {
    nodeId: 'cam-1',
    polite: true,
    backend: weriftBackend(),
    media: syntheticMediaSource(),
    durable: false,
    send: (_to, frame) => ws!.send(frame),
  })
  member = m
  ws.on('message', (d) => void m.receive(String(d)))
  await m.openSession('hub', 'cam-1.g0')
  await until(() => m.whenUp('hub').then(() => true), 20_000, 'the peer session up')
  const cam = await m.addSubflow('hub', 'camera', { kind: 'camera' })
  m.dispatch(cam, { type: 'media.start' })
  const camState = () => String(memberSystem!.hosted(cam)?.actor?.getSnapshot().value)
  await until(() => camState() === 'live', 10_000, 'the camera live')
  const live = async () => (await (await fetch(`${sup!.url}/api/media/live`)).json()) as any
  await until(async () => (await live()).live === 1, 5000, 'the hub counts the camera')
  assert.equal((await live()).subflows, ['cam-1/peer/camera'])

  const r = await sup.post('/api/supervisor/update', { source: join(dir, 'v2') })
  assert.is(r.status, 202, JSON.stringify(r.body))
  const deferred = await until(
    async () => {
      const a = (await sup!.status()).transition.attempt
      return a?.deferrals?.some((d: any) => d.by === 'gate') ? a : null
    },
    10_000,
    'a deferral by the gate',
  )
  assert.match(deferred.deferrals.find((d: any) => d.by === 'gate').reason, /live media: 1 media subflow live/)
  // still waiting a while later (the gate asked again and again), the old version serving
  await new Promise((r) => setTimeout(r, 1000))
  const waiting = await sup.status()
  assert.is(waiting.active.version, '1.0.0')
  assert.ok(waiting.transition.attempt.deferrals.filter((d: any) => d.by === 'gate').length >= 2)
  assert.is(waiting.transition.attempt.outcome ?? null, null)

  m.dispatch(cam, { type: 'media.stop' })
  await until(() => camState() === 'stopped', 10_000, 'the camera stopped')
  const done = await until(
    async () => {
      const s = await sup!.status()
      return s.transition.state === 'idle' && s.transition.attempt?.outcome ? s : null
    },
    40_000,
    'the update to resolve',
  )
  assert.is(done.transition.attempt.outcome, 'committed', done.transition.attempt.reason)
  assert.is(done.active.version, '2.0.0')
})

Gate.run()
