/**
 * One run of an external app (one connection): its actors, their recordings and their feed events.
 *
 * What drives it: the app's inspection frames, already checked (protocol/externalInspect.ts), in
 * either dialect. What it promises, per actor:
 * - every event the actor received from outside becomes an event line (`seq` 1, 2, ... in the
 *   order the actor's mailbox takes them), `xstate.init` excepted: its `input` goes to the header;
 * - the state after each event becomes the snapshot line of that seq: both dialects report an
 *   actor's event when it is sent and its state after processing, so the two are paired by the
 *   event itself (its JSON), in order, per actor. An event never answered (the actor had stopped)
 *   keeps its event line without a snapshot line;
 * - a change no recorded event explains (a stop, the state of an actor the hub saw only after it
 *   started) updates the actor's state and, for its first state, is the log's starting snapshot;
 * - the inspector's feed gets the same (`@xstate.actor` with the app as `node`, `@xstate.event`
 *   with the snapshot it led to), and nothing is sent back to the app: external actors are
 *   read-only.
 */
import type { ActorStatus, FeedEvent, FeedSnapshot } from '../../protocol/inspection.ts'
import {
  ExternalFrameError,
  type InspectedEvent,
  type StatelyFrame,
  type XStateInspectFrame,
} from '../../protocol/externalInspect.ts'
import type { FeedActorState } from '../../protocol/inspectorFeed.ts'
import type { ExternalMeta, ExternalRunRecord, ExternalStore } from './ExternalStore.ts'

/** What a run needs from the hub. */
export interface RunHost {
  store: ExternalStore
  now(): number
  /** Publishes a feed event, numbered by the hub's feed (built only while somebody listens). */
  publish(make: (seq: number) => FeedEvent): void
  /** Interns a definition the app sent; its key and whether it is a machine's. */
  definition(text: string, dialect: 'v5' | 'v4'): { key: string; machineHash?: string } | undefined
  counters: { events: number; snapshots: number; unanswered: number; unknownSessions: number }
  maxActors: number
  maxPending: number
}

interface Pending {
  seq: number
  key: string
  event: InspectedEvent
  source?: string
}

/** An actor of an external app, as the hub knows it. */
export class ExternalActor {
  /** Seq of its last event line. */
  seq = 0
  status: ActorStatus = 'active'
  current: FeedSnapshot = { value: null, context: null, status: 'active' }
  at: number
  /** Events waiting for the state they lead to, oldest first (seq 0: its `xstate.init`). */
  pending: Pending[] = []
  /** Ids of its child actors (v4 states name them; a v4 service's parent is found by them). */
  children: string[] = []
  /** Whether its log has a start (the init it was created with, or a first snapshot). */
  started = false

  constructor(
    readonly meta: ExternalMeta,
    readonly sessionId: string,
  ) {
    this.at = meta.createdAt
  }

  get path(): string {
    return this.meta.path
  }

  /** Its state as the inspector's `snapshot` frame carries it. */
  state(): FeedActorState {
    const s: FeedActorState = {
      path: this.path,
      machine: this.label,
      status: this.status,
      durable: true,
      actorSeq: this.seq,
      at: this.at,
      snapshot: this.current,
      node: this.meta.app,
    }
    if (this.meta.parent) s.parent = this.meta.parent
    return s
  }

  /** The machine's id, or the actor's name for logic that is not a machine. */
  get label(): string {
    return this.meta.machine || this.meta.name
  }
}

const STATUSES = new Set(['active', 'done', 'error', 'stopped'])
const statusOf = (s: unknown): ActorStatus => (typeof s === 'string' && STATUSES.has(s) ? (s as ActorStatus) : 'active')
const SAFE = /[^A-Za-z0-9_.:-]/g
const json = (v: unknown) => JSON.stringify(v)

export class ExternalRun {
  /** By the app's session id (XState's `sessionId`, unique within the app's process). */
  readonly actors = new Map<string, ExternalActor>()
  /** The same actors by id path. */
  readonly byPath = new Map<string, ExternalActor>()
  live = true

