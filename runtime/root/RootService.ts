/**
 * The root's side of the hub<->root protocol: Class A inboxes, Class B answers, heartbeats.
 *
 * Class A (`aether.root.<hub>.stream`): each record is applied at most once and in cursor order:
 * cursor == last+1 is applied (persisted with its id and receive time), cursor <= last is a
 * duplicate (same id as applied) or stale, cursor > last+1 is a gap (refused; the hub resends
 * from its last ack). A duplicate id at a new cursor is refused. The ack (`upTo` = last applied
 * cursor) goes out only after the batch holding those records is on disk (group commit).
 *
 * Class B (`aether.root.<hub>.cmd`): the first answer per idempotency key is persisted and
 * returned again to a retry within `cacheTtlMs`.
 *
 * Heartbeats (`aether.root.<hub>.link`): answered at once; the root's view of each hub's
 * liveness (fresh | aging | stale) comes from their arrival times.
 *
 * Every frame is validated first; a bad one is counted by error code, answered with an `error`
 * message when it has a reply subject, and changes nothing.
 *
 * Keys (prefix R!; built by runtime/keyLayout.ts):
 *   R!c!<hub>!<stream>                 inbox state {cursor, applied, duplicates, stale, gaps, idDuplicates}
 *   R!a!<hub>!<stream>!<cursor hex12>  a segment: the records applied from one frame, cursors
 *                                      from the key's on, each {id, cursor, ts, receivedAt, payload};
 *                                      these are also the ids seen (the newest `idWindow` are
 *                                      loaded into memory at start). One entry per frame, not
 *                                      per record: LevelDB's per-entry cost dominates otherwise.
 *   R!p!<hub>!<stream>!<n hex12>       provenance of a refused record {id, cursor, receivedAt, result}
 *   R!k!<hub>!<key>                    Class B answer {at, answer}
 *   R!h!<hub>                          hub registration {registeredAt, registrations}
 */
import {
  decodeFrame,
  encodeFrame,
  envelope,
  hubOfSubject,
  ProtocolError,
  subjects,
  type Envelope,
  type ReliabilityIncident,
} from '../../protocol/index.ts'
import type { NatsLink, NatsMessage } from '../nats/NatsTransport.ts'
import { GroupWriter, type Db, type KvOp } from '../link/GroupWriter.ts'
import { range, rootKeys } from '../keyLayout.ts'
import type { LevelStore } from '../LevelStore.ts'
import type { Tracing } from '../tracing/Tracing.ts'

export interface RootOptions {
  rootId: string
  /** Class B answers are reused within this window. Default 10 min. */
  cacheTtlMs?: number
  /** Heartbeat silence after which a hub is `aging` / `stale`. */
  agingMs?: number
  staleMs?: number
  /** Ids kept in memory per stream for duplicate detection (all are on disk). */
  idWindow?: number
  sync?: boolean
  /** A span per Class A frame applied, the child of the hub's send span (the frame's `traceparent`). */
  tracing?: Tracing
}

export interface InboxState {
  hub: string
  stream: string
  cursor: number
  applied: number
  duplicates: number
  stale: number
  gaps: number
  idDuplicates: number
  lastReceivedAt: number
}

interface Inbox extends InboxState {
  recent: Map<string, number>
  provN: number
}

export interface HubView {
  hub: string
  lastHeartbeatAt: number
  heartbeats: number
  degraded: boolean
  status?: string
  authority: 'fresh' | 'aging' | 'stale'
  /** Recent intervals between heartbeats (ms). */
  intervals: number[]
  streams?: Record<string, { next: number; acked: number }>
}

