/**
 * One actor as the host runs it: a live XState actor plus what makes it durable.
 *
 * The live actor is XState's own (`createActor`), so machines behave exactly as XState says. The
 * host takes three doors of it, all through actors/xstateSeams.ts:
 * - the mailbox door every outside event goes through (sends, child completions, events from
 *   other actors of its system): for a durable actor the event is first appended to the journal
 *   and delivered only once its batch is committed (write-ahead);
 * - the delay service (`schedule`, `cancel`, `cancelAll`): delayed events to the actor itself
 *   become durable timers, due at the arming event's time plus the delay, and their firing is a
 *   journaled event like any other (so XState's loss of timers on restore, statelyai/xstate#5331,
 *   does not apply);
 * - error reporting: an actor that throws is restarted from its journal without the event that
 *   broke it (marked `rejected`, so replay skips it too), with backoff, and marked failed with an
 *   incident after a limit. XState never rethrows its error: the process stays up.
 */
import type { AnyStateMachine } from 'xstate'
import type { ActorStatus } from '../protocol/inspection.ts'
import type { Clock } from './Clock.ts'
import type { CommitSink, Journal } from './Journal.ts'
import { effectKeyFor } from './effect.ts'
import { codeHash, machineHash } from './machineHash.ts'
import { anonTimerId, ReplayState } from './ReplayState.ts'
import type { Services } from './Services.ts'
import type { ActorMeta, Incident, JournalRecord, SnapshotRecord, Store, StoreOp, TimerRecord } from './Store.ts'
import type { TimerEntry, TimerQueue } from './TimerQueue.ts'
import { PureActor, pureSpecOf, RESUME_EVENT, runDeclared, STOP_EVENT } from './PureActor.ts'
import { actorNotRunning, EventRejectedError, unjournalable } from './errors.ts'
import { changedUnjournalable, firstUnjournalable } from './journalable.ts'
import {
  type ActorHosting,
  createLiveActor,
  type DelayService,
  deliverDirect,
  HOST,
  hostingOf,
  relay,
  setDelayService,
} from './xstateSeams.ts'

export interface SupervisionOptions {
  /** Restarts allowed within `windowMs` before the actor is marked failed. */
  maxRestarts: number
  windowMs: number
  /** First backoff; doubles with each restart in the window, up to `maxBackoffMs`. */
  backoffMs: number
  maxBackoffMs: number
}

/** What a hosted actor needs from its system. */
export interface Host {
  clock: Clock
  /** What the actors' effects use (actors/Services.ts). */
  services: Services
  journal?: Journal
  store?: Store
  timers: TimerQueue
  snapshotEvery: number
  /** Snapshots to keep per actor (older events and snapshots are compacted); Infinity keeps all. */
  retain: number
  supervision: SupervisionOptions
  feedActive: boolean
  emit(kind: 'actor' | 'event' | 'snapshot', a: HostedActor, event?: any, actorSeq?: number, source?: string): void
  incident(i: Incident): void
  started(a: HostedActor): void
  /** Background work (compaction) that close() must wait for. */
  track(p: Promise<unknown>): void
  /** The actor finished: its final checkpoint is due (written a little later, see ActorSystem). */
  finished(a: HostedActor): void
}

interface LiveTimer extends TimerRecord {
  entry: TimerEntry
  /** Fired and journaled, not yet applied: still pending, as replay sees it. */
  firing?: boolean
}

/** An Error as plain JSON data: name, message and code when it has one. */
function plainError(err: Error): Record<string, unknown> {
  const out: Record<string, unknown> = { name: err.name, message: err.message }
  const code = (err as any).code
  if (code !== undefined) out.code = code
  return out
}

/**
 * An effect that rejected with an Error would be journaled as `{}` (JSON drops its fields):
 * journal and deliver the same plain form, so the live actor and replay see one value.
 */
function withPlainError(event: any): any {
  return event.error instanceof Error && event.type.startsWith('xstate.error.actor.')
    ? { ...event, error: plainError(event.error) }
    : event
}

/** BigInt has no JSON form; an event from inside carries it as its decimal string. */
const bigintAsString = (_k: string, v: unknown): unknown => (typeof v === 'bigint' ? v.toString() : v)

/** The message of a step whose result cannot be journaled. */
const cannotJournal = (bad: { where: string; what: string }): string =>
  `${bad.where} is ${bad.what}, which JSON cannot hold, so it cannot be journaled`

