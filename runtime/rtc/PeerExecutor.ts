/**
 * The executor of one peer session: it carries out the commands of the peerSession machine and
 * of its mediaSubflow children against a PeerBackend (werift or the browser's
 * RTCPeerConnection), and turns what happens on the peer into events for those actors.
 *
 * It holds everything the machines must not: the peer connection, tracks, channels, upload
 * bytes. Keyed by the session's actor path, it survives rebuilds (a new PeerHandle per
 * `peerSessionId`). Operations on the connection run one at a time in order (a promise chain),
 * so a candidate is never added before the description it belongs to. No node:* imports: the
 * browser bundle uses this file as is.
 */
import type { PeerCommand } from '../../machines/peerSession.ts'
import type { SubflowCommand } from '../../machines/mediaSubflow.ts'
import {
  MEDIA_SLOTS,
  sameShape,
  type MediaShape,
  type MediaSlot,
  type SignalingMessage,
} from '../../protocol/signaling.ts'
import type { ChannelHandle, ChannelLabel, MediaTrackSource, PeerBackend, PeerHandle } from './PeerBackend.ts'
import { isChannelFrame } from './peerChannels.ts'
import { ProbeWatchdog } from './ProbeWatchdog.ts'

export interface ExecutorHost {
  /** Delivers an event to the actor at `path` (journaled on the hub). */
  dispatch(path: string, event: { type: string; [k: string]: unknown }): void
  /** Sends a signaling message to the remote node. */
  signal(msg: SignalingMessage): void
}

export interface ExecutorOptions {
  ownsTransceivers: boolean
  media?: MediaTrackSource
  /** Upload pacing for tests (bytes per second); default: as fast as the channel drains. */
  uploadRate?: number
  /** A receiver announces a new upload (the hub spawns its receiving subflow). */
  onUpload?: (uploadId: string, size: number) => void
}

export interface ExecutorStats {
  closes: { events: number; sync: number }
  opens: { events: number; sync: number }
  pingsAnswered: number
  framesDropped: number
  badFrames: number
  opErrors: number
  delivered: number
  /** First descriptions made while the spawn committed: taken by the machine's command, or not. */
  prepared: { taken: number; unused: number }
}

interface Subflow {
  path: string
  kind: string
  slot: MediaSlot | null
}

interface Upload {
  bytes: Uint8Array
  sha256: string
  channel?: ChannelHandle
  sending: boolean
  subflow?: string
}

interface Receiving {
  size: number
  sha256: string
  offset: number
  chunks: Uint8Array[]
  subflow?: string
  done: boolean
  lastReported: number
}

/** A session's first description, made while its spawn commits (PeerExecutor.prepare). */
interface Prepared {
  kind: 'offer' | 'answer'
  peerSessionId: string
  shape: MediaShape
  negotiationId?: string
  remoteSdp?: string
  sdp?: string
  error?: string
}

/** ICE states the session is told about (it only needs to know whether a path is up). */
const ICE_REPORTED = new Set(['checking', 'connected', 'completed', 'disconnected', 'failed'])

const CHUNK = 16 * 1024
const HIGH_WATER = 256 * 1024
const ACK_EVERY = 64 * 1024

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const d = await globalThis.crypto.subtle.digest('SHA-256', bytes as unknown as ArrayBuffer)
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, '0')).join('')
}

export class PeerExecutor {
  handle?: PeerHandle
  readonly subflows = new Map<string, Subflow>()
  readonly stats: ExecutorStats = {
    closes: { events: 0, sync: 0 },
    opens: { events: 0, sync: 0 },
    pingsAnswered: 0,
    framesDropped: 0,
    badFrames: 0,
    opErrors: 0,
    delivered: 0,
    prepared: { taken: 0, unused: 0 },
  }
  private chain: Promise<void> = Promise.resolve()
  private tracks = new Map<MediaSlot, { track: unknown; stop(): void }>()
  private loopOn = new Set<MediaSlot>()
  private uploads = new Map<string, Upload>()
  private receiving = new Map<string, Receiving>()
  private listeners = new Set<(data: unknown, seq: number) => void>()
  private channelListeners = new Set<(text: string) => void>()
  private syncListeners = new Set<(bytes: Uint8Array) => void>()
  private closed = false
  private held?: { type: string; [k: string]: unknown }[]
  private prepared?: Prepared
  /** The session's liveness probe (its verdicts go to the machine, its counts stay here). */
  readonly probe: ProbeWatchdog
  /** Why the session ended (the machine's `end` command), once it has. */
  ended?: string
  /** When a message last went out or came in on `events` (the probe's idle speed waits for quiet). */
  private lastTraffic = 0

