/**
 * Transition memo for pure-hosted machines: XState computes a macrostep once; the host replays its
 * structure after that.
 *
 * A macrostep of XState is a deterministic function of the configuration (the active state nodes),
 * the event's type, and the values it reads through the machine's own code: guard results, assign
 * results, action params. When a machine reads data only through named guards and named assigns
 * with static params (checked once, `memoBlocker`), the host can record what XState did: the guards
 * it evaluated with their results, the assigns it applied and the custom actions it executed, in
 * order, and the snapshot it produced. The next time a snapshot in the same configuration takes an
 * event of the same type, the host evaluates the recorded guards against the new context and event;
 * if every result is the recorded one, XState would take the same path, so the host applies the
 * recorded assigns (the machine's own assignment functions) and the recorded actions to the new
 * context and clones the recorded snapshot with it. Any other result falls back to XState, which
 * records the new path. Nothing is written twice: the guards, assigns and actions are the machine's
 * own functions; the memo holds only which ones ran, in XState's order.
 *
 * Not memoized (XState computes each time, still correct): a macrostep that runs a built-in action
 * other than assign (raise, delayed events and their cancel, sendTo, emit, log, spawn), one whose
 * actions see an event other than the one sent (a raised or `done.state` event), and one that ends
 * the machine when the machine computes an output. A machine with parallel or history states, inline
 * guards or assigns, guard combinators, `enqueueActions`, or params computed from context is not
 * memoized at all.
 *
 * Why: XState's transition functions were the largest cost of a job (three microsteps, about 40 µs
 * and most of the garbage per job on this kind of machine; docs/benchmarks.md, Jobs). A replayed
 * macrostep costs a few guard calls, the assigns and one object clone.
 */
import { assign, type AnyStateMachine } from 'xstate'
import { assignedPartial, assignmentOf, builtinType, type ExecutableAction, isGuardCombinator } from './xstateSeams.ts'

/** A guard XState evaluated (k 0), an assign it applied (k 1), a custom action it executed (k 2). */
type Op =
  | { k: 0; fn: (args: any, params: unknown) => unknown; params: unknown; r: boolean }
  | { k: 1; assignment: any; params: unknown }
  | { k: 2; type: string; exec: ((info: any, params: unknown) => void) | undefined; params: unknown }

/** One recorded macrostep from one configuration for one event type. */
export interface Trace {
  ops: Op[]
  /** The snapshot XState produced; reused with the context replaced. */
  template: any
}

/** A macrostep being recorded (XState is computing it). */
export interface Recording {
  memo: TransitionMemo
  /** The event sent; undefined for the initial macrostep until its init event is seen. */
  event: any
  ops: Op[]
  ok: boolean
}

/** At most this many recorded paths per configuration and event type (different guard results). */
const MAX_TRACES = 8
/** At most this many event types recorded per configuration (event types come from outside too). */
export const MAX_EVENT_TYPES = 256

let recording: Recording | undefined

/** The recording in progress, for the host's action executor. */
export function currentRecording(): Recording | undefined {
  return recording
}

/** Runs `fn` (an XState transition function) with `rec` as the recording in progress. */
export function recordDuring<T>(rec: Recording | undefined, fn: () => T): T {
  const prev = recording
  recording = rec
  try {
    return fn()
  } finally {
    recording = prev
  }
}

/** Adds an op XState ran while it saw `event`; an op that saw another event ends the recording. */
function add(rec: Recording, event: any, op: Op): void {
  if (!rec.ok) return
  if (rec.event === undefined && event?.type === 'xstate.init') rec.event = event
  if (event !== rec.event) rec.ok = false
  else rec.ops.push(op)
}

/** Notes an op XState ran for the machine of `memo`, if that machine is being recorded. */
function note(memo: TransitionMemo, event: any, op: Op): void {
  if (recording?.memo === memo) add(recording, event, op)
}

export class TransitionMemo {
  private readonly byNodes = new Map<unknown[], Map<string, Trace[]>>()
  private readonly canon = new Map<string, unknown[]>()
  readonly init: Trace[] = []
  hits = 0
  misses = 0
  constructor(readonly machine: AnyStateMachine) {}

  /** The one array of state nodes per configuration (the memo's key). */
  canonical(nodes: any[]): any[] {
    let key = ''
    for (const n of nodes) key += n.id + '\n'
    const c = this.canon.get(key)
    if (c) return c
    this.canon.set(key, nodes)
    return nodes
  }

  traces(nodes: unknown[], type: string): Trace[] | undefined {
    return this.byNodes.get(nodes)?.get(type)
  }

  /** A recording for the next macrostep, or undefined when that key has all the paths it keeps. */
  recorder(nodes: unknown[] | undefined, type: string, event: any): Recording | undefined {
    const byType = nodes && this.byNodes.get(nodes)
    const list = nodes ? byType?.get(type) : this.init
    if (list ? list.length >= MAX_TRACES : byType && byType.size >= MAX_EVENT_TYPES) return undefined
    return { memo: this, event, ops: [], ok: true }
  }

