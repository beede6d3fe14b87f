/**
 * The root relay end to end, over a real nats-server of the test's own: a member's channels
 * (the browser client code, runtime/browser/memberChannels.ts, with Node's `ws`) fail over from
 * the hub WebSocket to the relay (root -> NATS -> hub) and back, survive a nats-server kill -9 and
 * restart with every command acked by id, delivered once and in order; the relay's edges refuse
 * bad input (fuzzed), counted, without harm.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import fc from 'fast-check'
import WebSocket from 'ws'
import { Hub } from '../../../runtime/Hub.ts'
import { ChannelFeature } from '../../../runtime/channel/channelFeature.ts'
import { RelayLinkFeature } from '../../../runtime/channel/relayLinkFeature.ts'
import { hubLinkFeature } from '../../../runtime/link/linkFeature.ts'
import { rootFeature } from '../../../runtime/root/rootFeature.ts'
import { NatsLink } from '../../../runtime/nats/NatsTransport.ts'
import { MemberChannels, relayPath, WebSocketPath } from '../../../runtime/browser/memberChannels.ts'
import { subjects } from '../../../protocol/subjects.ts'
import { NatsServer } from '../../helpers/natsServer.ts'
import { sleep, tmpDir, until } from '../../helpers/tmp.ts'

const HUB_TOKEN = 'hub-token'
const ROOT_TOKEN = 'root-token'
const policy = { freezeMs: 300, probeBackoffMs: 200, maxProbeBackoffMs: 800, ackTimeoutMs: 400, maxAttempts: 100 }

async function setup(paths: Array<'ws' | 'relay'>) {
  const nats = await NatsServer.start()
  const root = await Hub.start({ data: tmpDir(), token: ROOT_TOKEN, hostId: 'root' }, [
    rootFeature({ nats: nats.url, rootId: 'root', sync: false, relayOrigins: ['http://member.example'] }),
  ])
  const channels = new ChannelFeature()
  const relayLink = new RelayLinkFeature(channels)
  const hub = await Hub.start({ data: tmpDir(), token: HUB_TOKEN }, [
    hubLinkFeature({ nats: nats.url, hubId: 'h1', sync: false }),
    channels,
    relayLink,
  ])
  const made: Record<string, WebSocketPath> = {}
  for (const p of paths) {
    made[p] =
      p === 'ws'
        ? new WebSocketPath({
            url: hub.url,
            member: 'm1',
            token: HUB_TOKEN,
            WebSocket,
            heartbeatMs: 100,
            deadAfterMs: 1000,
          })
        : relayPath({
            url: root.url,
            hub: 'h1',
            member: 'm1',
            token: ROOT_TOKEN,
            WebSocket,
            heartbeatMs: 100,
            deadAfterMs: 1000,
            maxReconnectMs: 500,
          })
  }
  const ch = new MemberChannels({ member: 'm1', paths: paths.map((p) => made[p]), policy, channels: ['command'] })
  await until(() => ch.active('command') === paths[0], 10_000, `${paths[0]} active`)
  const close = async () => {
    ch.close()
    await hub.close()
    await root.close()
    await nats.close()
  }
  return { nats, root, hub, channels, relayLink, paths: made, ch, close }
}

const relay = suite('root relay - failover over NATS')

relay(
  'the hub WebSocket is cut mid-stream: the channel fails over to the relay, commands arrive once each in order, and it returns by probe',
  async () => {
    const s = await setup(['ws', 'relay'])
    const switches: string[] = []
    s.ch.onSwitch((_c, from, to) => switches.push(`${from}->${to}`))
    try {
      // the relay path is up and answers probes end to end before the cut
      await until(() => s.ch.actors.get('command')!.getSnapshot().context.up.relay === true, 10_000, 'relay up')
      await until(() => s.ch.probe('relay'), 10_000, 'a probe over the relay answered by the hub')
      const acks: Promise<void>[] = []
      for (let i = 1; i <= 300; i++) {
        acks.push(s.ch.command('command', { n: i }))
        if (i === 100) {
          s.paths.ws.blackhole = true
          s.paths.ws.cut()
        }
        if (i % 20 === 0) await sleep(5)
      }
      await Promise.all(acks)
      const got = s.channels.delivered('m1').map((d: any) => d.payload.n)
      assert.equal(
        got,
        Array.from({ length: 300 }, (_, i) => i + 1),
      )
      assert.ok(switches.includes('ws->relay'), switches.join(' '))
      assert.ok(s.relayLink.counters.framesIn >= 200, `relayed frames in: ${s.relayLink.counters.framesIn}`)
      // the hub's channel delivered each command once although the member sent some twice
      assert.is(s.channels.channelInfo('m1', 'command')!.delivered, 300)
      s.paths.ws.blackhole = false
      await until(() => s.ch.active('command') === 'ws', 10_000, 'back to ws')
      assert.ok(switches.at(-1) === 'relay->ws', switches.join(' '))
      // and the channel still works on the way back
      await s.ch.command('command', { n: 301 })
      assert.equal((s.channels.delivered('m1').at(-1) as any).payload, { n: 301 })
    } finally {
      await s.close()
    }
  },
)

relay(
  'nats-server kill -9 and restart under the relay: every command acked by id, none lost, none twice, in order',
  async () => {
    const s = await setup(['relay'])
    const switches: string[] = []
    s.ch.onSwitch((_c, from, to, why) => switches.push(`${from}->${to} (${why})`))
    try {
      const acks: Promise<void>[] = []
      let acked = 0
      for (let i = 1; i <= 200; i++) {
        acks.push(s.ch.command('command', { n: i }).then(() => void acked++))
        if (i === 60) {
          await s.nats.kill9()
          // the root noticed: its relay sockets are closed, new ones refused until NATS is back
          await until(
            async () => (await (await fetch(`${s.root.url}/api/relay`)).json()).nats !== 'connected',
            5000,
            'root sees NATS down',
          )
        }
        if (i === 120) await s.nats.restart()
        await sleep(10)
      }
      await Promise.all(acks)
      assert.is(acked, 200)
      const got = s.channels.delivered('m1').map((d: any) => d.payload.n)
      assert.equal(
        got,
        Array.from({ length: 200 }, (_, i) => i + 1),
      )
      const r = await (await fetch(`${s.root.url}/api/relay`)).json()
      assert.ok(r.counters.closedNatsDown + r.counters.refusedNatsDown >= 1, JSON.stringify(r.counters))
      assert.ok(
        switches.some((x) => x.startsWith('relay->null')),
        switches.join(' | '),
      )
      assert.is(s.ch.active('command'), 'relay')
    } finally {
      await s.close()
    }
  },
)

const edge = suite('root relay - edges')

const closeCode = (url: string, send?: string | Buffer, headers?: Record<string, string>) =>
  new Promise<number>((r) => {
    const w = new WebSocket(url, { headers })
    w.on('open', () => send !== undefined && w.send(send))
    w.on('close', (c) => r(c))
    w.on('unexpected-response', (_req, res) => r(res.statusCode ?? 0))
    w.on('error', () => {})
  })

edge(
  'token, member, hub and Origin are checked; fuzzed frames from members and fuzzed relay messages on NATS are refused, counted, and change nothing',
  async () => {
    const s = await setup(['relay'])
    const probe = new NatsLink({ url: s.nats.url, name: 'fuzzer' })
    try {
      await probe.connected()
      // the hub has heard of m1 (its relay subscription can go live after m1's first frames, which
      // core NATS then drops: under load that took longer than the checks below)
      await until(() => s.ch.probe('relay'), 10_000, 'a probe over the relay answered by the hub')
      const base = s.root.url.replace('http', 'ws') + '/relay?hub=h1&member=m9'
      assert.is(await closeCode(base + '&token=nope'), 4401)
      assert.is(await closeCode(base.replace('m9', 'bad member') + `&token=${ROOT_TOKEN}`), 4400)
      assert.is(await closeCode(base.replace('hub=h1', 'hub=a.b') + `&token=${ROOT_TOKEN}`), 4400)
      assert.is(await closeCode(base + `&token=${ROOT_TOKEN}`, undefined, { Origin: 'http://evil.example' }), 403)
      // a page of an allowed origin (--relay-origin) attaches
      const opened = await new Promise<boolean>((r) => {
        const w = new WebSocket(base + `&token=${ROOT_TOKEN}`, { headers: { Origin: 'http://member.example' } })
        w.on('open', () => (w.close(), r(true)))
        w.on('unexpected-response', () => r(false))
        w.on('error', () => r(false))
      })
      assert.ok(opened, 'allowed origin')

      // fuzzed member frames: each closes its socket with 1007, nothing reaches the hub
      const badFrame = fc.oneof(
        fc.string({ maxLength: 200 }),
        fc.json().filter((j) => !j.includes('"k"')),
        fc
          .record({
            v: fc.constant(1),
            ch: fc.constantFrom('command', 'nope'),
            k: fc.constantFrom('cmd', 'zzz'),
            id: fc.string({ maxLength: 4 }),
            seq: fc.integer({ min: -3, max: 0 }),
          })
          .map((o) => JSON.stringify(o)),
      )
      const samples = fc.sample(badFrame, { numRuns: 40, seed: 7 })
      const before = (await (await fetch(`${s.root.url}/api/relay`)).json()).counters
      for (const text of samples) assert.is(await closeCode(base + `&token=${ROOT_TOKEN}`, text), 1007, text)
      assert.is(await closeCode(base + `&token=${ROOT_TOKEN}`, Buffer.from([0xff, 0x00, 0x01])), 1007, 'binary')
      const after = await (await fetch(`${s.root.url}/api/relay`)).json()
      assert.is(after.counters.badFrames - before.badFrames, samples.length + 1)
      // the hub never heard of m9 (the heartbeats of m1's relay path go on meanwhile)
      const members = async () => (await (await fetch(`${s.hub.url}/api/members`)).json()).members.map((m: any) => m.id)
      assert.equal(await members(), ['m1'])

      // fuzzed relay messages published on NATS at both ends: refused and counted
      const badMessage = fc.oneof(
        fc.uint8Array({ maxLength: 300 }),
        fc.json().map((j) => new TextEncoder().encode(j)),
        fc
          .record({
            v: fc.constantFrom(1, 2),
            t: fc.constantFrom('frame', 'open', 'x'),
            m: fc.constantFrom('m1', '', 'a b'),
            c: fc.constantFrom('c1', ''),
            f: fc.constantFrom('nope', '{"v":1}', ''),
          })
          .filter((o) => !(o.v === 1 && o.m === 'm1' && o.c === 'c1' && o.t === 'open'))
          .map((o) => new TextEncoder().encode(JSON.stringify(o))),
      )
      const msgs = fc.sample(badMessage, { numRuns: 200, seed: 11 })
      const hubBefore = { ...s.relayLink.counters }
      const rootBefore = after.counters
      for (const m of msgs) {
        probe.publish(subjects.hubRelay('h1'), m)
        probe.publish(subjects.rootRelay('h1'), m)
      }
      await probe.flush()
      await until(
        () =>
          s.relayLink.counters.badMessages +
            s.relayLink.counters.badFrames -
            hubBefore.badMessages -
            hubBefore.badFrames ===
          msgs.length,
        5000,
        'hub counted every fuzzed message',
      )
      let rootAfter: any
      await until(
        async () => {
          rootAfter = (await (await fetch(`${s.root.url}/api/relay`)).json()).counters
          return rootAfter.badMessages - rootBefore.badMessages === msgs.length
        },
        5000,
        'root counted every fuzzed message',
      )
      assert.is(s.relayLink.counters.opened, hubBefore.opened)
      assert.equal(await members(), ['m1'])
      // a frame claiming another hub's connection is refused as from the wrong sender
      const conn = (await (await fetch(`${s.root.url}/api/relay`)).json()).connections[0]
      probe.publish(
        subjects.rootRelay('h2'),
        new TextEncoder().encode(
          JSON.stringify({ v: 1, t: 'frame', m: 'm1', c: conn.id, f: '{"v":1,"ch":"command","k":"pong","id":"x"}' }),
        ),
      )
      await probe.flush()
      await until(
        async () => (await (await fetch(`${s.root.url}/api/relay`)).json()).counters.wrongSender === 1,
        5000,
        'wrong sender counted',
      )

      // the relay still carries the member's commands
      await s.ch.command('command', { ok: true })
      assert.equal((s.channels.delivered('m1').at(-1) as any).payload, { ok: true })
    } finally {
      await probe.close()
      await s.close()
    }
  },
)

relay.run()
edge.run()
