/**
 * Coverage of real traffic: which states and transitions of a machine recorded logs exercised.
 * Each log is replayed with pure transitions (ReplayState); before each event the transitions
 * XState selects for it are read with the machine's public `getTransitionData`, so a transition
 * is identified by its definition (source state, event descriptor, position, targets, guard), and
 * a guarded candidate that was passed over counts as a guard evaluated false.
 *
 * Counted: a state each time it becomes active (the initial states once per log); a transition
 * each time it is taken on a delivered event (eventless `always` transitions are listed apart and
 * not counted). For the transitions no log took, `pathsToUncovered` asks `xstate/graph` for the
 * shortest event sequences that reach their source state and then takes them.
 */
import type { AnyStateMachine } from 'xstate'
import { getShortestPaths } from 'xstate/graph'
import { isSnapshotLine, type LogHeader, type LogLine } from '../protocol/log.ts'
import { ReplayState } from './ReplayState.ts'
import { activeNodes } from './xstateSeams.ts'

/** One transition of the machine (its definition) and how often the logs took it. */
export interface TransitionCoverage {
  /** `<source id> <event descriptor>#<position>` */
  id: string
  source: string
  event: string
  /** Target state ids (empty: a targetless transition, actions only). */
  targets: string[]
  guard?: string
  taken: number
  /** Times it was a candidate for a delivered event and its guard said no. */
  guardFalse: number
}

/** One state node and how often it became active. */
export interface StateCoverage {
  id: string
  entered: number
}

/** The coverage of one machine over the logs that name it. */
export interface MachineCoverage {
  machine: string
  logs: number
  events: number
  /** Delivered events for which the machine took no transition. */
  unhandled: number
  states: StateCoverage[]
  transitions: TransitionCoverage[]
  /** Eventless transitions (`always`), not counted. */
  eventless: number
  summary: { states: number; statesCovered: number; transitions: number; transitionsCovered: number }
}

type Sample = { type: string; [k: string]: unknown }

/** A generated path: events from the initial state whose last one takes `transition`. */
export interface CoveragePath {
  /** The uncovered transition this path takes last. */
  transition: string
  /** Events from the initial state; the last takes the transition. */
  events: { type: string; [k: string]: unknown }[]
}

/** Distinct payloads kept per event type (CoverageRecorder.variants). */
const MAX_VARIANTS = 8
/** Explorations of the graph per `pathsToUncovered` call (one per extra payload, bounded). */
const MAX_EXPLORATIONS = 64

const guardName = (g: any): string =>
  typeof g === 'string' ? g : typeof g === 'function' ? g.name || 'inline' : (g?.type ?? 'inline')

const matches = (descriptor: string, type: string): boolean =>
  descriptor === type || descriptor === '*' || (descriptor.endsWith('.*') && type.startsWith(descriptor.slice(0, -1)))

/** Every state node of the machine, root excluded, in document order. */
function stateNodes(machine: AnyStateMachine): any[] {
  const out: any[] = []
  const walk = (n: any) => {
    for (const k of Object.keys(n.states ?? {})) {
      out.push(n.states[k])
      walk(n.states[k])
    }
  }
  walk(machine.root)
  return out
}

/** Accumulates the coverage of one machine over any number of logs. */
export class CoverageRecorder {
  private readonly states = new Map<string, StateCoverage>()
  private readonly transitions = new Map<unknown, TransitionCoverage>()
  private logs = 0
  private events = 0
  private unhandled = 0
  private eventless = 0
  /** The first recorded event of each type: payloads for generated paths. */
  readonly samples = new Map<string, { type: string; [k: string]: unknown }>()
  /**
   * Every distinct recorded payload of each type (up to `MAX_VARIANTS`, first seen first): a guard
   * that looks at the payload (a warm admission, a root update) gets a path from one of them.
   */
  readonly variants = new Map<string, { type: string; [k: string]: unknown }[]>()
  private readonly seenPayloads = new Set<string>()

  constructor(
    readonly machine: AnyStateMachine,
    readonly name: string,
  ) {
    for (const node of [machine.root, ...stateNodes(machine)]) {
      if (node !== machine.root) this.states.set(node.id, { id: node.id, entered: 0 })
      for (const [descriptor, defs] of node.transitions as Map<string, any[]>) {
        defs.forEach((def, i) => {
          this.transitions.set(def, {
            id: `${node.id} ${descriptor}#${i}`,
            source: node.id,
            event: descriptor,
            targets: (def.target ?? []).map((t: any) => t.id),
            ...(def.guard ? { guard: guardName(def.guard) } : {}),
            taken: 0,
            guardFalse: 0,
          })
        })
      }
      this.eventless += node.always?.length ?? 0
    }
  }

