/**
 * The actor host: spawns XState v5 machines as actors under stable id paths, delivers events,
 * stops and lists them, supervises them, recovers durable ones from their journal, and fans every
 * inspection event out to subscribers. It owns the services its actors' effects use
 * (actors/Services.ts).
 *
 * Starting is two steps so that services come before recovery: `new ActorSystem(opts)` opens the
 * system (nothing recovered yet; durable spawns are refused until recovery), the owners provide
 * their services (and register their machines), then `recover()` brings the durable actors back and
 * restarts their effects, which find their services at once. `ActorSystem.open` does both at once
 * for a system whose effects need no service.
 *
 * @example
 * const system = new ActorSystem({ store, machines: { toggle } })
 * system.services.provide(doorbell, bell) // what the recovered effects will need
 * await system.recover()
 * await system.spawn('hub-1/door', 'toggle', { durable: true })
 * system.send('hub-1/door', { type: 'toggle' })
 * await system.flush() // committed
 */
import type { AnyStateMachine } from 'xstate'
import type { ActorStatus, FeedEvent } from '../protocol/inspection.ts'
import { SystemClock, type Clock } from './Clock.ts'
import {
  Feed,
  FeedActorRecord,
  FeedEventRecord,
  FeedSnapshotRecord,
  feedSnapshotOf,
  type FeedSubscription,
} from './Feed.ts'
import { HostedActor, type Host, type SupervisionOptions } from './HostedActor.ts'
import { Journal, type CommitSink, type FsyncPolicy } from './Journal.ts'
import type { ActorMeta, ArchiveRecord, Incident, Store, StoreOp } from './Store.ts'
import { TimerQueue } from './TimerQueue.ts'
import {
  actorExists,
  badEvent,
  badPath,
  noStore,
  notFinished,
  notRecovered,
  reservedEvent,
  unjournalable,
  unknownActor,
  unknownMachine,
  unknownParent,
} from './errors.ts'
import { firstUnjournalable } from './journalable.ts'
import { codeHash, machineHash } from './machineHash.ts'
import { Services } from './Services.ts'
import { isReservedEventType } from './xstateSeams.ts'

export interface ActorSystemOptions {
  /** Storage for durable actors; without it only memory actors can be spawned. */
  store?: Store
  clock?: Clock
  /** Machines by registry name; recovery finds each durable actor's machine here. */
  machines?: Record<string, AnyStateMachine>
  fsync?: FsyncPolicy
  /** A snapshot every N events per durable actor (default 100). */
  snapshotEvery?: number
  /** Snapshots kept per actor; older events and snapshots are compacted away. Default: keep all. */
  retain?: number
  supervision?: Partial<SupervisionOptions>
  /** Largest batch of journal ops in one write (default 8192). */
  maxBatch?: number
  /** Name of this host in the inspection feed (`rootId`). */
  hostId?: string
  /**
   * How long after a durable actor finishes its final checkpoint is written (default 1000 ms).
   * Until then recovery replays its (short) journal; an actor archived before (a retired job) is
   * never checkpointed, its archive record supersedes it; close() writes what is due.
   */
  finalCheckpointMs?: number
}

/** An actor to archive (`ActorSystem.archiveAll`): what its ArchiveRecord holds besides its meta. */
export interface ArchiveRequest {
  path: string
  finishedAt: number
  summary: unknown
  name?: string
}

export interface SpawnOptions {
  input?: unknown
  /** Journal this actor and recover it after a restart (needs a store). Default: false. */
  durable?: boolean
}

/** A row of `list()`: what `GET /api/actors` serves. */
export interface ActorInfo {
  path: string
  machine: string
  status: ActorStatus
  value: unknown
  durable: boolean
  parent?: string
  seq: number
  error?: string
}

const PATH_RE = /^[A-Za-z0-9_.:-]+(\/[A-Za-z0-9_.:-]+)*$/

/** Checks an id path; throws BAD_PATH otherwise. */
export function checkPath(path: unknown): string {
  if (typeof path !== 'string' || path.length > 512 || !PATH_RE.test(path)) throw badPath(String(path))
  return path
}

/**
 * Checks an event sent from outside: an object with a string `type`, not in XState's reserved
 * `xstate.*` namespace (XState and the host produce those: child completions, timers). Throws
 * BAD_EVENT or RESERVED_EVENT.
 */
