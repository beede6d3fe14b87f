/**
 * The werift adapter: the one file that imports werift. It makes werift peers behave as the
 * peer-session executor expects (PeerBackend), offline on 127.0.0.1, and works around what
 * werift 0.24 gets wrong:
 * - `inactive` m-sections: werift answers them with port 0, which Chromium reads as a rejected
 *   m-section; every SDP werift produces is rewritten to port 9 (FACTS.md).
 * - The hub keeps its own transceivers `sendrecv` (werift's answer direction is the overlap with
 *   the offer's), so the member alone decides a slot's direction.
 * - ICE restart between two werift peers left the data channel dead (FACTS.md). The cause:
 *   `RTCPeerConnection.connect()` skips `iceTransport.start()` for a transport whose DTLS is
 *   already connected, so the restarted ICE generation never runs its checks, nominates no
 *   pair, and `IceConnection.send()` silently drops everything. The adapter starts the checks
 *   itself (`kickIce`). And with any `inactive` m-section in the remote description, werift
 *   handles a new ufrag as "renomination" instead of a restart (no new generation, no new
 *   candidates): the adapter turns that heuristic off. notes/issue-6.md has the details.
 */
import { lookup as dnsLookup } from 'node:dns/promises'
import { MediaStreamTrack, RTCPeerConnection, RtpHeader, RtpPacket } from 'werift'
import { MEDIA_SLOTS, type IceCandidateInit, type MediaShape, type MediaSlot } from '../../protocol/signaling.ts'
import { fixWeriftSctp } from './weriftSctpFix.ts'
import { CHANNELS, channelHandle, negotiatedChannels, offerMethods, rollbackLocalOffer } from './PeerBackend.ts'
import type {
  ChannelHandle,
  ChannelLabel,
  MediaTrackSource,
  PeerBackend,
  PeerCallbacks,
  PeerHandle,
} from './PeerBackend.ts'

export interface WeriftOptions {
  /** Rewrites (or drops, returning null) each local candidate before it is signaled. Tests use it to route through relays. */
  rewriteCandidate?: (c: IceCandidateInit, peerSessionId: string) => IceCandidateInit | null
  /** Accepts or refuses a candidate pair (werift `iceFilterCandidatePair`); default: 127.0.0.1 only. */
  filterPair?: (local: { host: string; port: number }, remote: { host: string; port: number }) => boolean
  /** Counters of what the adapter did. */
  stats?: WeriftStats
}

export interface WeriftStats {
  peersCreated: number
  candidateErrors: number
  sdpPortRewrites: number
  /** ICE connectivity checks the adapter had to start itself (after ICE restarts). */
  iceKicks: number
  /** Packets sent on the previous pair while an ICE restart had none selected yet (holdPathAcrossRestart). */
  heldPackets?: number
  /** `error` events of peers and data channels (each closes what reported it). */
  errors?: number
  /** Remote mDNS host candidates (`….local`), added without waiting for their lookup (addCandidate). */
  mdnsCandidates?: number
}

/** A host candidate named by an mDNS name (`<uuid>.local`) instead of an address. */
export function isMdnsCandidate(c: IceCandidateInit): boolean {
  const address = c.candidate?.split(' ')[4]
  return !!address && address.includes('.local')
}

/**
 * werift's peers and channels are EventEmitters underneath: an `error` event with no listener
 * would be thrown out of the process. Each gets one at creation; the error closes that object only.
 */
function onError(target: any, stats: WeriftStats | undefined, close: () => void): void {
  target.addEventListener?.('error', () => {
    if (stats) stats.errors = (stats.errors ?? 0) + 1
    try {
      close()
    } catch {
      // already closed
    }
  })
}

const SLOT_KIND: Record<MediaSlot, 'audio' | 'video'> = { microphone: 'audio', camera: 'video', screen: 'video' }

/** werift answers an `inactive` m-section with port 0 (rejected, for Chromium): advertise 9 like everyone else. */
export function fixRejectedPorts(sdp: string, stats?: WeriftStats): string {
  return sdp.replace(/^m=(audio|video) 0 /gm, (_m, kind) => {
    if (stats) stats.sdpPortRewrites++
    return `m=${kind} 9 `
  })
}

