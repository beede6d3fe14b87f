/**
 * The LevelDB store adapter (the only file that imports `level`): the actor host's `Store`.
 *
 * The actor host's key spaces (runtime/keyLayout.ts names them and builds the keys; `!` sorts
 * below every character an id path may hold, so a path's keys form one contiguous range):
 *   m!<path>              actor meta (JSON; formats 1 and 2: runtime/actorRecords.ts)
 *   h!<id>                a machine version (name and hashes), named by format 2 metas and
 *                         archive records; f!store  the highest format written
 *   e!<path>!<seq hex12>  a journal segment: the JSON array of one actor's records of one group
 *                         commit, keyed by its first seq (one entry per actor per batch, not per
 *                         event: fewer, larger writes)
 *   r!<path>!<seq hex12>  a rejected-event marker (the message of the error the event caused)
 *   s!<path>!<seq hex12>  snapshot record (JSON)
 *   l!<path>              the latest snapshot record again, so recovery reads them in one scan
 *   c!clean               present only between a clean close and the next open: every actor's
 *                         latest snapshot covers its whole journal, so recovery reads no tail
 *   c!image!<n hex6>      with c!clean only: the recovery image, the JSON array of `[meta, latest
 *                         snapshot]` of every live actor (in chunks), so a start after a clean close
 *                         reads one small range and parses one string per chunk
 *   i!<at hex12>!<n>      incident (JSON)
 *   a!<path>              an archived actor's record (JSON ArchiveRecord, format 2: without the
 *                         meta's path, machine and status): its m! and l! are gone
 *                         (l! deleted only when the actor wrote one),
 *                         its journal (e!, r!, s!) stays; written with the two below in one batch
 *   t!<finishedAt hex12>!<path>   the archive by finish time (empty value)
 *   n!<name>              the path of the archived actor with that name (a job's tenant and key)
 *
 * Recovery reads the m! and l! ranges (and journal tails), so what is archived costs it nothing.
 */
import { Level } from 'level'
import type { AbstractLevel } from 'abstract-level'
import {
  JournalCorruptError,
  type ActorMeta,
  type ArchivePage,
  type ArchiveRecord,
  type Incident,
  type JournalRecord,
  type RecoveryEntry,
  type SnapshotRecord,
  type Store,
  type StoreOp,
} from '../actors/Store.ts'
import { ActorRecords } from './actorRecords.ts'
import { actorKeys, KEY_SPACES, range } from './keyLayout.ts'

type DB = AbstractLevel<any, string, string>

/** The data folder is held by another process (LevelDB allows one). */
export class DataDirLockedError extends Error {
  readonly code = 'DATA_DIR_LOCKED'
  constructor(
    readonly dir: string,
    cause?: unknown,
  ) {
    super(
      `the data folder ${dir} is in use by another process (a running hub?). Stop it, use another --data folder, or ask the running hub over HTTP (--url)`,
      { cause },
    )
    this.name = 'DataDirLockedError'
  }
}

/** Actors per chunk of the recovery image. */
const IMAGE_CHUNK = 4096

/**
 * LevelDB's write buffer (its memtable; LevelDB's own default is 4 MiB). A hub's writes are
 * short-lived keys in large numbers (a job's meta is deleted when the job is archived), and with
 * 16 MiB LevelDB flushes and compacts a quarter as often: its compaction thread spent 2 us per job
 * instead of 5 in the jobs bench (AETHER_BENCH_THREADS, docs/benchmarks.md). Costs up to two
 * buffers of memory (the one filling and the one being flushed), and an open after a kill replays
 * up to that much log: 200 ms against 132 ms with 4 MiB after 14 MB of writes (loaded machine).
 */
export const WRITE_BUFFER_BYTES = 16 * 1024 * 1024

export class LevelStore implements Store {
  private incidentN = 0
  /** Keys of the clean marker and image seen at recovery, deleted when the store is written again. */
  private cleanKeys?: string[]
  /** How metas and archive records are stored (formats 1 and 2). */
  private records: ActorRecords
  constructor(readonly db: DB) {
    this.records = new ActorRecords(db)
  }

