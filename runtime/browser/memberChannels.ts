/**
 * MemberChannels: a member's semantic channels in the browser (or Node): one `semanticChannel`
 * actor per logical channel, over pluggable paths (`ChannelPath`): the hub WebSocket
 * (`WebSocketPath` below), the peer session's `events` data channel, the root relay. The machines
 * choose the path; this file only moves frames and turns path news into machine events.
 *
 * @example
 * const ch = new MemberChannels({ member: 'alice', paths: [new WebSocketPath({ url, member: 'alice', token })] })
 * await ch.command('command', { type: 'light.on' }) // resolves once the hub acked it
 */
import { createActor, type Actor } from 'xstate'
import { SystemClock, type Clock } from '../../actors/Clock.ts'
import {
  channelEvents,
  semanticChannel,
  type ChannelEvent,
  type ChannelPolicy,
  type Delivery,
  type PathId,
} from '../../machines/semanticChannel.ts'
import {
  decodeChannelFrame,
  encodeChannelFrame,
  type ChannelFrame,
  type ChannelName,
} from '../../protocol/channelFrame.ts'
import { Redial } from './redial.ts'
import { SilenceWatch } from './silence.ts'

/** What a transport must offer to carry channel frames. */
export interface ChannelPath {
  readonly id: PathId
  /** Whether frames can be sent now. */
  readonly open: boolean
  /** Sends a text frame (dropped when not open: the machines retransmit what matters). */
  send(text: string): void
  /** One consumer: frames, and the path opening or failing. */
  connect(h: { frame(text: string): void; up(): void; down(reason: string): void }): void
  close(): void
}

export interface MemberChannelsOptions {
  member: string
  /** Candidate paths, best first (e.g. direct, ws, relay). */
  paths: ChannelPath[]
  channels?: ChannelName[]
  policy?: Partial<ChannelPolicy>
  clock?: Clock
  /** How long a probe waits for its pong. */
  probeTimeoutMs?: number
  session?: string
}

type Listener = (channel: ChannelName, d: Delivery) => void

export class MemberChannels {
  readonly session: string
  readonly actors = new Map<ChannelName, Actor<typeof semanticChannel>>()
  readonly paths = new Map<PathId, ChannelPath>()
  private waiters = new Map<string, { resolve: () => void; reject: (e: Error) => void }>()
  private probes = new Map<string, (ok: boolean) => void>()
  private listeners = new Set<Listener>()
  private switchListeners = new Set<
    (channel: ChannelName, from: PathId | null, to: PathId | null, reason: string) => void
  >()
  private n = 0
  private clock: Clock

  constructor(readonly opts: MemberChannelsOptions) {
    this.session = opts.session ?? `${opts.member}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`
    this.clock = opts.clock ?? new SystemClock()
    for (const p of opts.paths) this.paths.set(p.id, p)
    for (const ch of opts.channels ?? (['command', 'event', 'presence'] as ChannelName[])) this.addChannel(ch)
    for (const p of opts.paths) {
      p.connect({
        frame: (text) => this.onFrame(p.id, text),
        up: () => this.broadcast(channelEvents.up(p.id)),
        down: (reason) => this.broadcast(channelEvents.down(p.id, reason)),
      })
      if (p.open) this.broadcast(channelEvents.up(p.id))
    }
  }

  /** Adds a logical channel (its own machine over the same paths). */
  addChannel(ch: ChannelName): Actor<typeof semanticChannel> {
    const existing = this.actors.get(ch)
    if (existing) return existing
    const machine = semanticChannel.provide({
      actions: {
        transmit: (_: any, p: { path: PathId; frame: ChannelFrame }) => {
          const path = this.paths.get(p.path)
          if (path?.open) path.send(encodeChannelFrame(p.frame))
        },
        deliver: (_: any, d: Delivery) => {
          for (const fn of this.listeners) fn(ch, d)
        },
        settled: (_: any, s: { id: string; outcome: 'acked' | 'failed'; attempts: number }) => {
          const w = this.waiters.get(s.id)
          this.waiters.delete(s.id)
          if (!w) return
          s.outcome === 'acked'
            ? w.resolve()
            : w.reject(new Error(`command ${s.id} failed after ${s.attempts} attempts`))
        },
        probe: (_: any, p: { path: PathId; id: string }) => {
          void this.probe(p.path).then((ok) => actor.send(channelEvents.probeResult(p.path, ok)))
        },
        switched: (_: any, s: { from: PathId | null; to: PathId | null; reason: string }) => {
          for (const fn of this.switchListeners) fn(ch, s.from, s.to, s.reason)
        },
      } as any,
    })
    const actor = createActor(machine, {
      input: {
        member: this.opts.member,
        channel: ch,
        paths: this.opts.paths.map((p) => p.id),
        session: this.session,
        policy: this.opts.policy,
      },
      clock: this.clock as any,
    })
    this.actors.set(ch, actor)
    actor.start()
    for (const p of this.paths.values()) if (p.open) actor.send(channelEvents.up(p.id))
    return actor
  }