export class RootService {
  readonly inboxes = new Map<string, Inbox>()
  readonly hubs = new Map<string, HubView>()
  readonly counters = {
    frames: 0,
    records: 0,
    applied: 0,
    duplicates: 0,
    stale: 0,
    gaps: 0,
    idDuplicates: 0,
    rejected: 0,
    heartbeats: 0,
    commands: 0,
    cachedAnswers: 0,
  }
  readonly rejectedByCode: Record<string, number> = {}
  readonly incidents: ReliabilityIncident[] = []
  readonly writer: GroupWriter
  private subs: Array<{ unsubscribe(): void }> = []
  private timer?: ReturnType<typeof setInterval>
  private cache = new Map<string, { at: number; answer: unknown }>()
  private registrations = new Map<string, { registeredAt: number; registrations: number }>()
  readonly ackLatency: number[] = []

  readonly db: Db

  constructor(
    store: LevelStore,
    readonly opts: RootOptions,
  ) {
    this.writer = new GroupWriter(store, opts.sync ?? true)
    this.db = this.writer.db
  }

  /** Loads inboxes, recent ids, cached answers; then subscribes when a link is given. */
  async start(link?: NatsLink): Promise<void> {
    for await (const [_key, value] of this.db.iterator(range(rootKeys.inboxes))) {
      const st = JSON.parse(value) as InboxState
      this.inboxes.set(`${st.hub}/${st.stream}`, { ...st, recent: new Map(), provN: 0 })
    }
    const w = this.opts.idWindow ?? 8192
    for (const ib of this.inboxes.values()) {
      const ids: Array<[string, number]> = []
      for await (const [, value] of this.db.iterator({
        ...range(rootKeys.appliedAll(ib.hub, ib.stream)),
        reverse: true,
      })) {
        const seg = JSON.parse(value) as Array<{ id: string; cursor: number }>
        for (let i = seg.length - 1; i >= 0; i--) ids.push([seg[i].id, seg[i].cursor])
        if (ids.length >= w) break
      }
      for (let i = Math.min(ids.length, w) - 1; i >= 0; i--) ib.recent.set(ids[i][0], ids[i][1])
      const pp = rootKeys.provenanceAll(ib.hub, ib.stream)
      for await (const [key] of this.db.iterator({ ...range(pp), reverse: true, limit: 1 }))
        ib.provN = parseInt(key.slice(pp.length), 16) + 1
    }
    const now = Date.now()
    for await (const [key, value] of this.db.iterator(range(rootKeys.answers))) {
      const v = JSON.parse(value)
      if (now - v.at < this.ttl) this.cache.set(key.slice(rootKeys.answers.length), v)
    }
    for await (const [key, value] of this.db.iterator(range(rootKeys.hubs)))
      this.registrations.set(key.slice(rootKeys.hubs.length), JSON.parse(value))
    this.timer = setInterval(() => this.tick(), 100)
    this.timer.unref?.()
    if (link) this.attach(link)
  }

  private get ttl(): number {
    return this.opts.cacheTtlMs ?? 10 * 60_000
  }

  attach(link: NatsLink): void {
    this.subs.push(link.subscribe(subjects.rootStreamAll, (m) => this.onStream(m, link), { queue: 'aether-root' }))
    this.subs.push(link.subscribe(subjects.rootLinkAll, (m) => this.onHeartbeat(m, link), { queue: 'aether-root' }))
    this.subs.push(link.subscribe(subjects.rootCommandAll, (m) => this.onCommand(m, link), { queue: 'aether-root' }))
  }

  private reject(err: unknown, m: NatsMessage, link: NatsLink): void {
    const e =
      err instanceof ProtocolError ? err : new ProtocolError('BAD_FIELD', String((err as Error)?.message ?? err))
    this.counters.rejected++
    this.rejectedByCode[e.code] = (this.rejectedByCode[e.code] ?? 0) + 1
    if (m.reply) link.publish(m.reply, encodeFrame(envelope('error', this.opts.rootId, e.toJSON())))
  }