  constructor(
    private host: RunHost,
    readonly record: ExternalRunRecord,
  ) {}

  /** The id path every actor of this run lives under: `<app>/<run>`. */
  get prefix(): string {
    return `${this.record.app}/${this.record.run}`
  }

  // ---- @statelyai/inspect (v5) ---------------------------------------------------------------------

  stately(f: StatelyFrame): void {
    switch (f.type) {
      case '@xstate.actor': {
        if (this.actors.has(f.sessionId)) return
        let config: any
        try {
          config = f.definition === undefined ? undefined : JSON.parse(f.definition)
        } catch {
          config = undefined
        }
        const def = f.definition === undefined ? undefined : this.host.definition(f.definition, 'v5')
        const machine = def && typeof config?.id === 'string' ? config.id : ''
        const a = this.declare(f.sessionId, f.name, machine, f.parentId, def?.key, undefined, 'init')
        // the snapshot of an actor event is read when the app sends the frame, not when the actor
        // was created: a first guess shown until its init state arrives, never recorded
        if (f.snapshot) a.current = shown(snapshotOf(f.snapshot))
        return
      }
      case '@xstate.event': {
        const a = this.actors.get(f.sessionId) ?? this.unknown(f.sessionId)
        const source = f.sourceId === undefined ? undefined : (this.actors.get(f.sourceId)?.path ?? f.sourceId)
        if (f.event.type === 'xstate.init' && !a.started && a.seq === 0) return this.init(a, f.event, f.event.input)
        return this.received(a, f.event, source)
      }
      case '@xstate.snapshot': {
        const a = this.actors.get(f.sessionId) ?? this.unknown(f.sessionId)
        return this.stepped(a, f.event, snapshotOf(f.snapshot))
      }
    }
  }

  // ---- @xstate/inspect (v4) ------------------------------------------------------------------------

  xstate(f: XStateInspectFrame): void {
    switch (f.type) {
      case 'service.register': {
        if (this.actors.has(f.sessionId)) return
        const name = f.id ?? String(f.machine.id)
        const def = this.host.definition(f.machineText, 'v4')
        const parent = this.v4Parent(name)
        const a = this.declare(f.sessionId, name, String(f.machine.id), parent, def?.key, def?.machineHash, 'snapshot')
        a.children = f.state.children
        // Its state now is the start of its log, unless the init event that follows says it just started.
        this.first(a, v4Snapshot(f.state))
        return
      }
      case 'service.event': {
        const a = this.actors.get(f.sessionId)
        if (!a) {
          this.host.counters.unknownSessions++
          return
        }
        if (f.event.type === 'xstate.init' && a.seq === 0) return this.init(a, f.event, undefined)
        // the origin is a session id (sendParent) or a child's id (done.invoke.<id>)
        const origin = f.origin
        const source = origin === undefined ? undefined : (this.actors.get(origin)?.path ?? this.childPath(a, origin))
        return this.received(a, f.event, source)
      }
      case 'service.state': {
        const a = this.actors.get(f.sessionId)
        if (!a || !f.state) {
          if (!a) this.host.counters.unknownSessions++
          return
        }
        a.children = f.state.children
        return this.stepped(a, f.state.event ?? { type: '' }, v4Snapshot(f.state))
      }
      case 'service.stop': {
        const a = this.actors.get(f.sessionId)
        // a service that reached a final state is stopped by its parent: it stays done
        if (a && a.status === 'active') this.setStatus(a, 'stopped')
        return
      }
      case 'xstate.disconnect':
        return
    }
  }

  /** Adds an actor (a new one, or one read back from the store after a restart). */
  add(a: ExternalActor): void {
    this.actors.set(a.sessionId, a)
    this.byPath.set(a.path, a)
  }

