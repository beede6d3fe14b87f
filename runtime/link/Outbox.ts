/**
 * The hub's Class A outbox in LevelDB: every record gets the next cursor of its stream and is
 * persisted before it may be sent; it stays until the root acks its cursor, across restarts.
 *
 * Keys (in the hub's store, beside the actor journal; built by runtime/keyLayout.ts):
 *   L!o!<hub>!<stream>!<first cursor hex12>   a segment: the JSON array of the envelopes of one
 *                                             append call (cursors first..first+n-1)
 *   L!m!<hub>!<stream>                        {"acked": N}: the highest cursor the root acked
 * One LevelDB entry per append call rather than per record: per-entry costs dominate otherwise.
 * A segment is deleted once all its cursors are acked; after a restart the records <= acked of a
 * partly acked segment are skipped. The next cursor is max(last record, acked) + 1: cursors
 * never repeat.
 *
 * Memory: at most `memoryCap` records per stream are held in memory, always the oldest unacked
 * ones (cursors acked+1..memHigh, the next to send). During a long outage the rest stay on disk
 * only and are read back, in cursor order, as acks make room (`onRefill` then tells the sender).
 */
import { envelope, type Envelope } from '../../protocol/index.ts'
import { setting } from '../config.ts'
import { linkKeys, range } from '../keyLayout.ts'
import type { Db, GroupWriter, KvOp } from './GroupWriter.ts'

export interface StreamOutbox {
  streamId: string
  /** The next cursor to assign. */
  next: number
  /** Highest cursor the root acked (all <= are applied there). */
  acked: number
  /** Highest cursor whose record is on disk (sendable). */
  persisted: number
  /** Record JSON by cursor, for acked < cursor <= memHigh. */
  records: Map<number, string>
  /** Every cursor in (acked, memHigh] is in `records`; later ones are on disk only. */
  memHigh: number
  loading: boolean
  /** Segments on disk not yet fully acked, in cursor order. */
  segments: Array<{ from: number; to: number }>
}

export class Outbox {
  readonly streams = new Map<string, StreamOutbox>()

  /** Acks may go through a writer without fsync: a lost ack write only causes resends. */
  ackWriter?: GroupWriter
  /** Called when records were read back from disk into memory (send them). */
  onRefill?: (streamId: string) => void

  private constructor(
    readonly db: Db,
    readonly writer: GroupWriter,
    readonly hubId: string,
    readonly memoryCap: number,
  ) {}

  /** Loads every stream of `hubId` from the store. */
  static async open(writer: GroupWriter, hubId: string, memoryCap = defaultMemoryCap()): Promise<Outbox> {
    const db = writer.db
    const o = new Outbox(db, writer, hubId, Math.max(1, memoryCap))
    const mp = linkKeys.ackedOf(hubId)
    for await (const [key, value] of db.iterator(range(mp))) {
      const streamId = key.slice(mp.length)
      const acked = Number(JSON.parse(value).acked) || 0
      o.streams.set(streamId, {
        streamId,
        next: acked + 1,
        acked,
        persisted: acked,
        records: new Map(),
        memHigh: acked,
        loading: false,
        segments: [],
      })
    }
    const op = linkKeys.segmentsOf(hubId)
    for await (const [key, value] of db.iterator(range(op))) {
      const rest = key.slice(op.length)
      const bang = rest.lastIndexOf('!')
      const streamId = rest.slice(0, bang)
      const from = parseInt(rest.slice(bang + 1), 16)
      const s = o.stream(streamId)
      const envs = JSON.parse(value) as Envelope[]
      const to = from + envs.length - 1
      s.segments.push({ from, to })
      if (s.memHigh < s.acked) s.memHigh = s.acked
      for (const env of envs) {
        const cursor = env.cursor!
        if (cursor <= s.acked) continue // acked before the crash, its delete was not yet written
        if (cursor !== s.memHigh + 1 || s.records.size >= o.memoryCap) continue // stays on disk
        s.records.set(cursor, JSON.stringify(env))
        s.memHigh = cursor
      }
      if (to >= s.next) s.next = to + 1
      if (to > s.persisted) s.persisted = to
    }
    return o
  }