  constructor(
    readonly path: string,
    readonly backend: PeerBackend,
    readonly host: ExecutorHost,
    readonly opts: ExecutorOptions,
  ) {
    this.probe = new ProbeWatchdog(opts.ownsTransceivers, {
      send: (peerSessionId, f) => !!this.current(peerSessionId)?.send('events', JSON.stringify(f)),
      delivered: (peerSessionId) => !!this.current(peerSessionId)?.delivered?.(),
      busy: (idleMs) => this.tracks.size > 0 || this.loopOn.size > 0 || Date.now() - this.lastTraffic < idleMs,
      verdict: (e) => this.toPeer(e),
    })
  }

  /** The session's link as its machine last announced it (`notify` up/down). */
  linkUp = false
  private linkListeners = new Set<(up: boolean) => void>()

  /** A message went out or came in: the probe runs at its busy speed from now on. */
  private traffic(): void {
    this.lastTraffic = Date.now()
    this.probe.poke()
  }

  /** Called each time the session's machine announces its link up or down. */
  onLink(fn: (up: boolean) => void): () => void {
    this.linkListeners.add(fn)
    return () => this.linkListeners.delete(fn)
  }

  /**
   * Channel frames on `events` (runtime/rtc/peerChannels.ts): the member's channels' `direct`
   * path. Not the machine's (nothing journaled). Sent whenever the channel is open: the hub's
   * side can hear the member's first frames before its machine has announced the link up.
   */
  onChannelFrame(fn: (text: string) => void): () => void {
    this.channelListeners.add(fn)
    return () => this.channelListeners.delete(fn)
  }

  sendChannelFrame(text: string): boolean {
    if (!this.handle?.send('events', text)) return false
    this.traffic()
    return true
  }

  /** Binary `sync` messages (webspace frames with their header, runtime/rtc/peerChannels.ts). */
  onSync(fn: (bytes: Uint8Array) => void): () => void {
    this.syncListeners.add(fn)
    return () => this.syncListeners.delete(fn)
  }

  sendSync(bytes: Uint8Array): boolean {
    return !!this.handle?.send('sync', bytes)
  }

  /** Application messages delivered (in order, once) on `events`. */
  onMessage(fn: (data: unknown, seq: number) => void): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  addSubflow(path: string, kind: string, slot: MediaSlot | null): void {
    this.subflows.set(path, { path, kind, slot })
  }

  /** Registers the bytes of an upload before its subflow starts. */
  async prepareUpload(uploadId: string, bytes: Uint8Array): Promise<string> {
    const sha256 = await sha256Hex(bytes)
    this.uploads.set(uploadId, { bytes, sha256, sending: false })
    return sha256
  }

  receivedUpload(uploadId: string): { bytes: Uint8Array; sha256: string; offset: number; done: boolean } | undefined {
    const r = this.receiving.get(uploadId)
    if (!r) return undefined
    const bytes = new Uint8Array(r.offset)
    let o = 0
    for (const c of r.chunks) {
      bytes.set(c, o)
      o += c.length
    }
    return { bytes, sha256: r.sha256, offset: r.offset, done: r.done }
  }

  close(): void {
    this.closed = true
    this.probe.stop()
    for (const t of this.tracks.values()) t.stop()
    this.tracks.clear()
    this.handle?.close()
    this.handle = undefined
  }

  /**
   * Makes the peer of a new session while the session's spawn is being journaled, so that the
   * work overlaps the commit instead of following it, and with `first`, the session's first
   * description too: the member's session offers first thing (every slot inactive), and the
   * hub's session is spawned by the member's first offer, which a fresh session always takes.
   * Nothing leaves this node: the results wait for the machine's own commands, which take them
   * when they match (same session; an offer with the same shape and no ICE restart; an answer
   * to the same negotiation, SDP and shape, without rollback), and reach the machine as the
   * usual `rtc.local.offer` / `rtc.local.answer` events, journaled before the machine signals
   * them. A command that does not match does its own work (a new offer is allowed in
   * have-local-offer; an answer that was not asked for is never made, see RtcNode.receive).
   */
  prepare(
    peerSessionId: string,
    first?: { offer: MediaShape } | { answer: { negotiationId: string; sdp: string; shape: MediaShape } },
  ): void {
    if (this.handle || this.closed) return
    const h = (this.handle = this.createPeer(peerSessionId))
    if (!first) return
    this.held = []
    const p: Prepared =
      'offer' in first
        ? { kind: 'offer', peerSessionId, shape: first.offer }
        : {
            kind: 'answer',
            peerSessionId,
            shape: first.answer.shape,
            negotiationId: first.answer.negotiationId,
            remoteSdp: first.answer.sdp,
          }
    this.prepared = p
    const work =
      p.kind === 'offer'
        ? h.createOffer({ iceRestart: false, shape: p.shape })
        : h.applyOffer(p.remoteSdp!, { rollback: false, shape: p.shape })
    const made = work.then(
      (sdp) => void (p.sdp = sdp),
      (err) => void (p.error = String((err as Error)?.message ?? err)),
    )
    this.run('prepare', () => made)
  }