  /** Sends a command; resolves when the other end acked it (once), rejects when it failed. */
  command(ch: ChannelName, payload: unknown, id = `${this.session}.${++this.n}`): Promise<void> {
    const actor = this.addChannel(ch)
    return new Promise((resolve, reject) => {
      this.waiters.set(id, { resolve, reject })
      actor.send(channelEvents.command(id, payload))
    })
  }

  publish(ch: ChannelName, payload: unknown, id = `${this.session}.${++this.n}`): void {
    this.addChannel(ch).send(channelEvents.publish(id, payload))
  }

  subscribe(ch: ChannelName, topic: string): void {
    this.addChannel(ch).send(channelEvents.subscribe(topic))
  }

  onDeliver(fn: Listener): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  onSwitch(fn: (channel: ChannelName, from: PathId | null, to: PathId | null, reason: string) => void): () => void {
    this.switchListeners.add(fn)
    return () => this.switchListeners.delete(fn)
  }

  active(ch: ChannelName): PathId | null {
    return this.actors.get(ch)?.getSnapshot().context.active ?? null
  }

  /** Round trip over one path: a probe frame and its pong within the probe timeout. */
  probe(pathId: PathId): Promise<boolean> {
    const path = this.paths.get(pathId)
    if (!path?.open) return Promise.resolve(false)
    const id = `probe.${this.session}.${++this.n}`
    return new Promise((resolve) => {
      const t = this.clock.setTimeout(() => {
        this.probes.delete(id)
        resolve(false)
      }, this.opts.probeTimeoutMs ?? 500)
      this.probes.set(id, (ok) => {
        this.clock.clearTimeout(t)
        resolve(ok)
      })
      path.send(encodeChannelFrame({ v: 1, ch: 'command', k: 'probe', id }))
    })
  }

  close(): void {
    for (const a of this.actors.values()) a.stop()
    for (const p of this.paths.values()) p.close()
  }

  private broadcast(e: ChannelEvent): void {
    for (const a of this.actors.values()) a.send(e)
  }

  private onFrame(path: PathId, text: string): void {
    let frame: ChannelFrame
    try {
      frame = decodeChannelFrame(text)
    } catch {
      return
    }
    if (frame.k === 'pong') {
      const p = this.probes.get(frame.id)
      if (p) {
        this.probes.delete(frame.id)
        p(true)
      }
      return
    }
    this.addChannel(frame.ch).send(channelEvents.receive(frame, path))
  }
}

export interface WebSocketPathOptions {
  /** The hub's base URL (http:// or ws://); the root's for the relay. */
  url: string
  member: string
  token: string
  id?: PathId
  /** The endpoint (default `/chan`; the root relay's is `/relay`) and extra query parameters. */
  endpoint?: string
  params?: Record<string, string>
  /** A heartbeat probe every `heartbeatMs`; silence for `deadAfterMs` declares the path down. */
  heartbeatMs?: number
  deadAfterMs?: number
  /** Reconnect backoff (doubling, capped). */
  reconnectMs?: number
  maxReconnectMs?: number
  /** The WebSocket class (the browser's by default; `ws` in Node). */
  WebSocket?: any
}

/**
 * The hub WebSocket as a channel path (`/chan`), reconnecting with backoff, with a heartbeat.
 * The heartbeat is a probe frame answered by the hub's channel, so over the relay it measures the
 * whole way (browser -> root -> NATS -> hub and back).
 */
export class WebSocketPath implements ChannelPath {
  readonly id: PathId
  private ws: any = null
  private h: Parameters<ChannelPath['connect']>[0] | null = null
  private silence: SilenceWatch
  private beat: any = null
  private readonly redial: Redial
  private closed = false
  private hb = 0
  /** For tests: while true, frames in both directions are dropped as by a dead network. */
  blackhole = false
  /** Binary messages (the relay's webspace sync frames) and the socket's ups and downs, for a SyncTransport on this path. */
  private binary: { frame(bytes: Uint8Array): void; up(): void; down(): void } | null = null

