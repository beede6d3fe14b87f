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
import { FenceError, type FleetStore } from '../nats/NatsTransport.ts'
import type { RootFleet } from './RootFleet.ts'

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
  /**
   * One of several roots (runtime/root/RootFleet.ts): only the owner of a hub answers it, and each
   * applied segment is appended to the shared inbox stream, fenced, before it is stored here and acked.
   */
  fleet?: { membership: RootFleet; log: FleetStore }
}

/** The shared inbox stream's subject of one hub's stream (a stream id that is no subject token is hex). */
export function inboxSubject(prefix: string, hub: string, stream: string): string {
  return `${prefix}.${hub}.${/^[A-Za-z0-9_-]{1,64}$/.test(stream) ? stream : `~${Buffer.from(stream).toString('hex')}`}`
}

/** One message of the shared inbox stream: the records one root applied from one batch of frames. */
export interface SharedSegment {
  v: 1
  root: string
  hub: string
  stream: string
  from: number
  to: number
  /** Records applied on this stream so far, these included. */
  applied: number
  records: Array<{ id: string; cursor: number; ts: number; receivedAt: number; payload: unknown }>
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
  /** Fleet mode: the shared stream's sequence of this inbox's last segment (0: none yet). */
  seq?: number
}

interface Pending {
  envs: Envelope[]
  reply?: string
  link: NatsLink
  receivedAt: number
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
    /** Fleet mode: frames, heartbeats and commands for hubs another root owns. */
    notOwned: 0,
    /** Fleet mode: appends refused by the fence (another root extended the inbox first). */
    fenced: 0,
    /** Fleet mode: inbox states read back from the shared stream. */
    loads: 0,
    sharedErrors: 0,
  }
  readonly rejectedByCode: Record<string, number> = {}
  readonly incidents: ReliabilityIncident[] = []
  readonly writer: GroupWriter
  private subs: Array<{ unsubscribe(): void }> = []
  private timer?: ReturnType<typeof setInterval>
  private cache = new Map<string, { at: number; answer: unknown }>()
  private registrations = new Map<string, { registeredAt: number; registrations: number }>()
  readonly ackLatency: number[] = []
  /** Fleet mode: frames waiting per hub while its previous batch is appended (one at a time per hub). */
  private queues = new Map<string, { busy: boolean; frames: Pending[] }>()

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
    const fleet = this.opts.fleet
    // a fleet's inbox states live in the shared stream: read when a hub's first frame comes
    if (fleet)
      fleet.membership.onChange(() => {
        for (const [k, ib] of this.inboxes) if (!fleet.membership.owns(ib.hub)) this.inboxes.delete(k)
      })
    else
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
    // a fleet's roots each hear every hub and keep their owned ones; one root alone may share a queue group
    const o = this.opts.fleet ? {} : { queue: 'aether-root' }
    this.subs.push(link.subscribe(subjects.rootStreamAll, (m) => this.onStream(m, link), o))
    this.subs.push(link.subscribe(subjects.rootLinkAll, (m) => this.onHeartbeat(m, link), o))
    this.subs.push(link.subscribe(subjects.rootCommandAll, (m) => this.onCommand(m, link), o))
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
    const fleet = this.opts.fleet
    if (fleet) {
      // every root of a fleet hears every hub: only the owner goes further (not even decoding)
      const h = hubOfSubject(m.subject)
      if (h && !fleet.membership.owns(h)) {
        this.counters.notOwned++
        return
      }
    }
    let hub: string, envs: Envelope[]
    try {
      ;({ hub, envs } = this.decode(m, 'stream.record'))
    } catch (err) {
      return this.reject(err, m, link)
    }
    if (this.writer.failed) return // storage is broken: never ack what we cannot persist
    this.counters.frames++
    if (fleet) return this.fleetFrame(hub, envs, m, link)
    const receivedAt = Date.now()
    const tr = this.opts.tracing
    const span = tr?.span(
      'classA.apply',
      { 'aether.hub': hub, 'aether.records': envs.length },
      m.traceparent,
      'consumer',
    )
    const d = this.decide(hub, envs, receivedAt)
    for (const [ib, seg] of d.segments)
      d.ops.push({ type: 'put', key: rootKeys.applied(hub, ib.stream, seg.from), value: `[${seg.records.join(',')}]` })
    span?.setAttribute('aether.applied', d.applied)
    this.writer.write(d.ops).then(
      () => {
        if (this.ackLatency.length < 100_000) this.ackLatency.push(Date.now() - receivedAt)
        if (m.reply) link.publish(m.reply, encodeFrame(d.acks.length === 1 ? d.acks[0] : d.acks))
        if (span) tr!.end(span)
      },
      (err) => {
        if (span) tr!.end(span, err)
        this.incident('artifact', 'storage', `a Class A write failed, acks stopped: ${(err as Error).message}`)
      },
    )
  }

  /**
   * Decides each record of a frame in arrival order against the in-memory inboxes (which it
   * advances): the refused ones' provenance and the inbox states as store ops, the applied ones
   * as one segment per inbox, and the acks to send once all that is stored.
   */
  private decide(hub: string, envs: Envelope[], receivedAt: number) {
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
    const acks: Envelope[] = []
    let applied = 0
    for (const [ib, t] of touched) {
      applied += t.applied
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
    return { ops, acks, segments, touched, applied }
  }

  private fleetFrame(hub: string, envs: Envelope[], m: NatsMessage, link: NatsLink): void {
    let q = this.queues.get(hub)
    if (!q) this.queues.set(hub, (q = { busy: false, frames: [] }))
    q.frames.push({ envs, reply: m.reply, link, receivedAt: Date.now() })
    if (!q.busy) void this.drainHub(hub, q)
  }

  /**
   * Fleet mode, one hub at a time: the frames that came while the previous batch was appended are
   * decided together, each inbox's applied records appended to the shared stream as one segment
   * (fenced on the inbox's last sequence), then stored here, then acked. A fenced or failed append
   * drops the in-memory inbox (read again from the stream on the next frame) and acks nothing: the
   * hub resends, and whoever owns the hub then decides against the stream's state.
   */
  private async drainHub(hub: string, q: { busy: boolean; frames: Pending[] }): Promise<void> {
    const fleet = this.opts.fleet!
    q.busy = true
    try {
      for (let round = 0; q.frames.length && round < 1000; round++) {
        const frames = q.frames.splice(0)
        if (!fleet.membership.owns(hub)) {
          this.counters.notOwned += frames.length
          continue
        }
        const envs = frames.flatMap((f) => f.envs)
        const fresh = new Set<string>()
        try {
          for (const sid of new Set(envs.map((e) => e.streamId!)))
            if (this.inboxes.get(`${hub}/${sid}`)?.seq === undefined) await this.load(hub, sid), fresh.add(sid)
        } catch (err) {
          this.counters.sharedErrors++
          this.incident('transport', 'inbox-stream', `reading ${hub}'s inbox state failed: ${(err as Error).message}`)
          continue
        }
        // a membership change while reading may have dropped an inbox again: never append unfenced
        if (
          [...new Set(envs.map((e) => e.streamId!))].some((sid) => this.inboxes.get(`${hub}/${sid}`)?.seq === undefined)
        )
          continue
        const receivedAt = frames[0].receivedAt
        const d = this.decide(hub, envs, receivedAt)
        const lost = new Set<string>()
        await Promise.all(
          [...d.segments].map(async ([ib, seg]) => {
            const body: SharedSegment = {
              v: 1,
              root: this.opts.rootId,
              hub,
              stream: ib.stream,
              from: seg.from,
              to: ib.cursor,
              applied: ib.applied,
              records: [],
            }
            const json = `${JSON.stringify(body).slice(0, -3)}[${seg.records.join(',')}]}`
            try {
              ib.seq = await fleet.log.append(
                inboxSubject(fleet.log.spec.subjectPrefix, hub, ib.stream),
                new TextEncoder().encode(json),
                ib.seq!,
              )
              d.ops.push({
                type: 'put',
                key: rootKeys.applied(hub, ib.stream, seg.from),
                value: `[${seg.records.join(',')}]`,
              })
            } catch (err) {
              lost.add(ib.stream)
              if (err instanceof FenceError) this.counters.fenced++
              else {
                this.counters.sharedErrors++
                this.incident(
                  'transport',
                  'inbox-stream',
                  `appending to ${hub}'s inbox failed: ${(err as Error).message}`,
                )
              }
            }
          }),
        )
        // a gap may mean another root moved the inbox on since we read it: read it again next time
        for (const [ib, t] of d.touched)
          if (lost.has(ib.stream) || (t.gaps > 0 && !fresh.has(ib.stream))) this.inboxes.delete(`${hub}/${ib.stream}`)
        await this.writer.write(d.ops).catch(() => lost.add('*'))
        if (lost.has('*')) continue
        const acks = d.acks.filter((a) => !lost.has((a.payload as { streamId: string }).streamId))
        if (!acks.length) continue
        const frame = encodeFrame(acks.length === 1 ? acks[0] : acks)
        const now = Date.now()
        const replied = new Set<string>()
        for (const f of frames) {
          if (!f.reply || replied.has(f.reply)) continue
          replied.add(f.reply)
          f.link.publish(f.reply, frame)
          if (this.ackLatency.length < 100_000) this.ackLatency.push(now - f.receivedAt)
        }
      }
    } finally {
      q.busy = false
    }
    if (q.frames.length) void this.drainHub(hub, q)
  }

  /** Fleet mode: an inbox's state as the shared stream has it (cursor, applied, the last ids). */
  private async load(hub: string, stream: string): Promise<Inbox> {
    const fleet = this.opts.fleet!
    this.counters.loads++
    const last = await fleet.log.last(inboxSubject(fleet.log.spec.subjectPrefix, hub, stream))
    const k = `${hub}/${stream}`
    this.inboxes.delete(k)
    const ib = this.inbox(hub, stream)
    ib.seq = 0
    if (last) {
      const seg = JSON.parse(new TextDecoder().decode(last.data)) as SharedSegment
      ib.cursor = seg.to
      ib.applied = seg.applied
      for (const r of seg.records) ib.recent.set(r.id, r.cursor)
      ib.seq = last.seq
    }
    // refused records' provenance numbering goes on from what this root wrote before
    const pp = rootKeys.provenanceAll(hub, stream)
    for await (const [key] of this.db.iterator({ ...range(pp), reverse: true, limit: 1 }))
      ib.provN = parseInt(key.slice(pp.length), 16) + 1
    return ib
  }

  /** Fleet mode: applied records from the shared stream, each with the root that applied it. */
  private async sharedApplied(hub: string, stream: string, after: number, limit: number) {
    const log = this.opts.fleet!.log
    const subject = inboxSubject(log.spec.subjectPrefix, hub, stream)
    const out: Array<SharedSegment['records'][number] & { result: 'applied'; root: string }> = []
    let seq = 0
    for (let i = 0; i < 100_000 && out.length < limit; i++) {
      const m = await log.next(subject, seq)
      if (!m) break
      seq = m.seq
      const seg = JSON.parse(new TextDecoder().decode(m.data)) as SharedSegment
      if (seg.to <= after) continue
      for (const r of seg.records)
        if (r.cursor > after && out.length < limit) out.push({ ...r, result: 'applied', root: seg.root })
    }
    return out
  }

  /** An inbox's state: this root's, else (fleet mode) the shared stream's. */
  async inboxState(hub: string, stream: string): Promise<InboxState | undefined> {
    const local = this.stateOf(hub, stream)
    if (local || !this.opts.fleet) return local
    const last = await this.opts.fleet.log.last(inboxSubject(this.opts.fleet.log.spec.subjectPrefix, hub, stream))
    if (!last) return undefined
    const seg = JSON.parse(new TextDecoder().decode(last.data)) as SharedSegment
    return {
      hub,
      stream,
      cursor: seg.to,
      applied: seg.applied,
      duplicates: 0,
      stale: 0,
      gaps: 0,
      idDuplicates: 0,
      lastReceivedAt: seg.records[seg.records.length - 1]?.receivedAt ?? 0,
    }
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

  /** Fleet mode: true when another root owns the hub of this message (which is then dropped). */
  private notMine(m: NatsMessage): boolean {
    const h = this.opts.fleet && hubOfSubject(m.subject)
    if (!h || this.opts.fleet!.membership.owns(h)) return false
    this.counters.notOwned++
    return true
  }

  onHeartbeat(m: NatsMessage, link: NatsLink): void {
    if (this.notMine(m)) return
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
    if (this.notMine(m)) return
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
    Array<{
      id: string
      cursor: number
      ts: number
      receivedAt: number
      result: 'applied'
      payload: unknown
      /** The root that applied it. */
      root: string
    }>
  > {
    if (this.opts.fleet) return this.sharedApplied(hub, stream, after, limit)
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
        out.push({ ...r, result: 'applied' as const, root: this.opts.rootId })
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
    await this.opts.fleet?.membership.stop()
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