  /**
   * Makes the local description an `offer` or `applyOffer` command asks for (the one prepared
   * while the spawn was journaled, when it matches, else a new one) and tells the machine.
   */
  private describe(
    c: Extract<PeerCommand, { op: 'offer' | 'applyOffer' }>,
    type: 'rtc.local.offer' | 'rtc.local.answer',
    make: (h: PeerHandle) => Promise<string>,
  ): void {
    return this.run(c.op, async () => {
      const h = this.current(c.peerSessionId)
      if (!h) return
      this.held = []
      try {
        const p = this.takePrepared(c)
        if (p?.error !== undefined) throw new Error(p.error)
        const sdp = p?.sdp ?? (await make(h))
        this.toPeer({ type, peerSessionId: c.peerSessionId, negotiationId: c.negotiationId, sdp })
      } catch (err) {
        this.toPeer({
          type: 'rtc.local.error',
          peerSessionId: c.peerSessionId,
          negotiationId: c.negotiationId,
          op: c.op,
          message: String((err as Error)?.message ?? err),
        })
      } finally {
        this.release()
      }
    })
  }
  private takePrepared(c: Extract<PeerCommand, { op: 'offer' | 'applyOffer' }>): Prepared | undefined {
    const p = this.prepared
    if (!p) return undefined
    this.prepared = undefined
    const same = p.peerSessionId === c.peerSessionId && sameShape(p.shape, c.shape)
    const ok =
      c.op === 'offer'
        ? same && p.kind === 'offer' && !c.iceRestart
        : same && p.kind === 'answer' && !c.rollback && p.negotiationId === c.negotiationId && p.remoteSdp === c.sdp
    this.stats.prepared[ok ? 'taken' : 'unused']++
    return ok ? p : undefined
  }

  private run(what: string, fn: () => Promise<void>): void {
    this.chain = this.chain.then(fn).catch((err) => {
      this.stats.opErrors++
      void what
      void err
    })
  }

  private current(peerSessionId: string): PeerHandle | undefined {
    return this.handle && this.handle.peerSessionId === peerSessionId ? this.handle : undefined
  }

  private toPeer(event: { type: string; [k: string]: unknown }): void {
    if (!this.closed) this.host.dispatch(this.path, event)
  }

  // ---- peer session commands -------------------------------------------------------------------

  execPeer(cmds: PeerCommand[]): void {
    for (const c of cmds) this.execOne(c)
  }