  /** Decodes a root frame and checks that every envelope is from the hub of the subject. */
  private decode(m: NatsMessage, subject: string | string[]): { hub: string; envs: Envelope[] } {
    const hub = hubOfSubject(m.subject)
    if (!hub) throw new ProtocolError('BAD_FIELD', `subject ${m.subject.slice(0, 80)} names no hub`, 'subject')
    const envs = decodeFrame(m.data)
    const allowed = Array.isArray(subject) ? subject : [subject]
    envs.forEach((e, i) => {
      const p = envs.length > 1 ? `[${i}].` : ''
      if (!allowed.includes(e.subject))
        throw new ProtocolError(
          'UNKNOWN_SUBJECT',
          `field "${p}subject" must be ${allowed.join(' or ')} on ${m.subject}`,
          `${p}subject`,
        )
      if (e.from !== hub)
        throw new ProtocolError(
          'WRONG_SENDER',
          `field "${p}from" must be "${hub}", the hub of subject ${m.subject}`,
          `${p}from`,
        )
    })
    return { hub, envs }
  }

  /** Class A: decide each record now (in arrival order), persist, then ack. */
  onStream(m: NatsMessage, link: NatsLink): void {
    let hub: string, envs: Envelope[]
    try {
      ;({ hub, envs } = this.decode(m, 'stream.record'))
    } catch (err) {
      return this.reject(err, m, link)
    }
    if (this.writer.failed) return // storage is broken: never ack what we cannot persist
    this.counters.frames++
    const receivedAt = Date.now()
    const tr = this.opts.tracing
    const span = tr?.span(
      'classA.apply',
      { 'aether.hub': hub, 'aether.records': envs.length },
      m.traceparent,
      'consumer',
    )
    const ops: KvOp[] = []
    const touched = new Map<Inbox, { applied: number; duplicates: number; stale: number; gaps: number }>()
    const segments = new Map<Inbox, { from: number; records: string[] }>()
    for (const e of envs) {
      const ib = this.inbox(hub, e.streamId!)
      let t = touched.get(ib)
      if (!t) touched.set(ib, (t = { applied: 0, duplicates: 0, stale: 0, gaps: 0 }))
      this.counters.records++
      ib.lastReceivedAt = receivedAt
      const cursor = e.cursor!
      let result: 'applied' | 'duplicate' | 'stale' | 'gap' | 'duplicate-id'
      if (cursor <= ib.cursor) {
        result = ib.recent.get(e.id) === cursor ? 'duplicate' : 'stale'
      } else if (cursor === ib.cursor + 1) {
        if (ib.recent.has(e.id)) result = 'duplicate-id'
        else {
          result = 'applied'
          ib.cursor = cursor
          ib.applied++
          ib.recent.set(e.id, cursor)
          if (ib.recent.size > (this.opts.idWindow ?? 8192)) ib.recent.delete(ib.recent.keys().next().value!)
          let seg = segments.get(ib)
          if (!seg) segments.set(ib, (seg = { from: cursor, records: [] }))
          seg.records.push(JSON.stringify({ id: e.id, cursor, ts: e.ts, receivedAt, payload: e.payload }))
        }
      } else result = 'gap'
      if (result === 'applied') {
        t.applied++
        this.counters.applied++
        continue
      }
      if (result === 'duplicate') t.duplicates++, ib.duplicates++, this.counters.duplicates++
      else if (result === 'stale') t.stale++, ib.stale++, this.counters.stale++
      else if (result === 'gap') t.gaps++, ib.gaps++, this.counters.gaps++
      else t.duplicates++, ib.idDuplicates++, this.counters.idDuplicates++
      ops.push({
        type: 'put',
        key: rootKeys.provenance(hub, ib.stream, ib.provN++),
        value: JSON.stringify({ id: e.id, cursor, receivedAt, result }),
      })
    }
    for (const [ib, seg] of segments)
      ops.push({ type: 'put', key: rootKeys.applied(hub, ib.stream, seg.from), value: `[${seg.records.join(',')}]` })
    const acks: Envelope[] = []
    for (const [ib, t] of touched) {
      ops.push({ type: 'put', key: rootKeys.inbox(hub, ib.stream), value: JSON.stringify(stateOf(ib)) })
      acks.push(
        envelope(
          'stream.ack',
          this.opts.rootId,
          { streamId: ib.stream, upTo: ib.cursor, ...t },
          { to: hub, ts: receivedAt },
        ),
      )
    }
    if (span) {
      let applied = 0
      for (const t of touched.values()) applied += t.applied
      span.setAttribute('aether.applied', applied)
    }
    this.writer.write(ops).then(
      () => {
        if (this.ackLatency.length < 100_000) this.ackLatency.push(Date.now() - receivedAt)
        if (m.reply) link.publish(m.reply, encodeFrame(acks.length === 1 ? acks[0] : acks))
        if (span) tr!.end(span)
      },
      (err) => {
        if (span) tr!.end(span, err)
        this.incident('artifact', 'storage', `a Class A write failed, acks stopped: ${(err as Error).message}`)
      },
    )
  }

