/**
 * Time for the actor host. Live hosts use `SystemClock`; replay and tests use `SimulatedClock`,
 * which moves only when told (`clock.increment(ms)`), firing due timers in due order.
 * The shape is XState's own `Clock` plus `now()`.
 */
export interface Clock {
  now(): number
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

/** The real clock. */
export class SystemClock implements Clock {
  now(): number {
    return Date.now()
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const t = setTimeout(fn, Math.max(0, ms))
    // A pending timer must not keep a process alive that has nothing else to do.
    t.unref?.()
    return t
  }
  clearTimeout(handle: unknown): void {
    clearTimeout(handle as ReturnType<typeof setTimeout>)
  }
}

interface SimTimer {
  id: number
  due: number
  fn: () => void
}

/**
 * A clock that moves only when told.
 *
 * @example
 * const clock = new SimulatedClock(0)
 * clock.setTimeout(() => console.log('fired'), 100)
 * clock.increment(100) // prints "fired"
 */
export class SimulatedClock implements Clock {
  private timers = new Map<number, SimTimer>()
  private nextId = 1
  constructor(private time = 0) {}

  now(): number {
    return this.time
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++
    this.timers.set(id, { id, due: this.time + Math.max(0, ms), fn })
    return id
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number)
  }
  /** Sets the time, without firing anything. */
  set(time: number): void {
    this.time = time
  }
  /** Moves time forward by `ms`, firing every timer that falls due, in due order (ties: FIFO). */
  increment(ms: number): void {
    const end = this.time + ms
    for (;;) {
      let next: SimTimer | undefined
      for (const t of this.timers.values()) {
        if (t.due <= end && (!next || t.due < next.due || (t.due === next.due && t.id < next.id))) next = t
      }
      if (!next) break
      this.timers.delete(next.id)
      this.time = Math.max(this.time, next.due)
      next.fn()
    }
    this.time = end
  }
  /** Number of pending timers. */
  get pending(): number {
    return this.timers.size
  }
}