/** A step whose result cannot be journaled: handled as if the event had thrown. */
class UnjournalableStep extends Error {}

/** The hosted actor that owns an XState actor ref (walking up to its root). */
export function hostedActorOf(ref: any): HostedActor | undefined {
  return hostingOf<HostedActor>(ref)
}

/**
 * The delay service of one actor (see the `timers` seam): a small object with prototype methods
 * rather than closures per actor, since a host keeps thousands of actors.
 */
class HostDelays implements DelayService {
  constructor(private h: HostedActor) {}
  schedule(source: any, target: any, event: any, delay: number, id?: string): void {
    this.h.schedule(source, target, event, delay, id)
  }
  cancel(source: any, id: string): void {
    this.h.cancelTimer(source, id)
  }
  cancelAll(ref: any): void {
    this.h.cancelAllTimers(ref)
  }
}

/** The error of a crashed live actor, or undefined while it runs. */
function crashOf(actor: any): { err: unknown } | undefined {
  const s = actor.getSnapshot()
  return s?.status === 'error' ? { err: s.error } : undefined
}

export class HostedActor implements CommitSink, ActorHosting {
  actor: any
  status: ActorStatus = 'starting'
  /** Next journal seq to assign (durable). */
  nextSeq = 1
  /** Seq of the last event applied to the live actor. */
  appliedSeq = 0
  lastSnapSeq = 0
  /**
   * A latest-snapshot record may exist in the store for it: it wrote a checkpoint, or it was
   * recovered (from whatever an earlier run wrote). An archive deletes that record only then.
   */
  checkpointed = false
  lastAt = 0
  error?: string
  /**
   * Its meta record as stored (durable), kept only when the actor's own fields do not say it (a
   * recovered actor of another version of its machine, or a meta without hashes): one object less
   * per live actor otherwise. What an archive of it keeps (`meta()`).
   */
  private stored?: ActorMeta
  children?: Set<HostedActor>

  private currentSeq: number | undefined = undefined
  private currentAt = 0
  private anonK = 0
  private timers?: Map<string, LiveTimer>
  private plainTimers?: Map<string, unknown>
  private effects?: Map<string, string>
  private backlog?: JournalRecord[]
  private restartTimes?: number[]
  private waiters?: Map<number, { resolve: (seq: number) => void; reject: (e: Error) => void }>
  /** Events sent to a memory actor while it restarts, delivered once it runs again. */
  private memoryBacklog?: Array<{ event: any; source: string | undefined }>
  private onStarted?: { resolve: () => void; reject: (e: Error) => void }

  constructor(
    readonly host: Host,
    readonly path: string,
    readonly machineName: string,
    readonly machine: AnyStateMachine,
    readonly durable: boolean,
    readonly input: unknown,
    readonly createdAt: number,
    readonly parent?: HostedActor,
  ) {}

  // ---- lifecycle -------------------------------------------------------------------------------

  /** Starts a new actor. Durable: the meta record is journaled first and the actor starts on commit. */
  spawn(meta?: ActorMeta): Promise<void> {
    return new Promise((resolve, reject) => {
      if (!this.durable) {
        this.startFresh()
        return this.status === 'failed' ? reject(new Error(this.error)) : resolve()
      }
      this.onStarted = { resolve, reject }
      this.keepMeta(meta!)
      this.host.journal!.append({ type: 'meta', meta: meta! }, this)
    })
  }

  private startFresh(): void {
    try {
      this.createLive(undefined)
      this.currentSeq = 0
      this.currentAt = this.createdAt
      this.startLive(false)
      this.currentSeq = undefined
      const crash = crashOf(this.actor)
      if (crash) throw crash.err
      this.checkWholeContext()
      this.settleStatus()
      this.host.started(this)
      this.drainBacklog()
    } catch (err) {
      this.currentSeq = undefined
      this.fail(err, 'actor')
    }
    const s = this.onStarted
    this.onStarted = undefined
    if (s) this.status === 'failed' ? s.reject(new Error(this.error)) : s.resolve()
  }

