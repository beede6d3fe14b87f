/**
 * Sends a hub's Class A outbox to the root and applies the root's acks.
 *
 * Pipelined go-back-N: per stream, up to `window` records are in flight, in frames of up to
 * `batch` records (one NATS message each, replies to `aether.hub.<hub>.ack`). Acks are
 * cumulative (`upTo`). When no ack progress happens for the resend timeout, when the root reports
 * a gap, or when the link comes back, sending restarts at the first unacked cursor, so the root
 * always sees cursors in order and ignores the duplicates. Nothing is sent before it is persisted.
 * The resend timeout grows with the measured ack round trip (ResendTimer.ts), from `retransmitMs`
 * up to `maxRetransmitMs`.
 */
import { decodeFrame, encodeBatchOfJson, ProtocolError, subjects } from '../../protocol/index.ts'
import type { Transport } from './Transport.ts'
import type { Outbox, StreamOutbox } from './Outbox.ts'
import { zeroCounters } from '../counters.ts'
import type { Tracing } from '../tracing/Tracing.ts'
import { ResendTimer } from './ResendTimer.ts'

export interface SenderOptions {
  window?: number
  batch?: number
  /** The shortest resend timeout (and the one before any ack was measured). */
  retransmitMs?: number
  /** The longest, however slow the acks (default 30 s, at least `retransmitMs`). */
  maxRetransmitMs?: number
  /** Root id expected in acks once known (a forged ack from elsewhere is refused). */
  rootId?: () => string | null
  /**
   * A stream.ack from another root than `rootId` (refused): in a root fleet, the hub's new owner
   * after a handover. The link re-heartbeats at once to learn the owner instead of waiting a period.
   */
  onForeignAck?: (from: string) => void
  /** A span per frame sent, its `traceparent` in the frame's headers (the root's apply span is its child). */
  tracing?: Tracing
}

export interface SenderEvent {
  type: 'stream.acked' | 'stream.retransmit'
  streamId: string
  upTo: number
}

interface Flight {
  sentUpTo: number
  lastProgressAt: number
  lastResetAt: number
  /** The highest cursor ever sent: a frame ending above it is a first transmission (a round-trip sample). */
  maxSent: number
}

export class ClassASender {
  readonly counters = zeroCounters('framesSent recordsSent acks retransmits badAcks gapsReported duplicatesReported')
  readonly rejected: Record<string, number> = {}
  private flights = new Map<string, Flight>()
  private timer: ReturnType<typeof setInterval>
  private sub: { unsubscribe(): void }
  private window: number
  private batch: number
  /** The resend timeout, adapted to the ack round trip. */
  readonly resend: ResendTimer
  /** Ack latencies (ms, send -> ack of a frame's last cursor), a bounded sample. */
  readonly latencies: number[] = []
  private sentAt = new Map<string, number>()
  private offStatus: () => void

  constructor(
    readonly hubId: string,
    readonly outbox: Outbox,
    readonly link: Transport,
    readonly onEvent: (e: SenderEvent) => void = () => {},
    private opts: SenderOptions = {},
  ) {
    this.window = opts.window ?? 4096
    this.batch = opts.batch ?? 256
    const min = opts.retransmitMs ?? 2000
    this.resend = new ResendTimer(min, Math.max(opts.maxRetransmitMs ?? 30_000, min))
    this.sub = link.subscribe(subjects.hubAck(hubId), (m) => this.onAck(m.data))
    outbox.onRefill = (id) => this.pump(id)
    this.timer = setInterval(() => this.checkStalls(), Math.max(50, this.resend.minMs / 4))
    this.timer.unref?.()
    this.offStatus = link.onStatus((s) => {
      if (s === 'connected') this.restartAll('reconnect')
    })
  }

  private flight(s: StreamOutbox): Flight {
    let f = this.flights.get(s.streamId)
    if (!f) {
      f = { sentUpTo: s.acked, lastProgressAt: Date.now(), lastResetAt: 0, maxSent: s.acked }
      this.flights.set(s.streamId, f)
    }
    if (f.sentUpTo < s.acked) f.sentUpTo = s.acked
    return f
  }

  /** Sends what is persisted and fits the window, for one stream or all. */
  pump(streamId?: string): void {
    if (this.link.status !== 'connected') return
    const list = streamId ? [this.outbox.stream(streamId)] : [...this.outbox.streams.values()]
    for (const s of list) {
      const f = this.flight(s)
      while (f.sentUpTo < s.persisted && f.sentUpTo - s.acked < this.window) {
        const from = f.sentUpTo + 1
        const to = Math.min(s.persisted, f.sentUpTo + this.batch, s.acked + this.window)
        const jsons: string[] = []
        for (let c = from; c <= to; c++) {
          const j = s.records.get(c)
          if (j === undefined) break // acked meanwhile
          jsons.push(j)
        }
        if (!jsons.length) break
        if (f.sentUpTo === s.acked) f.lastProgressAt = Date.now()
        const last = from + jsons.length - 1
        const tr = this.opts.tracing
        const span = tr?.span(
          'classA.send',
          {
            'aether.hub': this.hubId,
            'aether.stream': s.streamId,
            'aether.cursor.from': from,
            'aether.cursor.to': last,
          },
          undefined,
          'producer',
        )
        const sent = this.link.publish(
          subjects.rootStream(this.hubId),
          encodeBatchOfJson(jsons),
          subjects.hubAck(this.hubId),
          span && tr!.traceparent(span),
        )
        if (span) tr!.end(span, sent ? undefined : { message: 'not connected' })
        if (!sent) return
        if (last > f.maxSent) {
          f.maxSent = last
          if (this.sentAt.size < 10_000) this.sentAt.set(`${s.streamId}:${last}`, performance.now())
        }
        f.sentUpTo = last
        this.counters.framesSent++
        this.counters.recordsSent += jsons.length
      }
    }
  }

