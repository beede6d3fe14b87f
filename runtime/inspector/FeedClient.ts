/**
 * One inspector connection's outbound queue: bounded, batched, drop-oldest and counted.
 *
 * Feed events are encoded when they are queued (`prepare`): the queue holds flat strings, not the
 * event objects and the snapshots they point to, so a backed-up queue costs the garbage collector
 * little (objects kept across collections are what made an attached inspector slow the hub down).
 * At most `maxInflight` frames are handed to the socket
 * before it reports them written (the `send` callback of `ws`), so a client that reads slowly
 * backs the queue up here, where it is bounded, instead of in the socket buffer, where it is not.
 * What overflows the queue is dropped oldest-first; the next batch says how many (`dropped`), and
 * the inspector shows "N events dropped".
 */
import type { FeedEvent } from '../../protocol/inspection.ts'
import { encodeLightEvent, encodeWireEvent } from '../../protocol/inspectorFeed.ts'

/** The part of a `ws` WebSocket this queue needs (kept structural: `ws` lives in HubServer.ts). */
export interface FrameSocket {
  readonly readyState: number
  send(data: string, cb?: (err?: Error) => void): void
}

export interface FeedClientOptions {
  /** Events queued at most (default 10,000). */
  limit?: number
  /** Events per frame at most (default 1,000). */
  batch?: number
  /** Frames written but not yet reported flushed by the socket (default 2). */
  maxInflight?: number
  /** Encodes one event when it is queued (default: its wire JSON, protocol/inspectorFeed.ts). */
  prepare?: (e: FeedEvent) => string
  /** Renders a batch of prepared events into frames; the default is one `events` frame. */
  encode?: (events: string[], dropped: number) => string[]
}

export interface FeedClientStats {
  queued: number
  sent: number
  dropped: number
  frames: number
}

const OPEN = 1

export class FeedClient {
  private q: (string | undefined)[] = []
  private head = 0
  private lostPending = 0
  private inflight = 0
  private scheduled = false
  private closed = false
  readonly stats: FeedClientStats = { queued: 0, sent: 0, dropped: 0, frames: 0 }
  private readonly limit: number
  private readonly batch: number
  private readonly maxInflight: number
  private readonly encode: (events: string[], dropped: number) => string[]
  private readonly prepare: (e: FeedEvent) => string
  /** Paths this client shows in full (protocol/inspectorFeed.ts, focus); null: all of them. */
  focus: Set<string> | null = null

  constructor(private ws: FrameSocket, opts: FeedClientOptions = {}) {
    this.limit = Math.max(1, opts.limit ?? 50_000)
    this.batch = Math.max(1, opts.batch ?? 1000)
    this.maxInflight = Math.max(1, opts.maxInflight ?? 4)
    this.encode = opts.encode ?? encodeEvents
    this.prepare = opts.prepare ?? ((e) => (this.focus === null || this.focus.has(e.path) ? encodeWireEvent(e) : encodeLightEvent(e)))
  }

  get length(): number {
    return this.q.length - this.head
  }

  push(e: FeedEvent): void {
    if (this.closed) return
    if (this.q.length - this.head >= this.limit) {
      this.q[this.head++] = undefined
      this.lostPending++
      this.stats.dropped++
    }
    this.q.push(this.prepare(e))
    this.stats.queued++
    if (this.head > 4096 && this.head * 2 > this.q.length) {
      this.q = this.q.slice(this.head)
      this.head = 0
    }
    this.schedule()
  }

  /** Sends a frame outside the event stream (hello, snapshot, answers), in order with batches. */
  sendNow(frame: string): void {
    if (this.closed || this.ws.readyState !== OPEN) return
    this.inflight++
    this.ws.send(frame, () => this.written())
  }

  close(): void {
    this.closed = true
    this.q = []
    this.head = 0
  }

  private schedule(): void {
    if (this.scheduled || this.inflight >= this.maxInflight) return
    this.scheduled = true
    // setImmediate: events of one tick (a group commit) travel in one frame.
    setImmediate(() => {
      this.scheduled = false
      this.flush()
    })
  }

  private flush(): void {
    while (!this.closed && this.inflight < this.maxInflight && this.head < this.q.length) {
      if (this.ws.readyState !== OPEN) return this.close()
      const end = Math.min(this.q.length, this.head + this.batch)
      const events = this.q.slice(this.head, end) as string[]
      for (let i = this.head; i < end; i++) this.q[i] = undefined
      this.head = end
      if (this.head === this.q.length) {
        this.q = []
        this.head = 0
      }
      const dropped = this.lostPending
      this.lostPending = 0
      this.stats.sent += events.length
      for (const f of this.encode(events, dropped)) {
        this.stats.frames++
        this.inflight++
        this.ws.send(f, () => this.written())
      }
    }
  }

  private written(): void {
    this.inflight--
    if (this.head < this.q.length) this.schedule()
  }
}

/** The default framing: one `events` frame per batch of wire-encoded events. */
export function encodeEvents(events: string[], dropped: number): string[] {
  return [(dropped ? `{"t":"events","dropped":${dropped},"events":[` : '{"t":"events","events":[') + events.join(',') + ']}']
}