  /**
   * Brings a durable actor back: the checkpoint (or the initial state), then the journal tail
   * through pure transitions, then a live actor from the result, with its timers re-armed.
   */
  recoverFrom(snap: SnapshotRecord | undefined, tail: JournalRecord[], meta: ActorMeta): void {
    this.keepMeta(meta)
    this.checkpointed = true
    try {
      let persisted: any
      let timers: Iterable<TimerRecord> = snap?.timers ?? []
      let effects: Iterable<[string, string]> | undefined
      let last = snap?.seq ?? 0
      if (snap && tail.length === 0) {
        persisted = snap.snapshot
        this.lastAt = snap.at
      } else {
        const rs = new ReplayState(this.machine, this.path)
        snap ? rs.restore(snap) : rs.init(meta.input, meta.createdAt)
        for (const rec of tail) rs.apply(rec)
        persisted = rs.persisted()
        timers = rs.timers.values()
        effects = rs.effects
        last = rs.seq
        this.lastAt = rs.at
      }
      this.appliedSeq = last
      if (last + 1 > this.nextSeq) this.nextSeq = last + 1
      this.lastSnapSeq = snap?.seq ?? 0
      this.effects = undefined
      if (effects) for (const [k, v] of effects) (this.effects ??= new Map()).set(k, v)
      else if (snap) for (const k in snap.effects) (this.effects ??= new Map()).set(k, snap.effects[k])
      this.createLive(persisted)
      this.startLive(true)
      const crash = crashOf(this.actor)
      if (crash) throw crash.err
      this.checkWholeContext()
      for (const t of timers) this.armTimer(t)
      this.settleStatus()
      // finished before its checkpoint was written (a crash in between): write it now
      if (this.status === 'done') this.writeSnapshot()
      this.host.started(this)
      this.drainBacklog()
    } catch (err) {
      this.fail(err, 'journal')
    }
  }

  private createLive(persisted: any): void {
    const id = this.path.slice(this.path.lastIndexOf('/') + 1)
    const spec = pureSpecOf(this.machine)
    let actor: any
    if (spec?.pure !== false && spec) {
      actor = new PureActor(this.machine, id, spec, persisted ? { snapshot: persisted } : { input: this.input })
      actor[HOST] = this
    } else {
      actor = createLiveActor(this.machine, persisted ? { snapshot: persisted, id } : { input: this.input, id }, this)
    }
    setDelayService(actor, new HostDelays(this))
    this.actor = actor
  }

  /** Starts the live actor; a restored one re-runs its declared effects (a machine marked `pure: false`). */
  private startLive(restored: boolean): void {
    const a = this.actor
    a.start()
    if (!restored || a instanceof PureActor) return
    const spec = pureSpecOf(this.machine)
    const s = a.getSnapshot()
    if (spec?.effects.length && s.status === 'active')
      runDeclared(this.machine, s, spec.effects, 'entry', RESUME_EVENT, a, a.system)
  }

  /** A durable actor whose context the journal cannot hold does not start (see actors/journalable.ts). */
  private checkWholeContext(): void {
    if (!this.durable) return
    const bad = firstUnjournalable(this.actor.getSnapshot().context, 'context')
    if (bad) throw new Error(cannotJournal(bad))
  }

  /** Applies an event to the live actor, bypassing the journal door. */
  private applyEvent(event: any): void {
    const a = this.actor
    if (a instanceof PureActor) a.process(event)
    else deliverDirect(a, event)
  }

  /** A subscriber or emit listener of the live actor threw (XState would have rethrown it). */
  subscriberThrew(err: unknown): void {
    this.incident('actor', `a subscriber of the actor threw: ${(err as Error)?.message ?? String(err)}`)
  }

  private settleStatus(): void {
    const s = this.actor.getSnapshot().status
    this.status = s === 'done' ? 'done' : s === 'error' ? 'error' : 'active'
  }

  /** Its meta record, as the store holds it (durable actors). */
  meta(): ActorMeta {
    if (this.stored) return { ...this.stored, status: 'live' }
    const meta: ActorMeta = {
      path: this.path,
      machine: this.machineName,
      machineHash: this.durable ? machineHash(this.machine) : '',
      createdAt: this.createdAt,
      status: 'live',
    }
    if (this.durable) meta.codeHash = codeHash(this.machine)
    if (this.input !== undefined) meta.input = this.input
    return meta
  }

  /** Keeps `meta` unless `meta()` would build the same from the actor's fields. */
  private keepMeta(meta: ActorMeta): void {
    const same =
      meta.path === this.path &&
      meta.machine === this.machineName &&
      meta.createdAt === this.createdAt &&
      meta.input === this.input &&
      meta.machineHash === machineHash(this.machine) &&
      meta.codeHash === codeHash(this.machine)
    this.stored = same ? undefined : meta
  }