function checkOutsideEvent(event: { type: string }): void {
  if (typeof event !== 'object' || event === null || typeof event.type !== 'string')
    throw badEvent('an event is an object with a string "type"')
  if (isReservedEventType(event.type)) throw reservedEvent(event.type)
}

export class ActorSystem implements Host {
  readonly clock: Clock
  readonly store?: Store
  readonly journal?: Journal
  readonly timers: TimerQueue
  readonly snapshotEvery: number
  readonly retain: number
  readonly supervision: SupervisionOptions
  readonly feed = new Feed()
  readonly incidents: Incident[] = []
  /** What the effects of this system's actors use, by typed key (see actors/Services.ts). */
  readonly services = new Services()
  /** The seq of the last feed event published (a snapshot taken now is at this point of the feed). */
  get lastFeedSeq(): number {
    return this.feedSeq
  }
  readonly hostId: string
  private actors = new Map<string, HostedActor>()
  private machines = new Map<string, AnyStateMachine>()
  private ensuring = new Map<string, Promise<void>>()
  private names = new Map<AnyStateMachine, string>()
  private feedSeq = 0
  private closed = false
  private recovery: Promise<void> | undefined = undefined
  private recoveredAll = false
  private background = new Set<Promise<unknown>>()
  /** Finished durable actors waiting for their final checkpoint, in finish order, from `finalsHead` (see `finished`). */
  private finals: { a: HostedActor; due: number }[] = []
  private finalsHead = 0
  private finalsTimer: unknown = undefined
  private readonly finalCheckpointMs: number

  constructor(opts: ActorSystemOptions = {}) {
    this.clock = opts.clock ?? new SystemClock()
    this.store = opts.store
    this.timers = new TimerQueue(this.clock)
    this.snapshotEvery = Math.max(1, opts.snapshotEvery ?? 100)
    this.retain = opts.retain ?? Infinity
    this.supervision = { maxRestarts: 5, windowMs: 60_000, backoffMs: 50, maxBackoffMs: 10_000, ...opts.supervision }
    this.hostId = opts.hostId ?? 'hub'
    this.finalCheckpointMs = Math.max(0, opts.finalCheckpointMs ?? 1000)
    if (opts.store) {
      this.journal = new Journal(opts.store, opts.fsync ?? 'batch', opts.maxBatch, (err) =>
        this.incident({ at: this.clock.now(), class: 'storage', message: `journal write failed: ${err.message}` }),
      )
    }
    for (const [name, m] of Object.entries(opts.machines ?? {})) this.register(name, m)
  }

  /**
   * Creates a system and recovers every live durable actor of its store at once: for systems
   * whose effects need no service. Otherwise `new ActorSystem(opts)`, provide the services, then
   * `recover()`.
   */
  static async open(opts: ActorSystemOptions = {}): Promise<ActorSystem> {
    const system = new ActorSystem(opts)
    await system.recover()
    return system
  }

  /** Whether `recover()` has run (a system without a store has nothing to recover). */
  get recovered(): boolean {
    return this.recovery !== undefined
  }

  /** Registers a machine under a name, for spawning by name and for recovery. */
  register(name: string, machine: AnyStateMachine): void {
    this.machines.set(name, machine)
    if (!this.names.has(machine)) this.names.set(machine, name)
  }

  machine(name: string): AnyStateMachine | undefined {
    return this.machines.get(name)
  }

  // ---- Host ------------------------------------------------------------------------------------

  get feedActive(): boolean {
    return this.feed.active
  }

  incident(i: Incident): void {
    this.incidents.push(i)
    if (this.incidents.length > 1000) this.incidents.splice(0, this.incidents.length - 1000)
    if (this.journal && i.class !== 'storage') this.journal.append({ type: 'incident', incident: i })
  }

  track(p: Promise<unknown>): void {
    this.background.add(p)
    void p.finally(() => this.background.delete(p))
  }

  started(a: HostedActor): void {
    if (this.feed.active) this.emit('actor', a)
  }

