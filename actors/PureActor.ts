/**
 * Pure hosting: an actor whose machine runs through XState's own pure functions
 * (`machine.getInitialSnapshot`, `machine.transition`, `machine.restoreSnapshot`) on a scope the host
 * owns, with no XState `Actor` behind it. It is what replay already does (ReplayState), with the
 * actions executed instead of collected: the live path and the replay path compute every snapshot
 * with the same function.
 *
 * Why: an XState `Actor` costs about 80 µs to create, start and finish on this kind of machine (its
 * system, mailbox, observers), and an invoked promise child about 50 µs more (docs/benchmarks.md, Jobs). A host that
 * keeps one actor per job pays that per job; a pure-hosted machine pays only its transitions.
 *
 * What a pure-hosted machine may not do: invoke or spawn children (there is no actor system to run
 * them). Its effects are actions instead, declared with `hostPure(machine, { effects: [...] })`: an
 * effect action starts work whose result comes back as an event (`self.send(...)`, journaled like
 * any other), and because XState does not re-run entry actions when a snapshot is restored, the host
 * re-runs the declared effect actions of the active states after a restore, as XState restarts
 * invoked children. Such an action sees the event `{ type: 'aether.resume' }` then; it must carry
 * its own idempotency key (jobs use `jobId/stepId`). Likewise, stopping an XState actor stops its
 * children: the host runs the declared cancel actions (`cancels`, exit actions) of the active
 * states when it stops a pure actor, which sees `{ type: 'aether.stop' }` then, and drops what
 * the actor's effects send it afterwards.
 *
 * Everything else is XState's: guards, assign, delayed events (through the host's delay service,
 * so they are durable timers), `cancel`, `emit`, `log`, `sendTo` (relayed to the target's door).
 * What XState's pure functions see of this actor (its scope and system) is in actors/xstateSeams.ts.
 *
 * Memo (actors/transitionMemo.ts, on unless `memo: false`): once XState has computed a macrostep
 * from a configuration for an event type, the host replays it for the next snapshot in that
 * configuration whose guards give the same results: the machine's own guards, assigns and actions,
 * in XState's order, without XState's set and map work. Anything else is XState's again.
 *
 * Both are optimizations that rest on XState internals (the seam module), so each can be turned off
 * per machine: `hostPure(machine, { ..., memo: false })` keeps pure hosting without the memo, and
 * `pure: false` hosts the machine as a plain XState actor; the host then still re-runs the declared
 * effect actions after a restore and the cancel actions at a stop, so the machine behaves the same.
 */
import type { AnyStateMachine } from 'xstate'
import {
  currentRecording,
  memoOf,
  noteAction,
  recordDuring,
  withMemo,
  type TransitionMemo,
  type Trace,
} from './transitionMemo.ts'
import {
  activeNodes,
  assignedPartial,
  type ExecutableAction,
  HOST,
  HostScope,
  HostSystem,
  persistedSnapshot,
  refusedChildren,
  setActiveNodes,
  setDoor,
  type ActorHosting,
  type ScopeOwner,
} from './xstateSeams.ts'

export interface PureSpec {
  /** Action types that start effects: re-run for the active states after a restore. */
  effects: string[]
  /**
   * Action types that cancel effects (exit actions): run for the active states when the actor is
   * stopped, as stopping an XState actor stops its invoked children.
   */
  cancels?: string[]
  /**
   * Replay macrosteps XState already computed (actors/transitionMemo.ts) instead of computing them
   * again; default true. Machines the memo cannot serve are hosted without it whatever this says.
   */
  memo?: boolean
  /**
   * Host the machine pure (default true). `false` hosts it as a plain XState actor (XState computes
   * and runs everything; the declared effects are still re-run after a restore and the cancels at a
   * stop): the switch to use when an XState upgrade breaks a seam pure hosting rests on.
   */
  pure?: boolean
}

const pureMachines = new WeakMap<AnyStateMachine, PureSpec>()

