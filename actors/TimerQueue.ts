/**
 * Durable timers of all actors of one host, in one min-heap by due time, behind a single clock
 * timeout. Timers that are already due when armed (after a recovery) fire at once, in due order.
 */
import type { Clock } from './Clock.ts'

export interface TimerEntry {
  owner: string
  id: string
  due: number
  /** Arming order, so that equal due times fire first-armed first. */
  order: number
  fire: () => void
  cancelled: boolean
}

export class TimerQueue {
  private heap: TimerEntry[] = []
  private handle: unknown = undefined
  private armedFor = Infinity
  private order = 0

  constructor(private clock: Clock) {}

  add(owner: string, id: string, due: number, fire: () => void): TimerEntry {
    const e: TimerEntry = { owner, id, due, order: this.order++, fire, cancelled: false }
    this.push(e)
    if (due < this.armedFor) this.arm()
    return e
  }

  cancel(e: TimerEntry): void {
    e.cancelled = true
  }

  get size(): number {
    return this.heap.length
  }

  close(): void {
    if (this.handle !== undefined) this.clock.clearTimeout(this.handle)
    this.handle = undefined
    this.heap = []
    this.armedFor = Infinity
  }

  private arm(): void {
    while (this.heap.length && this.heap[0].cancelled) this.pop()
    if (this.handle !== undefined) this.clock.clearTimeout(this.handle)
    this.handle = undefined
    if (!this.heap.length) {
      this.armedFor = Infinity
      return
    }
    const due = this.heap[0].due
    this.armedFor = due
    this.handle = this.clock.setTimeout(() => this.run(), due - this.clock.now())
  }

  private run(): void {
    this.handle = undefined
    this.armedFor = Infinity
    const now = this.clock.now()
    while (this.heap.length && this.heap[0].due <= now) {
      const e = this.pop()!
      if (!e.cancelled) e.fire()
    }
    this.arm()
  }

  private less(a: TimerEntry, b: TimerEntry): boolean {
    return a.due < b.due || (a.due === b.due && a.order < b.order)
  }

  private push(e: TimerEntry): void {
    const h = this.heap
    h.push(e)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!this.less(h[i], h[p])) break
      ;[h[i], h[p]] = [h[p], h[i]]
      i = p
    }
  }

  private pop(): TimerEntry | undefined {
    const h = this.heap
    if (!h.length) return undefined
    const top = h[0]
    const last = h.pop()!
    if (h.length) {
      h[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1,
          r = l + 1
        let m = i
        if (l < h.length && this.less(h[l], h[m])) m = l
        if (r < h.length && this.less(h[r], h[m])) m = r
        if (m === i) break
        ;[h[i], h[m]] = [h[m], h[i]]
        i = m
      }
    }
    return top
  }
}