/** Drops the candidates werift put in the SDP (the bare pair trickles them instead). */
function stripCandidates(sdp: string): string {
  return sdp
    .split('\r\n')
    .filter((l) => !l.startsWith('a=candidate:') && l !== 'a=end-of-candidates')
    .join('\r\n')
}

/**
 * Keeps the candidates werift gathered while setting the local description in that description
 * (werift's setLocalDescription gathers before it returns), each through the same filter and
 * rewrite as a trickled one: the remote can start its checks the moment it applies the
 * description, instead of waiting for candidates to cross the signaling link after it.
 */
export function describeCandidates(sdp: string, rewrite: (c: IceCandidateInit) => IceCandidateInit | null): string {
  const out: string[] = []
  let mid: string | null = null
  let index = -1
  for (const l of sdp.split('\r\n')) {
    if (l.startsWith('m=')) {
      index++
      mid = null
    } else if (l.startsWith('a=mid:')) mid = l.slice(6)
    if (!l.startsWith('a=candidate:')) {
      out.push(l)
      continue
    }
    const c = l.slice(2)
    if (!/ 127\.0\.0\.1 /.test(c)) continue
    const r = rewrite({ candidate: c, sdpMid: mid, sdpMLineIndex: index })
    if (r) out.push(`a=${r.candidate}`)
  }
  return out.join('\r\n')
}

/**
 * werift resolves a remote mDNS host candidate (`<uuid>.local`, what Chromium signals instead of
 * its addresses) with its own multicast query and a 10 s timer that nothing cancels: offline it
 * never answers, and the timer keeps a finished process alive. The peer's ICE agents resolve such
 * names through the system resolver instead (nss-mdns where installed; offline it fails at once),
 * within `MDNS_DEADLINE_MS` on a timer that does not hold the process. A name that does not
 * resolve costs nothing: the path comes from the other candidates or from the remote's checks
 * (a peer-reflexive candidate). Call it once the agents exist (see noDefaultStun).
 */
export function systemMdnsLookup(pc: unknown): void {
  for (const d of (pc as any).dtlsTransports ?? []) {
    const conn = d.iceTransport?.connection
    if (conn && !conn.lookup) conn.lookup = SYSTEM_MDNS
  }
}

