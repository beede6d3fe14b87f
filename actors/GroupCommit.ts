/**
 * Group commit: the one write-behind mechanism of Aether. The actor journal (actors/Journal.ts)
 * and the Class A outbox and root inboxes (runtime/link/GroupWriter.ts) are built on it.
 *
 * Ops appended in the same tick share one batch write; while a batch is being written the next
 * one gathers, so under load batches grow by themselves. Batches are written one at a time, in
 * append order, so when an op is reported committed every op appended before it is committed
 * too. Each op may carry a sink that is told, in append order, when its op is on disk (as the
 * fsync policy defines it) or failed. The next batch starts writing before the sinks of the
 * committed one run, so what the sinks do (applying events, sending records) overlaps the next
 * write and its fsync.
 *
 * fsync policy (`FsyncPolicy`, the setting `--fsync` and AETHER_CLASSA_SYNC choose):
 * - `always`: every op is its own synced write (slow, about 4k/s on LevelDB; nothing is batched);
 * - `batch`:  every batch is one synced write (one fsync per group commit): an op reported
 *             committed survives a power cut;
 * - `none`:   batches are written without fsync: a committed op survives a crash of the process,
 *             not of the machine.
 */

export type FsyncPolicy = 'always' | 'batch' | 'none'

/** Told when its op is committed, or that its write failed. */
export interface CommitSink<Op> {
  committed(op: Op): void
  failed?(op: Op, err: Error): void
}

export interface GroupCommitOptions<Op> {
  /** Writes `ops` atomically, in order; with `sync` flushed to disk before resolving. */
  write(ops: Op[], sync: boolean): Promise<void>
  fsync?: FsyncPolicy
  /** Largest batch: in ops, or in the units of `weigh` when given (a batch holds one op at least). */
  maxBatch?: number
  weigh?: (op: Op) => number
  /**
   * After a failed write, fail every op queued or appended later with that error: for a writer
   * whose caller keeps state in memory that the failed write was to persist. Default: go on.
   */
  stopOnFailure?: boolean
  /** Called once per failed write. */
  onError?: (err: Error) => void
}

interface Batch<Op> {
  ops: Op[]
  sinks: (CommitSink<Op> | undefined)[]
  done: Promise<Error | undefined>
}

export class GroupCommit<Op> {
  readonly fsync: FsyncPolicy
  /** Counters for health and benchmarks. */
  readonly stats = { batches: 0, ops: 0, errors: 0 }
  /** The first failed write, when `stopOnFailure`: every later op fails with it. */
  failed?: Error
  private ops: Op[] = []
  private sinks: (CommitSink<Op> | undefined)[] = []
  private writing = false
  private scheduled = false
  private flushWaiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = []
  private readonly write: (ops: Op[], sync: boolean) => Promise<void>
  private readonly maxBatch: number
  private readonly weigh?: (op: Op) => number
  private readonly stopOnFailure: boolean
  private readonly onError: (err: Error) => void

  constructor(o: GroupCommitOptions<Op>) {
    this.write = o.write
    this.fsync = o.fsync ?? 'batch'
    this.maxBatch = o.maxBatch ?? 8192
    this.weigh = o.weigh
    this.stopOnFailure = o.stopOnFailure ?? false
    this.onError = o.onError ?? (() => {})
  }

  /** Queues `op` for the next batch; `sink` is told when it is committed or failed. */
  append(op: Op, sink?: CommitSink<Op>): void {
    if (this.failed) {
      sink?.failed?.(op, this.failed)
      return
    }
    this.ops.push(op)
    this.sinks.push(sink)
    if (!this.scheduled && !this.writing) {
      this.scheduled = true
      setImmediate(this.drain)
    }
  }

  /** Resolves when everything appended so far is committed (rejects if a write failed). */
  flush(): Promise<void> {
    if (this.failed) return Promise.reject(this.failed)
    if (!this.ops.length && !this.writing) return Promise.resolve()
    return new Promise((resolve, reject) => this.flushWaiters.push({ resolve, reject }))
  }

  /** Ops waiting for the next batch. */
  get pending(): number {
    return this.ops.length
  }

  /** How many queued ops the next batch takes. */
  private nextSize(): number {
    if (this.fsync === 'always') return 1
    const weigh = this.weigh
    if (!weigh) return Math.min(this.ops.length, this.maxBatch)
    let n = 0
    let w = 0
    while (n < this.ops.length && (n === 0 || w + weigh(this.ops[n]) <= this.maxBatch)) w += weigh(this.ops[n++])
    return n
  }

  /** Takes the next batch off the queue and starts writing it (encoding happens now). */
  private startBatch(): Batch<Op> {
    const n = this.nextSize()
    let ops: Op[]
    let sinks: (CommitSink<Op> | undefined)[]
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
      done = this.write(ops, this.fsync !== 'none').then(
        () => undefined,
        (err: Error) => err,
      )
    } catch (err) {
      done = Promise.resolve(err as Error)
    }
    return { ops, sinks, done }
  }

  /** Writes batches one at a time, in order (see the file comment). */
  private drain = async (): Promise<void> => {
    this.scheduled = false
    if (this.writing) return
    this.writing = true
    let failure: Error | undefined
    let current = this.ops.length ? this.startBatch() : undefined
    while (current) {
      const err = await current.done
      const { ops, sinks } = current
      if (err && this.stopOnFailure) {
        this.failed = err
        current = undefined
      } else current = this.ops.length ? this.startBatch() : undefined
      if (!err) {
        this.stats.batches++
        this.stats.ops += ops.length
        for (let i = 0; i < ops.length; i++) sinks[i]?.committed(ops[i])
      } else {
        failure = err
        this.stats.errors++
        for (let i = 0; i < ops.length; i++) sinks[i]?.failed?.(ops[i], err)
        this.onError(err)
        if (this.failed) this.failQueued(this.failed)
      }
      if (!current && this.ops.length && !this.failed) current = this.startBatch()
    }
    this.writing = false
    const waiters = this.flushWaiters
    this.flushWaiters = []
    for (const w of waiters) failure ? w.reject(failure) : w.resolve()
  }

  private failQueued(err: Error): void {
    const { ops, sinks } = this
    this.ops = []
    this.sinks = []
    for (let i = 0; i < ops.length; i++) sinks[i]?.failed?.(ops[i], err)
  }
}
