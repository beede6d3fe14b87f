/**
 * The LevelDB store adapter (the only file that imports `level`): the actor host's `Store`.
 *
 * Key layout (strings; `!` sorts below every character an id path may hold, so a path's keys
 * form one contiguous range):
 *   m!<path>              actor meta (JSON)
 *   e!<path>!<seq hex12>  journal record (JSON, a log event line)
 *   s!<path>!<seq hex12>  snapshot record (JSON)
 *   i!<at hex12>!<n>      incident (JSON)
 */
import { Level } from 'level'
import type { AbstractLevel } from 'abstract-level'
import { JournalCorruptError, type ActorMeta, type Incident, type JournalRecord, type SnapshotRecord, type Store, type StoreOp } from '../actors/Store.ts'

type DB = AbstractLevel<any, string, string>

const hex = (n: number) => n.toString(16).padStart(12, '0')

/** The data folder is held by another process (LevelDB allows one). */
export class DataDirLockedError extends Error {
  readonly code = 'DATA_DIR_LOCKED'
  constructor(readonly dir: string, cause?: unknown) {
    super(`the data folder ${dir} is in use by another process (a running hub?). Stop it, use another --data folder, or ask the running hub over HTTP (--url)`, { cause })
    this.name = 'DataDirLockedError'
  }
}

export class LevelStore implements Store {
  private incidentN = 0
  constructor(readonly db: DB) {}

  /** Opens (creating if needed) a LevelDB store in `dir`. */
  static async open(dir: string): Promise<LevelStore> {
    const db = new Level<string, string>(dir, { keyEncoding: 'utf8', valueEncoding: 'utf8' })
    try {
      await db.open()
    } catch (err: any) {
      const locked = err?.code === 'LEVEL_LOCKED' || err?.cause?.code === 'LEVEL_LOCKED' || /lock/i.test(String(err?.cause?.message ?? err?.message))
      if (locked) throw new DataDirLockedError(dir, err)
      throw err
    }
    return new LevelStore(db as unknown as DB)
  }

  write(ops: StoreOp[], sync: boolean): Promise<void> {
    const batch = new Array(ops.length)
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]
      switch (op.type) {
        case 'event':
          batch[i] = { type: 'put', key: `e!${op.path}!${hex(op.record.seq)}`, value: JSON.stringify(op.record) }
          break
        case 'snapshot':
          batch[i] = { type: 'put', key: `s!${op.path}!${hex(op.record.seq)}`, value: JSON.stringify(op.record) }
          break
        case 'meta':
          batch[i] = { type: 'put', key: `m!${op.meta.path}`, value: JSON.stringify(op.meta) }
          break
        case 'incident':
          batch[i] = { type: 'put', key: `i!${hex(op.incident.at)}!${(this.incidentN++).toString(36)}`, value: JSON.stringify(op.incident) }
          break
      }
    }
    return this.db.batch(batch, { sync } as any)
  }

  async listMeta(): Promise<ActorMeta[]> {
    const out: ActorMeta[] = []
    for await (const [key, value] of this.db.iterator({ gte: 'm!', lt: 'm"' })) {
      out.push(decode(key.slice(2), key, value))
    }
    return out
  }

  async getMeta(path: string): Promise<ActorMeta | undefined> {
    const v = await this.db.get(`m!${path}`)
    return v === undefined ? undefined : decode(path, `m!${path}`, v)
  }

  async latestSnapshot(path: string, maxSeq?: number): Promise<SnapshotRecord | undefined> {
    const range = maxSeq === undefined ? { gte: `s!${path}!`, lt: `s!${path}"` } : { gte: `s!${path}!`, lte: `s!${path}!${hex(maxSeq)}` }
    for await (const [key, value] of this.db.iterator({ ...range, reverse: true, limit: 1 })) return decode(path, key, value)
    return undefined
  }

  async *snapshots(path: string): AsyncIterable<SnapshotRecord> {
    for await (const [key, value] of this.db.iterator({ gte: `s!${path}!`, lt: `s!${path}"` })) yield decode(path, key, value)
  }

  async *events(path: string, afterSeq = 0, untilSeq?: number): AsyncIterable<JournalRecord> {
    const range = untilSeq === undefined
      ? { gt: `e!${path}!${hex(afterSeq)}`, lt: `e!${path}"` }
      : { gt: `e!${path}!${hex(afterSeq)}`, lte: `e!${path}!${hex(untilSeq)}` }
    const it = this.db.iterator(range)
    try {
      for (;;) {
        const entries = await it.nextv(1000)
        if (!entries.length) break
        for (const [key, value] of entries) {
          const rec = decode<JournalRecord>(path, key, value)
          if (typeof rec?.seq !== 'number' || typeof rec.event?.type !== 'string') throw new JournalCorruptError(path, key, 'not a journal record')
          yield rec
        }
      }
    } finally {
      await it.close()
    }
  }

  async compact(path: string, keepFromSeq: number): Promise<void> {
    await this.db.clear({ gte: `e!${path}!`, lte: `e!${path}!${hex(keepFromSeq)}` })
    await this.db.clear({ gte: `s!${path}!`, lt: `s!${path}!${hex(keepFromSeq)}` })
  }

  async incidents(): Promise<Incident[]> {
    const out: Incident[] = []
    for await (const [key, value] of this.db.iterator({ gte: 'i!', lt: 'i"' })) out.push(decode('(incidents)', key, value))
    return out
  }

  async close(): Promise<void> {
    await this.db.close()
  }
}

function decode<T = any>(path: string, key: string, value: string): T {
  try {
    return JSON.parse(value)
  } catch (err) {
    throw new JournalCorruptError(path, key, err)
  }
}