  /** Replays one log (its header and parsed lines) and counts what it exercised. */
  addLog(header: LogHeader, lines: LogLine[]): void {
    this.logs++
    const rs = new ReplayState(this.machine, header.actor, header.parent !== undefined)
    const first = lines[0]
    if (first && isSnapshotLine(first))
      rs.restore({ seq: first.seq, at: first.at, snapshot: { status: 'active', children: {}, ...first.snapshot } })
    else rs.init(header.input, header.at)
    let active = new Set<any>(activeNodes(rs.snapshot))
    if (!(first && isSnapshotLine(first))) for (const n of active) this.enter(n)
    for (const l of lines) {
      if (isSnapshotLine(l)) continue
      if (l.rejected !== undefined || rs.snapshot.status !== 'active') {
        rs.apply(l)
        continue
      }
      if (l.timer !== undefined && rs.timers.get(l.timer)?.due !== l.due) {
        rs.apply(l) // a stale fire: not delivered
        continue
      }
      this.events++
      if (!this.samples.has(l.event.type)) this.samples.set(l.event.type, l.event)
      this.addVariant(l.event)
      const taken = new Set(this.machine.getTransitionData(rs.snapshot, l.event as any))
      if (!taken.size) this.unhandled++
      this.count(active, l.event.type, taken)
      rs.apply(l)
      const now = new Set<any>(activeNodes(rs.snapshot))
      for (const n of now) if (!active.has(n)) this.enter(n)
      // a transition that re-enters its own source counts as an entry too
      for (const def of taken) for (const t of def.target ?? []) if (active.has(t) && now.has(t)) this.enter(t)
      active = now
    }
  }

  private addVariant(event: { type: string; [k: string]: unknown }): void {
    const list = this.variants.get(event.type) ?? []
    if (list.length >= MAX_VARIANTS) return
    // payloads told apart without their timestamps (`at`, at any depth), which differ in every run
    const key = JSON.stringify(event, (k, v) => (k === 'at' ? undefined : v))
    if (this.seenPayloads.has(key)) return
    this.seenPayloads.add(key)
    list.push(event)
    this.variants.set(event.type, list)
  }

  private enter(node: any): void {
    const s = this.states.get(node.id)
    if (s) s.entered++
  }

  /** Taken transitions, and guarded candidates passed over on the way (deepest state first). */
  private count(active: Set<any>, type: string, taken: Set<any>): void {
    for (const def of taken) {
      const t = this.transitions.get(def)
      if (t) t.taken++
    }
    const atomic = [...active].filter((n) => !n.states || !Object.keys(n.states).length)
    const seen = new Set<any>()
    for (let n of atomic) {
      for (; n && !seen.has(n); n = n.parent) {
        seen.add(n)
        let stop = false
        for (const [descriptor, defs] of n.transitions as Map<string, any[]>) {
          if (!matches(descriptor, type)) continue
          for (const def of defs) {
            if (taken.has(def)) {
              stop = true
              break
            }
            if (def.guard) this.transitions.get(def)!.guardFalse++
          }
          if (stop) break
        }
        if (stop) break
      }
    }
  }

  result(): MachineCoverage {
    const states = [...this.states.values()]
    const transitions = [...this.transitions.values()]
    return {
      machine: this.name,
      logs: this.logs,
      events: this.events,
      unhandled: this.unhandled,
      states,
      transitions,
      eventless: this.eventless,
      summary: {
        states: states.length,
        statesCovered: states.filter((s) => s.entered > 0).length,
        transitions: transitions.length,
        transitionsCovered: transitions.filter((t) => t.taken > 0).length,
      },
    }
  }
}

/**
 * Event sequences from the initial state (with `input`) that take each transition of `uncovered`:
 * the shortest path to a state where it is enabled, then its event. The events tried are the
 * machine's own event descriptors, each as the first recorded event of its type (`samples`) or a
 * bare `{ type }` (a guard that needs a payload or a context these events never build leaves the
 * transition without a path). States are told apart
 * by their value only; `limit` bounds the traversal.
 */
