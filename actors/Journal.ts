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

  private drain = async (): Promise<void> => {
    this.scheduled = false
    if (this.writing) return
    this.writing = true
    let failure: Error | undefined
    while (this.ops.length) {
      const n = this.fsync === 'always' ? 1 : Math.min(this.ops.length, this.maxBatch)
      const ops = this.ops.length === n ? this.ops : this.ops.slice(0, n)
      const sinks = this.sinks.length === n ? this.sinks : this.sinks.slice(0, n)
      if (ops === this.ops) {
        this.ops = []
        this.sinks = []
      } else {
        this.ops = this.ops.slice(n)
        this.sinks = this.sinks.slice(n)
      }
      try {
        await this.store.write(ops, this.fsync !== 'none')
        this.stats.batches++
        this.stats.ops += ops.length
        for (let i = 0; i < ops.length; i++) sinks[i]?.committed(ops[i])
      } catch (err) {
        failure = err as Error
        this.stats.errors++
        for (let i = 0; i < ops.length; i++) sinks[i]?.failed?.(ops[i], failure)
        this.onError(failure)
      }
    }
    this.writing = false
    const waiters = this.flushWaiters
    this.flushWaiters = []
    for (const w of waiters) failure ? w.reject(failure) : w.resolve()
  }
}