/** The resume event an effect action sees when the host re-runs it after a restore. */
export const RESUME_EVENT = { type: 'aether.resume' } as const
/** The event a cancel action sees when the host runs it because the actor stops. */
export const STOP_EVENT = { type: 'aether.stop' } as const

/**
 * Marks `machine` for pure hosting (see the file comment) and returns the machine to register: with
 * the transition memo, a copy whose named guards and assigns also record what XState runs (same
 * definition, same hash). Throws when it invokes anything.
 *
 * @example
 * const m = hostPure(createJobMachine(spec).provide({ actions: { runStep, cancelStep } }), { effects: ['runStep'] })
 */
export function hostPure<M extends AnyStateMachine>(machine: M, spec: PureSpec = { effects: [] }): M {
  const walk = (node: any): void => {
    if (node.invoke?.length)
      throw new Error(
        `machine "${machine.id}" cannot be hosted pure: state "${node.id}" invokes "${node.invoke[0].id}" (make the effect an action)`,
      )
    for (const k in node.states ?? {}) walk(node.states[k])
  }
  walk(machine.root)
  const pure = spec.pure !== false
  const memo = pure && spec.memo !== false
  // always a copy (same definition, same hash): the marking belongs to the returned machine, so
  // one machine may be marked twice, e.g. with and without pure hosting
  const hosted = (memo && withMemo(machine)) || (machine.provide({}) as M)
  pureMachines.set(hosted, { effects: [...spec.effects], cancels: [...(spec.cancels ?? [])], memo, pure })
  return hosted
}

/** How `machine` was marked by `hostPure` (undefined: a plain XState machine). */
export function pureSpecOf(machine: AnyStateMachine): PureSpec | undefined {
  return pureMachines.get(machine)
}

/**
 * Runs the declared actions `types` found in the `entry` (in entry order) or `exit` (in exit order)
 * lists of the active states of `snapshot`, with `event`: the host's stand-in for XState restarting
 * invoked children after a restore (`entry`, RESUME_EVENT) and stopping them (`exit`, STOP_EVENT).
 * `self` is the actor the actions see (a pure one, or a live XState actor when `pure: false`).
 */
export function runDeclared(
  logic: AnyStateMachine,
  snapshot: any,
  types: string[],
  list: 'entry' | 'exit',
  event: { type: string },
  self: unknown,
  system: unknown,
): void {
  const impls = (logic as any).implementations.actions
  const nodes = activeNodes(snapshot)
  const ordered = list === 'exit' ? [...nodes].reverse() : nodes
  for (const node of ordered) {
    for (const def of node[list]) {
      const type = typeof def === 'string' ? def : def?.type
      if (!type || !types.includes(type)) continue
      const fn = impls[type]
      if (typeof fn !== 'function') continue
      const params =
        typeof def === 'object' && 'params' in def
          ? typeof def.params === 'function'
            ? def.params({ context: snapshot.context, event })
            : def.params
          : undefined
      fn({ context: snapshot.context, event, self, system }, params)
    }
  }
}

let sessions = 0

/** The object a pure-hosted machine sees as `self`; the host drives it through `start` and `process`. */
export class PureActor implements ScopeOwner {
  /** The current snapshot. */
  private snap: any
  private readonly n = ++sessions
  readonly system: HostSystem
  /** The host running this actor (set by it); its door journals what the actor's actions send. */
  declare [HOST]: ActorHosting | undefined
  /** @internal */ deferred: Array<() => void> | undefined = undefined
  /** @internal */ collecting: any[] | undefined = undefined
  /** What XState's transition functions call back into (typed loosely: XState's type wants an Actor). */
  private readonly scope: any
  /** @internal */ readonly memo: TransitionMemo | undefined
  private busy = false
  private stopped = false
  private queue: any[] | undefined = undefined

  constructor(
    readonly logic: AnyStateMachine,
    readonly id: string,
    private readonly spec: PureSpec,
    private from: { input?: unknown; snapshot?: any } | undefined,
  ) {
    this.system = new HostSystem(logic.id)
    this.memo = memoOf(logic)
    this.scope = new HostScope(this, this.system)
  }

  get sessionId(): string {
    return `pure:${this.n}`
  }