const MDNS_DEADLINE_MS = 2000
const SYSTEM_MDNS = {
  lookup(host: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no address for ${host}`)), MDNS_DEADLINE_MS)
      timer.unref()
      dnsLookup(host, { family: 4 }).then(
        (a) => {
          clearTimeout(timer)
          resolve(a.address)
        },
        (err) => {
          clearTimeout(timer)
          reject(err)
        },
      )
    })
  },
  close() {},
}

/**
 * werift's ICE agent falls back to stun.l.google.com:19302 when no STUN server is configured
 * (`iceServers: []` included) and every gathering waits for that query: a DNS lookup on the
 * libuv thread pool (about 20 ms when it fails fast, offline), and up to its 5 s timeout when
 * many gatherings run at once (more than about 20 here: every one of them then takes 5 s).
 * Offline, on 127.0.0.1, there is no server to ask: drop it from the peer's ICE agents (they
 * exist once the peer has a transceiver or a channel; call it before gathering).
 */
export function noDefaultStun(pc: unknown): void {
  for (const d of (pc as any).dtlsTransports ?? []) {
    const conn = d.iceTransport?.connection
    if (conn && !conn.options?.stunServer) conn.stunServer = undefined
  }
}

const loopbackOnly = (a: { host: string }, b: { host: string }) => a.host === '127.0.0.1' && b.host === '127.0.0.1'

/**
 * werift's ICE restart (`Connection.restart`, and `resetNominatedPair` on a renomination) clears
 * the selected pair at once, and `send()` drops every packet until the new generation nominates
 * one. A data-channel message sent in that window (a probe's pong, a channel frame) is then
 * retransmitted by SCTP only when its timer runs out, at least 1 s in werift (SCTP_RTO_MIN), and
 * longer after a backoff: the session's recovery rung, which wants an answered probe, waits that
 * long or climbs (found as a flaky ICE-restart recovery in test/inspector/bundle.e2e). RFC 8445
 * keeps the previous pair in use until the restarted generation selects one, as browsers do:
 * this does the same for one werift ICE connection. Idempotent; false if `conn` is not one.
 */
export function holdPathAcrossRestart(conn: any, stats?: WeriftStats): boolean {
  if (!conn || typeof conn.send !== 'function' || typeof conn.restart !== 'function') return false
  if (conn.__aetherHold) return true
  conn.__aetherHold = true
  let held: any
  for (const m of ['restart', 'resetNominatedPair'] as const) {
    const original = conn[m].bind(conn)
    conn[m] = (...args: unknown[]) => {
      const previous = conn.nominated ?? held
      const r = original(...args)
      held = previous
      return r
    }
  }
  const send = conn.send
  conn.send = async (data: Buffer) => {
    if (conn.nominated || !held || conn.state === 'closed' || conn.state === 'failed') {
      held = conn.nominated ? undefined : held
      return send(data)
    }
    if (stats) stats.heldPackets = (stats.heldPackets ?? 0) + 1
    await held.protocol.sendData(data, held.remoteAddr)
  }
  return true
}

export function weriftBackend(opts: WeriftOptions = {}): PeerBackend {
  const stats = opts.stats
  return {
    createPeer(peerSessionId: string, cb: PeerCallbacks, { ownsTransceivers }): PeerHandle {
      if (stats) stats.peersCreated++
      const filter = opts.filterPair ?? loopbackOnly
      const pc = new RTCPeerConnection({
        // One transport for every m-section: one ICE agent to restart, one path to watch.
        bundlePolicy: 'max-bundle',
        iceServers: [],
        iceAdditionalHostAddresses: ['127.0.0.1'],
        iceInterfaceAddresses: { udp4: '127.0.0.1' },
        iceUseIpv6: false,
        iceFilterStunResponse: (_m: unknown, addr: readonly [string, number]) =>
          addr[0] === '127.0.0.1' || !!opts.filterPair,
        iceFilterCandidatePair: (pair: any) =>
          filter(
            { host: pair.localCandidate.host, port: pair.localCandidate.port },
            { host: pair.remoteCandidate.host, port: pair.remoteCandidate.port },
          ),
      } as any)
      // werift treats a new remote ufrag as "renomination" (reset the pair, keep the old
      // generation, gather nothing) whenever the remote description has an inactive m-section,
      // and as an ICE restart otherwise. Our media slots are inactive while off, so every ICE
      // restart would become a renomination that can never nominate (the remote's candidates
      // carry the new generation). A changed ufrag means an ICE restart here: turn that off.
      const sdpm = (pc as any).sdpManager
      if (sdpm) Object.defineProperty(sdpm, 'inactiveRemoteMedia', { get: () => undefined, configurable: true })
      let closed = false
      onError(pc, stats, () => void pc.close().catch(() => {}))
      const slots = new Map<MediaSlot, any>()
      const remoteTracks = new Map<MediaSlot, any>()
      const replaceGen = new Map<MediaSlot, number>()
      const latest = new Map<MediaSlot, unknown>()
      if (ownsTransceivers) {
        for (const s of MEDIA_SLOTS) slots.set(s, pc.addTransceiver(SLOT_KIND[s], { direction: 'inactive' }))
      }
      const channels = new Map<ChannelLabel, any>()
      for (const [label, id] of Object.entries(CHANNELS) as [ChannelLabel, number][]) {
        const dc = pc.createDataChannel(label, { negotiated: true, id, ordered: true })
        onError(dc, stats, () => dc.close())
        channels.set(label, dc)
        dc.stateChanged.subscribe((s: string) => {
          if (closed) return
          if (s === 'open') cb.channelOpen(label)
          else if (s === 'closed') cb.channelClose(label)
        })
        dc.onMessage.subscribe((m: string | Buffer) => {
          if (!closed)
            cb.message(label, typeof m === 'string' ? m : new Uint8Array(m.buffer, m.byteOffset, m.byteLength))
        })
      }
      systemMdnsLookup(pc)
      // werift's SCTP receiver held messages after a filled gap (weriftSctpFix.ts)
      fixWeriftSctp((pc as any).sctpTransport?.sctp)
      // While no ICE path is up (the first negotiation, an ICE restart), the candidates gathered
      // while a description is being set go in that description (see describeCandidates) and
      // only later ones trickle. A renegotiation over a connected path keeps the candidates out
      // of its descriptions, as before: the remote would be handed the known ones again.
      let describing = 0
      pc.onIceCandidate.subscribe((c: any) => {
        if (closed || !c || describing > 0) return
        const j = c.toJSON ? c.toJSON() : c
        let init: IceCandidateInit | null = {
          candidate: j.candidate,
          sdpMid: j.sdpMid ?? null,
          sdpMLineIndex: j.sdpMLineIndex ?? null,
        }
        if (!/ 127\.0\.0\.1 /.test(init.candidate)) return
        if (opts.rewriteCandidate) init = opts.rewriteCandidate(init, peerSessionId)
        if (init) cb.candidate(init)
      })
      // Remote media: map each media transceiver to its slot by order of appearance.
      const slotOf = (tr: any): MediaSlot | undefined => {
        const media = pc.getTransceivers().filter((t: any) => t.kind === 'audio' || t.kind === 'video')
        const i = media.indexOf(tr)
        return i >= 0 && i < MEDIA_SLOTS.length ? MEDIA_SLOTS[i] : undefined
      }
      pc.onTrack.subscribe((track: any) => {
        const tr = pc
          .getTransceivers()
          .find((t: any) => t.receiver.track === track || t.receiver.tracks?.includes?.(track))
        const slot = tr ? slotOf(tr) : undefined
        if (!slot || closed) return
        remoteTracks.set(slot, track)
        cb.track(slot, track)
      })
      pc.iceConnectionStateChange.subscribe((st: string) => {
        if (!closed) cb.iceState?.(st)
      })
      pc.onDataChannel.subscribe((dc: any) => {
        if (closed || dc.label === 'events' || dc.label === 'sync') return
        cb.dataChannel(wrapChannel(dc, stats))
      })
      const transceiverFor = (slot: MediaSlot): any => {
        if (slots.has(slot)) return slots.get(slot)
        const media = pc.getTransceivers().filter((t: any) => t.kind === 'audio' || t.kind === 'video')
        return media[MEDIA_SLOTS.indexOf(slot)]
      }
      const applyDirections = (shape: MediaShape) => {
        if (ownsTransceivers) for (const s of MEDIA_SLOTS) slots.get(s).setDirection(shape[s])
        else
          for (const t of pc.getTransceivers()) if (t.kind === 'audio' || t.kind === 'video') t.setDirection('sendrecv')
      }
      // The ICE-restart fix (see the file header): werift's RTCPeerConnection.connect() returns
      // early for a transport whose DTLS is already connected, so after an ICE restart nobody
      // runs the new generation's connectivity checks: no pair is nominated and send() drops
      // every packet while the transport still says "completed". Start the checks ourselves
      // once the new generation has what it needs (remote credentials, and after each remote
      // candidate, since the checks end when they run out of pairs).
      const kicking = new Set<any>()
      const holdPaths = () => {
        systemMdnsLookup(pc)
        for (const d of (pc as any).dtlsTransports ?? []) holdPathAcrossRestart(d.iceTransport?.connection, stats)
      }
      const kickIce = () => {
        for (const d of (pc as any).dtlsTransports ?? []) {
          const ice = d.iceTransport
          const conn = ice?.connection
          if (!conn || conn.nominated || d.state !== 'connected' || !conn.remoteUsername || kicking.has(ice) || closed)
            continue
          if (stats) stats.iceKicks++
          kicking.add(ice)
          void Promise.resolve(ice.start()).then(
            () => kicking.delete(ice),
            () => kicking.delete(ice),
          )
        }
      }
      // Loopback: a decoder that joins a looped-back stream mid-way needs a keyframe, and only
      // the source can make one. Ask it (PLI on our receiver) when the loop starts, and pass on
      // every keyframe request the looped stream's receiver sends us.
      const plied = new WeakSet<any>()
      const requestKeyframes = (tr: any, track: any) => {
        const pli = () => {
          if (!closed && track.ssrc) void Promise.resolve(tr.receiver.sendRtcpPLI(track.ssrc)).catch(() => {})
        }
        for (const ms of [0, 100, 300, 700]) setTimeout(pli, ms).unref?.()
        if (plied.has(tr)) return
        plied.add(tr)
        tr.sender.onRtcp.subscribe((p: any) => {
          if (p?.type === 206 && latest.get(slotOfTransceiver(tr)!) === remoteTracks.get(slotOfTransceiver(tr)!)) {
            const t = remoteTracks.get(slotOfTransceiver(tr)!)
            if (t?.ssrc) void Promise.resolve(tr.receiver.sendRtcpPLI(t.ssrc)).catch(() => {})
          }
        })
      }
      const slotOfTransceiver = (tr: any): MediaSlot | undefined => slotOf(tr)
      const rewrite = (c: IceCandidateInit) => (opts.rewriteCandidate ? opts.rewriteCandidate(c, peerSessionId) : c)
      const hasPath = () => ((pc as any).dtlsTransports ?? []).some((d: any) => !!d.iceTransport?.connection?.nominated)
      /** Sets a local description; returns its SDP as signaled. */
      const describe = async (d: any): Promise<string> => {
        noDefaultStun(pc)
        holdPaths()
        const inSdp = !hasPath()
        if (inSdp) describing++
        try {
          await pc.setLocalDescription(d)
        } finally {
          if (inSdp) describing--
        }
        const sdp = fixRejectedPorts(pc.localDescription!.sdp, stats)
        return inSdp ? describeCandidates(sdp, rewrite) : stripCandidates(sdp)
      }
      return {
        ...offerMethods(peerSessionId, pc as any, applyDirections, describe),
        delivered: () => sctpDelivered((pc as any).sctpTransport),
        async applyOffer(sdp, { rollback, shape }) {
          if (rollback) await rollbackLocalOffer(pc)
          holdPaths()
          try {
            await pc.setRemoteDescription({ type: 'offer', sdp })
          } catch (err) {
            if (pc.signalingState === 'have-remote-offer')
              await pc.setRemoteDescription({ type: 'rollback' } as any).catch(() => {})
            throw err
          }
          applyDirections(shape)
          const answer = await pc.createAnswer()
          const local = await describe(answer)
          kickIce()
          return local
        },
        async applyAnswer(sdp) {
          holdPaths()
          await pc.setRemoteDescription({ type: 'answer', sdp })
          kickIce()
        },
        async addCandidate(c) {
          const added = pc.addIceCandidate(c as any).then(
            () => void kickIce(),
            () => void (stats && stats.candidateErrors++),
          )
          // werift resolves an mDNS host candidate (`<uuid>.local`, what Chromium signals instead of
          // its addresses) inside addIceCandidate with no deadline of ours: 10 s, or never on a
          // machine without multicast. The executor runs a session's operations in order, so
          // awaiting it held every later one (the answers of a recovery included) that long. Such
          // a candidate is added in the background; the path comes from the others or from the
          // remote's checks (a peer-reflexive candidate) meanwhile.
          if (isMdnsCandidate(c)) {
            if (stats) stats.mdnsCandidates = (stats.mdnsCandidates ?? 0) + 1
            return
          }
          await added
        },
        ...negotiatedChannels<string | Buffer>(channels, toBuffer),
        async replaceTrack(slot, track) {
          // werift's replaceTrack on a sender that has sent before waits for the next RTP packet
          // of the new track, forever if none comes (a looped-back track whose source stopped).
          // Awaiting it would stall every later operation of the session, so a track is put on
          // detached, and the latest request per slot wins.
          const tr = transceiverFor(slot)
          if (!tr) return
          const gen = (replaceGen.get(slot) ?? 0) + 1
          replaceGen.set(slot, gen)
          latest.set(slot, track ?? null)
          if (track === null) return void (await tr.sender.replaceTrack(null))
          if (track === remoteTracks.get(slot)) requestKeyframes(tr, track)
          void Promise.resolve(tr.sender.replaceTrack(track)).then(
            () => {
              if (replaceGen.get(slot) !== gen && !closed)
                return tr.sender.replaceTrack((latest.get(slot) as any) ?? null)
            },
            () => {},
          )
        },
        remoteTrack: (slot) => remoteTracks.get(slot),
        openChannel(label) {
          return wrapChannel(pc.createDataChannel(label, { ordered: true }), stats)
        },
        close() {
          if (closed) return
          closed = true
          void pc.close().catch(() => {})
        },
      }
    },
  }
}

/** What werift's channels send: text as is, bytes as a Buffer over the same memory. */
function toBuffer(data: string | Uint8Array): string | Buffer {
  return typeof data === 'string' ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength)
}

/**
 * Everything handed to werift's data channels has been acknowledged by the remote's SCTP: nothing
 * waits in the transport's channel queue, the association's outbound queue, or unacknowledged in
 * its sent queue, and the association is established (werift 0.24's fields; false if absent).
 */
export function sctpDelivered(transport: any): boolean {
  const sctp = transport?.sctp
  return (
    Array.isArray(transport?.dataChannelQueue) &&
    transport.dataChannelQueue.length === 0 &&
    sctp?.associationState === SCTP_ESTABLISHED &&
    Array.isArray(sctp.outboundQueue) &&
    sctp.outboundQueue.length === 0 &&
    Array.isArray(sctp.sentQueue) &&
    sctp.sentQueue.length === 0
  )
}
/** werift's SCTP association state ESTABLISHED. */
const SCTP_ESTABLISHED = 4

function wrapChannel(dc: any, stats?: WeriftStats): ChannelHandle {
  onError(dc, stats, () => dc.close())
  const h = channelHandle<string | Buffer>(dc, toBuffer)
  dc.stateChanged.subscribe((s: string) => {
    if (s === 'open') h.onopen?.()
    else if (s === 'closed') h.onclose?.()
  })
  dc.onMessage.subscribe((m: string | Buffer) =>
    h.onmessage?.(typeof m === 'string' ? m : new Uint8Array(m.buffer, m.byteOffset, m.byteLength)),
  )
  if (dc.readyState === 'open') queueMicrotask(() => h.onopen?.())
  return h
}

/**
 * Synthetic media for Node members (no camera there): a werift track fed with small RTP packets
 * at `fps`. `ended()` simulates the device going away.
 */
export function syntheticMediaSource(fps = 20): MediaTrackSource & { live: number; endAll(): void } {
  const enders = new Set<() => void>()
  const src = {
    live: 0,
    /** The devices go away: every live track ends (its subflow must notice and re-acquire). */
    endAll() {
      for (const e of [...enders]) e()
    },
    async acquire(kind: 'microphone' | 'camera' | 'screen') {
      const track = new MediaStreamTrack({ kind: kind === 'microphone' ? 'audio' : 'video' })
      let seq = Math.floor(Math.random() * 1000)
      let ts = 0
      let endedFn: (() => void) | undefined
      const timer = setInterval(() => {
        const header = new RtpHeader({
          payloadType: kind === 'microphone' ? 111 : 96,
          sequenceNumber: seq++ & 0xffff,
          timestamp: (ts += 4500) >>> 0,
          ssrc: 1234,
          marker: true,
        } as any)
        track.writeRtp(new RtpPacket(header, Buffer.alloc(64, 1)))
      }, 1000 / fps)
      timer.unref?.()
      src.live++
      let stopped = false
      const stop = () => {
        if (stopped) return
        stopped = true
        src.live--
        clearInterval(timer)
        enders.delete(end)
        track.stop()
      }
      const end = () => {
        stop()
        endedFn?.()
      }
      enders.add(end)
      return {
        track,
        stop,
        onEnded(fn: () => void) {
          endedFn = fn
        },
      }
    },
  }
  return src
}

/** Counts RTP packets arriving on a remote werift track (tests: is loopback media flowing?). */
export function countRtp(track: unknown, onPacket: () => void): () => void {
  const sub = (track as any)?.onReceiveRtp?.subscribe?.(() => onPacket())
  return () => sub?.unSubscribe?.()
}

/**
 * A bare werift pair (no machines, no journal, no signaling): offer/answer and trickled
 * candidates passed directly, resolving when both negotiated channels are open on both sides.
 * The baseline that benchmarks compare a peer session against; its peers have the adapter's
 * werift settings (configuration, `noDefaultStun`). `candidates: 'sdp'` passes the candidates in
 * the descriptions instead (as the adapter does) rather than trickled.
 */
export async function openBareWeriftPair(opts: { candidates?: 'trickle' | 'sdp' } = {}): Promise<{
  ms: number
  close(): void
  peers: [RTCPeerConnection, RTCPeerConnection]
  channels: [Record<string, any>, Record<string, any>]
}> {
  const inSdp = opts.candidates === 'sdp'
  const describe = (sdp: string) => (inSdp ? describeCandidates(sdp, (c) => c) : stripCandidates(sdp))
  const t0 = performance.now()
  const cfg: any = {
    bundlePolicy: 'max-bundle',
    iceServers: [],
    iceAdditionalHostAddresses: ['127.0.0.1'],
    iceInterfaceAddresses: { udp4: '127.0.0.1' },
    iceUseIpv6: false,
    iceFilterStunResponse: (_m: unknown, addr: readonly [string, number]) => addr[0] === '127.0.0.1',
    iceFilterCandidatePair: (pair: any) =>
      pair.localCandidate.host === '127.0.0.1' && pair.remoteCandidate.host === '127.0.0.1',
  }
  const a = new RTCPeerConnection(cfg)
  const b = new RTCPeerConnection(cfg)
  let open = 0
  const channels: [Record<string, any>, Record<string, any>] = [{}, {}]
  const done = new Promise<void>((resolve) => {
    for (const [i, pc] of [a, b].entries()) {
      for (const [label, id] of Object.entries(CHANNELS)) {
        const dc = pc.createDataChannel(label, { negotiated: true, id, ordered: true })
        channels[i][label] = dc
        dc.stateChanged.subscribe((s: string) => {
          if (s === 'open' && ++open === 4) resolve()
        })
      }
      fixWeriftSctp((pc as any).sctpTransport?.sctp)
    }
  })
  if (!inSdp)
    for (const [x, y] of [
      [a, b],
      [b, a],
    ] as const) {
      x.onIceCandidate.subscribe((c: any) => {
        if (c && / 127\.0\.0\.1 /.test(c.candidate)) void y.addIceCandidate(c.toJSON()).catch(() => {})
      })
    }
  for (const s of ['audio', 'video', 'video'] as const) a.addTransceiver(s, { direction: 'inactive' })
  // the same werift setting as the adapter's peers (see noDefaultStun)
  noDefaultStun(a)
  noDefaultStun(b)
  const offer = await a.createOffer()
  await a.setLocalDescription(offer)
  await b.setRemoteDescription({ type: 'offer', sdp: describe(a.localDescription!.sdp) })
  const answer = await b.createAnswer()
  await b.setLocalDescription(answer)
  await a.setRemoteDescription({ type: 'answer', sdp: describe(b.localDescription!.sdp) })
  await done
  const ms = performance.now() - t0
  return {
    ms,
    peers: [a, b],
    channels,
    close() {
      void a.close().catch(() => {})
      void b.close().catch(() => {})
    },
  }
}
