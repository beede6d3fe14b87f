/**
 * The hub's Class A outbox in LevelDB: every record gets the next cursor of its stream and is
 * persisted before it may be sent; it stays until the root acks its cursor, across restarts.
 *
 * Keys (in the hub's store, beside the actor journal):
 *   L!o!<hub>!<stream>!<first cursor hex12>   a segment: the JSON array of the envelopes of one
 *                                             append call (cursors first..first+n-1)
 *   L!m!<hub>!<stream>                        {"acked": N}: the highest cursor the root acked
 * One LevelDB entry per append call rather than per record: per-entry costs dominate otherwise.
 * A segment is deleted once all its cursors are acked; after a restart the records <= acked of a
 * partly acked segment are skipped. The next cursor is max(last record, acked) + 1: cursors
 * never repeat.
 */
import { envelope, type Envelope } from '../../protocol/index.ts'
import { hex12, type Db, type GroupWriter, type KvOp } from './GroupWriter.ts'

export interface StreamOutbox {
  streamId: string
  /** The next cursor to assign. */
  next: number
  /** Highest cursor the root acked (all <= are applied there). */
  acked: number
  /** Highest cursor whose record is on disk (sendable). */
  persisted: number
  /** Record JSON by cursor, for acked < cursor < next. */
  records: Map<number, string>
  /** Segments on disk not yet fully acked, in cursor order. */
  segments: Array<{ from: number; to: number }>
}

export class Outbox {
  readonly streams = new Map<string, StreamOutbox>()

  /** Acks may go through a writer without fsync: a lost ack write only causes resends. */
  ackWriter?: GroupWriter

  private constructor(readonly db: Db, readonly writer: GroupWriter, readonly hubId: string) {}

  /** Loads every stream of `hubId` from the store. */
  static async open(db: Db, writer: GroupWriter, hubId: string): Promise<Outbox> {
    const o = new Outbox(db, writer, hubId)
    const mp = `L!m!${hubId}!`
    for await (const [key, value] of db.iterator({ gte: mp, lt: mp.slice(0, -1) + '"' })) {
      const streamId = key.slice(mp.length)
      const acked = Number(JSON.parse(value).acked) || 0
      o.streams.set(streamId, { streamId, next: acked + 1, acked, persisted: acked, records: new Map(), segments: [] })
    }
    const op = `L!o!${hubId}!`
    for await (const [key, value] of db.iterator({ gte: op, lt: op.slice(0, -1) + '"' })) {
      const rest = key.slice(op.length)
      const bang = rest.lastIndexOf('!')
      const streamId = rest.slice(0, bang)
      const from = parseInt(rest.slice(bang + 1), 16)
      const s = o.stream(streamId)
      const envs = JSON.parse(value) as Envelope[]
      const to = from + envs.length - 1
      s.segments.push({ from, to })
      for (const env of envs) {
        const cursor = env.cursor!
        if (cursor <= s.acked) continue // acked before the crash, its delete was not yet written
        s.records.set(cursor, JSON.stringify(env))
      }
      if (to >= s.next) s.next = to + 1
      if (to > s.persisted) s.persisted = to
    }
    return o
  }

  stream(streamId: string): StreamOutbox {
    let s = this.streams.get(streamId)
    if (!s) {
      s = { streamId, next: 1, acked: 0, persisted: 0, records: new Map(), segments: [] }
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
      const env: Envelope = envelope('stream.record', this.hubId, payloads[i], { streamId, cursor, ts: now, id: `${this.hubId}.${streamId}.${cursor}.${t36}` })
      const json = JSON.stringify(env)
      s.records.set(cursor, json)
      jsons[i] = json
    }
    const to = s.next - 1
    s.segments.push({ from, to })
    await this.writer.write([{ type: 'put', key: `L!o!${this.hubId}!${streamId}!${hex12(from)}`, value: `[${jsons.join(',')}]` }])
    if (to > s.persisted) s.persisted = to
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
      ops.push({ type: 'del', key: `L!o!${this.hubId}!${streamId}!${hex12(s.segments[k].from)}` })
      k++
    }
    if (k) s.segments.splice(0, k)
    s.acked = upTo
    ops.push({ type: 'put', key: `L!m!${this.hubId}!${streamId}`, value: JSON.stringify({ acked: upTo }) })
    // Losing this write only means resending records the root will ignore as duplicates.
    ;(this.ackWriter ?? this.writer).write(ops).catch(() => {})
    return true
  }

  /** Records waiting for an ack, over all streams. */
  pending(): number {
    let n = 0
    for (const s of this.streams.values()) n += s.next - 1 - s.acked
    return n
  }
}
