/**
 * The hub's Class A outbox in LevelDB: every record gets the next cursor of its stream and is
 * persisted before it may be sent; it stays until the root acks its cursor, across restarts.
 *
 * Keys (in the hub's store, beside the actor journal):
 *   L!o!<hub>!<stream>!<cursor hex12>   the record's envelope (JSON text, sent as is)
 *   L!m!<hub>!<stream>                  {"acked": N}: the highest cursor the root acked
 * After a restart the next cursor is max(last record, acked) + 1: cursors never repeat.
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
}

export class Outbox {
  readonly streams = new Map<string, StreamOutbox>()

  private constructor(readonly db: Db, readonly writer: GroupWriter, readonly hubId: string) {}

  /** Loads every stream of `hubId` from the store. */
  static async open(db: Db, writer: GroupWriter, hubId: string): Promise<Outbox> {
    const o = new Outbox(db, writer, hubId)
    const mp = `L!m!${hubId}!`
    for await (const [key, value] of db.iterator({ gte: mp, lt: mp.slice(0, -1) + '"' })) {
      const streamId = key.slice(mp.length)
      const acked = Number(JSON.parse(value).acked) || 0
      o.streams.set(streamId, { streamId, next: acked + 1, acked, persisted: acked, records: new Map() })
    }
    const op = `L!o!${hubId}!`
    for await (const [key, value] of db.iterator({ gte: op, lt: op.slice(0, -1) + '"' })) {
      const rest = key.slice(op.length)
      const bang = rest.lastIndexOf('!')
      const streamId = rest.slice(0, bang)
      const cursor = parseInt(rest.slice(bang + 1), 16)
      const s = o.stream(streamId)
      if (cursor <= s.acked) continue // acked before the crash, its delete was not yet written
      s.records.set(cursor, value)
      if (cursor >= s.next) s.next = cursor + 1
      if (cursor > s.persisted) s.persisted = cursor
    }
    return o
  }

  stream(streamId: string): StreamOutbox {
    let s = this.streams.get(streamId)
    if (!s) {
      s = { streamId, next: 1, acked: 0, persisted: 0, records: new Map() }
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
    const ops: KvOp[] = []
    for (const payload of payloads) {
      const cursor = s.next++
      const env: Envelope = envelope('stream.record', this.hubId, payload, { streamId, cursor, ts: now, id: `${this.hubId}.${streamId}.${cursor}.${now.toString(36)}` })
      const json = JSON.stringify(env)
      s.records.set(cursor, json)
      ops.push({ type: 'put', key: `L!o!${this.hubId}!${streamId}!${hex12(cursor)}`, value: json })
    }
    const to = s.next - 1
    await this.writer.write(ops)
    if (to > s.persisted) s.persisted = to
    return { from, to }
  }

  /** The root applied everything <= upTo: forget those records (on disk too). */
  ack(streamId: string, upTo: number): boolean {
    const s = this.streams.get(streamId)
    if (!s || upTo <= s.acked || upTo >= s.next) return false
    const ops: KvOp[] = []
    for (let c = s.acked + 1; c <= upTo; c++) {
      s.records.delete(c)
      ops.push({ type: 'del', key: `L!o!${this.hubId}!${streamId}!${hex12(c)}` })
    }
    s.acked = upTo
    ops.push({ type: 'put', key: `L!m!${this.hubId}!${streamId}`, value: JSON.stringify({ acked: upTo }) })
    // Losing this write only means resending records the root will ignore as duplicates.
    this.writer.write(ops).catch(() => {})
    return true
  }

  /** Records waiting for an ack, over all streams. */
  pending(): number {
    let n = 0
    for (const s of this.streams.values()) n += s.next - 1 - s.acked
    return n
  }
}