  emit(kind: 'actor' | 'event' | 'snapshot', a: HostedActor, event?: any, actorSeq?: number, source?: string): void {
    const seq = ++this.feedSeq
    const xs = a.actor?.getSnapshot?.()
    const timers = a.hasTimers()
      ? a.pendingTimers().map((t) => ({ id: t.id, event: t.event.type, due: t.due }))
      : undefined
    let e: FeedEvent
    if (kind === 'event')
      e = new FeedEventRecord(seq, a.path, a.lastAt, this.hostId, event, actorSeq, source, xs, a.status, timers)
    else if (kind === 'actor')
      e = new FeedActorRecord(
        seq,
        a.path,
        this.clock.now(),
        this.hostId,
        a.machineName,
        a.status,
        a.parent?.path,
        feedSnapshotOf(xs, a.status, timers),
      )
    else
      e = new FeedSnapshotRecord(
        seq,
        a.path,
        this.clock.now(),
        this.hostId,
        event ?? { type: 'aether.snapshot' },
        feedSnapshotOf(xs, a.status, timers),
      )
    this.feed.publish(e)
  }

  /**
   * Publishes an inspection event of an actor this system does not host (an app the hub watches),
   * numbered in this feed's order. `make` runs only while somebody listens.
   */
  publishForeign(make: (seq: number) => FeedEvent): void {
    if (this.feed.active) this.feed.publish(make(++this.feedSeq))
  }

  // ---- actors ----------------------------------------------------------------------------------

  /**
   * Spawns `machine` (an instance or a registered name) at `path`. A path's parent
   * (`hub-1` of `hub-1/peer-7`) must exist. Durable spawns resolve once the actor is journaled
   * and started.
   */
  async spawn(path: string, machine: AnyStateMachine | string, opts: SpawnOptions = {}): Promise<ActorRefHandle> {
    checkPath(path)
    if (this.closed) throw new Error('the actor system is closed')
    if (this.actors.has(path)) throw actorExists(path)
    const slash = path.lastIndexOf('/')
    const parent = slash > 0 ? this.actors.get(path.slice(0, slash)) : undefined
    if (slash > 0 && !parent) throw unknownParent(path, path.slice(0, slash))
    let logic: AnyStateMachine
    let name: string
    if (typeof machine === 'string') {
      logic = this.machines.get(machine) as AnyStateMachine
      if (!logic) throw unknownMachine(machine)
      name = machine
    } else {
      logic = machine
      name = this.names.get(machine) ?? machine.id
      if (!this.machines.has(name)) this.register(name, machine)
    }
    const durable = opts.durable ?? false
    if (durable && !this.store) throw noStore()
    // before recovery the path may still be taken by an actor of the store
    if (durable && !this.recovery) throw notRecovered(path)
    if (durable && opts.input !== undefined) {
      const bad = firstUnjournalable(opts.input, 'input')
      if (bad) throw unjournalable(path, bad.where, bad.what)
    }
    const createdAt = this.clock.now()
    const a = new HostedActor(this, path, name, logic, durable, opts.input, createdAt, parent)
    this.actors.set(path, a)
    if (parent) (parent.children ??= new Set()).add(a)
    const meta: ActorMeta | undefined = durable
      ? {
          path,
          machine: name,
          machineHash: machineHash(logic),
          codeHash: codeHash(logic),
          input: opts.input,
          createdAt,
          status: 'live',
        }
      : undefined
    // A spawn that fails leaves the actor listed as failed, with an incident.
    await a.spawn(meta)
    return new ActorRefHandle(this, path)
  }

  /**
   * Sends an event to the actor at `path`; durable actors journal it before it takes effect.
   * Refused (a typed error, nothing changes): an unknown actor, an event in XState's reserved
   * `xstate.*` namespace, and for a durable actor one JSON cannot carry.
   */
  send(path: string, event: { type: string; [k: string]: unknown }, source?: string): void {
    const a = this.actors.get(path)
    if (!a) throw unknownActor(path)
    checkOutsideEvent(event)
    a.send(event, source)
  }