  /**
   * What the machine's own actions send (and what XState relays to this actor): through the host's
   * door when hosted, applied at once when not; dropped once stopped (as a stopped XState actor's
   * children are).
   */
  send(event: any): void {
    if (this.stopped) return
    const h = this[HOST]
    if (h) h.fromInside(event)
    else this.process(event)
  }

  getSnapshot(): any {
    return this.snap
  }

  getPersistedSnapshot(): any {
    return persistedSnapshot(this.logic, this.snap)
  }

  /** @internal The scope's executor: XState hands every resolved action here. */
  execute(a: ExecutableAction): void {
    const rec = currentRecording()
    if (rec && rec.memo === this.memo) noteAction(rec, a)
    const c = this.collecting
    if (c) c.push(a)
    else a.exec?.(a.info, a.params)
  }

  /** @internal Work XState defers to after the step; a step that defers work is not memoized. */
  deferWork(fn: () => void): void {
    const rec = currentRecording()
    if (rec && rec.memo === this.memo) rec.ok = false
    ;(this.deferred ??= []).push(fn)
  }

  /**
   * Enters the initial state (entry actions run after the snapshot is set, as XState's `start`
   * runs them), or restores the persisted snapshot and re-runs the effects of its active states.
   */
  start(): this {
    const from = this.from
    if (!from) return this
    this.from = undefined // not kept: the input is journaled, and a job keeps thousands of these
    const memo = this.memo
    if (memo && from.snapshot === undefined && this.startMemoized(memo, from.input)) return this
    const collected: any[] = []
    this.collecting = collected
    try {
      this.snap =
        from.snapshot !== undefined
          ? this.viaXState(undefined, '', undefined, () => this.logic.restoreSnapshot(from.snapshot, this.scope))
          : this.viaXState(undefined, 'xstate.init', undefined, () =>
              this.logic.getInitialSnapshot(this.scope, from.input),
            )
    } catch (err) {
      this.collecting = undefined
      this.snap = { status: 'error', error: err, value: undefined, context: undefined }
      return this
    }
    this.collecting = undefined
    // as XState's start: the actions of an initial macrostep that ends in a final state run too
    if (this.snap.status !== 'active' && this.snap.status !== 'done') return this
    try {
      for (const a of collected) a.exec?.(a.info, a.params)
      this.runDeferred()
      if (from.snapshot !== undefined && this.snap.status === 'active') this.resumeEffects()
    } catch (err) {
      this.crash(err)
    }
    return this
  }

  /** The initial macrostep from the memo: the context from the machine's factory, then a recorded path. */
  private startMemoized(memo: TransitionMemo, input: unknown): boolean {
    const event = { type: 'xstate.init', input }
    let hit: { snapshot: any; calls: any[] | undefined } | undefined
    try {
      const c = (this.logic as any).config.context
      const ctx = typeof c === 'function' ? { ...c({ spawn: this.refuseSpawn, input, self: this }) } : (c ?? {})
      hit = this.fromMemo(memo, memo.init, ctx, event)
    } catch (err) {
      this.snap = { status: 'error', error: err, value: undefined, context: undefined }
      return true
    }
    if (!hit) return false
    // as on XState's path (start above): the entry actions run after the snapshot is set
    this.snap = hit.snapshot
    if (hit.snapshot.status === 'active' || hit.snapshot.status === 'done') {
      try {
        this.runCalls(hit.calls, event)
      } catch (err) {
        this.crash(err)
      }
    }
    return true
  }