  /** Stops the live actor and its timers. The journal is kept. */
  stop(): void {
    this.teardown()
    this.status = 'stopped'
  }

  private teardown(): void {
    if (this.timers) for (const t of this.timers.values()) this.host.timers.cancel(t.entry)
    this.timers = undefined
    if (this.plainTimers) for (const h of this.plainTimers.values()) this.host.clock.clearTimeout(h)
    this.plainTimers = undefined
    const a = this.actor
    try {
      // A machine marked `pure: false` cancels its effects at a stop as its pure hosting would.
      const spec = a && !(a instanceof PureActor) ? pureSpecOf(this.machine) : undefined
      if (spec?.cancels?.length && a.getSnapshot().status === 'active')
        runDeclared(this.machine, a.getSnapshot(), spec.cancels, 'exit', STOP_EVENT, a, a.system)
    } catch (err) {
      this.incident('actor', `a cancel action threw at stop: ${(err as Error)?.message ?? String(err)}`)
    }
    try {
      a?.stop()
    } catch {
      // an actor that is already in error is stopped
    }
  }

  // ---- events ----------------------------------------------------------------------------------

  /**
   * An event from outside (system.send). A durable actor refuses one JSON cannot carry
   * (UNJOURNALABLE, naming where); see actors/journalable.ts.
   */
  send(event: any, source?: string): number {
    if (this.status !== 'active' && this.status !== 'starting' && this.status !== 'restarting') {
      throw actorNotRunning(this.path, this.status)
    }
    if (!this.durable) {
      this.deliverMemory(event, source)
      return 0
    }
    event = withPlainError(event)
    const bad = firstUnjournalable(event, 'event')
    if (bad) throw unjournalable(this.path, bad.where, bad.what)
    return this.append(event, source, undefined)
  }

  /**
   * Like send, resolving with the event's seq once it is committed and applied. It rejects when
   * the actor does not take the event (EVENT_REJECTED: it threw on it, or the state it led to
   * cannot be journaled) or fails meanwhile (ACTOR_NOT_RUNNING): every send gets an answer.
   */
  sendCommitted(event: any, source?: string): Promise<number> {
    if (!this.durable) {
      if (this.status !== 'active' && this.status !== 'starting' && this.status !== 'restarting')
        return Promise.reject(actorNotRunning(this.path, this.status))
      const crash = this.deliverMemory(event, source)
      return crash === undefined
        ? Promise.resolve(0)
        : Promise.reject(new EventRejectedError(this.path, event.type, undefined, crash))
    }
    const seq = this.send(event, source)
    return new Promise((resolve, reject) => (this.waiters ??= new Map()).set(seq, { resolve, reject }))
  }

  private append(event: any, source: string | undefined, timer: LiveTimer | undefined): number {
    const rec: JournalRecord = { seq: this.nextSeq++, at: this.host.clock.now(), event }
    if (source !== undefined) rec.source = source
    if (timer !== undefined) {
      rec.timer = timer.id
      rec.due = timer.due
    }
    this.host.journal!.append({ type: 'event', path: this.path, record: rec }, this)
    return rec.seq
  }

  /** Events XState routes to this actor from inside its system (child completions, sendParent, ...). */
  fromInside(event: any): void {
    if (!this.durable) {
      this.deliverMemory(event, undefined)
      return
    }
    // A finished actor takes no event (deliver would skip it): nothing is journaled after its
    // final checkpoint, which recovery takes as its whole state.
    if (this.status === 'stopped' || this.status === 'failed' || this.status === 'done') return
    const e = this.asJournaled(event)
    if (e) this.append(e, undefined, undefined)
  }

  /**
   * An event from inside (an effect's result, a delayed event) as the journal holds it: what JSON
   * makes of it, so the live actor sees what replay will (see actors/journalable.ts). Undefined,
   * with an incident, when JSON cannot carry it at all (a cycle).
   */
  private asJournaled(event: any): any {
    const e = withPlainError(event)
    if (!firstUnjournalable(e, 'event')) return e
    try {
      return JSON.parse(JSON.stringify(e, bigintAsString))
    } catch (err) {
      this.incident(
        'actor',
        `event "${e.type}" from inside was dropped: JSON cannot carry it (${(err as Error).message})`,
      )
      return undefined
    }
  }

