/**
 * The one seam between Aether's actor host and XState's internals.
 *
 * The host keeps XState's own semantics (every snapshot is computed by XState's transition
 * functions) but needs a few doors XState does not publish: the mailbox door of an actor, the
 * timer service of its system, the parent link of a child, the active state nodes of a snapshot,
 * the shape of the scope XState's pure functions call back into, and the params of its built-in
 * actions. Every such access in Aether is in this file, each behind a function or class with a
 * doc comment that names the seam, says what it relies on and in which XState versions it was
 * read: no other file of Aether touches a private field of XState.
 *
 * Checked against XState 5.33.3 (package.json pins it exactly). Older versions were read from their
 * published `dist/` files: "present in 5.19.0" means the same code is in 5.19.0, 5.20.0 and 5.33.3;
 * where 5.0.0 differs it says so. test/actors/xstateSeams.test.ts runs every seam against the
 * installed XState, and each of its failures starts with "XState seam <name> broke", so an upgrade
 * that breaks one says which. Before upgrading XState: run that suite, then the PureActor,
 * transitionMemo and replay suites.
 *
 * Seams, by name: parent, send, deliver, timers, relay, errors, nodes, scope, inertScope,
 * childSnapshot, builtinActions, assign, actorRefInContext, reservedEvents, persist.
 */
import { Actor, toObserver, type AnyActorScope, type AnyStateMachine } from 'xstate'

/** The XState version every seam below was read in and tested against. */
export const XSTATE_CHECKED = '5.33.3'

/** The seam names, as the contract suite and error messages use them. */
export const SEAMS = [
  'parent',
  'send',
  'deliver',
  'timers',
  'relay',
  'errors',
  'nodes',
  'scope',
  'inertScope',
  'childSnapshot',
  'builtinActions',
  'assign',
  'actorRefInContext',
  'reservedEvents',
  'persist',
] as const
export type SeamName = (typeof SEAMS)[number]

/**
 * The slot on a live actor (XState's or a pure one) that names the Aether host running it.
 * Aether's own symbol, not XState's; it lives here because the `send` seam reads it.
 */
export const HOST = Symbol('aether.host')

/** What a host gives the live actors it creates. */
export interface ActorHosting {
  /** Every event XState routes to the actor (sends, child completions, relays) comes here. */
  fromInside(event: unknown): void
  /** A subscriber or emit listener of the actor threw: report it, never rethrow. */
  subscriberThrew(err: unknown): void
}

// ---- parent ----------------------------------------------------------------------------------

/**
 * Seam `parent`: `ref._parent`, the actor that invoked or spawned `ref` (undefined for a root).
 * XState sets it in the Actor constructor from `options.parent`; present in 5.0.0 and since.
 */
export function parentOf(ref: unknown): unknown {
  return (ref as any)?._parent
}

/** The host of `ref` or of its nearest ancestor (through the `parent` seam), if one is hosted. */
export function hostingOf<H = ActorHosting>(ref: unknown): H | undefined {
  let r: any = ref
  while (r) {
    const h = r[HOST]
    if (h) return h
    r = parentOf(r)
  }
  return undefined
}

// ---- send, errors: the live XState actor -------------------------------------------------------

const ActorBase: any = Actor
const protoSend: (this: any, event: unknown) => void = ActorBase.prototype._send
const protoSubscribe: (this: any, observer: unknown) => { unsubscribe(): void } = ActorBase.prototype.subscribe
const protoOn: (this: any, type: string, handler: (e: any) => void) => { unsubscribe(): void } = ActorBase.prototype.on

/** Stands in for a missing error listener: with one on every observer, XState never rethrows. */
const silent = { error(): void {} }

function guard(actor: any, fn: ((x: any) => void) | undefined): ((x: any) => void) | undefined {
  if (!fn) return undefined
  return (x) => {
    try {
      fn(x)
    } catch (err) {
      actor[HOST]?.subscriberThrew(err)
    }
  }
}