  stream(streamId: string): StreamOutbox {
    let s = this.streams.get(streamId)
    if (!s) {
      s = { streamId, next: 1, acked: 0, persisted: 0, records: new Map(), memHigh: 0, loading: false, segments: [] }
      this.streams.set(streamId, s)
    }
    return s
  }

  /**
   * Appends records; resolves with their cursors once they are on disk. Cursors are assigned
   * at once, in call order, so concurrent appends keep the order they were made in.
   */
  async append(streamId: string, payloads: unknown[], now = Date.now()): Promise<{ from: number; to: number }> {
    const s = this.stream(streamId)
    const from = s.next
    const jsons: string[] = new Array(payloads.length)
    const t36 = now.toString(36)
    for (let i = 0; i < payloads.length; i++) {
      const cursor = s.next++
      const env: Envelope = envelope('stream.record', this.hubId, payloads[i], {
        streamId,
        cursor,
        ts: now,
        id: `${this.hubId}.${streamId}.${cursor}.${t36}`,
      })
      const json = JSON.stringify(env)
      if (s.memHigh === cursor - 1 && s.records.size < this.memoryCap) {
        s.records.set(cursor, json)
        s.memHigh = cursor
      }
      jsons[i] = json
    }
    const to = s.next - 1
    s.segments.push({ from, to })
    await this.writer.write([
      { type: 'put', key: linkKeys.segment(this.hubId, streamId, from), value: `[${jsons.join(',')}]` },
    ])
    if (to > s.persisted) s.persisted = to
    if (s.memHigh < s.persisted && s.records.size < this.memoryCap) void this.refill(s)
    return { from, to }
  }

  /** The root applied everything <= upTo: forget those records (on disk too). */
  ack(streamId: string, upTo: number): boolean {
    const s = this.streams.get(streamId)
    if (!s || upTo <= s.acked || upTo >= s.next) return false
    const ops: KvOp[] = []
    for (let c = s.acked + 1; c <= upTo; c++) s.records.delete(c)
    let k = 0
    while (k < s.segments.length && s.segments[k].to <= upTo) {
      ops.push({ type: 'del', key: linkKeys.segment(this.hubId, streamId, s.segments[k].from) })
      k++
    }
    if (k) s.segments.splice(0, k)
    s.acked = upTo
    if (s.memHigh < upTo) s.memHigh = upTo
    if (s.memHigh < s.persisted && s.records.size <= this.memoryCap / 2) void this.refill(s)
    ops.push({ type: 'put', key: linkKeys.acked(this.hubId, streamId), value: JSON.stringify({ acked: upTo }) })
    // Losing this write only means resending records the root will ignore as duplicates.
    ;(this.ackWriter ?? this.writer).write(ops).catch(() => {})
    return true
  }

  /** Reads records after memHigh back from disk, in cursor order, until memory is full. */
  private async refill(s: StreamOutbox): Promise<void> {
    if (s.loading) return
    s.loading = true
    let added = 0
    try {
      const seg = s.segments.find((g) => g.to > s.memHigh)
      if (!seg) return
      const p = linkKeys.segments(this.hubId, s.streamId)
      for await (const [, value] of this.db.iterator({
        gte: linkKeys.segment(this.hubId, s.streamId, seg.from),
        lt: range(p).lt,
      })) {
        for (const env of JSON.parse(value) as Envelope[]) {
          const cursor = env.cursor!
          if (cursor <= s.memHigh) continue
          if (cursor !== s.memHigh + 1 || cursor > s.persisted || s.records.size >= this.memoryCap) return
          s.records.set(cursor, JSON.stringify(env))
          s.memHigh = cursor
          added++
        }
      }
    } finally {
      s.loading = false
      if (added) this.onRefill?.(s.streamId)
    }
  }

  /** Records waiting for an ack, over all streams. */
  pending(): number {
    let n = 0
    for (const s of this.streams.values()) n += s.next - 1 - s.acked
    return n
  }
}

/** Records per stream held in memory (the `outbox-memory` setting, default 100,000). */
export function defaultMemoryCap(): number {
  return setting('outbox-memory')
}
