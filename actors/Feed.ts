/**
 * Fan-out of inspection events to subscribers, each an AsyncIterable with a bounded queue.
 * A subscriber that falls behind loses its oldest events, counted: the next event it reads after
 * a loss is preceded by a `{ type: 'aether.dropped', count }` marker, so nothing is dropped silently
 * and memory stays bounded.
 */
import type { FeedEvent } from '../protocol/inspection.ts'

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
  private subs = new Set<Sub>()
  private listeners = new Set<(e: FeedEvent) => void>()
  active = false

  /** A callback listener (for in-process fan-out such as the inspector server). */
  listen(fn: (e: FeedEvent) => void): () => void {
    this.listeners.add(fn)
    this.active = true
    return () => {
      this.listeners.delete(fn)
      this.active = this.subs.size + this.listeners.size > 0
    }
  }

  subscribe(limit = 10_000): FeedSubscription {
    const sub = new Sub(limit, () => {
      this.subs.delete(sub)
      this.active = this.subs.size + this.listeners.size > 0
    })
    this.subs.add(sub)
    this.active = true
    return sub
  }

  publish(e: FeedEvent): void {
    for (const l of this.listeners) l(e)
    for (const s of this.subs) s.push(e)
  }

  close(): void {
    for (const s of [...this.subs]) s.close()
    this.listeners.clear()
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

  constructor(private limit: number, private onClose: () => void) {}

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
