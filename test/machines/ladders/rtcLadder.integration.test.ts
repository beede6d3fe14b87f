/**
 * The ladders of `peerSession` and `mediaSubflow` (issue 21.4) on their real executors: two werift
 * peers on 127.0.0.1 (test/helpers/rtcPair.ts, the recovery ladder at test speed), every packet
 * through UDP relays (test/helpers/udpRelay.ts), with the faults that drive each rung injected:
 * DTLS blocked while ICE connects (the connect deadline), media toggled while data flows, an
 * upload's channel closed, a negotiated data channel closed, the path cut for longer than every
 * rebuild (rebuilds exhausted: failed), then an explicit rebuild. Both ends' journals are counted
 * together with the corpus recordings (test/corpus), and the ladder transitions none of them took
 * get paths from the graph. Invariants checked on the way: one negotiation at a time (every werift
 * offer made in `stable`, no negotiation begun while another is in flight in any journal) and data
 * channels survive media toggles (every message delivered once, in order; no channel closed).
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { RTCPeerConnection } from 'werift'
import { exitWhenDone, fastLadder, linkValue, openPair, snap, until, type Pair } from '../../helpers/rtcPair.ts'
import { RelayNet } from '../../helpers/udpRelay.ts'
import { inputsOf, ladderCoverage, negotiationOverlaps } from '../../helpers/ladders.ts'

// werift's peers and channels as the adapter makes them (a channel is closed as a fault), and the
// signaling state each offer was made in (one negotiation at a time: always `stable`)
const channels: { pc: any; label: string; dc: any }[] = []
const offersIn: string[] = []
const proto = RTCPeerConnection.prototype as any
const createDataChannel = proto.createDataChannel
proto.createDataChannel = function (this: any, label: string, opts: unknown) {
  const dc = createDataChannel.call(this, label, opts)
  channels.push({ pc: this, label, dc })
  return dc
}
const createOffer = proto.createOffer
proto.createOffer = function (this: any, ...args: unknown[]) {
  offersIn.push(this.signalingState)
  return createOffer.apply(this, args)
}

const timings = { ...fastLadder, connectMs: 1500, connectWaits: 2, rebuildMs: 1500, maxRebuilds: 3 }
const M = 'hub/peer' // the member's session (polite, leads recovery)
const H = 'member-1/peer' // the hub's (impolite, follows)
const CAM = `${M}/camera`
const UP = `${M}/upload`
const LOOP = `${H}/loopback-camera`

let p: Pair
let net: RelayNet
const value = (sys: 'm' | 'h', path: string) =>
  String(snap(sys === 'm' ? p.memberSystem : p.hubSystem, path)?.value ?? 'gone')
const bothOpen = () => linkValue(p.memberSystem, M) === 'open' && linkValue(p.hubSystem, H) === 'open'
/** The member's journaled link states, in order (repeats folded). */
const linkStates = (lines: any[]) => {
  const seen: string[] = []
  for (const l of lines) {
    const v = l.snapshot?.value?.active?.link
    if (!v) continue
    const s = typeof v === 'string' ? v : `recovering.${v.recovering}`
    if (seen.at(-1) !== s) seen.push(s)
  }
  return seen
}
/** The member's (first made) werift peer of the session now: its negotiated channel `label`. */
const memberChannel = (label: string) => {
  const sid = snap(p.memberSystem, M).context.peerSessionId
  const mine = channels.filter((c) => c.label === label)
  // each peer makes its two negotiated channels at creation; the member's peer of this session is
  // the latest one the member made: the one that is open and whose remote is the hub's latest
  const open = mine.filter((c) => c.dc.readyState === 'open')
  assert.ok(open.length >= 2, `both ends' ${label} channels open (session ${sid})`)
  return open.at(-2)!.dc
}

const test = suite('ladders of peerSession and mediaSubflow on werift peers under faults')

test.before(async () => {
  net = await RelayNet.create(48)
  p = await openPair({
    memberWerift: { rewriteCandidate: net.rewrite },
    hubWerift: { rewriteCandidate: net.rewrite },
    timings,
    uploadRate: 64_000,
  })
})