  private execOne(c: PeerCommand): void {
    switch (c.op) {
      case 'createPeer':
        return this.run('createPeer', async () => {
          if (this.handle && this.handle.peerSessionId !== c.peerSessionId) this.handle.close()
          if (this.current(c.peerSessionId)) return
          this.handle = this.createPeer(c.peerSessionId)
          // a rebuilt peer takes the tracks the subflows had on the old one
          for (const [slot, t] of this.tracks) await this.handle.replaceTrack(slot, t.track)
        })
      case 'close':
        this.prepared = undefined
        return this.run('close', async () => {
          const h = this.current(c.peerSessionId)
          if (h) {
            h.close()
            this.handle = undefined
          }
        })
      case 'offer':
        return this.describe(c, 'rtc.local.offer', (h) => h.createOffer({ iceRestart: c.iceRestart, shape: c.shape }))
      case 'applyOffer':
        return this.describe(c, 'rtc.local.answer', (h) =>
          h.applyOffer(c.sdp, { rollback: c.rollback, shape: c.shape }),
        )
      case 'applyAnswer':
        return this.run('applyAnswer', async () => {
          const h = this.current(c.peerSessionId)
          if (!h) return
          try {
            await h.applyAnswer(c.sdp)
            this.toPeer({ type: 'rtc.local.applied', peerSessionId: c.peerSessionId, negotiationId: c.negotiationId })
          } catch (err) {
            this.toPeer({
              type: 'rtc.local.error',
              peerSessionId: c.peerSessionId,
              negotiationId: c.negotiationId,
              op: 'applyAnswer',
              message: String((err as Error)?.message ?? err),
            })
          }
        })
      case 'rollback':
        return this.run('rollback', async () => {
          await this.current(c.peerSessionId)?.rollback()
        })
      case 'addCandidates':
        return this.run('addCandidates', async () => {
          const h = this.current(c.peerSessionId)
          if (h) for (const cand of c.candidates) await h.addCandidate(cand)
        })
      case 'signal':
        return this.host.signal(c.message)
      case 'watch':
        return this.probe.watch(c)
      case 'end':
        return this.end(c.reason, c.peerSessionId)
      case 'transmit':
        this.traffic()
        return this.frame(c.peerSessionId, { t: 'msg', seq: c.seq, data: c.data })
      case 'ack':
        return this.frame(c.peerSessionId, { t: 'ack', seq: c.seq })
      case 'deliver':
        this.stats.delivered++
        for (const fn of this.listeners) fn(c.data, c.seq)
        return
      case 'notify':
        this.linkUp = c.what === 'up'
        for (const fn of this.linkListeners) fn(this.linkUp)
        for (const s of this.subflows.values())
          this.host.dispatch(s.path, c.what === 'up' ? { type: 'peer.up', rebuilt: c.rebuilt } : { type: 'peer.down' })
        return
      case 'notifyShape':
        for (const s of this.subflows.values())
          if (s.slot && s.kind !== 'loopback') this.host.dispatch(s.path, { type: 'media.shape', shape: c.shape })
        return
    }
  }

  /** The session is closed for good: stop probing, close the peer and the media, end the subflows. */
  private end(reason: string, peerSessionId: string): void {
    this.ended = reason
    this.probe.stop()
    this.prepared = undefined
    this.linkUp = false
    for (const fn of this.linkListeners) fn(false)
    for (const s of this.subflows.values()) this.host.dispatch(s.path, { type: 'peer.closed', reason })
    this.closed = true
    this.run('end', async () => {
      for (const t of this.tracks.values()) t.stop()
      this.tracks.clear()
      const h = this.current(peerSessionId) ?? this.handle
      this.handle = undefined
      h?.close()
    })
  }

  private release(): void {
    const held = this.held ?? []
    this.held = undefined
    for (const e of held) this.toPeer(e)
  }

  private frame(peerSessionId: string, f: object): void {
    const h = this.current(peerSessionId)
    if (!h?.send('events', JSON.stringify(f))) this.stats.framesDropped++
  }

  private createPeer(peerSessionId: string): PeerHandle {
    const h: PeerHandle = this.backend.createPeer(
      peerSessionId,
      {
        candidate: (candidate) => {
          const e = { type: 'rtc.local.candidate', peerSessionId, candidate }
          // Candidates gathered while a description is being made go out after it, not before.
          if (this.held) this.held.push(e)
          else this.toPeer(e)
        },
        channelOpen: (label) => {
          this.stats.opens[label]++
          this.toPeer({ type: 'rtc.channel.open', peerSessionId, label })
        },
        channelClose: (label) => {
          // A close of the peer we closed ourselves (rebuild, shutdown) is not a loss of the channel.
          if (this.handle !== h) return
          this.stats.closes[label]++
          this.toPeer({ type: 'rtc.channel.close', peerSessionId, label })
        },
        message: (label, text) => this.onFrame(h, label, text),
        track: (slot, track) => {
          if (this.loopOn.has(slot) && this.handle === h) void h.replaceTrack(slot, track)
        },
        dataChannel: (ch) => this.onRemoteChannel(ch),
        iceState: (state) => {
          if (this.handle === h && ICE_REPORTED.has(state))
            this.toPeer({ type: 'rtc.local.iceState', peerSessionId, state })
        },
      },
      { ownsTransceivers: this.opts.ownsTransceivers },
    )
    return h
  }

