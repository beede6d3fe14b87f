/**
 * What the actor host needs from storage. actors/ owns this interface; runtime/LevelStore.ts
 * implements it on LevelDB (and tests may use the same adapter over memory-level).
 */
import type { LogEventLine } from '../protocol/log.ts'

/** How a durable actor came to be; written once, before its first event. */
export interface ActorMeta {
  path: string
  /** Registry name of the machine. */
  machine: string
  machineHash: string
  /** `codeHash` of the machine when the actor was created (absent in stores written before it). */
  codeHash?: string
  input?: unknown
  createdAt: number
  /**
   * `stopped` actors are not recovered at start; their journals stay for export. `archived` is
   * what `getMeta` answers for an actor retired by an `archive` op (its meta record is gone from
   * the live set; see ArchiveRecord).
   */
  status: 'live' | 'stopped' | 'archived'
}

/**
 * A finished durable actor retired from the live set (an `archive` op): recovery no longer reads
 * it, its journal stays (log export and history read it as before), and this record answers for
 * it by path. One op moves it, atomically: the actor is either live or archived, never both.
 */
export interface ArchiveRecord {
  /** The actor's meta as it was created (`status` is `live` here; `getMeta` answers `archived`). */
  meta: ActorMeta
  /** When the actor finished: the archive's order (`archivedPage`, newest first). */
  finishedAt: number
  archivedAt: number
  /** Its last journal seq. */
  seq: number
  /** What its owner answers for it (a job's public view without its input, which is in `meta`). */
  summary: unknown
  /** A name to find it by (`archivedByName`): a job's tenant and idempotency key. */
  name?: string
}

/** A page of the archive, newest finish first; `next` continues it. */
export interface ArchivePage {
  records: ArchiveRecord[]
  next: string | null
}

/** One journaled input of a durable actor: the same shape as a log's event line. */
export type JournalRecord = LogEventLine

/** A pending durable timer: the delayed event and when it falls due. */
export interface TimerRecord {
  id: string
  event: { type: string; [k: string]: unknown }
  due: number
}

/** A checkpoint: the persisted snapshot after the event `seq`, with what XState does not persist. */
export interface SnapshotRecord {
  seq: number
  at: number
  snapshot: any
  timers: TimerRecord[]
  /** Idempotency keys of the effects (invoked children) active at this point, by child id. */
  effects: Record<string, string>
}

/** Something an operator must see: an actor failed, a journal entry is corrupt, a write failed. */
export interface Incident {
  at: number
  class: 'actor' | 'journal' | 'storage' | string
  path?: string
  message: string
  seq?: number
}

export type StoreOp =
  | { type: 'meta'; meta: ActorMeta }
  /**
   * An event. With `rejected` set it marks an event already journaled as rejected, unless `unwritten`
   * says its own write failed: then the store writes the event and its marker together, so the seq
   * it spent is no gap.
   */
  | { type: 'event'; path: string; record: JournalRecord; unwritten?: true }
  | { type: 'snapshot'; path: string; record: SnapshotRecord }
  | { type: 'incident'; incident: Incident }
  /** Archives an actor; `unchecked`: it never wrote a checkpoint, so there is no latest snapshot to delete. */
  | { type: 'archive'; record: ArchiveRecord; unchecked?: true }

/** A stored value that cannot be decoded (truncated, not JSON, wrong shape). */
export class JournalCorruptError extends Error {
  readonly code = 'JOURNAL_CORRUPT'
  constructor(
    readonly path: string,
    readonly key: string,
    cause?: unknown,
  ) {
    super(`journal entry ${key} of actor ${path} is corrupt: ${(cause as Error)?.message ?? cause}`, { cause })
    this.name = 'JournalCorruptError'
  }
}

export interface Store {
  /** Writes ops atomically, in order; with `sync` the write is flushed to disk before resolving. */
  write(ops: StoreOp[], sync: boolean): Promise<void>
  listMeta(): Promise<ActorMeta[]>
  /** The meta of the actor at `path`, live, stopped or archived (then `status: 'archived'`). */
  getMeta(path: string): Promise<ActorMeta | undefined>
  /** The archive record of the actor at `path`, when it was archived. */
  archived(path: string): Promise<ArchiveRecord | undefined>
  /** The path of the archived actor named `name` (ArchiveRecord.name). */
  archivedByName(name: string): Promise<string | undefined>
  /** Archive records, newest finish first, `limit` of them after the page cursor `after`. */
  archivedPage(limit: number, after?: string): Promise<ArchivePage>
  /** The newest snapshot record of `path` (with `seq <= maxSeq`, if given). */
  latestSnapshot(path: string, maxSeq?: number): Promise<SnapshotRecord | undefined>
  /** Snapshot records of `path` in seq order. */
  snapshots(path: string): AsyncIterable<SnapshotRecord>
  /** Journal records of `path` with `afterSeq < seq <= untilSeq`, in seq order. */
  events(path: string, afterSeq?: number, untilSeq?: number): AsyncIterable<JournalRecord>
  /** Deletes events and snapshots of `path` with seq below `keepFromSeq` (the oldest kept snapshot). */
  compact(path: string, keepFromSeq: number): Promise<void>
  incidents(): Promise<Incident[]>
  /**
   * Everything recovery needs, in one pass: every live actor's meta, latest snapshot and journal
   * tail. A store closed cleanly (`markClean`) knows every tail is empty and skips reading them.
   */
  recoveryState(): Promise<RecoveryEntry[]>
  /**
   * Records (true) or clears (false) that every actor's latest snapshot covers its whole journal.
   * `sync: false` (default true) skips the fsync of the marker when every write before it was
   * synced: a marker lost to a power cut only costs the next start a full read, and one that
   * survives says nothing that is not on disk already.
   */
  markClean(clean: boolean, opts?: { sync?: boolean }): Promise<void>
  close(): Promise<void>
}

export interface RecoveryEntry {
  meta: ActorMeta
  snapshot?: SnapshotRecord
  tail: JournalRecord[]
  /** The entry could not be read (a corrupt value): the actor fails with an incident. */
  error?: unknown
}