  /** The connection ended: actors still active are stopped (nothing reports on them any more). */
  end(reason: string): void {
    if (!this.live) return
    this.live = false
    for (const a of this.actors.values()) {
      for (const p of a.pending.splice(0)) if (p.seq > 0) this.unanswered(a, p)
      if (a.status === 'active') this.setStatus(a, 'stopped')
    }
    this.record.endedAt = this.host.now()
    this.record.endReason = reason
    this.host.store.putRun(this.record)
  }

  // ---- the recording -------------------------------------------------------------------------------

  private declare(
    sessionId: string,
    name: string,
    machine: string,
    parentSession: string | undefined,
    definition: string | undefined,
    machineHash: string | undefined,
    start: ExternalMeta['start'],
  ): ExternalActor {
    if (this.actors.size >= this.host.maxActors)
      throw new ExternalFrameError('LIMIT', `a run has at most ${this.host.maxActors} actors`)
    const parent = parentSession === undefined ? undefined : this.actors.get(parentSession)
    const base = `${parent ? parent.path : this.prefix}/${clean(name)}`
    let path = base
    for (let n = 2; this.byPath.has(path); n++) path = `${base}-${n}`
    const meta: ExternalMeta = {
      path,
      app: this.record.app,
      run: this.record.run,
      source: this.record.source,
      name,
      machine,
      start,
      createdAt: this.host.now(),
    }
    if (parent) meta.parent = parent.path
    if (definition) meta.definition = definition
    if (machineHash) meta.machineHash = machineHash
    const a = new ExternalActor(meta, sessionId)
    this.add(a)
    this.host.store.putMeta(meta)
    this.announce(a)
    return a
  }

  /** An actor the app reports on without having announced it (its announcement was lost). */
  private unknown(sessionId: string): ExternalActor {
    this.host.counters.unknownSessions++
    return this.declare(sessionId, sessionId, '', undefined, undefined, undefined, 'snapshot')
  }

  private init(a: ExternalActor, event: InspectedEvent, input: unknown): void {
    a.started = true
    a.meta.start = 'init'
    if (input !== undefined) a.meta.input = input
    this.host.store.putMeta(a.meta)
    a.pending.push({ seq: 0, key: json(event), event })
  }

  private received(a: ExternalActor, event: InspectedEvent, source: string | undefined): void {
    const seq = ++a.seq
    const at = this.host.now()
    this.host.store.putEvent(a.path, source === undefined ? { seq, at, event } : { seq, at, event, source })
    this.host.counters.events++
    a.pending.push(source === undefined ? { seq, key: json(event), event } : { seq, key: json(event), event, source })
    if (a.pending.length > this.host.maxPending) {
      const lost = a.pending.shift()!
      if (lost.seq > 0) this.unanswered(a, lost)
    }
  }

  private stepped(a: ExternalActor, event: InspectedEvent, snap: FeedSnapshot): void {
    const key = json(event)
    const i = a.pending.findIndex((p) => p.key === key)
    if (i < 0) {
      if (!a.started && a.seq === 0) return this.first(a, snap)
      a.current = shown(snap)
      a.at = this.host.now()
      this.setStatus(a, statusOf(snap.status), event)
      return
    }
    for (const p of a.pending.splice(0, i)) if (p.seq > 0) this.unanswered(a, p)
    const p = a.pending.shift()!
    const at = this.host.now()
    a.current = shown(snap)
    a.at = at
    a.status = statusOf(snap.status)
    this.host.store.putSnapshot(a.path, { seq: p.seq, at, snapshot: lineSnapshot(snap) })
    this.host.counters.snapshots++
    if (p.seq === 0) {
      this.host.publish((seq) => snapshotEvent(seq, a, at, p.event))
      return
    }
    this.host.publish((seq) => eventEvent(seq, a, at, p))
  }