test('connect deadline: ICE connects but DTLS never does: waits twice, then climbs; recovers once DTLS passes', async () => {
  net.onlyStun(true)
  await p.member.openSession('hub', 'member-1.g0')
  await until(() => snap(p.memberSystem, M)?.context.connectWaited === 2, 5000, 'the connect deadline extended twice')
  await until(() => linkValue(p.memberSystem, M).startsWith('recovering'), 3000, 'the member climbs the ladder')
  assert.is(snap(p.memberSystem, M).context.channels.events, false, 'no channel opened through the block')
  net.onlyStun(false)
  await until(bothOpen, 15_000, 'both sides open once DTLS passes')
})

test('media toggled while data flows: the data channels survive, every message once and in order', async () => {
  const got: number[] = []
  p.hub.executor('member-1')!.onMessage((d: any) => typeof d?.t === 'number' && got.push(d.t))
  const closes = { ...p.member.executor('hub')!.stats.closes }
  const hubCloses = { ...p.hub.executor('member-1')!.stats.closes }
  const chans = channels.length
  const cam = await p.member.addSubflow('hub', 'camera', { kind: 'camera' })
  const mic = await p.member.addSubflow('hub', 'microphone', { kind: 'microphone' })
  let t = 0
  const send = (n: number) => {
    for (let i = 0; i < n; i++) p.member.sendMessage('hub', { t: t++ })
  }
  for (const [path, ev, want] of [
    [cam, 'media.start', 'live'],
    [mic, 'media.start', 'live'],
    [cam, 'media.pause', 'paused'],
    [cam, 'media.resume', 'live'],
    [mic, 'media.stop', 'stopped'],
    [cam, 'media.stop', 'stopped'],
    [cam, 'media.start', 'live'],
  ] as const) {
    send(10)
    p.member.dispatch(path, { type: ev })
    send(10)
    await until(() => value('m', path) === want, 5000, `${path} ${want} after ${ev}`)
  }
  send(1)
  await until(() => got.length >= t, 5000, `all ${t} messages at the hub`)
  assert.equal(
    got,
    Array.from({ length: t }, (_, i) => i),
    'every message once, in order',
  )
  assert.equal(p.member.executor('hub')!.stats.closes, closes, "no channel closed at the member's end")
  assert.equal(p.hub.executor('member-1')!.stats.closes, hubCloses, "no channel closed at the hub's end")
  assert.is(channels.length, chans, 'no data channel made again')
  assert.ok(bothOpen(), 'the link stayed open')
  const shape = snap(p.memberSystem, M).context.negotiatedShape
  assert.is(shape.camera, 'sendrecv', 'the camera is published again')
})

test("an upload's channel closed under it: the sender degrades and resumes from the acked offset", async () => {
  const bytes = new Uint8Array(400_000).map((_, i) => i % 251)
  const sha256 = await p.member.executor('hub')!.prepareUpload('u1', bytes)
  const up = await p.member.addSubflow('hub', 'upload', {
    kind: 'file',
    role: 'send',
    uploadId: 'u1',
    size: bytes.length,
    sha256,
  })
  p.member.dispatch(up, { type: 'media.start' })
  await until(() => snap(p.memberSystem, up).context.acked > 50_000, 8000, 'the upload under way')
  const file = channels.filter((c) => c.label === 'file:u1' && c.dc.readyState === 'open')
  assert.ok(file.length >= 1, 'the upload channel is open')
  for (const c of file) c.dc.close()
  await until(() => snap(p.memberSystem, up).context.counters.degraded >= 1, 3000, 'the sender degraded')
  await until(() => value('m', up) === 'live', 8000, 'the sender back to live')
  assert.ok(snap(p.memberSystem, up).context.counters.recovered >= 1, 'recovered (counted)')
})

