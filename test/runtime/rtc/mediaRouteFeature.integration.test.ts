/**
 * The hub's `/route` socket with plain WebSocket clients standing in for a member and a consumer:
 * the route actor is spawned by a need and fed the inventory, the hub tells the consumer and the
 * target what the actor chose, signaling is forwarded only within the current direct attempt,
 * relayed frames only while the route is relayed from that member, bad frames are refused with a
 * typed error and counted, a member's socket closing fails the route over, and a reconnected
 * consumer gets a fresh attempt.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { MediaRouteContext } from '../../../machines/mediaRoute.ts'
import { routeSessionId } from '../../../protocol/routeFrame.ts'
import { encodeSignalFrame, type SignalingMessage } from '../../../protocol/signaling.ts'
import { Hub } from '../../../runtime/Hub.ts'
import { WebSocketClient } from '../../../runtime/http/HubServer.ts'
import { mediaRouteFeature, type RouteHost } from '../../../runtime/rtc/mediaRouteFeature.ts'

const TOKEN = 'route-int'
const ROUTE = 'route:page-1:clock'

interface Client {
  ws: InstanceType<typeof WebSocketClient>
  got: any[]
  send(o: unknown): void
  close(): Promise<void>
}

let hub: Hub
let host: RouteHost
let data = ''

async function client(nodeId: string | null, token = TOKEN): Promise<Client> {
  const ws = new WebSocketClient(`${hub.url.replace('http', 'ws')}/route?token=${token}`)
  const got: any[] = []
  ws.on('message', (d) => got.push(JSON.parse(String(d))))
  await new Promise((r, j) => {
    ws.once('open', r)
    ws.once('error', j)
  })
  if (nodeId) ws.send(JSON.stringify({ v: 1, kind: 'hello', nodeId }))
  return {
    ws,
    got,
    send: (o) => ws.send(typeof o === 'string' ? o : JSON.stringify(o)),
    close: () =>
      new Promise<void>((r) => {
        if (ws.readyState === ws.CLOSED) return r()
        ws.once('close', () => r())
        ws.close()
      }),
  }
}

async function until(fn: () => boolean, what: string, ms = 5000): Promise<void> {
  const t0 = Date.now()
  while (!fn()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

const ctx = (path = ROUTE) => hub.system.hosted(path)!.actor.getSnapshot().context as MediaRouteContext
const last = (c: Client, kind: string) => c.got.filter((f) => f.kind === kind).at(-1)

function offer(from: string, to: string): string {
  const m: SignalingMessage = {
    type: 'rtc.offer',
    peerSessionId: `${from}.s.g0`,
    negotiationId: `${from}.n1`,
    fromNodeId: from,
    targetNodeId: to,
    sdp: 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=ice-ufrag:abcd\r\na=ice-pwd:xyz\r\na=fingerprint:sha-256 AA:BB\r\n',
    mediaShape: { microphone: 'inactive', camera: 'inactive', screen: 'inactive' },
    purpose: 'initial',
  }
  return encodeSignalFrame(m, `${from}:1`, Date.now())
}

const T = suite('mediaRoute feature - the /route socket')

T.before(async () => {
  data = mkdtempSync(join(tmpdir(), 'aether-route-int-'))
  const f = mediaRouteFeature({ route: { connectMs: 60_000, retryMs: 60_000 } })
  hub = await Hub.start({ port: 0, data, token: TOKEN, fsync: 'none' }, [f])
  host = f.host!
})

T.after(async () => {
  await hub.close()
  rmSync(data, { recursive: true, force: true })
})

T('mediaRoute feature - without the token the socket is refused; a bad hello is a typed error', async () => {
  const anon = await client(null, 'wrong')
  await new Promise<void>((r) => anon.ws.once('close', (code) => (assert.is(code, 4401), r())))
  const c = await client(null)
  c.send({ v: 1, kind: 'hello', nodeId: 'hub' })
  c.send('not json')
  await until(() => c.got.length === 2, 'two errors')
  assert.is(c.got[0].error.code, 'BAD_FIELD')
  assert.is(c.got[0].error.field, 'nodeId')
  assert.is(c.got[1].error.code, 'BAD_FRAME')
  assert.ok(host.stats.rejected.BAD_HELLO >= 2)
  await c.close()
})

T('mediaRoute feature - a need is routed to the advertising member; signaling and relay follow the route', async () => {
  const cam = await client('cam-1')
  cam.send({ v: 1, kind: 'advertise', needs: ['clock'], paths: ['direct', 'relay'] })
  const page = await client('page-1')
  page.send({ v: 1, kind: 'need', need: 'clock' })
  await until(() => last(page, 'route')?.path === 'direct', 'the direct route announced')
  const r = last(page, 'route')
  assert.is(r.target, 'cam-1')
  // the member's socket is another one: its serve may come a little later
  await until(() => last(cam, 'serve')?.seq === r.seq, 'the serve at the member')
  assert.equal(last(cam, 'serve'), {
    v: 1,
    kind: 'serve',
    need: 'clock',
    consumer: 'page-1',
    seq: r.seq,
    path: 'direct',
  })

  // signaling within the attempt is forwarded both ways; outside it, refused and counted
  const session = routeSessionId('page-1', r.seq)
  page.send(offer(session, 'cam-1'))
  await until(() => cam.got.some((f) => f.subject === 'rtc.offer'), 'the offer at the member')
  cam.send(offer('cam-1', session))
  await until(() => page.got.some((f) => f.subject === 'rtc.offer'), 'the member side at the page')
  page.send(offer(routeSessionId('page-1', r.seq + 7), 'cam-1'))
  page.send(offer('page-1', 'cam-1'))
  page.send(offer('someone-else', 'cam-1'))
  await until(() => page.got.filter((f) => f.kind === 'error').length === 3, 'three refusals')
  assert.equal(
    page.got.filter((f) => f.kind === 'error').map((f) => f.error.field),
    ['targetNodeId', 'targetNodeId', 'fromNodeId'],
  )
  assert.is(host.stats.signalsForwarded, 2)

  // relayed frames while the route is direct are not the route's: dropped, counted
  cam.send({ v: 1, kind: 'frame', need: 'clock', to: 'page-1', data: { member: 'cam-1', n: 1 } })
  await until(() => host.stats.notRouted === 1, 'the frame dropped')

  // the page reports the direct path failed: relay, and the relay carries the member's frames
  page.send({ v: 1, kind: 'report', need: 'clock', seq: r.seq, status: 'failed', reason: 'probe silent' })
  await until(() => last(page, 'route')?.path === 'relay', 'the relayed route announced')
  assert.match(last(page, 'route').reason, /direct is not possible: probe silent/)
  await until(() => last(cam, 'serve')?.path === 'relay', 'the member told to relay')
  cam.send({ v: 1, kind: 'frame', need: 'clock', to: 'page-1', data: { member: 'cam-1', n: 2 } })
  await until(() => !!last(page, 'frame'), 'a relayed frame')
  assert.equal(last(page, 'frame'), {
    v: 1,
    kind: 'frame',
    need: 'clock',
    from: 'cam-1',
    via: 'hub',
    data: { member: 'cam-1', n: 2 },
  })
  const api = (await (await fetch(`${hub.url}/api/rtc/routes`)).json()) as any
  assert.is(api.routes[0].path, ROUTE)
  assert.is(api.routes[0].relayed, 1)
  assert.is(api.routes[0].degradation.active, 'relay')

  // bad frames: typed errors, counted, nothing changes
  const before = ctx().attempt!.seq
  page.send({ v: 1, kind: 'report', need: 'clock', seq: 0, status: 'up' })
  page.send({ v: 1, kind: 'report', need: 'other', seq: 1, status: 'up' })
  page.send({ v: 1, kind: 'fly', need: 'clock' })
  cam.send({ v: 1, kind: 'advertise', needs: ['bad need!'], paths: ['direct'] })
  await until(() => page.got.filter((f) => f.kind === 'error').length === 6, 'three more refusals at the page')
  await until(() => cam.got.some((f) => f.kind === 'error'), 'a refusal at the member')
  assert.equal(
    page.got
      .filter((f) => f.kind === 'error')
      .slice(3)
      .map((f) => `${f.error.code}:${f.error.field}`),
    ['BAD_FIELD:seq', 'BAD_FIELD:need', 'UNKNOWN_KIND:kind'],
  )
  assert.is(ctx().attempt!.seq, before)

  // a second member, then the first one's socket closes: failover, direct to cam-2
  const cam2 = await client('cam-2')
  cam2.send({ v: 1, kind: 'advertise', needs: ['clock'], paths: ['direct'] })
  await until(() => !!ctx().capability['cam-2'], 'cam-2 in the inventory')
  await cam.close()
  await until(() => last(page, 'route')?.target === 'cam-2', 'failover to cam-2')
  assert.is(last(page, 'route').path, 'direct')
  assert.match(ctx().attempt!.cause, /lost: cam-1/)

  // the consumer asks again (a reload): a fresh attempt on the same target
  const seq = ctx().attempt!.seq
  const again = await client('page-1')
  again.send({ v: 1, kind: 'need', need: 'clock' })
  await until(() => last(again, 'route')?.seq === seq + 1, 'a fresh attempt')
  assert.is(last(again, 'route').target, 'cam-2')
  assert.is(ctx().attempt!.cause, 'refreshed: the consumer asked again')
  await until(() => last(cam2, 'serve')?.seq === seq + 1, 'the serve of the fresh attempt')
  assert.equal(last(cam2, 'serve'), {
    v: 1,
    kind: 'serve',
    need: 'clock',
    consumer: 'page-1',
    seq: seq + 1,
    path: 'direct',
  })

  // the consumer leaves: released, and the member told to stop
  await again.close()
  await until(() => hub.system.hosted(ROUTE)!.actor.getSnapshot().status === 'done', 'released')
  await until(() => last(cam2, 'serve')?.path === null, 'the member told to stop')
  await until(() => page.ws.readyState === page.ws.CLOSED, 'the replaced socket closed by the hub')
  await cam2.close()
})

T.run()
