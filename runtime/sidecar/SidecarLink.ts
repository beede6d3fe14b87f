/**
 * The hub's end of the transport sidecar: a `Transport` (runtime/link/Transport.ts) whose calls
 * travel over the sidecar's Unix socket (protocol/sidecarFrame.ts) to the NATS connection the
 * sidecar owns. The hub's code above it (Class A sender, traffic classes, relay ingress, data
 * plane) is the same as with the in-process `NatsLink`.
 *
 * Promises: never blocks on an absent sidecar; dials again every `retryMs` until closed, and
 * records each attempt (the strategy's `attempts`). `status` is `connected` only while the
 * socket is up and the sidecar's NATS connection is connected, so a publish that returns true was
 * handed to a live connection. On every (re)connection it says hello and subscribes again before
 * anything else, so the Class A sender's resend after `connected` finds its ack subscription in
 * place. Requests in flight when the socket goes are rejected at once.
 */
import { connect, type Socket } from 'node:net'
import {
  encodeSidecarFrame,
  SidecarFrameReader,
  type SidecarFrame,
  type SidecarHeader,
} from '../../protocol/sidecarFrame.ts'
import { LinkStatusSource } from '../link/LinkStatus.ts'
import type { LinkStatus, NatsMessage, NatsSub, Transport } from '../link/Transport.ts'
import type { SidecarChannel } from './Sidecar.ts'

export interface SidecarLinkOptions {
  socket: string
  channel: SidecarChannel
  /** Names this client in the sidecar's status (`aether-hub-<id>-control`). */
  name: string
  token?: string
  /** Wait between dial attempts (ms). Default 100. */
  retryMs?: number
}

export interface DialAttempt {
  at: number
  ok: boolean
  error?: string
}

interface Pending {
  resolve: (b: Uint8Array) => void
  reject: (e: Error) => void
  timer: ReturnType<typeof setTimeout>
}

const ATTEMPTS_KEPT = 50

export class SidecarLink extends LinkStatusSource implements Transport {
  /** The last dial attempts, and all of them counted. */
  readonly attempts: DialAttempt[] = []
  readonly attemptCounts = { ok: 0, failed: 0 }
  /** The sidecar instance answering now (changes when it was restarted), and its NATS status. */
  sidecarId: string | null = null
  natsStatus: LinkStatus = 'connecting'
  private sock?: Socket
  /** The socket is connected (frames may be written); `welcomed`: the sidecar answered the hello. */
  private open = false
  private welcomed = false
  private everConnected = false
  private closing = false
  private nextSid = 1
  private nextId = 1
  private subs = new Map<number, { subject: string; cb: (m: NatsMessage) => void; queue?: string }>()
  private pending = new Map<number, Pending>()
  private ready: Promise<void>
  private resolveReady!: () => void
  private rejectReady!: (e: Error) => void
  private retry?: ReturnType<typeof setTimeout>