test('the path cut for longer than every rebuild: the ladder ends in failed; degraded subflows stopped there', async () => {
  // a loopback on the hub, asked for by the member over `events`
  p.member.sendMessage('hub', { control: 'subflow', name: 'loopback', op: 'start', slot: 'camera' })
  await until(() => value('h', LOOP) === 'live', 5000, "the hub's loopback live")
  const rebuilds0 = snap(p.memberSystem, M).context.rebuilds
  assert.ok(rebuilds0 <= 1, `at most one rebuild so far (${rebuilds0}): the ladder re-enters rebuild below`)
  net.breakAll()
  for (let g = 0; g < 8; g++) net.blockSession(`member-1.g${g}`)
  await until(() => value('h', LOOP) === 'degraded', 8000, "the hub's loopback degraded with its peer")
  await until(() => value('m', UP) === 'degraded', 8000, 'the upload degraded with its peer')
  p.hub.dispatch(LOOP, { type: 'media.stop' })
  p.member.dispatch(UP, { type: 'media.stop' })
  await until(() => value('h', LOOP) === 'stopped' && value('m', UP) === 'stopped', 3000, 'both stopped while degraded')
  await until(() => linkValue(p.memberSystem, M) === 'failed', 15_000, 'the member gave up: failed')
  assert.match(snap(p.memberSystem, M).context.failure, /rebuilds/)
})

test('from failed, an explicit rebuild (paths back) recovers; then a data channel closed: rebuilt again', async () => {
  const next = snap(p.memberSystem, M).context.generation + 1
  net.unblockAll()
  p.member.dispatch(M, { type: 'peer.rebuild', reason: 'operator' })
  await until(bothOpen, 10_000, 'open again after the explicit rebuild')
  assert.is(snap(p.memberSystem, M).context.peerSessionId, `member-1.g${next}`)
  const sid = snap(p.memberSystem, M).context.peerSessionId
  const got: number[] = []
  p.hub.executor('member-1')!.onMessage((d: any) => typeof d?.c === 'number' && got.push(d.c))
  memberChannel('sync').close()
  await until(() => snap(p.memberSystem, M).context.peerSessionId !== sid, 5000, 'the member rebuilds')
  await until(bothOpen, 10_000, 'open again on the rebuilt peer')
  p.member.sendMessage('hub', { c: 1 })
  await until(() => got.includes(1), 5000, 'messages flow on the rebuilt peer')
})

test('ladder coverage >= 90% (executor runs + corpus + graph paths) and the invariants', async () => {
  const peer = ladderCoverage('peerSession')
  const sub = ladderCoverage('mediaSubflow')
  const logs = [await peer.addActor(p.memberSystem, M), await peer.addActor(p.hubSystem, H)]
  for (const path of [CAM, `${M}/microphone`, UP]) await sub.addActor(p.memberSystem, path)
  await sub.addActor(p.hubSystem, LOOP)
  for (const a of p.hubSystem.list()) if (a.path.startsWith(`${H}/file-`)) await sub.addActor(p.hubSystem, a.path)
  console.log(`  member link states: ${linkStates(logs[0].lines).join(' -> ')}`)
  console.log(`  executor runs: ${peer.line()}`)
  console.log(`  executor runs: ${sub.line()}`)
  // one negotiation at a time
  assert.equal(logs.flatMap(negotiationOverlaps), [], 'no negotiation begun while another was in flight')
  assert.ok(offersIn.length > 5, `offers made: ${offersIn.length}`)
  assert.equal(
    offersIn.filter((s) => s !== 'stable'),
    [],
    'every werift offer made in stable',
  )
  for (const cov of [peer, sub]) {
    const inputs = inputsOf(cov.addCorpus())
    console.log(`  + corpus: ${cov.line()}`)
    const { hosted, pure, unreachable } = await cov.runPathsHosted(inputs)
    console.log(`  + graph paths (${hosted.length} hosted, ${pure.length} pure): ${cov.line()}`)
    if (unreachable.length) console.log(`    no path from the graph: ${unreachable.join(', ')}`)
    assert.ok(cov.report().pct >= 90, cov.line())
  }
})

test.after(async () => {
  await p?.close()
  net?.close()
})
test.after(() => exitWhenDone())
test.run()