  private onFrame(h: PeerHandle, label: ChannelLabel, data: string | Uint8Array): void {
    if (this.handle !== h) return
    if (label === 'sync') {
      if (typeof data === 'string') this.stats.badFrames++
      else {
        this.probe.heard()
        for (const fn of this.syncListeners) fn(data)
      }
      return
    }
    if (typeof data !== 'string') return void this.stats.badFrames++
    let f: any
    try {
      f = JSON.parse(data)
    } catch {
      this.stats.badFrames++
      return
    }
    if (isChannelFrame(f)) {
      this.traffic()
      this.probe.heard()
      for (const fn of this.channelListeners) fn(data)
      return
    }
    const seq = f?.seq
    if (!Number.isSafeInteger(seq) || seq < 0) {
      this.stats.badFrames++
      return
    }
    const peerSessionId = h.peerSessionId
    if (f.t === 'ping') {
      this.stats.pingsAnswered++
      this.probe.onPing(peerSessionId, seq, f.q === 1)
    } else if (f.t === 'pong') this.probe.onPong(peerSessionId, seq)
    else if (f.t === 'off') this.probe.onOff()
    else if (f.t === 'msg') {
      this.traffic()
      this.toPeer({ type: 'peer.msg', peerSessionId, seq, data: f.data ?? null })
    } else if (f.t === 'ack') this.toPeer({ type: 'peer.ack', peerSessionId, seq })
    else this.stats.badFrames++
  }

  // ---- subflow commands ------------------------------------------------------------------------

  execSubflow(path: string, cmds: SubflowCommand[]): void {
    for (const c of cmds) this.execSubflowOne(path, c)
  }

  private execSubflowOne(path: string, c: SubflowCommand): void {
    const send = (e: { type: string; [k: string]: unknown }): void => {
      if (!this.closed) this.host.dispatch(path, e)
    }
    switch (c.op) {
      case 'acquire': {
        if (c.kind === 'loopback') {
          const slot = c.slot ?? 'camera'
          const tryIt = (left: number) => {
            if (this.handle?.remoteTrack(slot)) return send({ type: 'media.acquired' })
            if (left <= 0)
              return send({ type: 'media.acquire.failed', message: `no remote ${slot} track to loop back` })
            setTimeout(() => tryIt(left - 1), 50)
          }
          return tryIt(60)
        }
        if (c.kind === 'file') return
        const media = this.opts.media
        if (!media || !c.slot)
          return void send({ type: 'media.acquire.failed', message: 'no media source on this node' })
        const slot = c.slot
        media.acquire(c.kind).then(
          (t) => {
            this.tracks.get(slot)?.stop()
            this.tracks.set(slot, t)
            this.probe.poke()
            t.onEnded(() => {
              if (this.tracks.get(slot) === t) {
                this.tracks.delete(slot)
                send({ type: 'media.track.ended' })
              }
            })
            send({ type: 'media.acquired' })
          },
          (err) => send({ type: 'media.acquire.failed', message: String((err as Error)?.message ?? err) }),
        )
        return
      }
      case 'attach':
        return this.run('attach', async () => {
          const t = this.tracks.get(c.slot)
          if (t && this.handle) await this.handle.replaceTrack(c.slot, t.track)
        })
      case 'detach':
        return this.run('detach', async () => {
          if (this.handle) await this.handle.replaceTrack(c.slot, null)
        })
      case 'release': {
        const t = this.tracks.get(c.slot)
        this.tracks.delete(c.slot)
        t?.stop()
        return
      }
      case 'shape':
        return this.toPeer({ type: 'peer.shape', slot: c.slot, direction: c.direction })
      case 'loop':
        if (c.on) this.loopOn.add(c.slot)
        else this.loopOn.delete(c.slot)
        this.probe.poke()
        return this.run('loop', async () => {
          if (!this.handle) return
          await this.handle.replaceTrack(c.slot, c.on ? (this.handle.remoteTrack(c.slot) ?? null) : null)
        })
      case 'fileOpen':
        return this.openUpload(path, c.uploadId)
      case 'fileClose': {
        const u = this.uploads.get(c.uploadId)
        u?.channel?.close()
        return
      }
    }
  }

  // ---- uploads ---------------------------------------------------------------------------------

  private openUpload(path: string, uploadId: string): void {
    const u = this.uploads.get(uploadId)
    if (!u || !this.handle) return void this.host.dispatch(path, { type: 'file.channel.closed' })
    u.subflow = path
    u.channel?.close()
    const ch = this.handle.openChannel(`file:${uploadId}`)
    u.channel = ch
    u.sending = false
    ch.onopen = () => ch.send(JSON.stringify({ t: 'hello', uploadId, size: u.bytes.length, sha256: u.sha256 }))
    ch.onclose = () => {
      if (u.channel === ch) {
        u.channel = undefined
        u.sending = false
        this.host.dispatch(path, { type: 'file.channel.closed' })
      }
    }
    ch.onmessage = (data) => {
      if (typeof data !== 'string') return
      let f: any
      try {
        f = JSON.parse(data)
      } catch {
        return
      }
      if (f.t === 'offset' && Number.isSafeInteger(f.offset)) {
        this.host.dispatch(path, { type: 'file.open', offset: f.offset })
        void this.pump(u, ch, f.offset)
      } else if (f.t === 'ack' && Number.isSafeInteger(f.offset))
        this.host.dispatch(path, { type: 'file.progress', offset: f.offset })
      else if (f.t === 'done' && typeof f.sha256 === 'string')
        this.host.dispatch(path, { type: 'file.done', sha256: f.sha256, ok: f.sha256 === u.sha256 })
    }
  }

