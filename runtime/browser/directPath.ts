/**
 * DirectPath: the member's WebRTC path to its hub, with the browser's own RTCPeerConnection. Two
 * negotiated data channels, as issue 6's peer sessions have them: `events` (id 0) carries channel
 * frames (this is the `direct` ChannelPath), `sync` (id 1) carries Yjs frames as text
 * (`<attachment> <webspace> <base64>`; see runtime/channel/directLinkFeature.ts).
 *
 * Signaling goes over `/direct` on the hub. A lost peer (a data channel closes, the connection
 * fails, or nothing is heard for `deadAfterMs`) reports the path down and is dialed again with
 * backoff: a new peer, which the channel uses again only after a probe succeeds.
 */
import { encodeChannelFrame } from '../../protocol/channelFrame.ts'
import type { ChannelPath } from './memberChannels.ts'
import type { SyncTransport } from './webspaceLink.ts'
import { Redial } from './redial.ts'
import { SilenceWatch } from './silence.ts'

export interface DirectPathOptions {
  url: string
  member: string
  token: string
  heartbeatMs?: number
  deadAfterMs?: number
  reconnectMs?: number
  maxReconnectMs?: number
}

export class DirectPath implements ChannelPath {
  readonly id = 'direct'
  /** The `sync` data channel as a transport for WebspaceLink. */
  readonly sync: SyncTransport
  private pc: RTCPeerConnection | null = null
  private sig: WebSocket | null = null
  private events: RTCDataChannel | null = null
  private syncDc: RTCDataChannel | null = null
  private h: Parameters<ChannelPath['connect']>[0] | null = null
  private syncHandlers: {
    frame(name: string, attachment: string, bytes: Uint8Array): void
    up(): void
    down(): void
  } | null = null
  private silence: SilenceWatch
  private beat: any = null
  private readonly redial: Redial
  private closed = false
  private hb = 0
  private gen = 0
  private isUp = false
  /** Sync frames sent, and dropped because the sync channel was not open. */
  readonly syncCounters = { sent: 0, dropped: 0 }

  constructor(readonly opts: DirectPathOptions) {
    this.redial = new Redial(() => this.dial(), opts.reconnectMs ?? 200, opts.maxReconnectMs ?? 2000)
    this.silence = new SilenceWatch(opts.heartbeatMs ?? 250, opts.deadAfterMs ?? 1000)
    const self = this
    this.sync = {
      id: 'direct',
      get open() {
        return self.syncDc?.readyState === 'open'
      },
      send(name: string, attachment: string, bytes: Uint8Array) {
        if (self.syncDc?.readyState === 'open') {
          self.syncDc.send(`${attachment} ${name} ${toB64(bytes)}`)
          self.syncCounters.sent++
        } else self.syncCounters.dropped++
      },
      connect(h) {
        self.syncHandlers = h
      },
    }
    this.dial()
  }

  get open(): boolean {
    return this.isUp && this.events?.readyState === 'open'
  }

  /** What the browser still holds to send on each data channel (diagnostics). */
  buffered(): { events: number; sync: number; gen: number } {
    return { events: this.events?.bufferedAmount ?? -1, sync: this.syncDc?.bufferedAmount ?? -1, gen: this.gen }
  }

  send(text: string): void {
    if (this.events?.readyState === 'open') this.events.send(text)
  }

  connect(h: Parameters<ChannelPath['connect']>[0]): void {
    this.h = h
  }

  close(): void {
    this.closed = true
    this.redial.cancel()
    this.fail(this.gen, 'closed')
  }