  /**
   * The first recorded path that `ctx` and `event` follow: every recorded guard gives its recorded
   * result, the assigns apply in order; its snapshot, and the custom actions with the context each
   * saw, to run. Undefined when none does (XState computes this one). Counts the hit or the miss.
   */
  private fromMemo(
    memo: TransitionMemo,
    traces: Trace[] | undefined,
    ctx0: any,
    event: any,
  ): { snapshot: any; calls: any[] | undefined } | undefined {
    paths: for (const t of traces ?? []) {
      let ctx = ctx0
      let calls: any[] | undefined
      for (const op of t.ops) {
        if (op.k === 0) {
          if (!!op.fn({ context: ctx, event }, op.params) !== op.r) continue paths
        } else if (op.k === 1) {
          ctx = {
            ...ctx,
            ...assignedPartial(
              op.assignment,
              { context: ctx, event, spawn: this.refuseSpawn, self: this, system: this.system },
              op.params,
            ),
          }
        } else (calls ??= []).push(op, ctx)
      }
      memo.hits++
      return { snapshot: { ...t.template, context: ctx }, calls }
    }
    memo.misses++
    return undefined
  }

  /** Runs the custom actions of a recorded path, as XState's executor would (see fromMemo). */
  private runCalls(calls: any[] | undefined, event: any): void {
    if (!calls) return
    for (let i = 0; i < calls.length; i += 2)
      calls[i].exec?.({ context: calls[i + 1], event, self: this, system: this.system }, calls[i].params)
  }

  /**
   * A snapshot computed by XState (`fn`), recorded for the memo when it may keep it (`type` of the
   * event from the configuration `nodes`; no nodes: the initial step), its nodes made canonical.
   */
  private viaXState(nodes: unknown[] | undefined, type: string, event: any, fn: () => any): any {
    const memo = this.memo
    if (!memo) return fn()
    const rec = type ? memo.recorder(nodes, type, event) : undefined
    const next = recordDuring(rec, fn)
    setActiveNodes(next, memo.canonical(activeNodes(next)))
    if (rec) memo.store(rec, nodes, type, next)
    return next
  }

  private readonly refuseSpawn = (): never => {
    throw refusedChildren(this.logic.id)
  }

  /** Applies one event (queued when it arrives while another is being applied, as XState's mailbox does). */
  process(event: any): void {
    if (this.busy) {
      ;(this.queue ??= []).push(event)
      return
    }
    this.busy = true
    try {
      this.step(event)
      const q = this.queue
      if (q) while (q.length) this.step(q.shift())
    } finally {
      this.busy = false
    }
  }

  /** Stops: no more events; the cancel actions of the active states run (see PureSpec.cancels). */
  stop(): void {
    this.queue = undefined
    this.deferred = undefined
    const s = this.snap
    if (this.stopped || !s || s.status !== 'active') return
    this.stopped = true
    if (this.spec.cancels?.length) this.runDeclared(this.spec.cancels, 'exit', STOP_EVENT)
  }

  private step(event: any): void {
    const s = this.snap
    if (s.status !== 'active') return
    const memo = this.memo
    let next: any
    try {
      const hit = memo && this.fromMemo(memo, memo.traces(activeNodes(s), event.type), s.context, event)
      if (hit) {
        // as on XState's path: the actions run before the new snapshot is set
        this.runCalls(hit.calls, event)
        this.snap = hit.snapshot
        return
      }
      next = this.viaXState(activeNodes(s), event.type, event, () => this.logic.transition(s, event, this.scope))
    } catch (err) {
      return this.crash(err)
    }
    this.snap = next
    try {
      this.runDeferred()
    } catch (err) {
      this.crash(err)
    }
  }

  private runDeferred(): void {
    const d = this.deferred
    if (!d) return
    this.deferred = undefined
    for (const fn of d) fn()
  }

  private crash(err: unknown): void {
    this.deferred = undefined
    this.queue = undefined
    this.snap = { ...this.snap, status: 'error', error: err }
  }

  /** Re-runs the declared effect actions of the active states (entry order) after a restore. */
  private resumeEffects(): void {
    if (this.spec.effects.length) this.runDeclared(this.spec.effects, 'entry', RESUME_EVENT)
  }

  private runDeclared(types: string[], list: 'entry' | 'exit', event: { type: string }): void {
    runDeclared(this.logic, this.snap, types, list, event, this, this.system)
  }
}

// XState's `sendTo` and the host's relay deliver to an actor ref through its door (see setDoor):
// a pure actor's door is its `send`.
setDoor(PureActor.prototype, PureActor.prototype.send)
