/**
 * The write-ahead journal's writer: group commit (actors/GroupCommit.ts, where the batching and
 * the fsync policy are defined) over a `Store`. A durable actor appends each event here before it
 * takes effect and applies it when its sink is told the event is committed.
 */
import { type CommitSink as GroupCommitSink, GroupCommit, type FsyncPolicy } from './GroupCommit.ts'
import type { Store, StoreOp } from './Store.ts'

export type { FsyncPolicy } from './GroupCommit.ts'

/** Told when a journal op is committed or failed. */
export type CommitSink = GroupCommitSink<StoreOp>

export class Journal extends GroupCommit<StoreOp> {
  constructor(store: Store, fsync: FsyncPolicy = 'batch', maxBatch = 8192, onError: (err: Error) => void = () => {}) {
    super({ write: (ops, sync) => store.write(ops, sync), fsync, maxBatch, onError })
  }
}