  /** Applies an event to a memory actor; the crash message when the actor threw on it. */
  private deliverMemory(event: any, source: string | undefined): string | undefined {
    if (this.status === 'restarting' || this.status === 'starting') {
      ;(this.memoryBacklog ??= []).push({ event, source })
      return undefined
    }
    if (this.status !== 'active') return undefined
    this.appliedSeq++
    this.currentAt = this.lastAt = this.host.clock.now()
    this.currentSeq = this.appliedSeq
    this.applyEvent(event)
    this.currentSeq = undefined
    const s = this.actor.getSnapshot()
    if (s.status === 'error') {
      this.onCrash(undefined, s.error)
      return this.error
    }
    if (s.status === 'done') this.status = 'done'
    if (this.host.feedActive) this.host.emit('event', this, event, this.appliedSeq, source)
    return undefined
  }

  committed(op: StoreOp): void {
    if (op.type === 'event') {
      if (op.record.rejected === undefined) this.deliver(op.record)
    } else if (op.type === 'meta') {
      if (this.status === 'starting') this.startFresh()
    } else if (op.type === 'snapshot') {
      const keep = this.host.retain
      if (Number.isFinite(keep)) this.host.track(this.compact(keep))
    }
  }

  failed(op: StoreOp, err: Error): void {
    if (op.type === 'event') {
      const w = this.waiters?.get(op.record.seq)
      if (w) {
        this.waiters!.delete(op.record.seq)
        w.reject(err)
      }
      // The seq is spent (later events may be queued behind it already), so the journal would have
      // a gap there that a log cannot carry. Fill it with a marker that recovery and replay skip,
      // like a rejected event; when the marker cannot be written either, the storage is gone.
      if (op.record.rejected === undefined) {
        const marker: JournalRecord = { ...op.record, rejected: `journal write failed: ${err.message}` }
        this.host.journal!.append({ type: 'event', path: this.path, record: marker, unwritten: true }, this)
      } else this.fail(err, 'storage')
    } else if (op.type === 'meta') {
      this.fail(err, 'storage')
      const s = this.onStarted
      this.onStarted = undefined
      s?.reject(err)
    }
  }

  private deliver(rec: JournalRecord): void {
    if (rec.seq <= this.appliedSeq) return this.resolveWaiter(rec.seq)
    if (this.status === 'starting' || this.status === 'restarting') {
      ;(this.backlog ??= []).push(rec)
      return
    }
    if (this.status !== 'active') {
      // Journaled, and replay applies it too, but a done, failed or stopped actor takes no event.
      this.appliedSeq = rec.seq
      return this.resolveWaiter(rec.seq)
    }
    if (rec.timer !== undefined) {
      const t = this.timers?.get(rec.timer)
      if (!t || t.due !== rec.due) {
        // stale: cancelled or re-armed after it fired (replay skips it the same way)
        this.appliedSeq = rec.seq
        return this.resolveWaiter(rec.seq)
      }
      this.timers!.delete(rec.timer)
    }
    this.currentSeq = rec.seq
    this.currentAt = rec.at
    this.anonK = 0
    const before = this.actor.getSnapshot()
    this.applyEvent(rec.event)
    this.currentSeq = undefined
    this.appliedSeq = rec.seq
    this.lastAt = rec.at
    const crash = crashOf(this.actor)
    if (crash) return this.onCrash(rec, crash.err)
    const after = this.actor.getSnapshot()
    // a step whose result the journal cannot hold is rejected like a step that threw
    const bad =
      changedUnjournalable(before.context, after.context, 'context') ??
      (after.status === 'done' ? firstUnjournalable(after.output, 'output') : undefined)
    if (bad) return this.onCrash(rec, new UnjournalableStep(cannotJournal(bad)))
    if (after.status === 'done') this.status = 'done'
    if (this.host.feedActive) this.host.emit('event', this, rec.event, rec.seq, rec.source)
    // A finished actor's final checkpoint is written soon after (ActorSystem.finished), unless it
    // is archived first: recovery then reads that checkpoint and never its journal.
    if (this.status === 'done') this.host.finished(this)
    else if (rec.seq - this.lastSnapSeq >= this.host.snapshotEvery) this.writeSnapshot()
    this.resolveWaiter(rec.seq)
  }

  private resolveWaiter(seq: number): void {
    if (!this.waiters) return
    const w = this.waiters.get(seq)
    if (w) {
      this.waiters.delete(seq)
      w.resolve(seq)
    }
  }