  constructor(readonly opts: SidecarLinkOptions) {
    super()
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve
      this.rejectReady = reject
    })
    this.dial()
  }

  connected(): Promise<void> {
    return this.ready
  }

  /** Counts the reconnect (a `connected` after the first) or the disconnect, then tells the listeners. */
  private changeStatus(s: LinkStatus): void {
    if (s === this.status) return
    if (s === 'connected') {
      if (this.everConnected) this.countReconnect()
      this.everConnected = true
      this.resolveReady()
    } else if (this.status === 'connected') this.counters.disconnects++
    this.setStatus(s)
  }

  private recompute(): void {
    if (this.closing) return
    this.changeStatus(
      this.welcomed && this.natsStatus === 'connected'
        ? 'connected'
        : this.everConnected
          ? 'reconnecting'
          : 'connecting',
    )
  }

  private attempt(ok: boolean, error?: string): void {
    if (ok) this.attemptCounts.ok++
    else this.attemptCounts.failed++
    this.attempts.push({ at: Date.now(), ok, ...(error ? { error } : {}) })
    if (this.attempts.length > ATTEMPTS_KEPT) this.attempts.shift()
  }

  private dial(): void {
    if (this.closing) return
    const sock = connect(this.opts.socket)
    this.sock = sock
    const reader = new SidecarFrameReader()
    let opened = false
    sock.setNoDelay(true)
    sock.once('connect', () => {
      opened = true
      this.open = true
      this.attempt(true)
      this.write({
        op: 'hello',
        v: 1,
        channel: this.opts.channel,
        name: this.opts.name,
        ...(this.opts.token !== undefined ? { token: this.opts.token } : {}),
      })
      for (const [sid, s] of this.subs)
        this.write({ op: 'sub', sid, subject: s.subject, ...(s.queue ? { queue: s.queue } : {}) })
    })
    sock.on('data', (chunk) => {
      let frames: SidecarFrame[]
      try {
        frames = reader.push(chunk)
      } catch (err) {
        this.lastError = `bad frame from the sidecar: ${(err as Error).message}`
        sock.destroy()
        return
      }
      for (const f of frames) this.handle(f)
    })
    sock.on('error', (err) => {
      this.lastError = `sidecar socket ${this.opts.socket}: ${err.message}`
    })
    sock.once('close', () => {
      if (!opened) this.attempt(false, this.lastError)
      else if (!this.lastError?.startsWith('sidecar said')) this.lastError = 'the sidecar closed the socket'
      this.open = false
      this.welcomed = false
      this.sidecarId = null
      this.natsStatus = 'connecting'
      const err = new Error(`the sidecar went away (${this.lastError})`)
      for (const p of this.pending.values()) {
        clearTimeout(p.timer)
        p.reject(err)
      }
      this.pending.clear()
      this.recompute()
      if (!this.closing) {
        this.retry = setTimeout(() => this.dial(), this.opts.retryMs ?? 100)
        this.retry.unref?.()
      }
    })
  }

  private handle({ header: h, body }: SidecarFrame): void {
    switch (h.op) {
      case 'welcome':
        this.welcomed = true
        this.sidecarId = h.sidecar
        this.natsStatus = h.status as LinkStatus // checked by the schema
        if (h.error) this.lastError = h.error
        return this.recompute()
      case 'nats':
        this.natsStatus = h.status as LinkStatus // checked by the schema
        if (h.error) this.lastError = h.error
        return this.recompute()
      case 'msg': {
        const s = this.subs.get(h.sid)
        if (!s) return
        try {
          s.cb({
            subject: h.subject,
            data: body,
            ...(h.reply ? { reply: h.reply } : {}),
            ...(h.tp ? { traceparent: h.tp } : {}),
          })
        } catch {
          this.counters.callbackErrors++
        }
        return
      }
      case 'res': {
        const p = this.pending.get(h.id)
        if (!p) return
        this.pending.delete(h.id)
        clearTimeout(p.timer)
        if (h.error) p.reject(new Error(h.error))
        else p.resolve(body)
        return
      }
      case 'bye':
        this.lastError = `sidecar said: ${h.reason}`
        return
      default:
      // a hub-side op from the sidecar: ignored (the sidecar never sends one)
    }
  }

  private write(h: SidecarHeader, body?: Uint8Array): boolean {
    const s = this.sock
    if (!this.open || !s || s.destroyed) return false
    s.write(encodeSidecarFrame(h, body))
    return true
  }

  subscribe(subject: string, cb: (m: NatsMessage) => void, opts: { queue?: string } = {}): NatsSub {
    const sid = this.nextSid++
    this.subs.set(sid, { subject, cb, ...(opts.queue ? { queue: opts.queue } : {}) })
    if (this.open) this.write({ op: 'sub', sid, subject, ...(opts.queue ? { queue: opts.queue } : {}) })
    return {
      unsubscribe: () => {
        if (this.subs.delete(sid)) this.write({ op: 'unsub', sid })
      },
    }
  }

  publish(subject: string, data: Uint8Array, reply?: string, traceparent?: string): boolean {
    if (this.status !== 'connected') return false
    const ok = this.write(
      { op: 'pub', subject, ...(reply ? { reply } : {}), ...(traceparent ? { tp: traceparent } : {}) },
      data,
    )
    if (!ok) this.counters.publishErrors++
    return ok
  }

  /** A round trip to the sidecar: `op` with a fresh id, answered by a `res` (or the timeout). */
  private call(h: (id: number) => SidecarHeader, body: Uint8Array | undefined, timeoutMs: number): Promise<Uint8Array> {
    if (this.status !== 'connected' && h(0).op !== 'status')
      return Promise.reject(new Error(`sidecar transport not connected (${this.status})`))
    if (!this.welcomed) return Promise.reject(new Error('the sidecar is not attached'))
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new Error(`no answer from the sidecar within ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending.set(id, { resolve, reject, timer })
      this.write(h(id), body)
    })
  }

  request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    return this.call((id) => ({ op: 'req', id, subject, ms: timeoutMs }), data, timeoutMs + 500)
  }

  async flush(): Promise<void> {
    if (this.status === 'connected') await this.call((id) => ({ op: 'flush', id }), undefined, 5000)
  }

  /** The sidecar's own status (SidecarStatus), asked over the socket. */
  async sidecarStatus(timeoutMs = 2000): Promise<unknown> {
    const b = await this.call((id) => ({ op: 'status', id }), undefined, timeoutMs)
    return JSON.parse(new TextDecoder().decode(b))
  }

  async close(): Promise<void> {
    this.closing = true
    clearTimeout(this.retry)
    this.sock?.destroy()
    this.rejectReady(new Error('the sidecar link was closed before it connected'))
    this.ready.catch(() => {})
    this.setStatus('closed')
  }
}