  /** Opens (creating if needed) a LevelDB store in `dir`. */
  static async open(dir: string): Promise<LevelStore> {
    const db = new Level<string, string>(dir, {
      keyEncoding: 'utf8',
      valueEncoding: 'utf8',
      writeBufferSize: WRITE_BUFFER_BYTES,
    })
    try {
      await db.open()
    } catch (err: any) {
      const locked =
        err?.code === 'LEVEL_LOCKED' ||
        err?.cause?.code === 'LEVEL_LOCKED' ||
        /lock/i.test(String(err?.cause?.message ?? err?.message))
      if (locked) throw new DataDirLockedError(dir, err)
      throw err
    }
    return new LevelStore(db as unknown as DB)
  }

  write(ops: StoreOp[], sync: boolean): Promise<void> {
    // A chained batch: several times faster than an array batch, which clones every op.
    const batch = this.db.batch()
    let segments: Map<string, JournalRecord[]> | undefined
    const archived = archivedIn(ops)
    const versions: string[] = []
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]
      switch (op.type) {
        case 'event': {
          const rec = op.record
          if (rec.rejected !== undefined) {
            batch.put(actorKeys.rejected(op.path, rec.seq), rec.rejected)
            if (op.unwritten) {
              // the event whose own write failed, in a segment of its own: later seqs may be on disk
              // already, and a segment's records must follow its key's seq
              const { rejected: _, ...event } = rec
              batch.put(actorKeys.segment(op.path, rec.seq), JSON.stringify([event]))
            }
            break
          }
          const seg = (segments ??= new Map()).get(op.path)
          if (seg) seg.push(rec)
          else segments.set(op.path, [rec])
          break
        }
        case 'snapshot': {
          // archived in this same batch: its archive record supersedes the checkpoint
          if (archived?.has(op.path)) break
          const v = JSON.stringify(op.record)
          // A final checkpoint is kept as the latest only: recovery reads it, and replay computes
          // the same state from the journal (it would be one more copy of every finished actor).
          if (!isFinal(op.record)) batch.put(actorKeys.snapshot(op.path, op.record.seq), v)
          batch.put(actorKeys.latest(op.path), v)
          break
        }
        case 'meta':
          batch.put(actorKeys.meta(op.meta.path), this.records.meta(op.meta, batch, versions))
          break
        case 'incident':
          batch.put(actorKeys.incident(op.incident.at, this.incidentN++), JSON.stringify(op.incident))
          break
        case 'archive': {
          const r = op.record
          const path = r.meta.path
          batch.put(actorKeys.archive(path), this.records.archive(r, batch, versions))
          batch.put(actorKeys.finished(r.finishedAt, path), '')
          if (r.name !== undefined) batch.put(actorKeys.archiveName(r.name), path)
          batch.del(actorKeys.meta(path))
          if (!op.unchecked) batch.del(actorKeys.latest(path))
          break
        }
      }
    }
    if (segments)
      for (const [path, recs] of segments) batch.put(actorKeys.segment(path, recs[0].seq), JSON.stringify(recs))
    const done = batch.write({ sync } as any)
    return versions.length ? done.then(() => this.records.committed(versions)) : done
  }

  async listMeta(): Promise<ActorMeta[]> {
    await this.records.ready()
    const out: ActorMeta[] = []
    for await (const [key, value] of this.db.iterator(range(KEY_SPACES.meta.prefix))) {
      out.push(this.records.decodeMeta(key.slice(2), key, value))
    }
    return out
  }

  async getMeta(path: string): Promise<ActorMeta | undefined> {
    await this.records.ready()
    const key = actorKeys.meta(path)
    const v = await this.db.get(key)
    if (v !== undefined) return this.records.decodeMeta(path, key, v)
    const a = await this.archived(path)
    return a && { ...a.meta, status: 'archived' }
  }

  async archived(path: string): Promise<ArchiveRecord | undefined> {
    await this.records.ready()
    const key = actorKeys.archive(path)
    const v = await this.db.get(key)
    return v === undefined ? undefined : this.records.decodeArchive(path, key, v)
  }

  archivedByName(name: string): Promise<string | undefined> {
    return this.db.get(actorKeys.archiveName(name))
  }

  async archivedPage(limit: number, after?: string): Promise<ArchivePage> {
    // The cursor is the last t! key of the page before (finish time and path): unique and stable.
    await this.records.ready()
    const all = range(actorKeys.finishes)
    const keys = await this.db.keys({ gte: all.gte, lt: after ?? all.lt, reverse: true, limit: limit + 1 }).all()
    const page = keys.slice(0, limit)
    const paths = page.map((k) => k.slice(k.indexOf('!', actorKeys.finishes.length) + 1))
    const values = paths.length ? await this.db.getMany(paths.map((p) => actorKeys.archive(p))) : []
    const records: ArchiveRecord[] = []
    values.forEach((v, i) => {
      if (v !== undefined) records.push(this.records.decodeArchive(paths[i], actorKeys.archive(paths[i]), v))
    })
    return { records, next: keys.length > limit ? page[page.length - 1] : null }
  }

  async latestSnapshot(path: string, maxSeq?: number): Promise<SnapshotRecord | undefined> {
    const within =
      maxSeq === undefined
        ? range(actorKeys.snapshots(path))
        : { gte: actorKeys.snapshots(path), lte: actorKeys.snapshot(path, maxSeq) }
    for await (const [key, value] of this.db.iterator({ ...within, reverse: true, limit: 1 }))
      return decode(path, key, value)
    return undefined
  }

  async *snapshots(path: string): AsyncIterable<SnapshotRecord> {
    for await (const [key, value] of this.db.iterator(range(actorKeys.snapshots(path)))) yield decode(path, key, value)
  }

  async *events(path: string, afterSeq = 0, untilSeq?: number): AsyncIterable<JournalRecord> {
    const rejected = new Map<number, string>()
    for await (const [key, value] of this.db.iterator({
      gt: actorKeys.rejected(path, afterSeq),
      lt: range(actorKeys.rejectedAll(path)).lt,
    })) {
      rejected.set(parseInt(key.slice(key.lastIndexOf('!') + 1), 16), value)
    }
    // The segment holding afterSeq + 1 may start before it.
    let start = actorKeys.segments(path)
    for await (const key of this.db.keys({
      gte: actorKeys.segments(path),
      lte: actorKeys.segment(path, afterSeq + 1),
      reverse: true,
      limit: 1,
    }))
      start = key
    const it = this.db.iterator({ gte: start, lt: range(actorKeys.segments(path)).lt })
    let last = -1
    try {
      for (;;) {
        const entries = await it.nextv(256)
        if (!entries.length) break
        for (const [key, value] of entries) {
          const recs = decode<JournalRecord[]>(path, key, value)
          if (!Array.isArray(recs)) throw new JournalCorruptError(path, key, 'not a journal segment')
          for (const rec of recs) {
            if (typeof rec?.seq !== 'number' || typeof rec.event?.type !== 'string' || rec.seq <= last) {
              throw new JournalCorruptError(path, key, 'not a journal record in seq order')
            }
            last = rec.seq
            if (rec.seq <= afterSeq) continue
            if (untilSeq !== undefined && rec.seq > untilSeq) return
            const why = rejected.get(rec.seq)
            yield why === undefined ? rec : { ...rec, rejected: why }
          }
        }
      }
    } finally {
      await it.close()
    }
  }

  /** Compactions of an actor run one after another (see compact). */
  private compacting = new Map<string, Promise<void>>()

  compact(path: string, keepFromSeq: number): Promise<void> {
    // One at a time per actor: two compactions reading the same straddling segment would each
    // write their own split of it, and the journal would hold overlapping segments.
    const prev = this.compacting.get(path) ?? Promise.resolve()
    const next = prev.then(() => this.compactNow(path, keepFromSeq))
    const settled = next.catch(() => {})
    this.compacting.set(path, settled)
    void settled.then(() => {
      if (this.compacting.get(path) === settled) this.compacting.delete(path)
    })
    return next
  }

  private async compactNow(path: string, keepFromSeq: number): Promise<void> {
    // Whole segments whose last record is covered by the kept snapshot go; a segment that
    // straddles it is rewritten without its covered records, under the key of its first kept
    // one, so the journal left starts right after the kept snapshot (the rejected markers of the
    // covered records go too: a covered record left behind would read as accepted).
    const b = this.db.batch()
    for await (const [key, value] of this.db.iterator({
      gte: actorKeys.segments(path),
      lte: actorKeys.segment(path, keepFromSeq),
    })) {
      let recs: JournalRecord[]
      try {
        recs = JSON.parse(value)
        if (!Array.isArray(recs) || !recs.every((r) => typeof r?.seq === 'number')) continue
      } catch {
        continue // a corrupt segment is left for recovery to report
      }
      b.del(key)
      const kept = recs.filter((r) => r.seq > keepFromSeq)
      if (kept.length) b.put(actorKeys.segment(path, kept[0].seq), JSON.stringify(kept))
    }
    await b.write()
    await this.db.clear({ gte: actorKeys.rejectedAll(path), lte: actorKeys.rejected(path, keepFromSeq) })
    await this.db.clear({ gte: actorKeys.snapshots(path), lt: actorKeys.snapshot(path, keepFromSeq) })
  }

  /**
   * Starts reading what recovery needs now (a hub does it as it opens the store, while its features
   * install: they write none of the actor key spaces), so that `recoveryState()` finds it read.
   */
  prefetchRecovery(): void {
    if (this.prefetched) return
    this.prefetched = this.readRecovery()
    this.prefetched.catch(() => {}) // recoveryState() reports it
  }
  private prefetched?: Promise<RecoveryEntry[]>

  recoveryState(): Promise<RecoveryEntry[]> {
    const p = this.prefetched
    this.prefetched = undefined
    return p ?? this.readRecovery()
  }

  private async readRecovery(): Promise<RecoveryEntry[]> {
    await this.records.ready()
    const cleanRows = await this.db.iterator(range(KEY_SPACES.clean.prefix)).all()
    this.cleanKeys = cleanRows.map((r) => r[0])
    if (cleanRows.some((r) => r[0] === actorKeys.clean)) {
      const fromImage = readImage(cleanRows, this.records)
      if (fromImage) return fromImage
    }
    return this.readAll(cleanRows.some((r) => r[0] === actorKeys.clean))
  }

  /** Recovery from the per-actor records: metas, latest snapshots and (unless clean) journal tails. */
  private async readAll(clean: boolean): Promise<RecoveryEntry[]> {
    const metas: ActorMeta[] = []
    const out: RecoveryEntry[] = []
    // iterator().all() reads in large native batches (a for-await per entry is many times slower).
    const [metaRows, latestRows] = await Promise.all([
      this.db.iterator(range(KEY_SPACES.meta.prefix)).all(),
      this.db.iterator(range(KEY_SPACES.latest.prefix)).all(),
    ])
    for (const [key, value] of metaRows) {
      try {
        const meta = this.records.decodeMeta(key.slice(2), key, value)
        if (meta.status === 'live') metas.push(meta)
      } catch (error) {
        out.push({
          meta: { path: key.slice(2), machine: '?', machineHash: '', createdAt: 0, status: 'live' },
          tail: [],
          error,
        })
      }
    }
    const latest = new Map<string, string>()
    for (const [key, value] of latestRows) latest.set(key.slice(2), value)
    const load = async (meta: ActorMeta): Promise<RecoveryEntry> => {
      try {
        const raw = latest.get(meta.path)
        const snapshot =
          raw === undefined ? undefined : decode<SnapshotRecord>(meta.path, actorKeys.latest(meta.path), raw)
        const tail: JournalRecord[] = []
        // A finished actor's state is final: what its journal holds after it changes nothing
        // (the host checkpoints an actor when it finishes), so its journal is not read.
        if (!clean && !isFinal(snapshot)) for await (const r of this.events(meta.path, snapshot?.seq ?? 0)) tail.push(r)
        return { meta, snapshot, tail }
      } catch (error) {
        return { meta, tail: [], error }
      }
    }
    if (clean) {
      // After a clean close every tail is empty: no iterator, no promise per actor.
      for (const meta of metas) {
        try {
          const raw = latest.get(meta.path)
          out.push({
            meta,
            snapshot:
              raw === undefined ? undefined : decode<SnapshotRecord>(meta.path, actorKeys.latest(meta.path), raw),
            tail: [],
          })
        } catch (error) {
          out.push({ meta, tail: [], error })
        }
      }
      return out
    }
    // Tails are read a few actors at a time: each is its own iterator.
    for (let i = 0; i < metas.length; i += 64) out.push(...(await Promise.all(metas.slice(i, i + 64).map(load))))
    return out
  }

  async markClean(clean: boolean, opts: { sync?: boolean } = {}): Promise<void> {
    if (!clean) {
      // No fsync needed: any later journal write is synced after this one, in order, and until
      // one happens the store is still clean.
      const keys = this.cleanKeys ?? (await this.db.keys(range(KEY_SPACES.clean.prefix)).all())
      this.cleanKeys = []
      if (keys.length) await this.db.batch(keys.map((key) => ({ type: 'del' as const, key })))
      return
    }
    // The image is built from the stored records themselves (raw strings, nothing parsed), so it
    // says exactly what a full read would; marker and image land in one batch (one log record:
    // all or nothing), synced unless the caller says every write before it already is (see
    // Store.markClean).
    const [metaRows, latestRows, stale] = await Promise.all([
      this.db.iterator(range(KEY_SPACES.meta.prefix)).all(),
      this.db.iterator(range(KEY_SPACES.latest.prefix)).all(),
      this.db.keys(range(KEY_SPACES.clean.prefix)).all(),
    ])
    const latest = new Map<string, string>()
    for (const [key, value] of latestRows) latest.set(key.slice(2), value)
    const chunks: string[] = []
    const chunk: string[] = []
    let usable = true
    for (const [key, value] of metaRows) {
      // Stopped actors are not recovered; a meta that does not parse makes the image unusable
      // (recovery must report it), so then no image is written and the full read runs.
      let live: boolean
      try {
        live = JSON.parse(value).status === 'live'
      } catch {
        usable = false
        break
      }
      if (!live) continue
      const snap = latest.get(key.slice(2))
      chunk.push(snap === undefined ? `[${value}]` : `[${value},${snap}]`)
      if (chunk.length === IMAGE_CHUNK) chunks.push(`[${chunk.splice(0).join(',')}]`)
    }
    if (chunk.length) chunks.push(`[${chunk.join(',')}]`)
    const batch = this.db.batch()
    // A batch applies in order: an older image's chunks go, the new ones (same keys) land after.
    for (const key of stale) batch.del(key)
    if (usable)
      chunks.forEach((c, n) => {
        batch.put(actorKeys.image(n), c)
      })
    batch.put(actorKeys.clean, String(Date.now()))
    await batch.write({ sync: opts.sync !== false } as any)
  }

  async incidents(): Promise<Incident[]> {
    const out: Incident[] = []
    for await (const [key, value] of this.db.iterator(range(KEY_SPACES.incidents.prefix)))
      out.push(decode('(incidents)', key, value))
    return out
  }

  async close(): Promise<void> {
    await this.db.close()
  }
}