  private drainBacklog(): void {
    const b = this.backlog
    this.backlog = undefined
    if (b) for (const rec of b) this.deliver(rec)
    const m = this.memoryBacklog
    this.memoryBacklog = undefined
    if (m) for (const { event, source } of m) this.deliverMemory(event, source)
  }

  // ---- snapshots -------------------------------------------------------------------------------

  /** Journals a checkpoint of the current state (durable actors). */
  writeSnapshot(): void {
    if (!this.durable || !this.actor || this.status === 'failed' || this.status === 'stopped') return
    if (this.appliedSeq === this.lastSnapSeq) return
    let snapshot: any
    try {
      snapshot = this.actor.getPersistedSnapshot()
    } catch (err) {
      this.incident('actor', `snapshot failed: ${(err as Error).message}`)
      this.lastSnapSeq = this.appliedSeq
      return
    }
    // Each step's changes were checked; a context changed in place (behind XState's back) was not.
    const bad = firstUnjournalable(snapshot.context, 'context')
    if (bad) {
      this.incident('actor', `snapshot at seq ${this.appliedSeq} not written: ${cannotJournal(bad)}`)
      this.lastSnapSeq = this.appliedSeq
      return
    }
    const rec: SnapshotRecord = {
      seq: this.appliedSeq,
      at: this.lastAt,
      snapshot,
      timers: this.pendingTimers(),
      effects: this.effects ? Object.fromEntries(this.effects) : {},
    }
    this.lastSnapSeq = this.appliedSeq
    this.checkpointed = true
    this.host.journal!.append({ type: 'snapshot', path: this.path, record: rec }, this)
  }

  private async compact(keep: number): Promise<void> {
    const store = this.host.store!
    try {
      const seqs: number[] = []
      for await (const s of store.snapshots(this.path)) seqs.push(s.seq)
      if (seqs.length <= keep) return
      await store.compact(this.path, seqs[seqs.length - keep])
    } catch (err) {
      this.incident('storage', `compaction failed: ${(err as Error).message}`)
    }
  }

  // ---- timers ----------------------------------------------------------------------------------

  hasTimers(): boolean {
    return this.timers !== undefined && this.timers.size > 0
  }

  pendingTimers(): TimerRecord[] {
    if (!this.timers) return []
    return [...this.timers.values()].map(({ id, event, due }) => ({ id, event, due }))
  }

  schedule(source: any, target: any, event: any, delay: number, id?: string): void {
    if (this.durable && source === this.actor && target === this.actor) {
      const seq = this.currentSeq ?? this.appliedSeq
      const tid = id ?? anonTimerId(seq, this.anonK++)
      const at = this.currentSeq !== undefined ? this.currentAt : this.host.clock.now()
      const e = this.asJournaled(event)
      if (e) this.armTimer({ id: tid, event: e, due: at + delay })
      return
    }
    const key = `${source.sessionId}.${id ?? Math.random().toString(36).slice(2)}`
    const plain = (this.plainTimers ??= new Map())
    const old = plain.get(key)
    if (old !== undefined) this.host.clock.clearTimeout(old)
    plain.set(
      key,
      this.host.clock.setTimeout(() => {
        plain.delete(key)
        relay(this.actor.system, source, target, event)
      }, delay),
    )
  }

  private armTimer(t: TimerRecord): void {
    const timers = (this.timers ??= new Map())
    const old = timers.get(t.id)
    if (old) this.host.timers.cancel(old.entry)
    const entry = this.host.timers.add(this.path, t.id, t.due, () => this.fireTimer(t.id))
    timers.set(t.id, { id: t.id, event: t.event, due: t.due, entry })
  }

  private fireTimer(id: string): void {
    const t = this.timers?.get(id)
    if (!t || t.firing || this.status !== 'active') return
    t.firing = true
    this.append(t.event, undefined, t)
  }

  cancelTimer(source: any, id: string): void {
    if (source === this.actor && this.timers) {
      const t = this.timers.get(id)
      if (t) {
        this.host.timers.cancel(t.entry)
        this.timers.delete(id)
      }
      if (this.durable) return
    }
    const key = `${source.sessionId}.${id}`
    const h = this.plainTimers?.get(key)
    if (h !== undefined) {
      this.host.clock.clearTimeout(h)
      this.plainTimers!.delete(key)
    }
  }

