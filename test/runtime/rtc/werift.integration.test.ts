/**
 * The werift adapter across an ICE restart (runtime/rtc/werift.ts, holdPathAcrossRestart): werift
 * clears the selected pair when a restart begins and used to drop every packet until the new
 * generation selected one, so a message sent in that window waited for SCTP's retransmission
 * timer (at least 1 s in werift). Two adapter peers on 127.0.0.1: the member restarts ICE, the hub
 * sends while its restarted generation has no pair yet; every message arrives, none of them
 * needed a retransmission, and the held packets went out on the previous pair.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { ChannelLabel, PeerCallbacks, PeerHandle } from '../../../runtime/rtc/PeerBackend.ts'
import { isMdnsCandidate, weriftBackend, type WeriftStats } from '../../../runtime/rtc/werift.ts'
import { until } from '../../helpers/tmp.ts'

/** werift's SCTP association class, the one the adapter's peers use (werift's ESM build). */
async function sctpClass(): Promise<{ prototype: { sendChunk(chunk: unknown): Promise<void> } }> {
  const { RTCPeerConnection } = await import('werift')
  const pc = new RTCPeerConnection({ iceServers: [] })
  pc.createDataChannel('probe', { negotiated: true, id: 0 })
  const SCTP = Object.getPrototypeOf((pc as any).sctpTransport.sctp).constructor
  await pc.close()
  return SCTP
}

const shape = { microphone: 'inactive', camera: 'inactive', screen: 'inactive' } as const

interface Side {
  peer: PeerHandle
  open: Set<ChannelLabel>
  got: string[]
}

function side(id: string, other: () => Side, stats: WeriftStats, owns: boolean): Side {
  const s: Side = { peer: undefined as unknown as PeerHandle, open: new Set(), got: [] }
  const cb: PeerCallbacks = {
    candidate: (c) => void other().peer.addCandidate(c),
    channelOpen: (l) => s.open.add(l),
    channelClose: (l) => s.open.delete(l),
    message: (l, d) => {
      if (l === 'events') s.got.push(String(d))
    },
    track: () => {},
    dataChannel: () => {},
  }
  s.peer = weriftBackend({ stats }).createPeer(id, cb, { ownsTransceivers: owns })
  return s
}

const t = suite('werift adapter - ICE restart')

t('messages sent while a restarted ICE generation has no pair yet go out on the previous pair', async () => {
  // every DATA chunk werift sends more than once is a retransmission
  let retransmitted = 0
  const SCTP = await sctpClass()
  const sendChunk = SCTP.prototype.sendChunk
  SCTP.prototype.sendChunk = function (this: unknown, chunk: any) {
    if ((chunk?.sentCount ?? 0) > 1) retransmitted++
    return sendChunk.call(this, chunk)
  }
  const stats: WeriftStats = { peersCreated: 0, candidateErrors: 0, sdpPortRewrites: 0, iceKicks: 0 }
  const member: Side = side('s1', () => hub, stats, true)
  const hub: Side = side('s1', () => member, stats, false)
  try {
    const answer = await hub.peer.applyOffer(await member.peer.createOffer({ iceRestart: false, shape }), {
      rollback: false,
      shape,
    })
    await member.peer.applyAnswer(answer)
    await until(() => member.open.has('events') && hub.open.has('events'), 10_000, 'channels open')
    hub.peer.send('events', 'before')
    await until(() => member.got.includes('before'), 5000, 'the first message')

    // the member restarts ICE; the hub sends at once after applying the offer (its new
    // generation is still checking), and again after the member applied the answer
    const restartAnswer = await hub.peer.applyOffer(await member.peer.createOffer({ iceRestart: true, shape }), {
      rollback: false,
      shape,
    })
    for (let i = 0; i < 5; i++) hub.peer.send('events', `during ${i}`)
    await member.peer.applyAnswer(restartAnswer)
    hub.peer.send('events', 'after')
    await until(() => member.got.includes('after'), 10_000, 'every message after the restart')
    assert.equal(member.got, ['before', 'during 0', 'during 1', 'during 2', 'during 3', 'during 4', 'after'])
    assert.ok((stats.heldPackets ?? 0) > 0, 'packets went out on the previous pair while none was selected')
    assert.is(retransmitted, 0, 'no message needed SCTP to retransmit it')
  } finally {
    SCTP.prototype.sendChunk = sendChunk
    member.peer.close()
    hub.peer.close()
  }
})

t('an mDNS candidate does not hold the operations after it', async () => {
  // Chromium signals its host candidates by mDNS name; werift looks each up inside
  // addIceCandidate (10 s, or never offline). The executor awaits a session's operations in
  // order, so the adapter must not make it wait for that lookup (the sync e2e's recovery stalled)
  const stats: WeriftStats = { peersCreated: 0, candidateErrors: 0, sdpPortRewrites: 0, iceKicks: 0 }
  const member: Side = side('s2', () => hub, stats, true)
  const hub: Side = side('s2', () => member, stats, false)
  try {
    // without `a=end-of-candidates`, as Chromium offers (it trickles): werift keeps taking candidates
    const offer = (await member.peer.createOffer({ iceRestart: false, shape })).replace(/a=end-of-candidates\r\n/g, '')
    const answer = await hub.peer.applyOffer(offer, { rollback: false, shape })
    await member.peer.applyAnswer(answer)
    await until(() => member.open.has('events') && hub.open.has('events'), 10_000, 'channels open')
    const mdns = {
      candidate: 'candidate:1 1 udp 2113937151 0b4c3f2e-59d1-4b8e-9a43-1c0e5d7f8a21.local 50000 typ host generation 0',
      sdpMid: '0',
      sdpMLineIndex: 0,
    }
    assert.ok(isMdnsCandidate(mdns))
    assert.not.ok(isMdnsCandidate({ candidate: 'candidate:1 1 udp 2113937151 127.0.0.1 50000 typ host' }))
    let added = false
    const adding = hub.peer.addCandidate(mdns).then(() => void (added = true))
    // the lookup takes 10 s or more; the call returns long before, and the session still works
    await until(() => added, 3000, 'addCandidate returned without waiting for the mDNS lookup')
    await adding
    assert.is(stats.mdnsCandidates, 1)
    member.peer.send('events', 'still here')
    await until(() => hub.got.includes('still here'), 5000, 'a message after the mDNS candidate')
  } finally {
    member.peer.close()
    hub.peer.close()
  }
})

t.run()
