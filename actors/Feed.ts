/**
 * Fan-out of inspection events to subscribers, each an AsyncIterable with a bounded queue.
 * A subscriber that falls behind loses its oldest events, counted: the next event it reads after
 * a loss is preceded by a `{ type: 'aether.dropped', count }` marker, so nothing is dropped silently
 * and memory stays bounded.
 */
import type {
  ActorStatus,
  FeedActorEvent,
  FeedEvent,
  FeedEventEvent,
  FeedSnapshot,
  FeedSnapshotEvent,
} from '../protocol/inspection.ts'

// Feed events are built for every event of every actor while anybody listens, so they are cheap:
// a class with the data as fields and the `@statelyai/inspect` fields that derive from them (id,
// createdAt, sessionId, _version) as getters, computed only by whoever reads them. `toJSON` gives
// the plain shape with every field, as JSON.stringify and clients expect it.

abstract class FeedRecord {
  constructor(
    readonly seq: number,
    readonly path: string,
    readonly at: number,
    readonly rootId: string,
  ) {}
  abstract readonly type: string
  abstract readonly snapshot: FeedSnapshot
  /** The fields this kind of record adds to the common ones in its JSON shape, in order. */
  protected abstract readonly jsonFields: readonly string[]
  get sessionId(): string {
    return this.path
  }
  get id(): string {
    return `${this.rootId}:${this.seq}`
  }
  get createdAt(): string {
    return String(this.at)
  }
  get _version(): string {
    return '1.0.0'
  }
  /** The plain shape with every field, as JSON.stringify and clients expect it. */
  toJSON(): Record<string, unknown> {
    const o: Record<string, unknown> = {
      seq: this.seq,
      path: this.path,
      at: this.at,
      rootId: this.rootId,
      sessionId: this.path,
      id: this.id,
      createdAt: this.createdAt,
      _version: '1.0.0',
      type: this.type,
    }
    for (const k of this.jsonFields) o[k] = (this as any)[k]
    return o
  }
}

const EVENT_FIELDS = ['event', 'actorSeq', 'sourceId', 'snapshot'] as const
const ACTOR_FIELDS = ['name', 'machine', 'status', 'parentId', 'definition', 'snapshot'] as const
const SNAPSHOT_FIELDS = ['event', 'snapshot'] as const

/** The state an actor's XState snapshot and host status say, as the feed carries it. */
export function feedSnapshotOf(
  xs: { value?: unknown; context?: unknown } | undefined,
  status: string,
  timers: FeedSnapshot['timers'],
): FeedSnapshot {
  const snap: FeedSnapshot = { value: xs?.value ?? null, context: xs?.context ?? null, status }
  if (timers) snap.timers = timers
  return snap
}

/**
 * `@xstate.event`: an event an actor received from outside, with the snapshot it led to. The feed
 * snapshot is built when read: a client that shows the event light reads `value` and `status`.
 */
export class FeedEventRecord extends FeedRecord implements FeedEventEvent {
  readonly type = '@xstate.event' as const
  private snap?: FeedSnapshot
  constructor(
    seq: number,
    path: string,
    at: number,
    rootId: string,
    readonly event: FeedEventEvent['event'],
    readonly actorSeq: number | undefined,
    readonly sourceId: string | undefined,
    /** The actor's XState snapshot after the event (immutable), its host status and timers then. */
    private readonly xs: { value?: unknown; context?: unknown } | undefined,
    readonly status: string,
    private readonly timers?: FeedSnapshot['timers'],
  ) {
    super(seq, path, at, rootId)
  }
  get snapshot(): FeedSnapshot {
    return (this.snap ??= feedSnapshotOf(this.xs, this.status, this.timers))
  }
  /** The state value (what `snapshot.value` holds), without building the snapshot. */
  get value(): unknown {
    return this.xs?.value ?? null
  }
  protected get jsonFields(): readonly string[] {
    return EVENT_FIELDS
  }
}

