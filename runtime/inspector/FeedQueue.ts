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
 *
 * Light events (the actors a client does not focus on) are packed, not encoded: eight 32-bit
 * integers each in a typed array, strings (paths, event types, state values, statuses) replaced
 * by ids of a dictionary the client builds from the frames' `dict` entries; a frame that carries
 * packed events is binary (protocol/inspectorFeed.ts, `encodePackedFrame` / `FeedDecoder`). That
 * was most of an attached inspector's cost to the hub: no string and no object per event, no
 * number printed, about a sixth of the bytes.
 */
import { FeedEventRecord } from '../../actors/Feed.ts'
import type { FeedEvent } from '../../protocol/inspection.ts'
import {
  encodeLightEvent,
  encodePackedFrame,
  encodeWireEvent,
  LIGHT_WIDTH,
  MAX_DICT,
} from '../../protocol/inspectorFeed.ts'

/** The part of a `ws` WebSocket this queue needs (kept structural: `ws` lives in HubServer.ts). */
export interface FrameSocket {
  readonly readyState: number
  send(data: string | Uint8Array, cb?: (err?: Error) => void): void
}

export interface FeedQueueOptions {
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

export interface FeedQueueStats {
  queued: number
  sent: number
  dropped: number
  frames: number
}

const OPEN = 1

export class FeedQueue {
  /** Pending events in order: a string is one encoded event, 0 one packed in `light`. */
  private q: (string | 0 | undefined)[] = []
  /** Packed light events, LIGHT_WIDTH integers each, from `lhead` to `ltail`. */
  private light = new Int32Array(LIGHT_WIDTH * 1024)
  private lhead = 0
  private ltail = 0
  private head = 0
  /** Events in the queue. */
  private n = 0
  private lostPending = 0
  private inflight = 0
  private scheduled = false
  private closed = false
  readonly stats: FeedQueueStats = { queued: 0, sent: 0, dropped: 0, frames: 0 }
  private readonly limit: number
  private readonly batch: number
  private readonly maxInflight: number
  private readonly encode?: (events: string[], dropped: number) => string[]
  private readonly prepare?: (e: FeedEvent) => string
  /** The dictionary of packed light events: string -> id, JSON of other values -> id. */
  private strIds = new Map<string, number>()
  private jsonIds = new Map<string, number>()
  /** Dictionary entries (JSON texts) assigned since the last frame. */
  private dictNew: string[] = []
  private at0 = -1
  /** Paths this client shows in full (protocol/inspectorFeed.ts, focus); null: all of them. */
  focus: Set<string> | null = null
  /** While held, events are queued (bounded as always) but not sent: see `hold`. */
  private held = false

  constructor(
    private ws: FrameSocket,
    opts: FeedQueueOptions = {},
  ) {
    this.limit = Math.max(1, opts.limit ?? 50_000)
    this.batch = Math.max(1, opts.batch ?? 1000)
    this.maxInflight = Math.max(1, opts.maxInflight ?? 4)
    this.encode = opts.encode
    this.prepare = opts.prepare
  }

  get length(): number {
    return this.n
  }

  push(e: FeedEvent): void {
    if (this.closed) return
    if (this.n >= this.limit) {
      if (this.q[this.head] === 0) this.lhead += LIGHT_WIDTH
      this.q[this.head++] = undefined
      this.n--
      this.lostPending++
      this.stats.dropped++
    }
    if (this.prepare) this.q.push(this.prepare(e))
    else if (this.focus === null || this.focus.has(e.path)) this.q.push(encodeWireEvent(e))
    // packed events travel only in this class's own frames, not through a custom `encode`
    else if (this.encode || !this.pack(e)) this.q.push(encodeLightEvent(e))
    this.n++
    this.stats.queued++
    if (this.head > 4096 && this.head * 2 > this.q.length) {
      this.q = this.q.slice(this.head)
      this.head = 0
    }
    this.schedule()
  }

