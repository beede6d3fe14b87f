/**
 * The jobs ready to run, in the queue's order: priority 20 down to 0, and within a priority by
 * submission order across tenants and named queues (one FIFO per queue and tenant, the oldest head
 * wins), skipping the heads that may not run now (a paused queue, a tenant at its limit) without
 * losing their place. Removal is lazy: a job that leaves the ready state is marked, and skipped.
 */
import { MAX_PRIORITY } from '../../machines/job.ts'
import type { JobEntry } from './JobQueue.ts'

/** A FIFO with lazy removal (entries whose `queued` is false are skipped). */
class Fifo {
  items: JobEntry[] = []
  head = 0
  get size() {
    return this.items.length - this.head
  }
  push(e: JobEntry) {
    this.items.push(e)
  }
  peek(): JobEntry | undefined {
    while (this.head < this.items.length && !this.items[this.head].queued) this.head++
    this.compact()
    return this.items[this.head]
  }
  shift(): JobEntry | undefined {
    const e = this.peek()
    if (e) this.items[this.head++] = undefined as any
    this.compact()
    return e
  }
  private compact() {
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
  }
}

/** Ready jobs by priority, then by `queue \u0000 tenant`. */
export class ReadyQueue {
  private levels: Map<string, Fifo>[] = Array.from({ length: MAX_PRIORITY + 1 }, () => new Map())
  private count = 0

  get size(): number {
    return this.count
  }

  add(e: JobEntry): void {
    if (e.queued) return
    e.queued = true
    this.count++
    const k = `${e.queue}\u0000${e.tenant}`
    const level = this.levels[e.priority]
    let f = level.get(k)
    if (!f) level.set(k, (f = new Fifo()))
    // A job that comes back (lease expired, resumed, retried) keeps its place by submission order.
    if (f.items.length > f.head && f.items[f.items.length - 1]?.order > e.order) {
      const items = f.items.slice(f.head).filter((x) => x?.queued)
      items.push(e)
      items.sort((a, b) => a.order - b.order)
      f.items = items
      f.head = 0
    } else f.push(e)
  }

  remove(e: JobEntry): void {
    if (e.queued) {
      e.queued = false
      this.count--
    }
  }

  /** Takes the best job that `may` run now, or undefined. */
  take(may: (e: JobEntry) => boolean): JobEntry | undefined {
    for (let p = MAX_PRIORITY; p >= 0; p--) {
      const level = this.levels[p]
      if (!level.size) continue
      let best: Fifo | undefined
      let bestE: JobEntry | undefined
      for (const [k, f] of level) {
        const e = f.peek()
        if (!e) {
          level.delete(k)
          continue
        }
        if (!may(e)) continue
        if (!bestE || e.order < bestE.order) {
          best = f
          bestE = e
        }
      }
      if (best) {
        best.shift()
        bestE!.queued = false
        this.count--
        return bestE
      }
    }
    return undefined
  }
}