  private dial(): void {
    const gen = ++this.gen
    const u = new URL('/direct', this.opts.url.replace(/^http/, 'ws'))
    u.searchParams.set('member', this.opts.member)
    u.searchParams.set('token', this.opts.token)
    const sig = new WebSocket(u.toString())
    const pc = new RTCPeerConnection({ iceServers: [] })
    this.sig = sig
    this.pc = pc
    const events = pc.createDataChannel('events', { negotiated: true, id: 0, ordered: true })
    const sync = pc.createDataChannel('sync', { negotiated: true, id: 1, ordered: true })
    this.events = events
    this.syncDc = sync
    const lost = (why: string) => this.fail(gen, why)
    pc.onicecandidate = (e) => {
      if (e.candidate && sig.readyState === 1) sig.send(JSON.stringify({ t: 'candidate', c: e.candidate.toJSON() }))
    }
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === 'failed' || pc.connectionState === 'closed') lost(`peer ${pc.connectionState}`)
    }
    // the hub's candidates can arrive before its answer: hold them until the answer is set
    let pending: RTCIceCandidateInit[] | null = []
    const addCandidate = (c: any) =>
      pc.addIceCandidate(c.sdpMid == null && c.sdpMLineIndex == null ? { ...c, sdpMLineIndex: 0 } : c).catch(() => {})
    sig.onmessage = async (ev) => {
      const m = JSON.parse(String(ev.data))
      if (m.t === 'answer') {
        await pc.setRemoteDescription({ type: 'answer', sdp: m.sdp })
        const held = pending ?? []
        pending = null
        for (const c of held) await addCandidate(c)
      } else if (m.t === 'candidate') {
        if (pending) pending.push(m.c)
        else await addCandidate(m.c)
      }
    }
    sig.onopen = async () => {
      const offer = await pc.createOffer()
      await pc.setLocalDescription(offer)
      sig.send(JSON.stringify({ t: 'offer', sdp: pc.localDescription!.sdp }))
    }
    sig.onclose = () => lost('signaling closed')
    // close follows; under Node (`ws`) an error without a listener would be thrown out of the process
    sig.onerror = () => {}
    // the path is up once both channels are: the sync channel must carry the first frames
    const opened = () => {
      if (gen !== this.gen || this.isUp || events.readyState !== 'open' || sync.readyState !== 'open') return
      this.isUp = true
      this.redial.connected()
      this.silence.reset()
      this.beat = setInterval(() => this.heartbeat(gen), this.opts.heartbeatMs ?? 250)
      this.h?.up()
      this.syncHandlers?.up()
    }
    events.onopen = opened
    sync.onopen = opened
    events.onmessage = (ev) => {
      if (gen !== this.gen) return
      this.silence.heard()
      this.h?.frame(String(ev.data))
    }
    events.onclose = () => lost('events channel closed')
    sync.onclose = () => lost('sync channel closed')
    sync.onmessage = (ev) => {
      if (gen !== this.gen) return
      this.silence.heard()
      const text = String(ev.data)
      const a = text.indexOf(' ')
      const b = text.indexOf(' ', a + 1)
      this.syncHandlers?.frame(text.slice(a + 1, b), text.slice(0, a), fromB64(text.slice(b + 1)))
    }
  }

  private fail(gen: number, reason: string): void {
    if (gen !== this.gen || !this.pc) return
    clearInterval(this.beat)
    const wasUp = this.isUp
    this.isUp = false
    const pc = this.pc
    const sig = this.sig
    this.pc = null
    this.sig = null
    this.events = null
    this.syncDc = null
    try {
      pc.close()
      sig?.close()
    } catch {}
    if (wasUp) {
      this.h?.down(reason)
      this.syncHandlers?.down()
    }
    if (!this.closed) this.redial.later()
  }

  private heartbeat(gen: number): void {
    if (gen !== this.gen || this.events?.readyState !== 'open') return
    if (this.silence.tick()) return this.fail(gen, `nothing heard for ${this.opts.deadAfterMs ?? 1000} ms`)
    this.events.send(encodeChannelFrame({ v: 1, ch: 'command', k: 'probe', id: `hb.${++this.hb}` }))
  }
}

function toB64(u: Uint8Array): string {
  let s = ''
  for (let i = 0; i < u.length; i += 0x8000) s += String.fromCharCode(...u.subarray(i, i + 0x8000))
  return btoa(s)
}

function fromB64(s: string): Uint8Array {
  const bin = atob(s)
  const u = new Uint8Array(bin.length)
  for (let i = 0; i < bin.length; i++) u[i] = bin.charCodeAt(i)
  return u
}