  /**
   * Sends, resolving with the event's journal seq once it is committed (and applied). Rejects
   * as `send` throws, and with EVENT_REJECTED when the actor does not take the event.
   */
  sendCommitted(path: string, event: { type: string; [k: string]: unknown }, source?: string): Promise<number> {
    try {
      const a = this.actors.get(path)
      if (!a) throw unknownActor(path)
      checkOutsideEvent(event)
      return a.sendCommitted(event, source)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /** Stops the actor at `path` and its children (deepest first). A stopped durable actor is not recovered. */
  async stop(path: string): Promise<void> {
    const a = this.actors.get(path)
    if (!a) throw unknownActor(path)
    for (const c of [...(a.children ?? [])]) await this.stop(c.path)
    a.stop()
    this.actors.delete(path)
    a.parent?.children?.delete(a)
    if (this.feed.active) this.emit('actor', a)
    if (a.durable && this.store) {
      const meta = await this.store.getMeta(path)
      if (meta) {
        this.journal!.append({ type: 'meta', meta: { ...meta, status: 'stopped' } })
        await this.journal!.flush()
      }
    }
  }

  /**
   * Hosts the live durable actor at `path` again with the machine now registered under its
   * machine's name (new code of that machine, after a migration check): it is stopped and recovered
   * from its checkpoint and journal tail as after a restart, its timers re-armed and pending effects
   * restarted with their keys. An actor with children is refused (they would have to move too).
   */
  async rehost(path: string): Promise<void> {
    const old = this.actors.get(path)
    if (!old) throw unknownActor(path)
    const logic = this.machines.get(old.machineName)
    if (!old.durable || !this.store || !logic || old.children?.size)
      throw new Error(`cannot rehost "${path}": only a durable actor without children, of a registered machine`)
    await this.flush()
    old.stop()
    const meta = await this.store.getMeta(path)
    const snap = await this.store.latestSnapshot(path)
    const tail = []
    for await (const r of this.store.events(path, snap?.seq ?? 0)) tail.push(r)
    const a = new HostedActor(this, path, old.machineName, logic, true, old.input, old.createdAt, old.parent)
    this.actors.set(path, a)
    if (old.parent) {
      old.parent.children?.delete(old)
      old.parent.children?.add(a)
    }
    if (!meta) a.fail(unknownActor(path), 'journal')
    else a.recoverFrom(snap, tail, meta)
    if (this.feed.active) this.emit('actor', a)
  }

  /**
   * Spawns `machine` at `path` unless an actor is hosted there; concurrent calls for one path share
   * one spawn (a feature creating its actor on first use from several requests at once).
   */
  ensure(path: string, machine: string, opts: SpawnOptions = {}): Promise<void> {
    if (this.actors.has(path)) return Promise.resolve()
    let p = this.ensuring.get(path)
    if (!p) {
      p = this.spawn(path, machine, opts)
        .then(() => undefined)
        .finally(() => this.ensuring.delete(path))
      this.ensuring.set(path, p)
    }
    return p
  }

  /** Forgets a registered machine (a removed skill's): no new actor of it can be spawned. */
  unregister(name: string): void {
    const m = this.machines.get(name)
    this.machines.delete(name)
    if (m && this.names.get(m) === name) this.names.delete(m)
  }

  /**
   * Retires the finished durable actor at `path` from the live set (see ArchiveRecord): one
   * journal op writes its archive record and removes its meta, so recovery no longer reads it; its
   * journal stays readable (`getMeta` answers `archived`). The actor stays hosted until the op is
   * committed and is gone after, so a reader finds it live or archived, never both, and never
   * neither. Rejects with NOT_FINISHED unless the actor is done.
   */
  async archive(path: string, what: { finishedAt: number; summary: unknown; name?: string }): Promise<void> {
    const [err] = await this.archiveAll([{ path, ...what }])
    if (err) throw err
  }

  /**
   * `archive` for many actors at once: their ops are appended together (one group commit) and
   * share one sink. Resolves once every op is committed or failed, with one entry per item:
   * undefined when it was archived, else why not (UNKNOWN_ACTOR, NOT_FINISHED, the write's error).
   */
  archiveAll(items: ArchiveRequest[]): Promise<(Error | undefined)[]> {
    const out: (Error | undefined)[] = new Array(items.length).fill(undefined)
    const hosted: HostedActor[] = new Array(items.length)
    const index = new Map<StoreOp, number>()
    const archivedAt = this.clock.now()
    return new Promise((resolve) => {
      const settle = () => {
        if (index.size === 0) resolve(out)
      }
      const sink: CommitSink = {
        committed: (op) => {
          const i = index.get(op)!
          index.delete(op)
          const a = hosted[i]
          if (this.actors.get(a.path) === a) {
            this.actors.delete(a.path)
            a.parent?.children?.delete(a)
            a.stop()
            if (this.feed.active) this.emit('actor', a)
          }
          settle()
        },
        failed: (op, err) => {
          out[index.get(op)!] = err
          index.delete(op)
          settle()
        },
      }
      const ops: StoreOp[] = []
      for (let i = 0; i < items.length; i++) {
        const { path, finishedAt, summary, name } = items[i]
        const a = this.actors.get(path)
        if (!a) {
          out[i] = unknownActor(path)
          continue
        }
        if (!a.durable || a.status !== 'done' || a.children?.size) {
          out[i] = notFinished(path, a.status)
          continue
        }
        const record: ArchiveRecord = { meta: a.meta(), finishedAt, archivedAt, seq: a.nextSeq - 1, summary }
        if (name !== undefined) record.name = name
        const op: StoreOp = a.checkpointed ? { type: 'archive', record } : { type: 'archive', record, unchecked: true }
        hosted[i] = a
        index.set(op, i)
        ops.push(op)
      }
      // appended after the loop: a failed journal answers at once, and the index must be complete
      for (const op of ops) this.journal!.append(op, sink)
      settle()
    })
  }

  get(path: string): ActorRefHandle | undefined {
    return this.actors.has(path) ? new ActorRefHandle(this, path) : undefined
  }

  /** The hosted actor itself (for runtime/ adapters and tests). */
  hosted(path: string): HostedActor | undefined {
    return this.actors.get(path)
  }

  list(): ActorInfo[] {
    const out: ActorInfo[] = []
    for (const a of this.actors.values()) out.push(info(a))
    return out.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0))
  }

