/**
 * Where an actor's readable journal starts. With `retain` set, compaction deletes the events and
 * checkpoints older than the oldest kept checkpoint; what is left starts at that checkpoint, and
 * the events after it. Everything that reads a journal from its beginning (the log export, the
 * inspector's history, the REST history pages) asks here, so they agree on the first seq and on
 * the state before it.
 */
import { ActorError } from './errors.ts'
import type { ActorMeta, SnapshotRecord, Store } from './Store.ts'

/** The beginning of an actor's readable journal. */
export interface JournalStart {
  meta: ActorMeta
  /**
   * The checkpoint the journal continues from when its head was compacted away (its seq is the
   * last event it covers); absent when the journal starts at the actor's creation (`meta.input`).
   */
  base?: SnapshotRecord
  /** Seq of the first readable event: `base.seq + 1`, or 1. */
  firstSeq: number
}

/** The journal's head is gone and no checkpoint covers it: the store lost data or was edited. */
export class JournalGapError extends ActorError {
  constructor(
    readonly path: string,
    readonly firstSeq: number,
  ) {
    super(
      'JOURNAL_GAP',
      `the journal of "${path}" starts at seq ${firstSeq} and no checkpoint covers seq ${firstSeq - 1}: events are missing; restore the data folder from a backup`,
    )
    this.name = 'JournalGapError'
  }
}

/**
 * Finds where the journal of `path` starts; undefined when no durable actor lives there.
 * Throws JournalGapError when the head is missing and no checkpoint covers it.
 */
export async function journalStart(store: Store, path: string): Promise<JournalStart | undefined> {
  const meta = await store.getMeta(path)
  if (!meta) return undefined
  let first: number | undefined
  for await (const rec of store.events(path, 0)) {
    first = rec.seq
    break
  }
  if (first === 1) return { meta, firstSeq: 1 }
  if (first === undefined) {
    // No event left: either none yet, or every one is covered by the newest checkpoint.
    const base = await store.latestSnapshot(path)
    return base ? { meta, base, firstSeq: base.seq + 1 } : { meta, firstSeq: 1 }
  }
  // Compacted: the oldest checkpoint that covers the event before the first one left. A store
  // may keep a few events older than that checkpoint (a segment it could not split); they are
  // not read, since what they led to is the checkpoint.
  for await (const s of store.snapshots(path)) {
    if (s.seq >= first - 1) return { meta, base: s, firstSeq: s.seq + 1 }
  }
  throw new JournalGapError(path, first)
}
