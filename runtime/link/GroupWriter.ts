/**
 * Group commit for protocol state in the LevelDB store (the Class A outbox, the root's inboxes):
 * the actor journal's mechanism (actors/GroupCommit.ts: batching, order, fsync policy) over raw
 * key/value writes. Writes asked for in the same tick share one batch (one fsync with `sync`);
 * when a write resolves, every write asked before it is on disk too. Several writes of one key in
 * the same batch keep only the last (an inbox's state is rewritten per frame). A batch holds about
 * `maxBytes` at most, so a burst is written (and can be sent on) in a pipeline of batches rather
 * than all at once after one huge write. After a failed write every later write fails: the
 * caller's state in memory is suspect.
 */
import { GroupCommit, type GroupCommitSink } from '../../actors/index.ts'
import type { LevelStore } from '../LevelStore.ts'

export type Db = LevelStore['db']
export type KvOp = { type: 'put'; key: string; value: string } | { type: 'del'; key: string }

/** One `write` call: its ops, their size and its promise. */
interface Pending {
  ops: KvOp[]
  bytes: number
  resolve: () => void
  reject: (e: unknown) => void
}

const settle: GroupCommitSink<Pending> = {
  committed: (p) => p.resolve(),
  failed: (p, err) => p.reject(err),
}

export class GroupWriter {
  readonly stats = { batches: 0, entries: 0, maxBatch: 0, failures: 0 }
  private readonly commits: GroupCommit<Pending>

  /** The database of `store`, whose keys the caller builds with runtime/keyLayout.ts. */
  readonly db: Db

  constructor(
    store: LevelStore,
    readonly sync: boolean,
    readonly maxBytes = 1 << 20,
  ) {
    this.db = store.db
    this.commits = new GroupCommit<Pending>({
      write: (taken, sync) => this.writeBatch(taken, sync),
      fsync: sync ? 'batch' : 'none',
      maxBatch: maxBytes,
      weigh: (p) => p.bytes,
      stopOnFailure: true,
      onError: () => void this.stats.failures++,
    })
  }

  /** Set after a failed write; later writes fail fast (the caller's state is suspect). */
  get failed(): Error | undefined {
    return this.commits.failed
  }

  /** Writes `ops` in the next batch; resolves once they (and everything asked before) are on disk. */
  write(ops: KvOp[]): Promise<void> {
    let bytes = 0
    for (const o of ops) bytes += o.key.length + (o.type === 'put' ? o.value.length : 0)
    return new Promise<void>((resolve, reject) => this.commits.append({ ops, bytes, resolve, reject }, settle))
  }

  /** Resolves when everything asked so far is written. */
  flush(): Promise<void> {
    return this.write([])
  }

  /** One batch: the ops of the writes taken, in order, the last write of a key winning. */
  private async writeBatch(taken: Pending[], sync: boolean): Promise<void> {
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
    if (batch.length) await this.db.batch(batch as any, { sync } as any)
    this.stats.batches++
    this.stats.entries += batch.length
    if (batch.length > this.stats.maxBatch) this.stats.maxBatch = batch.length
  }
}