/** `@xstate.actor`: an actor appeared (spawned or recovered) or changed status. */
export class FeedActorRecord extends FeedRecord implements FeedActorEvent {
  readonly type = '@xstate.actor' as const
  definition?: string
  constructor(
    seq: number,
    path: string,
    at: number,
    rootId: string,
    readonly machine: string,
    readonly status: ActorStatus,
    readonly parentId: string | undefined,
    readonly snapshot: FeedSnapshot,
  ) {
    super(seq, path, at, rootId)
  }
  get name(): string {
    return this.path
  }
  protected get jsonFields(): readonly string[] {
    return ACTOR_FIELDS
  }
}

/** `@xstate.snapshot`: a snapshot change not caused by an outside event (recovery, restart, status). */
export class FeedSnapshotRecord extends FeedRecord implements FeedSnapshotEvent {
  readonly type = '@xstate.snapshot' as const
  constructor(
    seq: number,
    path: string,
    at: number,
    rootId: string,
    readonly event: FeedSnapshotEvent['event'],
    readonly snapshot: FeedSnapshot,
  ) {
    super(seq, path, at, rootId)
  }
  protected get jsonFields(): readonly string[] {
    return SNAPSHOT_FIELDS
  }
}

export interface DroppedMarker {
  type: 'aether.dropped'
  count: number
}

export type FeedItem = FeedEvent | DroppedMarker

export interface FeedSubscription extends AsyncIterable<FeedItem> {
  /** Events lost to this subscriber so far. */
  readonly dropped: number
  close(): void
}

export class Feed {
  // Arrays, not Sets: publish runs for every event of every actor while anybody listens, and a
  // for-of over a Set allocates an iterator each time.
  private subs: Sub[] = []
  private listeners: Array<(e: FeedEvent) => void> = []
  active = false

  /** Callback listeners attached now. */
  get listenerCount(): number {
    return this.listeners.length
  }

  /** A callback listener (for in-process fan-out such as the inspector server). */
  listen(fn: (e: FeedEvent) => void): () => void {
    this.listeners = [...this.listeners, fn]
    this.active = true
    return () => {
      this.listeners = this.listeners.filter((l) => l !== fn)
      this.active = this.subs.length + this.listeners.length > 0
    }
  }

  subscribe(limit = 10_000): FeedSubscription {
    const sub = new Sub(limit, () => {
      this.subs = this.subs.filter((s) => s !== sub)
      this.active = this.subs.length + this.listeners.length > 0
    })
    this.subs = [...this.subs, sub]
    this.active = true
    return sub
  }

  publish(e: FeedEvent): void {
    // Copy-on-write arrays: a listener that unsubscribes while called does not disturb the loop.
    const ls = this.listeners
    for (let i = 0; i < ls.length; i++) ls[i](e)
    const ss = this.subs
    for (let i = 0; i < ss.length; i++) ss[i].push(e)
  }

  close(): void {
    for (const s of this.subs) s.close()
    this.listeners = []
    this.active = false
  }
}

class Sub implements FeedSubscription {
  private q: FeedEvent[] = []
  private head = 0
  private lost = 0
  private pendingLost = 0
  private wake?: () => void
  private closed = false

  constructor(
    private limit: number,
    private onClose: () => void,
  ) {}

  get dropped(): number {
    return this.lost
  }

  push(e: FeedEvent): void {
    if (this.closed) return
    if (this.q.length - this.head >= this.limit) {
      this.head++
      this.lost++
      this.pendingLost++
    }
    this.q.push(e)
    if (this.head > 4096 && this.head * 2 > this.q.length) {
      this.q = this.q.slice(this.head)
      this.head = 0
    }
    const w = this.wake
    this.wake = undefined
    w?.()
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.onClose()
    const w = this.wake
    this.wake = undefined
    w?.()
  }

  async *[Symbol.asyncIterator](): AsyncIterator<FeedItem> {
    try {
      while (!this.closed) {
        if (this.pendingLost) {
          const count = this.pendingLost
          this.pendingLost = 0
          yield { type: 'aether.dropped', count }
          continue
        }
        if (this.head < this.q.length) {
          const e = this.q[this.head]
          ;(this.q as any)[this.head++] = undefined
          yield e
          continue
        }
        await new Promise<void>((r) => (this.wake = r))
      }
    } finally {
      this.close()
    }
  }
}