/**
 * Seams `send` and `errors`: XState's `Actor`, with three methods the host redefines.
 *
 * - `send` relies on `Actor.prototype._send(event)` being the one door into an actor's mailbox:
 *   `actor.send` goes `system._relay` -> `target._send`; child completions, `sendTo`, `sendParent`
 *   and delayed events go `system._relay` -> `target._send` too. The override hands each event to
 *   the host (which journals it first); `deliverDirect` is the original door. Present in 5.0.0
 *   and since.
 * - `errors` relies on `Actor#_reportError`: when the actor fails, XState calls every observer's
 *   `error`, and rethrows the error from a `setTimeout` (`reportUnhandledError`, which ends a Node
 *   process) when a root actor has no observer or any observer lacks an `error` listener;
 *   `subscribe` to an actor already stopped in error, without an `error` listener, rethrows the
 *   same way; a `next`, `complete` or `emit` listener that throws is rethrown the same way too.
 *   So every live actor gets a silent `error` observer at creation (added to `actor.observers`,
 *   the Set of observers, present in 5.0.0 and since), and `subscribe` and `on` wrap
 *   what they are given: a missing `error` becomes silent and a listener that throws is reported
 *   to the host (an incident) instead of rethrown. The same rules hold in 5.0.0 and since.
 */
class LiveActor extends ActorBase {
  _send(event: unknown): void {
    this[HOST].fromInside(event)
  }
  subscribe(next?: unknown, error?: unknown, complete?: unknown): { unsubscribe(): void } {
    const o = toObserver(next as any, error as any, complete as any)
    return protoSubscribe.call(this, {
      next: guard(this, o.next),
      error: guard(this, o.error) ?? silent.error,
      complete: guard(this, o.complete),
    })
  }
  on(type: string, handler: (e: any) => void): { unsubscribe(): void } {
    return protoOn.call(this, type, guard(this, handler)!)
  }
  declare [HOST]: ActorHosting
}

/**
 * Creates a live XState actor run by `host` (see `LiveActor`): `createActor(machine, options)`
 * with the `send` and `errors` seams in place. `createActor` is `new Actor(logic, options)` in
 * 5.0.0 and since.
 */
export function createLiveActor(
  machine: AnyStateMachine,
  options: { id: string; input?: unknown; snapshot?: unknown },
  host: ActorHosting,
): any {
  const actor = new (LiveActor as any)(machine, options)
  actor[HOST] = host
  // `observers`, the Set `_reportError` reads, directly: `subscribe` would allocate a bound copy
  // of the listener per actor
  actor.observers.add(silent)
  return actor
}

/** Seam `send`: puts `event` in the mailbox of a live actor, past the host's door. */
export function deliverDirect(actor: unknown, event: unknown): void {
  protoSend.call(actor, event)
}

/**
 * Seam `deliver`: makes `door` what XState calls to deliver an event to objects of `proto`
 * (`target._send(event)`, from `system._relay`). Pure actors are not XState actors, yet XState's
 * `sendTo` and our relay reach them through that name. Present in 5.0.0 and since.
 */
export function setDoor(proto: object, door: (this: any, event: any) => void): void {
  ;(proto as any)._send = door
}

// ---- timers, relay -----------------------------------------------------------------------------

/** The service XState asks to run delayed events: `raise`/`sendTo` with a delay, `cancel`, stop. */
export interface DelayService {
  schedule(source: any, target: any, event: any, delay: number, id?: string): void
  cancel(source: any, id: string): void
  cancelAll(ref: any): void
}

/**
 * Seam `timers`: `actor.system.scheduler`. XState's delayed `raise` and `sendTo` call
 * `system.scheduler.schedule(self, target, event, delay, id)` (deferred to after the step),
 * `cancel` calls `scheduler.cancel(self, sendId)`, and stopping an actor calls
 * `scheduler.cancelAll(actor)`. Replacing the object routes all three to the host. The system is
 * shared by an actor and its children. Present in 5.19.0 and since (5.0.0 had no scheduler:
 * delays lived in the actor, and the host could not see them).
 */
export function setDelayService(actor: { system: unknown }, service: DelayService): void {
  ;(actor.system as any).scheduler = service
}

/**
 * Seam `relay`: `system._relay(source, target, event)`, how XState delivers an event between
 * actors (an inspection event, then `target._send`). The host uses it to fire the delayed events
 * it does not journal (those to other actors). Present in 5.0.0 and since.
 */
export function relay(system: unknown, source: unknown, target: unknown, event: unknown): void {
  ;(system as any)._relay(source, target, event)
}

// ---- nodes -------------------------------------------------------------------------------------

/**
 * Seam `nodes`: `snapshot._nodes`, the active state nodes of a machine snapshot, in document
 * order (the configuration). The transition memo keys on them and the pure host reads the entry
 * and exit actions of the active states from them. Present in 5.0.0 and since.
 */