  private async pump(u: Upload, ch: ChannelHandle, from: number): Promise<void> {
    if (u.sending) return
    u.sending = true
    let t0 = Date.now()
    let sent = 0
    let lastRate: number | undefined
    for (let off = from; off < u.bytes.length; off += CHUNK) {
      while (ch.open && !this.closed && u.channel === ch && ch.bufferedAmount() > HIGH_WATER) await sleep(5)
      // read each time: a test may lift the pacing half-way
      const rate = this.opts.uploadRate
      if (rate !== lastRate) {
        lastRate = rate
        t0 = Date.now()
        sent = 0
      }
      if (rate) {
        const due = t0 + (sent / rate) * 1000
        if (due > Date.now()) await sleep(due - Date.now())
      }
      if (!ch.open || u.channel !== ch || this.closed) return void (u.sending = false)
      const data = u.bytes.subarray(off, Math.min(u.bytes.length, off + CHUNK))
      const frame = new Uint8Array(8 + data.length)
      new DataView(frame.buffer).setFloat64(0, off)
      frame.set(data, 8)
      // A send can fail while the channel is still open (the transport is busy): the same
      // chunk again shortly, so the receiver never sees a gap.
      let tries = 0
      while (!ch.send(frame)) {
        if (!ch.open || u.channel !== ch || this.closed || ++tries > 200) return void (u.sending = false)
        await sleep(10)
      }
      sent += data.length
    }
    u.sending = false
  }

  private onRemoteChannel(ch: ChannelHandle): void {
    if (!ch.label.startsWith('file:')) return ch.close()
    const uploadId = ch.label.slice(5)
    ch.onmessage = (data) => {
      if (typeof data === 'string') {
        let f: any
        try {
          f = JSON.parse(data)
        } catch {
          return
        }
        if (f.t !== 'hello' || !Number.isSafeInteger(f.size) || f.size < 0 || typeof f.sha256 !== 'string') return
        let r = this.receiving.get(uploadId)
        if (!r) {
          r = { size: f.size, sha256: f.sha256, offset: 0, chunks: [], done: false, lastReported: 0 }
          this.receiving.set(uploadId, r)
          this.opts.onUpload?.(uploadId, f.size)
        }
        ch.send(JSON.stringify({ t: 'offset', offset: r.offset }))
        return
      }
      const r = this.receiving.get(uploadId)
      if (!r || data.length < 8 || r.done) return
      const off = new DataView(data.buffer, data.byteOffset, 8).getFloat64(0)
      const body = data.subarray(8)
      if (off > r.offset || off + body.length <= r.offset) return // a gap (resent later) or a duplicate
      const fresh = body.subarray(r.offset - off)
      r.chunks.push(fresh.slice())
      r.offset += fresh.length
      if (r.offset - r.lastReported >= ACK_EVERY || r.offset >= r.size) {
        r.lastReported = r.offset
        ch.send(JSON.stringify({ t: 'ack', offset: r.offset }))
        const sub = this.receiverPath(uploadId)
        if (sub) this.host.dispatch(sub, { type: 'file.progress', offset: r.offset })
      }
      if (r.offset >= r.size && !r.done) {
        r.done = true
        const all = this.receivedUpload(uploadId)!.bytes
        void sha256Hex(all).then((sha) => {
          ch.send(JSON.stringify({ t: 'done', sha256: sha }))
          const sub = this.receiverPath(uploadId)
          if (sub) this.host.dispatch(sub, { type: 'file.done', sha256: sha, ok: sha === r.sha256 })
        })
      }
    }
  }

  private receiverPath(uploadId: string): string | undefined {
    for (const s of this.subflows.values()) if (s.kind === 'file' && s.path.endsWith(`/file-${uploadId}`)) return s.path
    return undefined
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

export { MEDIA_SLOTS }