/**
 * The entries of a clean close's recovery image, or undefined when it is missing, incomplete or
 * does not decode (then recovery reads the per-actor records, which say the same).
 */
function readImage(rows: [string, string][], records: ActorRecords): RecoveryEntry[] | undefined {
  const out: RecoveryEntry[] = []
  let chunks = 0
  for (const [key, value] of rows) {
    if (!key.startsWith(KEY_SPACES.cleanImage.prefix)) continue
    if (parseInt(key.slice(8), 16) !== chunks++) return undefined
    let entries: unknown
    try {
      entries = JSON.parse(value)
    } catch {
      return undefined
    }
    if (!Array.isArray(entries)) return undefined
    for (const e of entries) {
      let meta: ActorMeta
      try {
        meta = records.expandMeta(e?.[0]?.path, key, e?.[0])
      } catch {
        return undefined
      }
      const snapshot = e?.[1]
      if (typeof meta?.path !== 'string' || typeof meta.machine !== 'string' || meta.status !== 'live') return undefined
      if (snapshot !== undefined && typeof snapshot?.seq !== 'number') return undefined
      out.push({ meta, snapshot, tail: [] })
    }
  }
  return chunks ? out : undefined
}

/** The paths archived by `ops` (undefined when none is). */
function archivedIn(ops: StoreOp[]): Set<string> | undefined {
  let out: Set<string> | undefined
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]
    if (op.type === 'archive') (out ??= new Set()).add(op.record.meta.path)
  }
  return out
}

/** A checkpoint of an actor in its final state (XState's `done`). */
function isFinal(s: SnapshotRecord | undefined): boolean {
  return s?.snapshot?.status === 'done'
}

function decode<T = any>(path: string, key: string, value: string): T {
  try {
    return JSON.parse(value)
  } catch (err) {
    throw new JournalCorruptError(path, key, err)
  }
}
