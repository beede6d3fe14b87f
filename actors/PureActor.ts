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
 * Everything else is XState's: guards, assign, delayed events (through the host's scheduler, so
 * they are durable timers), `cancel`, `emit`, `log`, `sendTo` (relayed through `_send`).
 *
 * Memo (actors/transitionMemo.ts, on unless `memo: false`): once XState has computed a macrostep
 * from a configuration for an event type, the host replays it for the next snapshot in that
 * configuration whose guards give the same results: the machine's own guards, assigns and actions,
 * in XState's order, without XState's set and map work. Anything else is XState's again.
 */
import type { AnyStateMachine } from 'xstate'
import {
  currentRecording,
  memoOf,
  noteAction,
  partialOf,
  recordDuring,
  withMemo,
  type TransitionMemo,
  type Trace,
} from './transitionMemo.ts'

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
  const hosted = (spec.memo !== false && withMemo(machine)) || machine
  pureMachines.set(hosted, { effects: [...spec.effects], cancels: [...(spec.cancels ?? [])] })
  return hosted
}

export function pureSpecOf(machine: AnyStateMachine): PureSpec | undefined {
  return pureMachines.get(machine)
}

let sessions = 0

/** What XState's transition functions call back into (`actorScope`): one per actor, methods on the prototype. */
class PureScope {
  readonly id: string
  readonly system: PureSystem
  /** An own function, not a method: XState's microstep wraps it and calls the original detached. */
  readonly actionExecutor: (a: any) => void
  constructor(readonly self: PureActor) {
    this.id = self.id
    this.system = self.system
    this.actionExecutor = (a) => {
      const rec = currentRecording()
      if (rec && rec.memo === self.memo) noteAction(rec, a)
      const c = self.collecting
      if (c) c.push(a)
      else a.exec?.(a.info, a.params)
    }
  }
  get sessionId(): string {
    return this.self.sessionId
  }
  logger(...args: unknown[]): void {
    console.log(...args)
  }
  defer(fn: () => void): void {
    const rec = currentRecording()
    if (rec && rec.memo === this.self.memo) rec.ok = false
    ;(this.self.deferred ??= []).push(fn)
  }
  emit(): void {}
  stopChild(): void {}
}

/** The system a pure-hosted actor sees: the host's scheduler (set by the host), relays, and no children. */
class PureSystem {
  scheduler: any = undefined
  constructor(private readonly machineId: string) {}
  _sendInspectionEvent(): void {}
  _relay(_source: any, target: any, event: any): void {
    target._send(event)
  }
  _unregister(): void {}
  get(): undefined {
    return undefined
  }
  // XState books an id for every child it is about to create (invoke, spawnChild): the one place to refuse.
  _bookId(): string {
    throw new Error(`machine "${this.machineId}" is hosted pure and cannot spawn children`)
  }
}

/** The object a pure-hosted machine sees as `self`; the host drives it through `start` and `process`. */
export class PureActor {
  _snapshot: any
  private readonly n = ++sessions
  readonly _parent = undefined
  /** The journal door, set by the host; XState actions reach it through `self.send`. Unhosted: applies at once. */
  _send: (event: any) => void = PureActor.prototype.process
  readonly system: PureSystem
  /** @internal */ deferred: Array<() => void> | undefined = undefined
  /** @internal */ collecting: any[] | undefined = undefined
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
    this.system = new PureSystem(logic.id)
    this.memo = memoOf(logic)
    this.scope = new PureScope(this)
  }

  get sessionId(): string {
    return `pure:${this.n}`
  }

  /** What the machine's own actions send: dropped once stopped (as a stopped XState actor's children are). */
  send(event: any): void {
    if (!this.stopped) this._send(event)
  }

  getSnapshot(): any {
    return this._snapshot
  }

  getPersistedSnapshot(): any {
    return this.logic.getPersistedSnapshot(this._snapshot)
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
      this._snapshot =
        from.snapshot !== undefined
          ? this.viaXState(undefined, '', undefined, () => this.logic.restoreSnapshot(from.snapshot, this.scope))
          : this.viaXState(undefined, 'xstate.init', undefined, () =>
              this.logic.getInitialSnapshot(this.scope, from.input),
            )
    } catch (err) {
      this.collecting = undefined
      this._snapshot = { status: 'error', error: err, value: undefined, context: undefined }
      return this
    }
    this.collecting = undefined
    if (this._snapshot.status !== 'active') return this
    try {
      for (const a of collected) a.exec?.(a.info, a.params)
      this.runDeferred()
      if (from.snapshot !== undefined) this.resumeEffects()
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
      this._snapshot = { status: 'error', error: err, value: undefined, context: undefined }
      return true
    }
    if (!hit) return false
    // as on XState's path (start above): the entry actions run after the snapshot is set
    this._snapshot = hit.snapshot
    if (hit.snapshot.status === 'active') {
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
            ...partialOf(
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
    next._nodes = memo.canonical(next._nodes)
    if (rec) memo.store(rec, nodes, type, next)
    return next
  }

  private readonly refuseSpawn = (): never => this.system._bookId() as never

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
    const s = this._snapshot
    if (this.stopped || !s || s.status !== 'active') return
    this.stopped = true
    if (this.spec.cancels?.length) this.runDeclared(this.spec.cancels, 'exit', STOP_EVENT)
  }

  private step(event: any): void {
    const s = this._snapshot
    if (s.status !== 'active') return
    const memo = this.memo
    let next: any
    try {
      const hit = memo && this.fromMemo(memo, memo.traces(s._nodes, event.type), s.context, event)
      if (hit) {
        // as on XState's path: the actions run before the new snapshot is set
        this.runCalls(hit.calls, event)
        this._snapshot = hit.snapshot
        return
      }
      next = this.viaXState(s._nodes, event.type, event, () => this.logic.transition(s, event, this.scope))
    } catch (err) {
      return this.crash(err)
    }
    this._snapshot = next
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
    this._snapshot = { ...this._snapshot, status: 'error', error: err }
  }

  /** Re-runs the declared effect actions of the active states (entry order) after a restore. */
  private resumeEffects(): void {
    if (this.spec.effects.length) this.runDeclared(this.spec.effects, 'entry', RESUME_EVENT)
  }

  private runDeclared(types: string[], list: 'entry' | 'exit', event: { type: string }): void {
    const s = this._snapshot
    const impls = (this.logic as any).implementations.actions
    const nodes = list === 'exit' ? [...s._nodes].reverse() : s._nodes
    for (const node of nodes) {
      for (const def of node[list]) {
        const type = typeof def === 'string' ? def : def?.type
        if (!type || !types.includes(type)) continue
        const fn = impls[type]
        if (typeof fn !== 'function') continue
        const params =
          typeof def === 'object' && 'params' in def
            ? typeof def.params === 'function'
              ? def.params({ context: s.context, event })
              : def.params
            : undefined
        fn({ context: s.context, event, self: this, system: this.system }, params)
      }
    }
  }
}