  /** Queues a light `@xstate.event` as integers; false when it cannot be packed. */
  private pack(e: FeedEvent): boolean {
    if (e.type !== '@xstate.event') return false
    const path = this.strId(e.path)
    const type = this.strId(e.event.type)
    // A host's event record gives value and status without building the feed snapshot.
    const v = e instanceof FeedEventRecord ? e.value : e.snapshot.value
    const value = typeof v === 'string' ? this.strId(v) : this.jsonId(JSON.stringify(v ?? null))
    const status = this.strId(e instanceof FeedEventRecord ? e.status : e.snapshot.status)
    const source = e.sourceId === undefined ? -1 : this.strId(e.sourceId)
    if (path < 0 || type < 0 || value < 0 || status < 0 || (source < 0 && e.sourceId !== undefined)) return false
    if (this.at0 < 0) this.at0 = e.at
    const at = e.at - this.at0
    const actorSeq = e.actorSeq ?? -1
    // What does not fit 32 bits (a feed older than 24 days, a huge seq) travels as JSON.
    if (!(at === (at | 0) && e.seq === (e.seq | 0) && actorSeq === (actorSeq | 0))) return false
    if (this.ltail + LIGHT_WIDTH > this.light.length) this.growLight()
    const l = this.light
    const t = this.ltail
    l[t] = e.seq
    l[t + 1] = at
    l[t + 2] = actorSeq
    l[t + 3] = path
    l[t + 4] = type
    l[t + 5] = value
    l[t + 6] = status
    l[t + 7] = source
    this.ltail = t + LIGHT_WIDTH
    this.q.push(0)
    return true
  }

  /** Makes room at the end of the packed queue: moves it to the front, or doubles it. */
  private growLight(): void {
    const used = this.ltail - this.lhead
    const next = used + LIGHT_WIDTH > this.light.length / 2 ? new Int32Array(this.light.length * 2) : this.light
    next.set(this.light.subarray(this.lhead, this.ltail))
    this.light = next
    this.lhead = 0
    this.ltail = used
  }

  /** The dictionary id of a string (the client receives it as a JSON string). */
  private strId(s: string): number {
    return this.dictId(this.strIds, s, s)
  }

  /** The dictionary id of a value by its JSON text. */
  private jsonId(text: string): number {
    return this.dictId(this.jsonIds, text, undefined)
  }

  /** An id from `ids`, or a new one announced in the next frame; -1 once the dictionary is full. */
  private dictId(ids: Map<string, number>, key: string, str: string | undefined): number {
    let id = ids.get(key)
    if (id === undefined) {
      id = this.strIds.size + this.jsonIds.size
      if (id >= MAX_DICT) return -1
      ids.set(key, id)
      this.dictNew.push(str === undefined ? key : JSON.stringify(str))
    }
    return id
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
    this.n = 0
    this.lhead = this.ltail = 0
  }

  /**
   * Holds the queued events back (`true`) or sends them (`false`): the supervisor holds its feed
   * during a warm switch's gap, so the page does not redraw on the cores the switch needs.
   */
  hold(on: boolean): void {
    this.held = on
    if (!on && this.n > 0) this.schedule()
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
    while (!this.held && !this.closed && this.inflight < this.maxInflight && this.n > 0) {
      if (this.ws.readyState !== OPEN) return this.close()
      const events: string[] = []
      const q = this.q
      const end = Math.min(q.length, this.head + this.batch)
      const l0 = this.lhead
      for (let i = this.head; i < end; i++) {
        const x = q[i]
        if (x === 0) this.lhead += LIGHT_WIDTH
        else events.push(x as string)
        q[i] = undefined
      }
      const taken = end - this.head
      this.head = end
      this.n -= taken
      if (this.head === q.length) {
        this.q = []
        this.head = 0
      }
      const dropped = this.lostPending
      this.lostPending = 0
      this.stats.sent += taken
      const frames: (string | Uint8Array)[] = this.encode
        ? this.encode(events, dropped)
        : [this.frame(events, this.light.subarray(l0, this.lhead), dropped)]
      if (this.lhead === this.ltail) this.lhead = this.ltail = 0
      for (const f of frames) {
        this.stats.frames++
        this.inflight++
        this.ws.send(f, () => this.written())
      }
    }
  }

  /** One `events` frame: new dictionary entries, encoded events and (binary) packed light events. */
  private frame(events: string[], light: Int32Array, dropped: number): string | Uint8Array {
    let f = '{"t":"events"'
    if (dropped) f += `,"dropped":${dropped}`
    if (this.dictNew.length) {
      f += `,"dict":[${this.dictNew.join(',')}]`
      this.dictNew = []
    }
    if (light.length) f += `,"at0":${this.at0}`
    f += `,"events":[${events.join(',')}]}`
    return light.length ? encodePackedFrame(f, light) : f
  }

  private written(): void {
    this.inflight--
    if (this.n > 0) this.schedule()
  }
}