export function activeNodes(snapshot: unknown): any[] {
  return (snapshot as any)._nodes
}

/** Seam `nodes`: replaces a snapshot's node array with an equal one (the memo's canonical copy). */
export function setActiveNodes(snapshot: unknown, nodes: unknown[]): void {
  ;(snapshot as any)._nodes = nodes
}

// ---- scope: what XState's pure functions call back into ----------------------------------------

/** What a pure-hosted actor is to its scope. */
export interface ScopeOwner {
  readonly id: string
  readonly sessionId: string
  /** The same HostSystem as the scope's: XState creates a child with `parent.system` (`_bookId`). */
  readonly system: HostSystem
  /** An action XState resolved in this step: `{ type, info, params, exec }` (see HostScope). */
  execute(action: ExecutableAction): void
  /** Work XState defers to after the step (delayed events, sends, stops). */
  deferWork(fn: () => void): void
}

/** An action as XState's executor receives it. */
export interface ExecutableAction {
  type: string
  info: any
  params: unknown
  exec?: (info: any, params: unknown) => void
}

/** Refusal of children by a pure-hosted machine (see HostSystem._bookId). */
export function refusedChildren(machineId: string): Error {
  return new Error(`machine "${machineId}" is hosted pure and cannot spawn children`)
}

/**
 * Seam `scope`: the system XState sees from a pure-hosted actor. XState's transition functions
 * reach `scope.system` for `scheduler` (the `timers` seam, set by the host), `_relay` (sends,
 * which go to the target's door), `_sendInspectionEvent` (each microstep), `_unregister` and `get`
 * (stops, `sendTo` by system id), and `_bookId`, which XState calls for every child it is about to
 * create (`invoke`, `spawnChild`, `spawn` in assign): the one place to refuse children. Present in
 * 5.19.0 and since.
 */
export class HostSystem {
  scheduler: DelayService | undefined = undefined
  constructor(private readonly machineId: string) {}
  _sendInspectionEvent(): void {}
  _relay(_source: unknown, target: any, event: unknown): void {
    target._send(event)
  }
  _unregister(): void {}
  get(): undefined {
    return undefined
  }
  _bookId(): string {
    throw refusedChildren(this.machineId)
  }
}

/**
 * Seam `scope`: the actor scope XState's `machine.getInitialSnapshot(scope, input)`,
 * `machine.transition(snapshot, event, scope)` and `machine.restoreSnapshot(snapshot, scope)` call
 * back into: `self`, `id`, `sessionId`, `system`, `logger`, `defer(fn)`, `stopChild`, `emit`, and
 * `actionExecutor(action)`, which XState calls with every resolved action (`{ type, info, params,
 * exec }`, custom and built-in) in execution order. XState's microstep wraps `actionExecutor` and
 * calls the original detached, so it is an own function. `actionExecutor` is present in 5.19.0
 * and since (5.0.0 executed actions itself).
 */
export class HostScope {
  readonly id: string
  readonly actionExecutor: (action: ExecutableAction) => void
  constructor(
    readonly self: ScopeOwner,
    readonly system: HostSystem,
  ) {
    this.id = self.id
    this.actionExecutor = (a) => self.execute(a)
  }
  get sessionId(): string {
    return this.self.sessionId
  }
  logger(...args: unknown[]): void {
    console.log(...args)
  }
  defer(fn: () => void): void {
    this.self.deferWork(fn)
  }
  emit(): void {}
  stopChild(): void {}
}

// ---- inertScope, childSnapshot: replay ---------------------------------------------------------

/** An inert scope for replay (see createInertScope). */
export type InertScope = AnyActorScope

/**
 * Seam `inertScope`: a scope for replay, which executes nothing: an unstarted actor of `machine`
 * as `self` (as XState's own `transition()` helper builds, `createInertActorScope`), and every
 * action handed to `onAction` instead of executed. Its system accepts a `systemId` registered
 * again (XState's `system._set` throws on one; an inert system never stops the children that held
 * it). Relies on `system._set(id, ref)` and `system.get(id)` being the registry of system ids.
 * With `child`, `self._parent` is an inert stand-in: a child machine replayed on its own (an
 * external app's invoked actor) may send to its parent; replay executes no send, but XState
 * resolves the target (`self._parent`) first. Present in 5.19.0 and since.
 */