  cancelAllTimers(ref: any): void {
    if (ref === this.actor && this.timers) {
      for (const t of this.timers.values()) this.host.timers.cancel(t.entry)
      this.timers.clear()
    }
    if (this.plainTimers) {
      const prefix = `${ref.sessionId}.`
      for (const [k, h] of this.plainTimers) {
        if (k.startsWith(prefix)) {
          this.host.clock.clearTimeout(h)
          this.plainTimers.delete(k)
        }
      }
    }
  }

  // ---- effects ---------------------------------------------------------------------------------

  /**
   * The idempotency key of the effect (invoked child) `childId`: fixed when the effect is first
   * spawned, and the same when it is restarted after a crash.
   */
  effectKey(childId: string): string {
    const effects = (this.effects ??= new Map())
    if (this.currentSeq !== undefined) {
      const key = effectKeyFor(this.path, childId, this.currentSeq)
      effects.set(childId, key)
      return key
    }
    return effects.get(childId) ?? effectKeyFor(this.path, childId, this.appliedSeq)
  }

  // ---- supervision -----------------------------------------------------------------------------

  /**
   * The actor threw on an event (or its step cannot be journaled): the event is journaled as
   * rejected, its sender told (EVENT_REJECTED), and the actor restarted without it after a backoff.
   */
  private onCrash(rec: JournalRecord | undefined, err: unknown): void {
    const message = (err as Error)?.message ?? String(err)
    const now = this.host.clock.now()
    const snap = this.actor.getSnapshot()
    this.teardown()
    if (rec) {
      this.host.journal!.append({ type: 'event', path: this.path, record: { ...rec, rejected: message } })
      const w = this.waiters?.get(rec.seq)
      if (w) {
        this.waiters!.delete(rec.seq)
        w.reject(new EventRejectedError(this.path, rec.event.type, rec.seq, message))
      }
    }
    const sup = this.host.supervision
    const times = (this.restartTimes ??= []).filter((t) => now - t < sup.windowMs)
    times.push(now)
    this.restartTimes = times
    const what = err instanceof UnjournalableStep ? `rejected event "${rec?.event.type}"` : 'threw'
    this.incident('actor', `${what}: ${message}; restarting (${times.length} of ${sup.maxRestarts})`, rec?.seq)
    if (times.length > sup.maxRestarts) return this.fail(err, 'actor')
    this.status = 'restarting'
    this.error = message
    if (this.host.feedActive) this.host.emit('actor', this)
    const delay = Math.min(sup.maxBackoffMs, sup.backoffMs * 2 ** (times.length - 1))
    this.host.clock.setTimeout(() => void this.restart(snap), delay)
  }

  private async restart(lastSnap: any): Promise<void> {
    if (this.status !== 'restarting') return
    if (!this.durable) {
      // A memory actor restarts from the state it had before the event that threw.
      try {
        const { error: _e, ...rest } = lastSnap
        this.createLive(this.machine.getPersistedSnapshot({ ...rest, status: 'active' }))
        this.startLive(true)
        this.settleStatus()
        this.host.started(this)
        this.drainBacklog()
      } catch (err) {
        this.fail(err, 'actor')
      }
      return
    }
    try {
      await this.host.journal!.flush()
      const store = this.host.store!
      const snap = await store.latestSnapshot(this.path)
      const tail: JournalRecord[] = []
      for await (const r of store.events(this.path, snap?.seq ?? 0)) tail.push(r)
      const meta = (await store.getMeta(this.path))!
      if (this.status !== 'restarting') return
      this.recoverFrom(snap, tail, meta)
    } catch (err) {
      this.fail(err, 'journal')
    }
  }

  /** Reports an incident about this actor. */
  private incident(cls: string, message: string, seq?: number): void {
    const i: Incident = { at: this.host.clock.now(), class: cls, path: this.path, message }
    if (seq !== undefined) i.seq = seq
    this.host.incident(i)
  }

  /** Gives up on the actor: it stays listed as failed, with an incident. */
  fail(err: unknown, cls: string): void {
    const message = (err as Error)?.message ?? String(err)
    this.teardown()
    this.status = 'failed'
    this.error = message
    this.backlog = undefined
    this.memoryBacklog = undefined
    this.incident(cls, `failed: ${message}`)
    if (this.waiters) {
      for (const w of this.waiters.values()) w.reject(actorNotRunning(this.path, 'failed'))
      this.waiters = undefined
    }
    if (this.host.feedActive) this.host.emit('actor', this)
  }
}