  private onAck(data: Uint8Array): void {
    let acks: ReturnType<typeof decodeFrame>
    try {
      acks = decodeFrame(data)
    } catch (err) {
      this.count(err)
      return
    }
    const rootId = this.opts.rootId?.()
    for (const a of acks) {
      if (a.subject === 'error') {
        this.counters.badAcks++
        continue
      }
      if (a.subject !== 'stream.ack' || (rootId && a.from !== rootId)) {
        if (a.subject === 'stream.ack') this.opts.onForeignAck?.(a.from)
        this.count(
          new ProtocolError(
            'WRONG_SENDER',
            `an ack must be a stream.ack from the root${rootId ? ` "${rootId}"` : ''}`,
            'from',
          ),
        )
        continue
      }
      const p = a.payload as { streamId: string; upTo: number; gaps: number; duplicates: number }
      const s = this.outbox.streams.get(p.streamId)
      if (!s || p.upTo >= s.next) {
        this.count(new ProtocolError('BAD_FIELD', `ack for an unknown stream or a cursor never sent`, 'payload.upTo'))
        continue
      }
      this.counters.acks++
      this.counters.duplicatesReported += p.duplicates
      const f = this.flight(s)
      const t0 = this.sentAt.get(`${p.streamId}:${p.upTo}`)
      if (t0 !== undefined) {
        this.sentAt.delete(`${p.streamId}:${p.upTo}`)
        const ms = performance.now() - t0
        if (this.latencies.length < 100_000) this.latencies.push(ms)
        this.resend.sample(ms)
      }
      if (this.outbox.ack(p.streamId, p.upTo)) {
        f.lastProgressAt = Date.now()
        if (f.sentUpTo < s.acked) f.sentUpTo = s.acked
        this.onEvent({ type: 'stream.acked', streamId: p.streamId, upTo: p.upTo })
      } else if (p.gaps > 0) {
        // The root missed an earlier frame: go back now rather than wait for the timer.
        this.counters.gapsReported += p.gaps
        const now = Date.now()
        if (now - f.lastResetAt > Math.min(500, this.resend.minMs)) this.restart(s, 'gap')
      }
      this.pump(p.streamId)
    }
  }

  private count(err: unknown): void {
    const code = (err as ProtocolError).code ?? 'ERROR'
    this.rejected[code] = (this.rejected[code] ?? 0) + 1
  }

  private restart(s: StreamOutbox, _why: string): void {
    const f = this.flight(s)
    if (f.sentUpTo <= s.acked) return
    f.sentUpTo = s.acked
    f.lastResetAt = Date.now()
    f.lastProgressAt = Date.now()
    this.sentAt.clear()
    this.counters.retransmits++
    this.onEvent({ type: 'stream.retransmit', streamId: s.streamId, upTo: s.acked + 1 })
  }

  /** After a reconnect: everything unacked goes again, in cursor order. */
  restartAll(why: string): void {
    for (const s of this.outbox.streams.values()) this.restart(s, why)
    this.pump()
  }

  private checkStalls(): void {
    if (this.link.status !== 'connected') return
    const now = Date.now()
    const timeout = this.resend.ms
    for (const s of this.outbox.streams.values()) {
      const f = this.flight(s)
      if (f.sentUpTo > s.acked && now - f.lastProgressAt > timeout) {
        this.restart(s, 'timeout')
        this.pump(s.streamId)
      } else if (f.sentUpTo < s.persisted) this.pump(s.streamId)
    }
  }

  /** Per stream: next cursor, acked, in flight. */
  status(): Record<string, { next: number; acked: number; persisted: number; inFlight: number; pending: number }> {
    const out: Record<string, any> = {}
    for (const s of this.outbox.streams.values()) {
      const f = this.flights.get(s.streamId)
      out[s.streamId] = {
        next: s.next,
        acked: s.acked,
        persisted: s.persisted,
        inFlight: f ? Math.max(0, f.sentUpTo - s.acked) : 0,
        pending: s.next - 1 - s.acked,
        inMemory: s.records.size,
      }
    }
    return out
  }

  close(): void {
    clearInterval(this.timer)
    this.offStatus()
    this.sub.unsubscribe()
  }
}