  /** Keeps a finished recording whose snapshot XState produced (`next`, already canonical). */
  store(rec: Recording, nodes: unknown[] | undefined, type: string, next: any): void {
    if (!rec.ok || next.status === 'error') return
    if (next.status === 'done' && (this.machine as any).config.output !== undefined) return
    const trace: Trace = { ops: rec.ops, template: next }
    if (!nodes) {
      this.init.push(trace)
      return
    }
    let byType = this.byNodes.get(nodes)
    if (!byType) this.byNodes.set(nodes, (byType = new Map()))
    const list = byType.get(type)
    if (list) list.push(trace)
    else byType.set(type, [trace])
  }
}

const memos = new WeakMap<AnyStateMachine, TransitionMemo>()

export function memoOf(machine: AnyStateMachine): TransitionMemo | undefined {
  return memos.get(machine)
}

/** Hits and misses of a pure-hosted machine's memo (for tests and the curious). */
export function memoStats(machine: AnyStateMachine): { hits: number; misses: number; memoized: boolean } {
  const m = memos.get(machine)
  return { hits: m?.hits ?? 0, misses: m?.misses ?? 0, memoized: !!m }
}

/** Why `machine` cannot be memoized (see the file comment), or undefined when it can. */
export function memoBlocker(machine: AnyStateMachine): string | undefined {
  const impl = (machine as any).implementations
  const guardWhy = (g: any, where: string): string | undefined => {
    if (g === undefined) return undefined
    if (typeof g === 'function') return `${where}: an inline guard`
    const type = typeof g === 'string' ? g : g?.type
    if (typeof g === 'object' && typeof g.params === 'function')
      return `${where}: guard "${type}" has params computed from context`
    const fn = impl.guards[type]
    if (typeof fn !== 'function' || isGuardCombinator(fn)) return `${where}: guard "${type}" is not a plain named guard`
    return undefined
  }
  const actionWhy = (a: any, where: string): string | undefined => {
    if (typeof a === 'function') {
      const t = builtinType(a)
      if (t === 'xstate.assign' || t === 'xstate.enqueueActions') return `${where}: an inline ${t}`
      return undefined
    }
    const type = typeof a === 'string' ? a : a?.type
    if (typeof a === 'object' && typeof a.params === 'function')
      return `${where}: action "${type}" has params computed from context`
    if (builtinType(impl.actions[type]) === 'xstate.enqueueActions')
      return `${where}: action "${type}" is enqueueActions`
    return undefined
  }
  const walk = (node: any): string | undefined => {
    if (node.type === 'parallel' || node.type === 'history') return `state "${node.id}" is ${node.type}`
    const where = `state "${node.id}"`
    for (const a of [...node.entry, ...node.exit]) {
      const why = actionWhy(a, where)
      if (why) return why
    }
    const transitions = [...node.transitions.values()].flat().concat(node.always ?? [])
    for (const t of transitions) {
      const why = guardWhy(t.guard, where) ?? t.actions.map((a: any) => actionWhy(a, where)).find(Boolean)
      if (why) return why
    }
    for (const k in node.states ?? {}) {
      const why = walk(node.states[k])
      if (why) return why
    }
    return undefined
  }
  return walk((machine as any).root)
}

/**
 * The machine with its named guards and assigns wrapped to record what XState runs, and its memo;
 * `undefined` when the machine cannot be memoized.
 */
export function withMemo<M extends AnyStateMachine>(machine: M): M | undefined {
  if (memoBlocker(machine)) return undefined
  const impl = (machine as any).implementations
  let memo!: TransitionMemo
  const guards: Record<string, unknown> = {}
  for (const [name, g] of Object.entries<any>(impl.guards)) {
    if (typeof g !== 'function' || isGuardCombinator(g)) continue
    guards[name] = (args: any, params: unknown) => {
      const r = !!g(args, params)
      note(memo, args.event, { k: 0, fn: g, params, r })
      return r
    }
  }
  const actions: Record<string, unknown> = {}
  for (const [name, a] of Object.entries<any>(impl.actions)) {
    if (builtinType(a) !== 'xstate.assign') continue
    const assignment = assignmentOf(a)
    actions[name] = assign((args: any, params: unknown) => {
      note(memo, args.event, { k: 1, assignment, params })
      return assignedPartial(assignment, args, params) as any
    })
  }
  const wrapped = machine.provide({ guards, actions } as any) as M
  memo = new TransitionMemo(wrapped)
  memos.set(wrapped, memo)
  return wrapped
}

/** The executor's part: a custom action XState executed, or a built-in one (which ends the recording). */
export function noteAction(rec: Recording, a: ExecutableAction): void {
  if (a.type.startsWith('xstate.')) rec.ok = false
  else add(rec, a.info.event, { k: 2, type: a.type, exec: a.exec, params: a.params })
}