export function createInertScope(
  machine: AnyStateMachine,
  onAction: (a: ExecutableAction) => void,
  child = false,
): InertScope {
  const self = new ActorBase(machine)
  if (child) (self as any)._parent = { id: '(parent)', sessionId: '', send() {}, _send() {} }
  const keyed = new Map<string, unknown>()
  self.system._set = (id: string, ref: unknown) => keyed.set(id, ref)
  self.system.get = (id: string) => keyed.get(id)
  return {
    self,
    defer: () => {},
    id: '',
    logger: () => {},
    sessionId: '',
    stopChild: () => {},
    system: self.system,
    emit: () => {},
    actionExecutor: onAction,
  } as unknown as InertScope
}

/**
 * Seam `inertScope`: tells the scope's `self` its current snapshot (`self._snapshot`), as XState's
 * `getNextSnapshot` does before each transition: `self.getSnapshot()` reads it. Present in 5.0.0
 * and since.
 */
export function setScopeSnapshot(scope: InertScope, snapshot: unknown): void {
  ;(scope.self as any)._snapshot = snapshot
}

/**
 * Seam `childSnapshot`: marks a child actor of a replayed snapshot as finished, by its internal
 * `_snapshot`, so that `getPersistedSnapshot` persists it done (or in error) and a restore does
 * not start it again. `getPersistedSnapshot` reads a child through `child.getPersistedSnapshot()`,
 * which reads `_snapshot`. Present in 5.0.0 and since.
 */
export function settleChildSnapshot(child: unknown, outcome: { output: unknown } | { error: unknown }): void {
  const c = child as any
  c._snapshot =
    'output' in outcome
      ? { ...c._snapshot, status: 'done', output: outcome.output }
      : { ...c._snapshot, status: 'error', error: outcome.error }
}

// ---- builtinActions, assign ----------------------------------------------------------------------

/**
 * Seam `builtinActions`: a built-in action creator's function (`assign(...)`, `raise(...)`,
 * `enqueueActions(...)`, ...) carries `type` (`'xstate.assign'`, ...) and `resolve`; a custom
 * action does not. Present in 5.0.0 and since. Returns the built-in's type, or undefined.
 */
export function builtinType(action: unknown): string | undefined {
  const f = action as any
  return typeof f === 'function' && typeof f.resolve === 'function' ? f.type : undefined
}

/** Seam `builtinActions`: the `assignment` an `assign(...)` action was created with. Present in 5.0.0 and since. */
export function assignmentOf(action: unknown): unknown {
  return (action as any).assignment
}

/**
 * Seam `builtinActions`: guard combinators (`and`, `or`, `not`, `stateIn`) are functions with a
 * `check` property; a plain named guard is a function without one. Present in 5.0.0 and since.
 */
export function isGuardCombinator(guard: unknown): boolean {
  return typeof guard === 'function' && 'check' in guard
}

/**
 * Seam `builtinActions`: the delayed event of an executed `raise` or `sendTo`-to-self action (what
 * the host journals as a durable timer), from the params XState resolved: `{ event, id, delay }`
 * for `xstate.raise`, `{ to, event, id, delay }` for `xstate.sendTo`. Present in 5.19.0 and since.
 */
export function delayedSelfSend(
  action: ExecutableAction,
  self: unknown,
): { id: string | undefined; event: any; delay: number } | undefined {
  const p = action.params as any
  if (!p || typeof p.delay !== 'number') return undefined
  if (action.type !== 'xstate.raise' && !(action.type === 'xstate.sendTo' && p.to === self)) return undefined
  return { id: p.id, event: p.event, delay: p.delay }
}

/** Seam `builtinActions`: the send id a `cancel(...)` action cancels (`params.sendId`). Present in 5.19.0 and since. */
export function cancelledSendId(action: ExecutableAction): string | undefined {
  return action.type === 'xstate.cancel' ? (action.params as any)?.sendId : undefined
}

/** Seam `builtinActions`: the id of the child a `spawnChild`/`invoke` starts (`params.id`). Present in 5.19.0 and since. */
export function spawnedChildId(action: ExecutableAction): string | undefined {
  return action.type === 'xstate.spawnChild' ? (action.params as any)?.id : undefined
}