  /** The inspection feed as an AsyncIterable with a bounded queue (drop-oldest, counted). */
  inspect(opts: { limit?: number; replayCurrent?: boolean } = {}): FeedSubscription {
    const sub = this.feed.subscribe(opts.limit)
    if (opts.replayCurrent !== false) for (const a of this.actors.values()) this.emit('actor', a)
    return sub
  }

  /** Resolves when everything sent so far is journaled. */
  flush(): Promise<void> {
    return this.journal?.flush() ?? Promise.resolve()
  }

  /**
   * A durable actor finished. Its final checkpoint (which recovery takes as its whole state) is
   * written once it has been finished `finalCheckpointMs` (up to an eighth of that later, so that
   * actors finished close together share a write): a job retired by count is usually archived
   * before then, and its archive record makes the checkpoint needless (one write per finished job
   * instead of two). Until then recovery replays its short journal.
   */
  finished(a: HostedActor): void {
    if (this.closed) return
    this.finals.push({ a, due: this.clock.now() + this.finalCheckpointMs })
    if (this.finalsTimer === undefined) this.armFinals(this.finalCheckpointMs)
  }

  private armFinals(ms: number): void {
    this.finalsTimer = this.clock.setTimeout(() => {
      this.finalsTimer = undefined
      this.writeFinals()
    }, ms)
  }

  /**
   * Checkpoints the actors finished at least `finalCheckpointMs` ago that are still hosted (not
   * archived meanwhile), then waits for the next one's turn.
   */
  private writeFinals(): void {
    const now = this.clock.now()
    const f = this.finals
    let h = this.finalsHead
    while (h < f.length && f[h].due <= now) {
      const { a } = f[h]
      f[h++] = undefined as never
      if (this.actors.get(a.path) === a) a.writeSnapshot()
    }
    if (h === f.length) {
      this.finals = []
      h = 0
    } else if (h > 1024 && h * 2 > f.length) {
      this.finals = f.slice(h)
      h = 0
    }
    this.finalsHead = h
    if (h < this.finals.length && !this.closed)
      this.armFinals(Math.max(1, this.finals[h].due - now, this.finalCheckpointMs / 8))
  }

  /** Writes a checkpoint of every durable actor that has events since its last one. */
  async checkpoint(): Promise<void> {
    for (const a of this.actors.values()) if (a.durable && a.appliedSeq > a.lastSnapSeq) a.writeSnapshot()
    await this.flush()
  }