  private inbox(hub: string, stream: string): Inbox {
    const k = `${hub}/${stream}`
    let ib = this.inboxes.get(k)
    if (!ib) {
      ib = {
        hub,
        stream,
        cursor: 0,
        applied: 0,
        duplicates: 0,
        stale: 0,
        gaps: 0,
        idDuplicates: 0,
        lastReceivedAt: 0,
        recent: new Map(),
        provN: 0,
      }
      this.inboxes.set(k, ib)
    }
    return ib
  }

  onHeartbeat(m: NatsMessage, link: NatsLink): void {
    let hub: string, envs: Envelope[]
    try {
      ;({ hub, envs } = this.decode(m, 'link.heartbeat'))
      if (envs.length !== 1) throw new ProtocolError('BAD_FIELD', 'a heartbeat is one envelope, not a batch', '[]')
    } catch (err) {
      return this.reject(err, m, link)
    }
    const p = envs[0].payload as {
      seq: number
      degraded: boolean
      status?: string
      streams?: Record<string, { next: number; acked: number }>
    }
    const now = Date.now()
    this.counters.heartbeats++
    let h = this.hubs.get(hub)
    if (!h) {
      h = { hub, lastHeartbeatAt: now, heartbeats: 0, degraded: false, authority: 'fresh', intervals: [] }
      this.hubs.set(hub, h)
    } else {
      h.intervals.push(now - h.lastHeartbeatAt)
      if (h.intervals.length > 120) h.intervals.shift()
      if (h.authority !== 'fresh')
        this.incident('control authority', `hub:${hub}`, `heartbeats from ${hub} resumed (was ${h.authority})`)
    }
    h.lastHeartbeatAt = now
    h.heartbeats++
    h.degraded = p.degraded
    h.status = p.status
    h.streams = p.streams
    h.authority = 'fresh'
    if (m.reply)
      link.publish(
        m.reply,
        encodeFrame(
          envelope(
            'link.heartbeat.ack',
            this.opts.rootId,
            { seq: p.seq, rootId: this.opts.rootId, rootTime: now },
            { to: hub },
          ),
        ),
      )
  }