/**
 * Seam `assign`: what an assign's `assignment` computes, as XState's `resolveAssign` does it (a
 * function of `(args, params)` returning a partial context, or an object whose function values are
 * called with `(args, params)`), without the merge into the context. Present in 5.0.0 and since.
 */
export function assignedPartial(assignment: any, args: any, params: unknown): Record<string, unknown> {
  if (typeof assignment === 'function') return assignment(args, params)
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(assignment)) {
    const v = assignment[key]
    out[key] = typeof v === 'function' ? v(args, params) : v
  }
  return out
}

// ---- actorRefInContext, reservedEvents ---------------------------------------------------------

/**
 * Seam `actorRefInContext`: an actor ref kept in context is persisted by XState's
 * `getPersistedSnapshot` as `{ xstate$$type: 1, id }` and revived by `restoreSnapshot`; XState
 * recognizes one by having `sessionId`, `send` and `ref` (`persistContext`). Such a value survives
 * the journal though it is not plain data. Present in 5.0.0 and since.
 */
export function isPersistedActorRef(value: object): boolean {
  return 'sessionId' in value && 'send' in value && 'ref' in value
}

/**
 * Seam `reservedEvents`: XState's own events are named `xstate.*` (`xstate.init`, `xstate.stop`,
 * `xstate.done.actor.<id>`, `xstate.error.actor.<id>`, `xstate.done.state.<id>`,
 * `xstate.after.<delay>.<id>`, `xstate.snapshot.<id>`), and XState treats them specially: an
 * `xstate.error.actor.*` event that no transition takes puts the machine in error. Only XState
 * and the host may produce them; from outside they are refused. Present in 5.0.0 and since.
 */
export function isReservedEventType(type: string): boolean {
  return type.startsWith('xstate.')
}

// ---- persist -------------------------------------------------------------------------------------

/**
 * Seam `persist`: what `machine.getPersistedSnapshot(snapshot)` returns, built without its object
 * rest (`const { _nodes, tags, machine, children, context, can, ... , ...jsonValues } = snapshot`,
 * a slow path in V8 that cost about a microsecond per checkpoint) for the snapshots a pure actor
 * holds: a machine snapshot (`createMachineSnapshot`'s own fields) without children. XState's
 * result is `{ status, output, error, value, historyValue, context, children: {} }` in that order,
 * the history value serialized as `{ [id]: [{ id }] }` (`serializeHistoryValue`) and the context
 * through `persistContext` (actor refs as `{ xstate$$type: 1, id }`: a context that holds one goes
 * to XState's own function). Any other snapshot (children, other own fields) goes to XState's own
 * function too. Present in 5.0.0 and since (5.0.0 has no `error` handling difference here).
 */
export function persistedSnapshot(machine: AnyStateMachine, snapshot: any): any {
  const children = snapshot.children
  for (const _ in children) return machine.getPersistedSnapshot(snapshot)
  const context = snapshot.context
  if (holdsActorRef(context, 0)) return machine.getPersistedSnapshot(snapshot)
  const hv = snapshot.historyValue
  const historyValue: Record<string, { id: string }[]> = {}
  if (typeof hv === 'object' && hv !== null)
    for (const key in hv) {
      const v = hv[key]
      if (Array.isArray(v)) historyValue[key] = v.map((n: { id: string }) => ({ id: n.id }))
    }
  return {
    status: snapshot.status,
    output: snapshot.output,
    error: snapshot.error,
    value: snapshot.value,
    historyValue,
    context,
    children: {},
  }
}

/** The own fields of a machine snapshot as XState 5.33's `createMachineSnapshot` makes it (the contract test checks them). */
export const MACHINE_SNAPSHOT_FIELDS = [
  'status',
  'output',
  'error',
  'machine',
  'context',
  '_nodes',
  'value',
  'tags',
  'children',
  'historyValue',
  'matches',
  'hasTag',
  'can',
  'getMeta',
  'toJSON',
]

/** Whether `v` holds an actor ref anywhere (what `persistContext` replaces); deep values count as one. */
function holdsActorRef(v: unknown, depth: number): boolean {
  if (typeof v !== 'object' || v === null) return false
  if (depth > 64) return true
  if (isPersistedActorRef(v)) return true
  for (const k in v) {
    const x = (v as Record<string, unknown>)[k]
    if (typeof x === 'object' && x !== null && holdsActorRef(x, depth + 1)) return true
  }
  return false
}
