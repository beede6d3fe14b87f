/**
 * Group commit for protocol state in the LevelDB store: writes asked for in the same tick share
 * one batch (one fsync with `sync`). Batches are written one at a time and in the order asked,
 * so when a write resolves, every write asked before it is on disk too. Several writes of one key
 * in the same batch keep only the last (an inbox's state is rewritten per frame). A batch holds
 * about `maxBytes` at most, so a burst is written (and can be sent on) in a pipeline of batches
 * rather than all at once after one huge write.
 */
import type { LevelStore } from '../LevelStore.ts'

export type Db = LevelStore['db']
export type KvOp = { type: 'put'; key: string; value: string } | { type: 'del'; key: string }

interface Pending {
  ops: KvOp[]
  bytes: number
  resolve: () => void
  reject: (e: unknown) => void
}

export class GroupWriter {
  readonly stats = { batches: 0, entries: 0, maxBatch: 0, failures: 0 }
  private queue: Pending[] = []
  private writing = false
  private scheduled = false
  /** Set after a failed write; later writes fail fast (the caller's state is suspect). */
  failed?: Error

  constructor(
    readonly db: Db,
    readonly sync: boolean,
    readonly maxBytes = 1 << 20,
  ) {}

  write(ops: KvOp[]): Promise<void> {
    if (this.failed) return Promise.reject(this.failed)
    let bytes = 0
    for (const o of ops) bytes += o.key.length + (o.type === 'put' ? o.value.length : 0)
    const p = new Promise<void>((resolve, reject) => this.queue.push({ ops, bytes, resolve, reject }))
    this.schedule()
    return p
  }

  /** Resolves when everything asked so far is written. */
  flush(): Promise<void> {
    return this.write([])
  }

  private schedule(): void {
    if (this.scheduled || this.writing) return
    this.scheduled = true
    setImmediate(() => void this.run())
  }

  private async run(): Promise<void> {
    this.scheduled = false
    if (this.writing || !this.queue.length) return
    // Take whole writes, in order, up to about maxBytes (at least one).
    let n = 0
    let bytes = 0
    while (n < this.queue.length && (n === 0 || bytes + this.queue[n].bytes <= this.maxBytes))
      bytes += this.queue[n++].bytes
    const taken = this.queue.splice(0, n)
    const batch: KvOp[] = []
    const index = new Map<string, number>()
    for (const w of taken) {
      for (const o of w.ops) {
        const i = index.get(o.key)
        if (i !== undefined) batch[i] = o
        else {
          index.set(o.key, batch.length)
          batch.push(o)
        }
      }
    }
    this.writing = true
    try {
      if (batch.length) await this.db.batch(batch as any, { sync: this.sync } as any)
      this.stats.batches++
      this.stats.entries += batch.length
      if (batch.length > this.stats.maxBatch) this.stats.maxBatch = batch.length
      for (const w of taken) w.resolve()
    } catch (err) {
      this.stats.failures++
      this.failed = err as Error
      for (const w of taken) w.reject(err)
      for (const w of this.queue.splice(0)) w.reject(err)
    } finally {
      this.writing = false
      if (this.queue.length) this.schedule()
    }
  }
}

/** Cursor keys sort in cursor order. */
export const hex12 = (n: number): string => n.toString(16).padStart(12, '0')
