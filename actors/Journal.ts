/**
 * The write-ahead journal's writer: group commit over a `Store`.
 *
 * Ops appended in the same tick share one batch write; while a batch is being written the next
 * one gathers, so under load batches grow by themselves. Each op may carry a sink that is told,
 * in append order, when its op is on disk (as the fsync policy defines it) or failed.
 *
 * fsync policy:
 * - `always`: every op is its own synced write (slow, about 4k/s; nothing is ever batched);
 * - `batch`:  every batch is one synced write (one fsync per group commit);
 * - `none`:   batches are written without fsync (survives a process crash, not a power cut).
 */
import type { Store, StoreOp } from './Store.ts'

export type FsyncPolicy = 'always' | 'batch' | 'none'

export interface CommitSink {
  committed(op: StoreOp): void
  failed?(op: StoreOp, err: Error): void
}

export class Journal {
  private ops: StoreOp[] = []
  private sinks: (CommitSink | undefined)[] = []
  private writing = false
  private scheduled = false
  private flushWaiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = []
  /** Counters for health and benchmarks. */
  readonly stats = { batches: 0, ops: 0, errors: 0 }

  constructor(
    private store: Store,
    readonly fsync: FsyncPolicy = 'batch',
    private maxBatch = 8192,
    private onError: (err: Error) => void = () => {},
  ) {}

  append(op: StoreOp, sink?: CommitSink): void {
    this.ops.push(op)
    this.sinks.push(sink)
    if (!this.scheduled && !this.writing) {
      this.scheduled = true
      setImmediate(this.drain)
    }
  }

  /** Resolves when everything appended so far is committed. */
  flush(): Promise<void> {
    if (!this.ops.length && !this.writing) return Promise.resolve()
    return new Promise((resolve, reject) => this.flushWaiters.push({ resolve, reject }))
  }

  get pending(): number {
    return this.ops.length
  }

  /** Takes the next batch off the queue and starts writing it (encoding happens now). */
  private startBatch(): { ops: StoreOp[]; sinks: (CommitSink | undefined)[]; done: Promise<Error | undefined> } {
    const n = this.fsync === 'always' ? 1 : Math.min(this.ops.length, this.maxBatch)
    let ops: StoreOp[]
    let sinks: (CommitSink | undefined)[]
    if (n === this.ops.length) {
      ops = this.ops
      sinks = this.sinks
      this.ops = []
      this.sinks = []
    } else {
      ops = this.ops.slice(0, n)
      sinks = this.sinks.slice(0, n)
      this.ops = this.ops.slice(n)
      this.sinks = this.sinks.slice(n)
    }
    let done: Promise<Error | undefined>
    try {
      done = this.store.write(ops, this.fsync !== 'none').then(
        () => undefined,
        (err: Error) => err,
      )
    } catch (err) {
      done = Promise.resolve(err as Error)
    }
    return { ops, sinks, done }
  }

  /**
   * Writes batches one at a time, in order. The next batch starts writing before the sinks of
   * the committed one run, so applying events overlaps the next write (and its fsync).
   */
  private drain = async (): Promise<void> => {
    this.scheduled = false
    if (this.writing) return
    this.writing = true
    let failure: Error | undefined
    let current = this.ops.length ? this.startBatch() : undefined
    while (current) {
      const err = await current.done
      const { ops, sinks } = current
      current = this.ops.length ? this.startBatch() : undefined
      if (!err) {
        this.stats.batches++
        this.stats.ops += ops.length
        for (let i = 0; i < ops.length; i++) sinks[i]?.committed(ops[i])
      } else {
        failure = err
        this.stats.errors++
        for (let i = 0; i < ops.length; i++) sinks[i]?.failed?.(ops[i], err)
        this.onError(err)
      }
      if (!current && this.ops.length) current = this.startBatch()
    }
    this.writing = false
    const waiters = this.flushWaiters
    this.flushWaiters = []
    for (const w of waiters) failure ? w.reject(failure) : w.resolve()
  }
}