export function pathsToUncovered(
  machine: AnyStateMachine,
  uncovered: TransitionCoverage[],
  opts: {
    input?: unknown
    limit?: number
    /**
     * Recorded events by type (CoverageRecorder.samples, or every payload: CoverageRecorder.variants),
     * used instead of bare `{ type }` ones; with several of a type, each is tried.
     */
    samples?: Map<string, Sample | Sample[]>
  } = {},
): { paths: CoveragePath[]; unreachable: string[] } {
  if (!uncovered.length) return { paths: [], unreachable: [] }
  const byId = new Map<string, any>()
  const types = new Set<string>()
  for (const node of [machine.root, ...stateNodes(machine)])
    for (const [descriptor, defs] of node.transitions as Map<string, any[]>) {
      if (!descriptor.includes('*')) types.add(descriptor)
      for (const [i, def] of defs.entries()) byId.set(`${node.id} ${descriptor}#${i}`, def)
    }
  const sample = (type: string): Sample[] => {
    const s = opts.samples?.get(type)
    return s === undefined ? [{ type }] : Array.isArray(s) ? (s.length ? s : [{ type }]) : [s]
  }
  // the graph tells states apart by value, so one exploration takes one payload per type: the first
  // one; then one more exploration per other payload (in place of its type's first), so that a
  // state reached only with it (a warm admission, a root update) gets its paths too
  const runs: Sample[][] = [[...types].map((t) => sample(t)[0])]
  for (const t of types)
    for (const v of sample(t).slice(1))
      if (runs.length < MAX_EXPLORATIONS) runs.push([...types].map((u) => (u === t ? v : sample(u)[0])))
  // an event a guard or an action cannot take (a payload it lacks) leads nowhere, instead of
  // ending the whole traversal
  const safe = new Proxy(machine, {
    get(target, key) {
      if (key === 'transition')
        return (s: any, e: any, scope: any) => {
          try {
            return target.transition(s, e, scope)
          } catch {
            return s
          }
        }
      const v = (target as any)[key]
      return typeof v === 'function' ? v.bind(target) : v
    },
  })
  const found: { state: any; steps: { event: any }[] }[] = []
  for (const events of runs) {
    try {
      found.push(
        ...(getShortestPaths(safe, {
          events: events as any,
          input: opts.input as any,
          serializeState: (s: any) => JSON.stringify(s.value),
          limit: opts.limit ?? 5000,
        } as any) as any),
      )
    } catch (err) {
      // a machine whose actions throw on bare events cannot be explored this way
      if (process.env.AETHER_DEBUG) console.error(err)
    }
  }
  // shortest first
  found.sort((a, b) => a.steps.length - b.steps.length)
  const paths: CoveragePath[] = []
  const unreachable: string[] = []
  for (const t of uncovered) {
    const def = byId.get(t.id)
    const type = t.event.includes('*') ? undefined : t.event
    let path: CoveragePath | undefined
    if (def && type) {
      search: for (const p of found) {
        if (p.state.status !== 'active') continue
        for (const last of sample(type)) {
          let enabled: any[] = []
          try {
            enabled = machine.getTransitionData(p.state, last as any)
          } catch {
            continue
          }
          if (!enabled.includes(def)) continue
          const candidate = {
            transition: t.id,
            events: [...p.steps.map((s) => s.event).filter((e) => e.type !== 'xstate.init'), last],
          }
          // kept only when it replays as the recorder replays logs (the graph's exploration and the
          // host's replay may disagree, e.g. on a state told apart by value only)
          if (!takes(machine, opts.input, candidate)) continue
          path = candidate
          break search
        }
      }
    }
    if (path) paths.push(path)
    else unreachable.push(t.id)
  }
  return { paths, unreachable }
}

/** Whether replaying `path` from the initial state takes its transition. */
function takes(machine: AnyStateMachine, input: unknown, path: CoveragePath): boolean {
  const rec = new CoverageRecorder(machine, machine.id)
  try {
    rec.addLog(
      { format: 'aether.log/1', actor: 'path', machine: machine.id, at: 0, input },
      path.events.map((event, i) => ({ seq: i + 1, at: i, event })),
    )
  } catch {
    return false
  }
  return (rec.result().transitions.find((t) => t.id === path.transition)?.taken ?? 0) > 0
}
