/**
 * The sidecar and its client with a real nats-server (started here), in this process: the
 * Transport calls through the socket, one client per channel (a newer one supersedes), and
 * quarantine of a client with a wrong token or a bad frame, each kept in the status.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { connect } from 'node:net'
import { join } from 'node:path'
import { NatsServer } from '../../helpers/natsServer.ts'
import { sleep, tmpDir, until } from '../../helpers/tmp.ts'
import { Sidecar } from '../../../runtime/sidecar/Sidecar.ts'
import { SidecarLink } from '../../../runtime/sidecar/SidecarLink.ts'
import { NatsLink } from '../../../runtime/nats/NatsTransport.ts'

const S = suite('Sidecar - the hub NATS connection over a local socket')
const socket = join(tmpDir('aether-sc-'), 'sc.sock')
let nats: NatsServer
let sc: Sidecar
let direct: NatsLink
const links: SidecarLink[] = []
const link = (o: Partial<ConstructorParameters<typeof SidecarLink>[0]> = {}) => {
  const l = new SidecarLink({ socket, channel: 'control', name: 'hub-a', token: 'tok', retryMs: 50, ...o })
  links.push(l)
  return l
}
const enc = (s: string) => new TextEncoder().encode(s)
const dec = (b: Uint8Array) => new TextDecoder().decode(b)

S.before(async () => {
  nats = await NatsServer.start()
  sc = await Sidecar.start({ nats: nats.url, socket, token: 'tok' })
  direct = new NatsLink({ url: nats.url, name: 'direct', wait: true })
  await direct.connected()
})

S.after(async () => {
  for (const l of links) await l.close()
  await direct?.close()
  await sc?.close()
  await nats?.close()
})

S('publish, subscribe and request go through; the status shows the client', async () => {
  const l = link()
  await l.connected()
  const got: string[] = []
  l.subscribe('t.in', (m) => got.push(dec(m.data)))
  direct.subscribe('t.echo', (m) => direct.publish(m.reply!, enc(`echo ${dec(m.data)}`)))
  await l.flush()
  await direct.flush()
  direct.publish('t.in', enc('one'))
  const answer = await l.request('t.echo', enc('two'), 2000)
  assert.is(dec(answer), 'echo two')
  await until(() => got.length === 1, 3000, 'the subscribed message')
  assert.equal(got, ['one'])
  const seen: string[] = []
  direct.subscribe('t.out', (m) => seen.push(`${dec(m.data)} ${m.traceparent ?? ''}`))
  await direct.flush()
  const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'
  assert.ok(l.publish('t.out', enc('three'), undefined, tp))
  await until(() => seen.length === 1, 3000, 'the published message')
  assert.is(seen[0], `three ${tp}`)
  const st = sc.status()
  assert.is(st.control.client?.name, 'hub-a')
  assert.ok(st.control.ready)
  assert.is(st.provenance.sidecar, l.sidecarId)
})

S('a second client of a channel supersedes the first; history keeps it', async () => {
  const first = links[0]
  const second = link({ name: 'hub-b' })
  await second.connected()
  await until(() => first.status !== 'connected', 3000, 'the first client to lose the sidecar')
  assert.match(first.lastError ?? '', /superseded/)
  // else it dials again and supersedes the second in turn: the last hello wins
  await first.close()
  await until(() => second.status === 'connected', 3000, 'the second client attached')
  const st = sc.status()
  assert.is(st.control.client?.name, 'hub-b')
  assert.is(st.history.supersedes.at(-1)?.client, 'hub-a')
})

S('a wrong token and a bad frame are quarantined: counted, kept, nothing else changes', async () => {
  const before = sc.status().control.client?.name
  const bad = link({ name: 'intruder', token: 'wrong', channel: 'data' })
  await until(() => sc.status().history.quarantines.length >= 1, 3000, 'a quarantine')
  assert.is(bad.status, 'connecting')
  await bad.close()
  // raw bytes: a frame whose header is not JSON
  const raw = connect(socket)
  await new Promise((r) => raw.once('connect', r))
  const junk = Buffer.alloc(9)
  junk.writeUInt32BE(5, 0)
  junk.writeUInt16BE(3, 4)
  junk.write('{x}', 6)
  raw.resume() // read the bye, so the end and the close arrive
  raw.write(junk)
  await new Promise((r) => raw.once('close', r))
  const st = sc.status()
  assert.is(st.refusedByCode.BAD_TOKEN, 1)
  assert.is(st.refusedByCode.BAD_JSON, 1)
  assert.match(st.history.quarantines.at(-1)!.reason, /BAD_JSON/)
  assert.is(st.control.client?.name, before, 'the attached client is untouched')
  assert.is(st.route.client, null)
  await sleep(10)
})

S.run()