  onCommand(m: NatsMessage, link: NatsLink): void {
    let hub: string, envs: Envelope[]
    try {
      ;({ hub, envs } = this.decode(m, 'hub.register'))
      if (envs.length !== 1) throw new ProtocolError('BAD_FIELD', 'a command is one envelope, not a batch', '[]')
      if ((envs[0].payload as any).hubId !== hub)
        throw new ProtocolError('WRONG_SENDER', `field "payload.hubId" must be "${hub}"`, 'payload.hubId')
    } catch (err) {
      return this.reject(err, m, link)
    }
    const e = envs[0]
    this.counters.commands++
    const ck = `${hub}!${e.key}`
    const now = Date.now()
    const hit = this.cache.get(ck)
    const reply = (answer: any, cached: boolean) => {
      if (m.reply)
        link.publish(
          m.reply,
          encodeFrame(
            envelope('hub.register.result', this.opts.rootId, { ...answer, cached }, { to: hub, key: e.key }),
          ),
        )
    }
    if (hit && now - hit.at < this.ttl) {
      this.counters.cachedAnswers++
      return reply(hit.answer, true)
    }
    const prev = this.registrations.get(hub)
    const reg = { registeredAt: now, registrations: (prev?.registrations ?? 0) + 1 }
    this.registrations.set(hub, reg)
    const answer = { rootId: this.opts.rootId, ...reg }
    this.cache.set(ck, { at: now, answer })
    this.writer
      .write([
        { type: 'put', key: rootKeys.answer(ck), value: JSON.stringify({ at: now, answer }) },
        { type: 'put', key: rootKeys.hub(hub), value: JSON.stringify(reg) },
      ])
      .then(
        () => reply(answer, false),
        () => {},
      )
  }

  private tick(): void {
    const now = Date.now()
    const aging = this.opts.agingMs ?? 3000
    const stale = this.opts.staleMs ?? 10000
    for (const h of this.hubs.values()) {
      const silent = now - h.lastHeartbeatAt
      const a = silent >= stale ? 'stale' : silent >= aging ? 'aging' : 'fresh'
      if (a !== h.authority) {
        if (a === 'stale')
          this.incident('control authority', `hub:${h.hub}`, `no heartbeat from ${h.hub} for ${silent} ms: stale`)
        h.authority = a
      }
    }
    for (const [k, v] of this.cache) if (now - v.at >= this.ttl) this.cache.delete(k)
  }

  incident(cls: ReliabilityIncident['class'], subject: string, message: string): void {
    this.incidents.push({ at: Date.now(), class: cls, subject, message })
    if (this.incidents.length > 500) this.incidents.shift()
  }

  /** Applied records of one stream in cursor order, `after` exclusive. */
  async applied(
    hub: string,
    stream: string,
    after = 0,
    limit = 1000,
  ): Promise<
    Array<{ id: string; cursor: number; ts: number; receivedAt: number; result: 'applied'; payload: unknown }>
  > {
    await this.writer.flush()
    const p = rootKeys.appliedAll(hub, stream)
    // Start at the segment holding cursor after+1 (its key is the segment's first cursor).
    let start = p
    for await (const [key] of this.db.iterator({
      gte: p,
      lte: rootKeys.applied(hub, stream, after + 1),
      reverse: true,
      limit: 1,
    }))
      start = key
    const out = []
    for await (const [, value] of this.db.iterator({ gte: start, lt: range(p).lt })) {
      for (const r of JSON.parse(value)) {
        if (r.cursor <= after) continue
        out.push({ ...r, result: 'applied' as const })
        if (out.length >= limit) return out
      }
    }
    return out
  }

  /** Refused records (duplicates, stale, gaps) of one stream in receive order. */
  async refused(
    hub: string,
    stream: string,
    limit = 1000,
  ): Promise<Array<{ id: string; cursor: number; receivedAt: number; result: string }>> {
    const out = []
    for await (const [, value] of this.db.iterator({
      ...range(rootKeys.provenanceAll(hub, stream)),
      limit,
      reverse: true,
    }))
      out.push(JSON.parse(value))
    return out.reverse()
  }

  stateOf(hub: string, stream: string): InboxState | undefined {
    const ib = this.inboxes.get(`${hub}/${stream}`)
    return ib ? stateOf(ib) : undefined
  }

  async close(): Promise<void> {
    clearInterval(this.timer)
    for (const s of this.subs) s.unsubscribe()
    this.subs = []
    await this.writer.flush().catch(() => {})
  }
}

function stateOf(ib: Inbox): InboxState {
  const { recent: _r, provN: _p, ...st } = ib
  return st
}
