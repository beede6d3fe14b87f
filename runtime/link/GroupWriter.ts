/**
 * Group commit for protocol state in the LevelDB store: writes asked for in the same tick share
 * one batch (one fsync with `sync`). Batches are written one at a time and in the order asked,
 * so when a write resolves, every write asked before it is on disk too. Several writes of one key
 * in the same batch keep only the last (an inbox's state is rewritten per frame). This is what lets the
 * Class A ends persist thousands of records per second and still ack only what is persisted.
 */
import type { LevelStore } from '../LevelStore.ts'

export type Db = LevelStore['db']
export type KvOp = { type: 'put'; key: string; value: string } | { type: 'del'; key: string }

export class GroupWriter {
  readonly stats = { batches: 0, entries: 0, maxBatch: 0, failures: 0 }
  private ops: KvOp[] = []
  /** Index in `ops` of the pending put/del of each key: a later write of the key replaces it. */
  private index = new Map<string, number>()
  private waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = []
  private writing = false
  private scheduled = false
  /** Set after a failed write; later writes fail fast (the caller's state is suspect). */
  failed?: Error

  constructor(readonly db: Db, readonly sync: boolean) {}

  write(ops: KvOp[]): Promise<void> {
    if (this.failed) return Promise.reject(this.failed)
    for (const o of ops) {
      const i = this.index.get(o.key)
      if (i !== undefined) this.ops[i] = o
      else {
        this.index.set(o.key, this.ops.length)
        this.ops.push(o)
      }
    }
    const p = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }))
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
    if (this.writing) return
    const ops = this.ops
    const waiters = this.waiters
    this.ops = []
    this.index = new Map()
    this.waiters = []
    if (!waiters.length) return
    this.writing = true
    try {
      if (ops.length) await this.db.batch(ops as any, { sync: this.sync } as any)
      this.stats.batches++
      this.stats.entries += ops.length
      if (ops.length > this.stats.maxBatch) this.stats.maxBatch = ops.length
      for (const w of waiters) w.resolve()
    } catch (err) {
      this.stats.failures++
      this.failed = err as Error
      for (const w of waiters) w.reject(err)
    } finally {
      this.writing = false
      if (this.waiters.length) this.schedule()
    }
  }
}

/** Cursor keys sort in cursor order. */
export const hex12 = (n: number): string => n.toString(16).padStart(12, '0')
