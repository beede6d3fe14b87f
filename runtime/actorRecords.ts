/**
 * How runtime/LevelStore.ts stores an actor's meta (`m!`) and archive record (`a!`): it writes
 * format 2 and reads both formats.
 *
 * Format 1 (stores written before issue 17): `m!<path>` is the JSON ActorMeta, with the machine's
 * name and its two hashes (about 160 bytes of every meta); `a!<path>` is the JSON ArchiveRecord,
 * the whole meta again inside it.
 *
 * Format 2: a machine version (name, `machineHash`, `codeHash`) is stored once, under
 * `h!<id>` = `{"machine", "machineHash", "codeHash"}` (id: the first 16 hex digits of the sha256 of
 * that JSON), in the batch of the first record that names it; records name it by id:
 *
 *   m!<path> = {"path", "h": id, "input"?, "createdAt", "status"}
 *   a!<path> = {"h": id, "input"?, "createdAt", "finishedAt", "archivedAt", "seq", "summary", "name"?}
 *
 * An archive record's path is its key's and its meta's status is `live`, as in format 1. A record
 * is read by its shape (format 1 has `machineHash`, or `meta`), so an upgraded store holds both
 * formats side by side. `f!store` holds the highest format written to the store; a store that
 * holds a format above FORMAT was written by a newer Aether and is refused (StoreFormatError).
 * A meta without hashes (none is written so today) is kept in format 1.
 */
import { createHash } from 'node:crypto'
import type { AbstractChainedBatch, AbstractLevel } from 'abstract-level'
import { type ActorMeta, type ArchiveRecord, JournalCorruptError } from '../actors/Store.ts'
import { actorKeys, KEY_SPACES, range } from './keyLayout.ts'

/** The store format this code writes (and the highest it reads). */
export const FORMAT = 2

/** The machine a meta names, stored once per version in format 2. */
interface MachineVersion {
  machine: string
  machineHash: string
  codeHash?: string
}

/** The data folder was written by a newer Aether, in a format this one cannot read. */
export class StoreFormatError extends Error {
  readonly code = 'STORE_FORMAT'
  constructor(readonly format: string) {
    super(
      `the data folder holds store format ${format}, written by a newer Aether; this one reads up to ${FORMAT}. Run the newer version, or use another --data folder`,
    )
    this.name = 'StoreFormatError'
  }
}

type DB = AbstractLevel<any, string, string>
type Batch = AbstractChainedBatch<any, string, string>

/** Encodes and decodes metas and archive records for one store; knows its machine versions. */
export class ActorRecords {
  /** Machine versions by id: read from the store, or named by a record this process wrote. */
  private byId = new Map<string, MachineVersion>()
  /** The version last written per machine name, with its id (most machines have one version). */
  private last = new Map<string, { v: MachineVersion; id: string }>()
  /** Ids whose `h!` record is on disk: read, or written by a batch that committed. */
  private stored = new Set<string>()
  private loaded?: Promise<void>

  constructor(private db: DB) {}

  /** Reads the store's format and machine versions, once; every decode waits for it. */
  ready(): Promise<void> {
    this.loaded ??= this.load()
    return this.loaded
  }

  private async load(): Promise<void> {
    const format = await this.db.get(actorKeys.format)
    if (format !== undefined && !(Number(format) <= FORMAT)) throw new StoreFormatError(format)
    for (const [key, value] of await this.db.iterator(range(KEY_SPACES.machineVersions.prefix)).all()) {
      const id = key.slice(KEY_SPACES.machineVersions.prefix.length)
      this.byId.set(id, decodeJson(id, key, value))
      this.stored.add(id)
    }
  }

  /**
   * The stored text of `meta`; puts its machine version in `batch` unless it is on disk, adding its
   * id to `written` (pass them to `committed` once the batch is).
   */
  meta(meta: ActorMeta, batch: Batch, written: string[]): string {
    const h = this.versionOf(meta, batch, written)
    if (h === undefined) return JSON.stringify(meta)
    return JSON.stringify({ path: meta.path, h, input: meta.input, createdAt: meta.createdAt, status: meta.status })
  }

  /** The stored text of an archive record (format 2 leaves out the meta's path, machine and status). */
  archive(r: ArchiveRecord, batch: Batch, written: string[]): string {
    const m = r.meta
    const h = this.versionOf(m, batch, written)
    if (h === undefined) return JSON.stringify(r)
    const { finishedAt, archivedAt, seq, summary, name } = r
    return JSON.stringify({ h, input: m.input, createdAt: m.createdAt, finishedAt, archivedAt, seq, summary, name })
  }

  /** The batch that wrote these ids committed: later records need not write them again. */
  committed(written: string[]): void {
    for (const id of written) this.stored.add(id)
  }

  /** A meta as stored (either format), parsed; after `ready()`. */
  decodeMeta(path: string, key: string, value: string): ActorMeta {
    return this.expandMeta(path, key, decodeJson(path, key, value))
  }

  /** A parsed meta of either format as ActorMeta (the recovery image holds parsed metas). */
  expandMeta(path: string, key: string, raw: any): ActorMeta {
    if (raw?.h === undefined) return raw
    const meta: ActorMeta = {
      path: raw.path ?? path,
      ...this.version(path, key, raw.h),
      createdAt: raw.createdAt,
      status: raw.status,
    }
    if (raw.input !== undefined) meta.input = raw.input
    return meta
  }

  /** An archive record as stored (either format), parsed; after `ready()`. */
  decodeArchive(path: string, key: string, value: string): ArchiveRecord {
    const raw = decodeJson(path, key, value)
    if (raw?.h === undefined) return raw
    const meta: ActorMeta = { path, ...this.version(path, key, raw.h), createdAt: raw.createdAt, status: 'live' }
    if (raw.input !== undefined) meta.input = raw.input
    const r: ArchiveRecord = {
      meta,
      finishedAt: raw.finishedAt,
      archivedAt: raw.archivedAt,
      seq: raw.seq,
      summary: raw.summary,
    }
    if (raw.name !== undefined) r.name = raw.name
    return r
  }

  private version(path: string, key: string, id: string): MachineVersion {
    const v = this.byId.get(id)
    if (!v) throw new JournalCorruptError(path, key, `machine version ${id} is not in the store (h!${id})`)
    return v
  }

  /** The id of the meta's machine version, put in `batch` if not stored yet; undefined without hashes. */
  private versionOf(meta: ActorMeta, batch: Batch, written: string[]): string | undefined {
    if (!meta.machineHash) return undefined
    let last = this.last.get(meta.machine)
    if (!last || last.v.machineHash !== meta.machineHash || last.v.codeHash !== meta.codeHash) {
      const v: MachineVersion =
        meta.codeHash === undefined
          ? { machine: meta.machine, machineHash: meta.machineHash }
          : { machine: meta.machine, machineHash: meta.machineHash, codeHash: meta.codeHash }
      const id = createHash('sha256').update(JSON.stringify(v)).digest('hex').slice(0, 16)
      last = { v, id }
      this.last.set(meta.machine, last)
      this.byId.set(id, v)
    }
    if (!this.stored.has(last.id) && !written.includes(last.id)) {
      // Until a batch that holds it commits, every batch that names it writes it too (same value).
      if (!written.length) batch.put(actorKeys.format, String(FORMAT))
      batch.put(actorKeys.machineVersion(last.id), JSON.stringify(last.v))
      written.push(last.id)
    }
    return last.id
  }
}

function decodeJson(path: string, key: string, value: string): any {
  try {
    return JSON.parse(value)
  } catch (err) {
    throw new JournalCorruptError(path, key, err)
  }
}
