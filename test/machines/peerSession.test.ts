/**
 * peerSession as a pure machine: commands recorded instead of executed, events fed by hand.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createActor, SimulatedClock } from 'xstate'
import { peerSession, coalesce, type PeerCommand, type PeerSessionInput } from '../../machines/peerSession.ts'
import { uniformShape } from '../../protocol/signaling.ts'

const SDP =
  'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=ice-ufrag:abcd\r\na=ice-pwd:x\r\na=fingerprint:sha-256 AA\r\n'
const cand = (port: number) => ({
  candidate: `candidate:1 1 udp 2130706431 127.0.0.1 ${port} typ host`,
  sdpMid: '0',
  sdpMLineIndex: 0,
})

const started: { stop(): void }[] = []

function start(input: Partial<PeerSessionInput> = {}) {
  const cmds: PeerCommand[] = []
  const actor = createActor(
    peerSession.provide({ actions: { exec: (_: unknown, p: { cmds: PeerCommand[] }) => void cmds.push(...p.cmds) } }),
    {
      input: { nodeId: 'hub', remoteNodeId: 'm1', polite: false, peerSessionId: 'm1.g0', ...input },
    },
  )
  actor.start()
  started.push(actor)
  return {
    actor,
    cmds,
    ctx: () => actor.getSnapshot().context,
    sig: () => (actor.getSnapshot().value as any).active.signaling,
    link: () => {
      const l = (actor.getSnapshot().value as any).active?.link
      return typeof l === 'string' ? l : `recovering.${l?.recovering}`
    },
  }
}

const linkOf = (actor: { getSnapshot(): any }) => {
  const l = actor.getSnapshot().value.active?.link
  return typeof l === 'string' ? l : `recovering.${l?.recovering}`
}

const offer = (negotiationId: string, peerSessionId = 'm1.g0', purpose: any = 'initial') => ({
  type: 'rtc.offer' as const,
  peerSessionId,
  negotiationId,
  fromNodeId: 'm1',
  targetNodeId: 'hub',
  sdp: SDP,
  mediaShape: uniformShape('inactive'),
  purpose,
})
const answer = (negotiationId: string, peerSessionId = 'm1.g0', fromNodeId = 'hub', targetNodeId = 'm1') => ({
  type: 'rtc.answer' as const,
  peerSessionId,
  negotiationId,
  fromNodeId,
  targetNodeId,
  sdp: SDP,
  mediaShape: uniformShape('inactive'),
})
const ice = (negotiationId: string, port: number, peerSessionId = 'm1.g0', fromNodeId = 'm1') => ({
  type: 'rtc.ice' as const,
  peerSessionId,
  negotiationId,
  fromNodeId,
  targetNodeId: 'hub',
  candidate: cand(port),
})

const Neg = suite('peerSession - negotiation')

Neg('peerSession - early candidates are queued and applied once their description is', () => {
  const s = start()
  s.actor.send(ice('m1.0.1', 5000))
  s.actor.send(ice('m1.0.1', 5001))
  assert.is(s.ctx().queued.length, 2)
  assert.is(s.ctx().counters.candidatesQueued, 2)
  assert.not.ok(s.cmds.some((c) => c.op === 'addCandidates'))
  s.actor.send(offer('m1.0.1'))
  assert.is(s.sig(), 'answering')
  s.actor.send({ type: 'rtc.local.answer', peerSessionId: 'm1.g0', negotiationId: 'm1.0.1', sdp: SDP })
  assert.is(s.sig(), 'stable')
  const add = s.cmds.filter((c) => c.op === 'addCandidates') as Extract<PeerCommand, { op: 'addCandidates' }>[]
  assert.is(add.length, 1)
  assert.is(add[0].candidates.length, 2)
  assert.is(s.ctx().queued.length, 0)
  // a later candidate of the applied negotiation goes straight in
  s.actor.send(ice('m1.0.1', 5002))
  assert.is(s.cmds.filter((c) => c.op === 'addCandidates').length, 2)
})

Neg('peerSession - stale and superseded answers and candidates are ignored and counted', () => {
  const s = start({ nodeId: 'm1', remoteNodeId: 'hub', polite: true })
  // the member offers first
  assert.is(s.sig(), 'makingOffer')
  s.actor.send({ type: 'rtc.local.offer', peerSessionId: 'm1.g0', negotiationId: 'm1.0.1', sdp: SDP })
  assert.is(s.sig(), 'haveLocalOffer')
  const other = (id: string, ps = 'm1.g0') => ({ ...answer(id, ps), fromNodeId: 'hub', targetNodeId: 'm1' })
  s.actor.send(other('m1.0.0')) // not ours
  assert.is(s.sig(), 'haveLocalOffer')
  s.actor.send(other('m1.0.1'))
  assert.is(s.sig(), 'applyingAnswer')
  s.actor.send({ type: 'rtc.local.applied', peerSessionId: 'm1.g0', negotiationId: 'm1.0.1' })
  assert.is(s.sig(), 'stable')
  const before = s.cmds.length
  // the same answer again, and a candidate of a finished negotiation that is not the current description
  s.actor.send(other('m1.0.1'))
  assert.is(s.ctx().counters.ignoredStale, 1)
  // a rebuild: everything of m1.g0 is superseded now
  s.actor.send({ type: 'peer.rebuild', reason: 'test' })
  const ps = s.ctx().peerSessionId
  assert.is(ps, 'm1.g1')
  s.actor.send(other('m1.0.1', 'm1.g0'))
  s.actor.send({ ...ice('m1.0.1', 6000, 'm1.g0', 'hub'), targetNodeId: 'm1' })
  assert.is(s.ctx().counters.ignoredSuperseded, 2)
  assert.is(s.ctx().peerSessionId, 'm1.g1')
  assert.ok(
    s.cmds.slice(before).every((c) => c.op !== 'applyAnswer' && c.op !== 'addCandidates'),
    'nothing of the old session reached the peer',
  )
})

Neg('peerSession - requests while negotiating coalesce into one pending negotiation', () => {
  const s = start({ nodeId: 'm1', remoteNodeId: 'hub', polite: true })
  s.actor.send({ type: 'rtc.local.offer', peerSessionId: 'm1.g0', negotiationId: 'm1.0.1', sdp: SDP })
  s.actor.send({ type: 'peer.shape', slot: 'camera', direction: 'sendrecv' })
  s.actor.send({ type: 'peer.shape', slot: 'microphone', direction: 'sendrecv' })
  s.actor.send({ type: 'peer.negotiate', purpose: 'renegotiate' })
  assert.is(s.ctx().pending, 'renegotiate')
  s.actor.send({ ...answer('m1.0.1'), fromNodeId: 'hub', targetNodeId: 'm1' })
  s.actor.send({ type: 'rtc.local.applied', peerSessionId: 'm1.g0', negotiationId: 'm1.0.1' })
  const offers = s.cmds.filter((c) => c.op === 'offer') as Extract<PeerCommand, { op: 'offer' }>[]
  assert.is(offers.length, 2, 'one more offer for three requests')
  assert.equal(offers[1].shape, { microphone: 'sendrecv', camera: 'sendrecv', screen: 'inactive' })
  assert.is(s.ctx().pending, null)
  assert.is(coalesce('shape', 'ice-restart'), 'ice-restart')
  assert.is(coalesce('rebuild', 'shape'), 'rebuild')
})

Neg('peerSession - glare: the polite side rolls back and answers, the impolite side ignores', () => {
  const polite = start({ nodeId: 'm1', remoteNodeId: 'hub', polite: true })
  polite.actor.send({ type: 'rtc.local.offer', peerSessionId: 'm1.g0', negotiationId: 'm1.0.1', sdp: SDP })
  const hubOffer = { ...offer('hub.0.1', 'm1.g0', 'renegotiate'), fromNodeId: 'hub', targetNodeId: 'm1' }
  polite.actor.send(hubOffer)
  assert.is(polite.sig(), 'answering')
  const ap = polite.cmds.find((c) => c.op === 'applyOffer') as Extract<PeerCommand, { op: 'applyOffer' }>
  assert.ok(ap.rollback)
  assert.is(polite.ctx().counters.glareRolledBack, 1)
  assert.is(polite.ctx().pending, 'initial', 'its own request runs again later')

  const impolite = start()
  impolite.actor.send({ type: 'peer.negotiate', purpose: 'renegotiate' })
  impolite.actor.send({
    type: 'rtc.local.offer',
    peerSessionId: 'm1.g0',
    negotiationId: impolite.ctx().neg!.id,
    sdp: SDP,
  })
  impolite.actor.send(offer('m1.0.2', 'm1.g0', 'shape'))
  assert.is(impolite.sig(), 'haveLocalOffer')
  assert.is(impolite.ctx().counters.glareIgnored, 1)
})

const Health = suite('peerSession - liveness and the ladder')

Health('peerSession - a silent verdict climbs ice-restart -> renegotiate -> rebuild, each with its deadline', () => {
  const clock = new SimulatedClock()
  const cmds: PeerCommand[] = []
  const actor = createActor(
    peerSession.provide({ actions: { exec: (_: unknown, p: { cmds: PeerCommand[] }) => void cmds.push(...p.cmds) } }),
    {
      clock,
      input: {
        nodeId: 'm1',
        remoteNodeId: 'hub',
        polite: true,
        peerSessionId: 'm1.g0',
        probeMs: 100,
        silenceProbes: 2,
        iceRestartMs: 300,
        renegotiateMs: 300,
        rebuildMs: 1000,
      },
    },
  )
  actor.start()
  started.push(actor)
  actor.send({ type: 'rtc.channel.open', peerSessionId: 'm1.g0', label: 'events' })
  actor.send({ type: 'rtc.channel.open', peerSessionId: 'm1.g0', label: 'sync' })
  assert.is(linkOf(actor), 'open')
  const live = cmds.filter((c) => c.op === 'watch').at(-1) as Extract<PeerCommand, { op: 'watch' }>
  assert.equal(
    { mode: live.mode, probeMs: live.probeMs, silenceProbes: live.silenceProbes },
    { mode: 'live', probeMs: 100, silenceProbes: 2 },
  )
  // a verdict of an older watch or another session changes nothing
  actor.send({ type: 'probe.silent', peerSessionId: 'm1.g0', watch: live.watch - 1 })
  actor.send({ type: 'probe.silent', peerSessionId: 'm1.gX', watch: live.watch })
  assert.is(linkOf(actor), 'open')
  actor.send({ type: 'probe.silent', peerSessionId: 'm1.g0', watch: live.watch })
  assert.is(linkOf(actor), 'recovering.iceRestart')
  const prove = cmds.filter((c) => c.op === 'watch').at(-1) as Extract<PeerCommand, { op: 'watch' }>
  assert.is(prove.mode, 'prove')
  assert.is(prove.watch, live.watch + 1)
  clock.increment(301)
  assert.is(linkOf(actor), 'recovering.renegotiate')
  clock.increment(301)
  assert.is(linkOf(actor), 'recovering.rebuild')
  assert.ok(cmds.some((c) => c.op === 'signal' && c.message.type === 'rtc.supersede'))
  assert.ok(cmds.some((c) => c.op === 'createPeer' && c.peerSessionId === 'm1.g1'))
  const w = cmds.filter((c) => c.op === 'watch').at(-1) as Extract<PeerCommand, { op: 'watch' }>
  assert.equal([w.peerSessionId, w.mode], ['m1.g1', 'prove'], 'the new session is watched')
  actor.stop()
})

Health('peerSession - failed is final for the ladder: nothing is probed, peer.close ends it with a reason', () => {
  const clock = new SimulatedClock()
  const cmds: PeerCommand[] = []
  const actor = createActor(
    peerSession.provide({ actions: { exec: (_: unknown, p: { cmds: PeerCommand[] }) => void cmds.push(...p.cmds) } }),
    { clock, input: { nodeId: 'hub', remoteNodeId: 'm1', polite: false, peerSessionId: 'm1.g0', followMs: 500 } },
  )
  actor.start()
  started.push(actor)
  actor.send({ type: 'rtc.channel.open', peerSessionId: 'm1.g0', label: 'events' })
  actor.send({ type: 'rtc.channel.open', peerSessionId: 'm1.g0', label: 'sync' })
  actor.send({ type: 'rtc.channel.close', peerSessionId: 'm1.g0', label: 'events' })
  assert.is(linkOf(actor), 'recovering.following')
  clock.increment(501)
  assert.is(linkOf(actor), 'failed')
  const w = cmds.filter((c) => c.op === 'watch').at(-1) as Extract<PeerCommand, { op: 'watch' }>
  assert.is(w.mode, 'off')
  const n = cmds.length
  clock.increment(60_000)
  assert.is(cmds.length, n, 'no timer and no command while failed')
  actor.send({ type: 'peer.close', reason: 'member gone' })
  assert.is(actor.getSnapshot().status, 'done')
  assert.is(actor.getSnapshot().context.closedReason, 'member gone')
  assert.equal(cmds.at(-1), { op: 'end', peerSessionId: 'm1.g0', reason: 'member gone' })
})

Health('peerSession - an answered probe after the rung began recovers and re-sends what was not acknowledged', () => {
  const s = start({
    nodeId: 'm1',
    remoteNodeId: 'hub',
    polite: true,
    probeMs: 50,
    silenceProbes: 1,
    iceRestartMs: 5000,
  })
  s.actor.send({ type: 'rtc.channel.open', peerSessionId: 'm1.g0', label: 'events' })
  s.actor.send({ type: 'rtc.channel.open', peerSessionId: 'm1.g0', label: 'sync' })
  s.actor.send({ type: 'peer.send', data: 'a' })
  s.actor.send({ type: 'peer.send', data: 'b' })
  s.actor.send({ type: 'peer.ack', peerSessionId: 'm1.g0', seq: 1 })
  s.actor.send({ type: 'probe.silent', peerSessionId: 'm1.g0', watch: s.ctx().probe.watch })
  assert.is(s.link(), 'recovering.iceRestart')
  // the answer to the watch that was live before the rung proves nothing
  s.actor.send({ type: 'probe.answered', peerSessionId: 'm1.g0', watch: s.ctx().probe.watch - 1 })
  assert.is(s.link(), 'recovering.iceRestart')
  s.actor.send({ type: 'probe.answered', peerSessionId: 'm1.g0', watch: s.ctx().probe.watch })
  assert.is(s.link(), 'open')
  const re = s.cmds.filter((c) => c.op === 'transmit' && c.resend) as Extract<PeerCommand, { op: 'transmit' }>[]
  assert.equal(
    re.map((c) => c.data),
    ['b'],
  )
  assert.equal(s.ctx().recoveries[0].recoveredBy, 'ice-restart')
  assert.equal([s.ctx().probe.silences, s.ctx().probe.answers], [1, 1])
  s.actor.stop()
})

Health(
  'peerSession - a resumed member offers `resume` from its renegotiate rung; the hub renews its peer, same session',
  () => {
    const m = start({ nodeId: 'm1', remoteNodeId: 'hub', polite: true, peerSessionId: 'm1.abc.g0', resume: 'r2' })
    assert.is(m.link(), 'recovering.renegotiate')
    const o = m.cmds.find((c) => c.op === 'offer') as Extract<PeerCommand, { op: 'offer' }>
    assert.equal([o.purpose, o.peerSessionId, o.negotiationId], ['resume', 'm1.abc.g0', 'm1:r2.0.1'])

    const h = start({ peerSessionId: 'm1.abc.g0', followMs: 60_000 })
    h.actor.send(offer('m1.0.1', 'm1.abc.g0'))
    h.actor.send({ type: 'rtc.local.answer', peerSessionId: 'm1.abc.g0', negotiationId: 'm1.0.1', sdp: SDP })
    h.actor.send({ type: 'rtc.channel.open', peerSessionId: 'm1.abc.g0', label: 'events' })
    h.actor.send({ type: 'rtc.channel.open', peerSessionId: 'm1.abc.g0', label: 'sync' })
    assert.is(h.link(), 'open')
    // the page closed: its channels went, the hub follows
    h.actor.send({ type: 'rtc.channel.close', peerSessionId: 'm1.abc.g0', label: 'events' })
    assert.is(h.link(), 'recovering.following')
    // the resume offer (of a new negotiation id prefix) is taken in any signaling state
    h.cmds.length = 0
    h.actor.send({ ...offer('m1:r2.0.1', 'm1.abc.g0'), purpose: 'resume' })
    assert.equal(
      h.cmds.slice(0, 2).map((c) => c.op),
      ['close', 'createPeer'],
    )
    assert.ok(
      h.cmds.every((c) => !('peerSessionId' in c) || c.peerSessionId === 'm1.abc.g0'),
      'the same session',
    )
    assert.ok(h.cmds.some((c) => c.op === 'applyOffer' && c.negotiationId === 'm1:r2.0.1'))
    assert.is(h.sig(), 'answering')
    h.actor.send({ type: 'rtc.local.answer', peerSessionId: 'm1.abc.g0', negotiationId: 'm1:r2.0.1', sdp: SDP })
    h.actor.send({ type: 'rtc.channel.open', peerSessionId: 'm1.abc.g0', label: 'events' })
    h.actor.send({ type: 'rtc.channel.open', peerSessionId: 'm1.abc.g0', label: 'sync' })
    h.actor.send({ type: 'probe.answered', peerSessionId: 'm1.abc.g0', watch: h.ctx().probe.watch })
    assert.is(h.link(), 'open')
    const rec = h.ctx().recoveries.at(-1)!
    assert.equal(
      [rec.climbed, rec.recoveredBy, rec.fromSession, rec.toSession],
      [['renegotiate'], 'follow', 'm1.abc.g0', 'm1.abc.g0'],
    )
    m.actor.stop()
    h.actor.stop()
  },
)

Health(
  'peerSession - channels late while ICE has a path: the connect deadline is extended (bounded), not climbed',
  () => {
    const clock = new SimulatedClock()
    const make = () => {
      const a = createActor(peerSession.provide({ actions: { exec: () => {} } }), {
        clock,
        input: {
          nodeId: 'm1',
          remoteNodeId: 'hub',
          polite: true,
          peerSessionId: 'm1.g0',
          connectMs: 1000,
          connectWaits: 3,
          iceRestartMs: 60_000,
          probeMs: 60_000,
        },
      })
      a.start()
      started.push(a)
      return { a, link: () => linkOf(a), ctx: () => a.getSnapshot().context }
    }
    const withPath = make()
    const noPath = make()
    const late = make()
    withPath.a.send({ type: 'rtc.local.iceState', peerSessionId: 'm1.g0', state: 'connected' })
    late.a.send({ type: 'rtc.local.iceState', peerSessionId: 'm1.g0', state: 'completed' })
    // another session's report changes nothing
    noPath.a.send({ type: 'rtc.local.iceState', peerSessionId: 'm1.gX', state: 'connected' })
    // the simulated clock fires what is due at the new time, not what firing it arms: a step per deadline
    const deadlines = (n: number) => {
      for (let i = 0; i < n; i++) clock.increment(1001)
    }
    deadlines(2)
    assert.is(noPath.link(), 'recovering.iceRestart', 'no ICE path: the ladder climbs at the deadline')
    assert.is(withPath.link(), 'connecting', 'ICE path up: still waiting for the channels')
    assert.is(withPath.ctx().connectWaited, 2)
    late.a.send({ type: 'rtc.channel.open', peerSessionId: 'm1.g0', label: 'events' })
    late.a.send({ type: 'rtc.channel.open', peerSessionId: 'm1.g0', label: 'sync' })
    assert.is(late.link(), 'open')
    assert.is(late.ctx().connectWaited, 0, 'reset once open')
    assert.is(late.ctx().recoveries.length, 0)
    deadlines(2) // the third extension, then the fourth deadline
    assert.is(withPath.link(), 'recovering.iceRestart', 'the extensions are bounded')
    assert.is(withPath.ctx().connectWaited, 3)
  },
)

// live actors keep their probe timers: stop them all when done
Neg.after(() =>
  started.forEach((a) => {
    a.stop()
  }),
)
Health.after(() =>
  started.forEach((a) => {
    a.stop()
  }),
)
Neg.run()
Health.run()