  /**
   * Checkpoints, stops every actor (without marking them stopped) and closes the store. A close
   * with every actor checkpointed is marked clean, so the next start reads no journal tails.
   */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.timers.close()
    if (this.finalsTimer !== undefined) this.clock.clearTimeout(this.finalsTimer)
    this.finalsTimer = undefined
    this.finals = []
    this.finalsHead = 0
    await this.flush()
    await this.checkpoint()
    for (const a of this.actors.values()) a.stop()
    this.feed.close()
    await this.flush()
    while (this.background.size) await Promise.all([...this.background])
    await this.flush()
    if (this.store) {
      // Clean when every journaled event is covered by its actor's latest snapshot.
      const clean = [...this.actors.values()].every(
        (a) => !a.durable || (a.status !== 'failed' && a.nextSeq - 1 === a.lastSnapSeq),
      )
      // A store this system never read completely (no recovery, or a failed one) keeps its flag.
      // Every write before the marker was synced unless the journal's policy is 'none': then the
      // marker's own fsync is what puts them on disk before it.
      if (clean && this.journal!.stats.errors === 0 && this.recoveredAll)
        await this.store.markClean(true, { sync: this.journal!.fsync === 'none' })
      await this.store.close()
    }
  }

  // ---- recovery --------------------------------------------------------------------------------

  /**
   * Brings back every live durable actor of the store, parents first, each in the state its journal
   * gives, with its timers re-armed and its pending effects restarted (with their original keys).
   * Call it once the services are provided; later calls return the first one's promise.
   */
  recover(): Promise<void> {
    return (this.recovery ??= this.recoverActors())
  }

  private async recoverActors(): Promise<void> {
    const store = this.store
    if (!store) return
    if (this.closed) throw new Error('the actor system is closed')
    const entries = await store.recoveryState()
    // From here on new events may land: the journal no longer ends at every actor's snapshot.
    await store.markClean(false)
    // Parents before children: a parent's path is a prefix of its children's, so path order does
    // it (the store's key order already is; sort only when it is not).
    for (let i = 1; i < entries.length; i++) {
      if (entries[i - 1].meta.path > entries[i].meta.path) {
        entries.sort((a, b) => (a.meta.path < b.meta.path ? -1 : a.meta.path > b.meta.path ? 1 : 0))
        break
      }
    }
    for (const { meta, snapshot, tail, error } of entries) {
      const logic = this.machines.get(meta.machine)
      const slash = meta.path.lastIndexOf('/')
      const parent = slash > 0 ? this.actors.get(meta.path.slice(0, slash)) : undefined
      const a = new HostedActor(
        this,
        meta.path,
        meta.machine,
        logic as AnyStateMachine,
        true,
        meta.input,
        meta.createdAt,
        parent,
      )
      this.actors.set(meta.path, a)
      if (parent) (parent.children ??= new Set()).add(a)
      if (error) a.fail(error, 'journal')
      else if (!logic) a.fail(unknownMachine(meta.machine), 'actor')
      else a.recoverFrom(snapshot, tail, meta)
    }
    // What recovery wrote (the final checkpoint of an actor that finished without one) is on disk
    // before recovery is done: a process killed right after its start would otherwise replay those
    // journals again at the next one. A failed write is an incident already (the journal's onError).
    if (this.journal?.pending) await this.journal.flush().catch(() => {})
    this.recoveredAll = true
  }
}

function info(a: HostedActor): ActorInfo {
  const s = a.actor?.getSnapshot?.()
  const i: ActorInfo = {
    path: a.path,
    machine: a.machineName,
    status: a.status,
    value: s?.value ?? null,
    durable: a.durable,
    seq: a.appliedSeq,
  }
  if (a.parent) i.parent = a.parent.path
  if (a.error) i.error = a.error
  return i
}

/** A handle on a hosted actor, addressed by its id path. */
export class ActorRefHandle {
  constructor(
    private system: ActorSystem,
    readonly path: string,
  ) {}
  send(event: { type: string; [k: string]: unknown }): void {
    this.system.send(this.path, event)
  }
  getSnapshot(): any {
    return this.system.hosted(this.path)?.actor?.getSnapshot()
  }
  get status(): ActorStatus {
    return this.system.hosted(this.path)?.status ?? 'stopped'
  }
}