  /** The first state the hub knows of an actor whose start it did not see: its log starts there. */
  private first(a: ExternalActor, snap: FeedSnapshot): void {
    a.started = a.seq === 0
    a.current = shown(snap)
    a.status = statusOf(snap.status)
    a.at = this.host.now()
    if (a.started) {
      if (a.meta.start !== 'snapshot') {
        a.meta.start = 'snapshot'
        this.host.store.putMeta(a.meta)
      }
      this.host.store.putSnapshot(a.path, { seq: 0, at: a.at, snapshot: lineSnapshot(snap) })
    }
    this.host.publish((seq) => snapshotEvent(seq, a, a.at, { type: 'xstate.init' }))
  }

  private unanswered(a: ExternalActor, p: Pending): void {
    this.host.counters.unanswered++
    const at = this.host.now()
    this.host.publish((seq) => eventEvent(seq, a, at, p))
  }

  private setStatus(a: ExternalActor, status: ActorStatus, event?: InspectedEvent): void {
    const changed = a.status !== status
    a.status = status
    a.current = { ...a.current, status }
    if (event) this.host.publish((seq) => snapshotEvent(seq, a, a.at, event))
    else if (changed) this.announce(a)
  }

  private announce(a: ExternalActor): void {
    this.host.publish((seq) => ({
      type: '@xstate.actor',
      seq,
      path: a.path,
      at: this.host.now(),
      rootId: a.meta.app,
      sessionId: a.path,
      id: `${a.meta.app}:${seq}`,
      createdAt: String(this.host.now()),
      _version: '1.0.0',
      name: a.path,
      machine: a.label,
      status: a.status,
      parentId: a.meta.parent,
      node: a.meta.app,
      snapshot: a.current,
    }))
  }

  /** The path of `parent`'s child actor named `id`, or `id` itself when the hub does not know it. */
  private childPath(parent: ExternalActor, id: string): string {
    for (const c of this.byPath.values()) if (c.meta.parent === parent.path && c.meta.name === id) return c.path
    return id
  }

  /** The v4 service whose state names `id` among its children (the latest registered). */
  private v4Parent(id: string): string | undefined {
    const all = [...this.actors.values()]
    for (let i = all.length - 1; i >= 0; i--)
      if (all[i].status === 'active' && all[i].children.includes(id)) return all[i].sessionId
    return undefined
  }
}

/** A name as one id path segment. */
function clean(name: string): string {
  return name.replace(SAFE, '_').slice(0, 64) || 'actor'
}

// A state as reported: `context` is undefined for logic without one (a promise, a v4 machine
// without context); the log then records none and replay compares none. The feed shows null.
function snapshotOf(s: Record<string, unknown>): FeedSnapshot {
  return { value: s.value ?? null, context: s.context, status: statusOf(s.status) }
}

function v4Snapshot(s: { value: unknown; context: unknown; done?: boolean }): FeedSnapshot {
  return { value: s.value ?? null, context: s.context, status: s.done ? 'done' : 'active' }
}

/** A reported state as the feed shows it. */
function shown(s: FeedSnapshot): FeedSnapshot {
  return s.context === undefined ? { ...s, context: null } : s
}

/** What a snapshot line records: what `aether replay --verify` compares, and the status. */
function lineSnapshot(s: FeedSnapshot): { value: unknown; context?: unknown; status: string } {
  return s.context === undefined
    ? { value: s.value, status: s.status }
    : { value: s.value, context: s.context, status: s.status }
}

function base(seq: number, a: ExternalActor, at: number) {
  return {
    seq,
    path: a.path,
    at,
    rootId: a.meta.app,
    sessionId: a.path,
    id: `${a.meta.app}:${seq}`,
    createdAt: String(at),
    _version: '1.0.0',
  }
}

function eventEvent(seq: number, a: ExternalActor, at: number, p: Pending): FeedEvent {
  return {
    ...base(seq, a, at),
    type: '@xstate.event',
    event: p.event,
    actorSeq: p.seq,
    sourceId: p.source,
    snapshot: a.current,
  }
}

function snapshotEvent(seq: number, a: ExternalActor, at: number, event: InspectedEvent): FeedEvent {
  return { ...base(seq, a, at), type: '@xstate.snapshot', event, snapshot: a.current }
}
