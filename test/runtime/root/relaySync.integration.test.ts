/**
 * Webspaces over the root relay, end to end on a real nats-server of the test's own: member A
 * (the browser client code: MemberChannels, WebspaceLink, WebspaceClient, relayPath +
 * RelaySyncTransport, with Node's `ws`) edits while its `sync` channel is on the relay (browser ->
 * root -> NATS -> hub and back); member B edits over the hub's /yws. Every edit reaches the hub's
 * document and B, A's relayed updates are acked after the LevelDB write, and the document
 * converges after A's channel returns to the hub WebSocket. Bad sync input at both edges is
 * refused, counted, and leaves the document alone.
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
import { WebspaceFeature } from '../../../runtime/webspace/webspaceFeature.ts'
import { MemberChannels, relayPath, WebSocketPath } from '../../../runtime/browser/memberChannels.ts'
import { WebspaceClient } from '../../../runtime/browser/webspaceClient.ts'
import { RelaySyncTransport, WebspaceLink, WsSyncTransport } from '../../../runtime/browser/webspaceLink.ts'
import { encodeSyncFrame } from '../../../protocol/relayFrame.ts'
import { subjects } from '../../../protocol/subjects.ts'
import { NatsServer } from '../../helpers/natsServer.ts'
import { sleep, tmpDir, until } from '../../helpers/tmp.ts'

const HUB_TOKEN = 'hub-token'
const ROOT_TOKEN = 'root-token'
const DOC = 'notes'
const policy = { freezeMs: 300, probeBackoffMs: 200, maxProbeBackoffMs: 800, ackTimeoutMs: 400, maxAttempts: 100 }

async function setup(aPaths: Array<'ws' | 'relay'> = ['ws', 'relay']) {
  const nats = await NatsServer.start()
  const root = await Hub.start({ data: tmpDir(), token: ROOT_TOKEN, hostId: 'root' }, [
    rootFeature({ nats: nats.url, rootId: 'root', sync: false }),
  ])
  const channels = new ChannelFeature()
  const webspaces = new WebspaceFeature()
  const relayLink = new RelayLinkFeature(channels, webspaces)
  const hub = await Hub.start({ data: tmpDir(), token: HUB_TOKEN }, [
    hubLinkFeature({ nats: nats.url, hubId: 'h1', sync: false }),
    webspaces,
    channels,
    relayLink,
  ])

  // A: the hub WebSocket first, the relay second (as a page would list them)
  const aWs = new WebSocketPath({
    url: hub.url,
    member: 'a',
    token: HUB_TOKEN,
    WebSocket,
    heartbeatMs: 100,
    deadAfterMs: 1000,
  })
  const aRelay = relayPath({
    url: root.url,
    hub: 'h1',
    member: 'a',
    token: ROOT_TOKEN,
    WebSocket,
    heartbeatMs: 100,
    deadAfterMs: 1000,
    maxReconnectMs: 500,
  })
  const aRelaySync = new RelaySyncTransport(aRelay)
  const aCh = new MemberChannels({
    member: 'a',
    paths: aPaths.map((p) => (p === 'ws' ? aWs : aRelay)),
    policy,
    channels: ['command'],
  })
  if (!aPaths.includes('ws')) aWs.close()
  const a = new WebspaceClient(DOC)
  const aLink = new WebspaceLink(aCh, a, [
    ...(aPaths.includes('ws') ? [new WsSyncTransport({ url: hub.url, token: HUB_TOKEN, WebSocket })] : []),
    aRelaySync,
  ])
  // B: the hub WebSocket only
  const bWs = new WebSocketPath({
    url: hub.url,
    member: 'b',
    token: HUB_TOKEN,
    WebSocket,
    heartbeatMs: 100,
    deadAfterMs: 1000,
  })
  const bCh = new MemberChannels({ member: 'b', paths: [bWs], policy, channels: ['command'] })
  const b = new WebspaceClient(DOC)
  const bLink = new WebspaceLink(bCh, b, [new WsSyncTransport({ url: hub.url, token: HUB_TOKEN, WebSocket })])
  const switches: string[] = []
  aCh.onSwitch((ch, from, to, why) => ch === 'sync' && switches.push(`${from}->${to} (${why})`))
  const close = async () => {
    aLink.close()
    bLink.close()
    a.doc.destroy()
    b.doc.destroy()
    aCh.close()
    bCh.close()
    await hub.close()
    await root.close()
    await nats.close()
  }
  return {
    nats,
    root,
    hub,
    webspaces,
    relayLink,
    aWs,
    aRelay,
    aRelaySync,
    aCh,
    a,
    aLink,
    bCh,
    b,
    bLink,
    switches,
    close,
  }
}

const text = (c: WebspaceClient) => c.doc.getText('t').toString()
const edit = (c: WebspaceClient, s: string) => c.doc.getText('t').insert(c.doc.getText('t').length, s)
const tokens = (t: string) => t.match(/\[[AB]\d+\]/g) ?? []

const relay = suite('webspaces over the root relay')

relay(
  'A edits while its sync channel is on the relay: every edit reaches the hub and B, acked after the LevelDB write; the document converges after A returns to ws',
  async () => {
    const s = await setup()
    try {
      await until(
        () => s.aLink.current === 'ws' && s.a.synced && s.bLink.current === 'ws' && s.b.synced,
        10_000,
        'both synced over ws',
      )
      await until(() => s.aCh.actors.get('sync')!.getSnapshot().context.up.relay === true, 10_000, 'relay up')
      const made: string[] = []
      let n = 0
      const both = async (count: number, check?: () => void) => {
        for (let i = 0; i < count; i++) {
          check?.()
          const ta = `[A${++n}]`
          edit(s.a, ta)
          made.push(ta)
          const tb = `[B${n}]`
          edit(s.b, tb)
          made.push(tb)
          if (i % 5 === 0) await sleep(5)
        }
      }
      await both(20)
      // the hub WebSocket of A goes silent and closes: its sync channel moves to the relay
      s.aWs.blackhole = true
      s.aWs.cut()
      await until(() => s.aLink.current === 'relay' && s.a.synced, 10_000, 'A attached and synced over the relay')
      const syncInBefore = s.relayLink.counters.syncIn
      const attachment = s.a.attachment
      await both(100, () => assert.is(s.aLink.current, 'relay', 'A stays on the relay while editing'))
      // every update A sent over the relay is durable at the hub (acks come after the LevelDB write)
      await until(
        () => s.a.attachment === attachment && s.a.acked === s.a.sent && s.a.sent >= 100,
        10_000,
        `relay acks (${s.a.acked}/${s.a.sent})`,
      )
      assert.ok(
        s.relayLink.counters.syncIn - syncInBefore >= 100,
        `sync frames relayed in: ${s.relayLink.counters.syncIn - syncInBefore}`,
      )
      assert.ok(s.relayLink.counters.syncOut > 0)
      // the hub and B hold A's relayed edits (and A holds B's, which came back over the relay)
      const hubText = () => s.webspaces.host.doc(DOC)!.getText('t').toString()
      await until(
        () =>
          tokens(hubText()).length === made.length &&
          tokens(text(s.b)).length === made.length &&
          tokens(text(s.a)).length === made.length,
        10_000,
        'edits made over the relay everywhere',
      )
      // awareness rides the relay too: A's presence reaches B, B's reaches A
      s.a.awareness.setLocalStateField('user', 'a-on-relay')
      s.b.awareness.setLocalStateField('user', 'b-on-ws')
      const seen = (c: WebspaceClient, who: string) =>
        [...c.awareness.getStates().values()].some((st: any) => st.user === who)
      await until(() => seen(s.b, 'a-on-relay') && seen(s.a, 'b-on-ws'), 5000, 'awareness both ways over the relay')
      const root = await (await fetch(`${s.root.url}/api/relay`)).json()
      assert.ok(root.counters.syncToHub >= 100 && root.counters.syncToMember > 0, JSON.stringify(root.counters))

      // the cut ends: a probe brings A back to ws; editing goes on through the switch
      s.aWs.blackhole = false
      const back = both(60)
      await until(() => s.aLink.current === 'ws', 10_000, 'A back on ws')
      await back
      await both(20)
      await until(
        () => text(s.a) === text(s.b) && text(s.b) === hubText() && tokens(hubText()).length === made.length,
        10_000,
        'converged',
      )
      const final = tokens(hubText())
      assert.equal([...final].sort(), [...made].sort(), 'every edit present once')
      assert.ok(
        s.switches.includes('ws->relay (down)') || s.switches.some((x) => x.startsWith('ws->relay')),
        s.switches.join(' | '),
      )
      assert.ok(s.switches.at(-1)!.startsWith('relay->ws'), s.switches.join(' | '))
      await s.webspaces.host.flush(DOC)
    } finally {
      await s.close()
    }
  },
)

relay(
  'relay only, nats-server kill -9 and restart mid-edit: edits made while NATS is down stay local and reach the hub and B after, none lost',
  async () => {
    const s = await setup(['relay'])
    try {
      await until(
        () => s.aLink.current === 'relay' && s.a.synced && s.bLink.current === 'ws' && s.b.synced,
        10_000,
        'A on the relay, B on ws',
      )
      const made: string[] = []
      const first = s.a.attachment
      for (let i = 1; i <= 200; i++) {
        const ta = `[A${i}]`
        edit(s.a, ta)
        made.push(ta)
        if (i % 2 === 0) {
          edit(s.b, `[B${i}]`)
          made.push(`[B${i}]`)
        }
        if (i === 60) {
          await s.nats.kill9()
          await until(() => s.aLink.current === null, 5000, 'A detached: no path')
        }
        if (i === 120) await s.nats.restart()
        await sleep(10)
      }
      await until(() => s.aLink.current === 'relay' && s.a.synced, 15_000, 'A back on the relay')
      const hubText = () => s.webspaces.host.doc(DOC)!.getText('t').toString()
      await until(
        () => text(s.a) === text(s.b) && text(s.b) === hubText() && tokens(hubText()).length === made.length,
        15_000,
        'converged',
      )
      assert.equal([...tokens(hubText())].sort(), [...made].sort(), 'every edit present once')
      // the re-attachment's updates (A's step 2 with what it wrote offline, and the later edits) are durable
      await until(() => s.a.acked === s.a.sent && s.a.sent > 0, 10_000, `acks (${s.a.acked}/${s.a.sent})`)
      assert.ok(
        s.switches.some((x) => x.startsWith('relay->null')),
        s.switches.join(' | '),
      )
      assert.ok(s.a.attachment > first, `A attached again over the relay (attachment ${first} -> ${s.a.attachment})`)
    } finally {
      await s.close()
    }
  },
)

relay(
  'sync frames lost on the relay while its socket stays open (300 ms blackhole): the link sees the acks stall, attaches again, and nothing is lost',
  async () => {
    const s = await setup(['relay'])
    try {
      await until(
        () => s.aLink.current === 'relay' && s.a.synced && s.bLink.current === 'ws' && s.b.synced,
        10_000,
        'A on the relay, B on ws',
      )
      const made: string[] = []
      for (let i = 1; i <= 60; i++) {
        edit(s.a, `[A${i}]`)
        edit(s.b, `[B${i}]`)
        made.push(`[A${i}]`, `[B${i}]`)
        // frames of both directions vanish for 300 ms, shorter than the heartbeat's verdict (1000 ms)
        if (i === 20) s.aRelay.blackhole = true
        if (i === 50) s.aRelay.blackhole = false
        await sleep(10)
      }
      assert.ok(s.aRelaySync.counters.dropped > 0, 'frames were lost')
      const hubText = () => s.webspaces.host.doc(DOC)!.getText('t').toString()
      await until(
        () => text(s.a) === text(s.b) && text(s.b) === hubText() && tokens(hubText()).length === made.length,
        10_000,
        'converged',
      )
      assert.equal([...tokens(hubText())].sort(), [...made].sort(), 'every edit present once')
      await until(() => s.a.acked === s.a.sent, 10_000, 'acks')
      assert.ok(s.aLink.heals.ackStall + s.aLink.heals.syncTimeout >= 1, JSON.stringify(s.aLink.heals))
      assert.is(s.aCh.active('sync'), 'relay')
    } finally {
      await s.close()
    }
  },
)

relay(
  'bad sync input: refused at the root (envelope) and at the hub (y-protocols), counted, the document untouched',
  async () => {
    const s = await setup()
    const probe = new NatsLink({ url: s.nats.url, name: 'fuzzer' })
    const sockets: WebSocket[] = []
    try {
      await probe.connected()
      await until(() => s.bLink.current === 'ws' && s.b.synced, 10_000, 'B synced')
      edit(s.b, '[B1]')
      await until(() => s.webspaces.host.doc(DOC)?.getText('t').toString() === '[B1]', 5000, 'hub has B1')
      const base = s.root.url.replace('http', 'ws') + `/relay?hub=h1&member=m9&token=${ROOT_TOKEN}`
      const closeCode = (send: Buffer | Uint8Array) =>
        new Promise<number>((r) => {
          const w = new WebSocket(base)
          w.on('open', () => w.send(send))
          w.on('close', (c) => r(c))
          w.on('error', () => {})
        })
      // envelopes the root refuses: 1007 each, counted by field, the hub never hears of m9
      const before = await (await fetch(`${s.root.url}/api/relay`)).json()
      const bad = [
        Buffer.from('noSpaceAtAll'),
        Buffer.from(' notes \x00\x00'),
        Buffer.from('1 bad/name \x00\x00'),
        Buffer.from('1 notes '),
        Buffer.concat([Buffer.from('1 notes '), Buffer.alloc(512 * 1024 + 1)]),
        ...fc
          .sample(
            fc
              .uint8Array({ minLength: 1, maxLength: 200 })
              .filter((u) => !/^[A-Za-z0-9_.-]{1,32} [A-Za-z0-9_.-]{1,100} ./s.test(Buffer.from(u).toString('latin1'))),
            { numRuns: 30, seed: 5 },
          )
          .map((u) => Buffer.from(u)),
      ]
      for (const b of bad) assert.is(await closeCode(b), 1007, JSON.stringify(b.subarray(0, 20).toString('latin1')))
      const after = await (await fetch(`${s.root.url}/api/relay`)).json()
      assert.is(after.counters.badFrames - before.counters.badFrames, bad.length)
      assert.ok(
        Object.keys(after.refusedBy).some((k) => k.startsWith('sync:')),
        JSON.stringify(after.refusedBy),
      )
      assert.equal((await (await fetch(`${s.hub.url}/api/members`)).json()).members.map((m: any) => m.id).sort(), [
        'a',
        'b',
      ])

      // a well-formed envelope with a malformed y-protocols frame: carried by the root, refused by
      // the hub's webspace (error frame back to the member), the document untouched
      const refusedBefore = s.webspaces.host.counters.refused.MALFORMED_FRAME ?? 0
      const got: Buffer[] = []
      const w = new WebSocket(base)
      sockets.push(w)
      w.on('message', (d: Buffer, isBinary: boolean) => isBinary && got.push(d))
      await new Promise((r) => w.on('open', r))
      w.send(encodeSyncFrame('1', DOC, new Uint8Array([0, 2, 50, 1, 2, 3])))
      await until(
        () => (s.webspaces.host.counters.refused.MALFORMED_FRAME ?? 0) > refusedBefore,
        5000,
        'hub refused the malformed update',
      )
      await until(
        () => got.some((d) => d.toString('latin1').startsWith(`1 ${DOC} \x66`)),
        5000,
        'error frame (102) relayed back',
      )
      assert.is(s.webspaces.host.doc(DOC)!.getText('t').toString(), '[B1]')

      // fuzzed `sync` relay messages on NATS at both ends: refused and counted
      const msgs = fc.sample(
        fc
          .record({
            v: fc.constant(1),
            t: fc.constant('sync'),
            m: fc.constantFrom('a', 'a b'),
            c: fc.constantFrom('c1', ''),
            a: fc.constantFrom('1', '', 'x'.repeat(40)),
            w: fc.constantFrom(DOC, 'bad/name', ''),
            y: fc.constantFrom('', 'AAE', '!!!!', 'AAEC'),
          })
          .filter((o) => !(o.m === 'a' && o.c === 'c1' && o.a === '1' && o.w === DOC && o.y === 'AAEC'))
          .map((o) => new TextEncoder().encode(JSON.stringify(o))),
        { numRuns: 100, seed: 3 },
      )
      const hubBefore = { ...s.relayLink.counters }
      const rootBefore = (await (await fetch(`${s.root.url}/api/relay`)).json()).counters
      for (const m of msgs) {
        probe.publish(subjects.hubRelay('h1'), m)
        probe.publish(subjects.rootRelay('h1'), m)
      }
      await probe.flush()
      await until(
        () => s.relayLink.counters.badMessages - hubBefore.badMessages === msgs.length,
        5000,
        'hub counted every fuzzed sync message',
      )
      await until(
        async () =>
          (await (await fetch(`${s.root.url}/api/relay`)).json()).counters.badMessages - rootBefore.badMessages ===
          msgs.length,
        5000,
        'root counted every fuzzed sync message',
      )
      assert.is(s.relayLink.counters.syncSessions, hubBefore.syncSessions)
      assert.is(s.webspaces.host.doc(DOC)!.getText('t').toString(), '[B1]')
      // B still edits
      edit(s.b, '[B2]')
      await until(() => s.webspaces.host.doc(DOC)!.getText('t').toString() === '[B1][B2]', 5000, 'hub has B2')
    } finally {
      for (const w of sockets) w.close()
      await probe.close()
      await s.close()
    }
  },
)

relay.run()