  constructor(readonly opts: WebSocketPathOptions) {
    this.id = opts.id ?? 'ws'
    this.redial = new Redial(() => this.dial(), opts.reconnectMs ?? 100, opts.maxReconnectMs ?? 2000)
    this.silence = new SilenceWatch(opts.heartbeatMs ?? 250, opts.deadAfterMs ?? 1000)
    this.dial()
  }

  get open(): boolean {
    return !!this.ws && this.ws.readyState === 1 && !this.blackhole
  }

  send(text: string): void {
    if (this.open) this.ws.send(text)
  }

  connect(h: Parameters<ChannelPath['connect']>[0]): void {
    this.h = h
  }

  /** Sends a binary message; false when the path is not open (dropped). */
  sendBytes(bytes: Uint8Array): boolean {
    if (!this.open) return false
    this.ws.send(bytes)
    return true
  }

  /** One consumer of binary messages and of the socket's ups and downs (a SyncTransport). */
  connectBinary(h: { frame(bytes: Uint8Array): void; up(): void; down(): void }): void {
    this.binary = h
  }

  /** Kills the socket now, as a network loss would (tests, benchmarks). */
  cut(): void {
    if (this.ws) this.fail(this.ws, true, 'cut')
  }

  close(): void {
    this.closed = true
    clearInterval(this.beat)
    this.redial.cancel()
    this.ws?.close()
  }

  private dial(): void {
    const Ws = this.opts.WebSocket ?? (globalThis as any).WebSocket
    const u = new URL(this.opts.endpoint ?? '/chan', this.opts.url.replace(/^http/, 'ws'))
    for (const [k, v] of Object.entries(this.opts.params ?? {})) u.searchParams.set(k, v)
    u.searchParams.set('member', this.opts.member)
    u.searchParams.set('path', this.id)
    u.searchParams.set('token', this.opts.token)
    const ws = new Ws(u.toString())
    ws.binaryType = 'arraybuffer'
    this.ws = ws
    let wasOpen = false
    ws.onopen = () => {
      if (this.ws !== ws) return
      wasOpen = true
      this.redial.connected()
      this.silence.reset()
      this.h?.up()
      this.binary?.up()
      this.beat = setInterval(() => this.heartbeat(), this.opts.heartbeatMs ?? 250)
    }
    ws.onmessage = (ev: any) => {
      if (this.blackhole) return
      this.silence.heard()
      const d = ev.data
      if (typeof d === 'string') this.h?.frame(d)
      else if (d instanceof ArrayBuffer) this.binary?.frame(new Uint8Array(d))
      else if (ArrayBuffer.isView(d)) this.binary?.frame(new Uint8Array(d.buffer, d.byteOffset, d.byteLength))
    }
    ws.onclose = () => this.fail(ws, wasOpen, 'socket closed')
    ws.onerror = () => {}
  }

  private fail(ws: any, wasOpen: boolean, reason: string): void {
    if (this.ws !== ws) return
    clearInterval(this.beat)
    this.ws = null
    try {
      ws.close()
    } catch {}
    if (wasOpen) {
      this.h?.down(reason)
      this.binary?.down()
    }
    if (!this.closed) this.redial.later()
  }

  private heartbeat(): void {
    if (this.ws?.readyState !== 1) return
    if (this.silence.tick()) {
      // silent loss: nothing heard for too long. The path is down now, not when a close handshake
      // over a dead network would finish.
      this.fail(this.ws, true, `nothing heard for ${this.opts.deadAfterMs ?? 1000} ms`)
      return
    }
    if (!this.blackhole) this.ws.send(encodeChannelFrame({ v: 1, ch: 'command', k: 'probe', id: `hb.${++this.hb}` }))
  }
}

export interface RelayPathOptions extends Omit<WebSocketPathOptions, 'endpoint' | 'params'> {
  /** The root's base URL. */
  url: string
  /** The member's hub (its node id). */
  hub: string
  /** The root's token. */
  token: string
}

/** The root relay as a channel path: `/relay` on the root, frames carried to `hub` over NATS. */
export function relayPath(o: RelayPathOptions): WebSocketPath {
  const { hub, ...rest } = o
  return new WebSocketPath({ id: 'relay', ...rest, endpoint: '/relay', params: { hub } })
}
