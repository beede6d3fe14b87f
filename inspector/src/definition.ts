/**
 * Reading a machine definition (`machine.toJSON()`, as the hub sends it): its state nodes and
 * transitions, which nodes a snapshot value makes active, which events the current state accepts,
 * and which state owns a pending delayed event. Pure; runs in Node (tests) and the browser.
 */

export interface StateNodeJSON {
  id: string
  key: string
  type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history'
  initial?: { target: string[] }
  states: Record<string, StateNodeJSON>
  on?: Record<string, TransitionJSON[]>
  transitions?: TransitionJSON[]
  invoke?: Array<{ id?: string; src?: unknown }>
  tags?: string[]
  description?: string
}

export interface TransitionJSON {
  target?: string[]
  source: string
  eventType: string
  guard?: string | { type?: string } | null
  delay?: string | number
  actions?: unknown[]
  reenter?: boolean
}

export interface ChartNode {
  id: string
  key: string
  type: StateNodeJSON['type']
  parent?: string
  children: string[]
  initial?: string
  depth: number
  /** Transitions without a target (they run actions and stay): listed inside the node. */
  internal: ChartTransition[]
}

export interface ChartTransition {
  /** A stable id: source id, index. */
  id: string
  source: string
  targets: string[]
  eventType: string
  /** The readable label: the event (or `after <delay>`) and `[guard]`. */
  label: string
  guard?: string
}

export interface Chart {
  root: string
  nodes: Map<string, ChartNode>
  edges: ChartTransition[]
}

export function guardName(g: TransitionJSON['guard']): string | undefined {
  if (!g) return undefined
  if (typeof g === 'string') return g
  if (typeof g === 'object' && typeof g.type === 'string') return g.type
  return 'guard'
}

/** `xstate.after.green.trafficLight.light.green` -> `after green`. */
export function eventLabel(t: Pick<TransitionJSON, 'eventType' | 'delay'>): string {
  const after = (d: unknown) => (typeof d === 'number' || /^\d+$/.test(String(d)) ? `after ${d}ms` : `after ${d}`)
  if (t.eventType.startsWith('xstate.after.')) return after(t.delay ?? t.eventType.slice(13).split('.')[0])
  // XState v4 names (an external v4 app's definition): xstate.after(500)#id, done.invoke.<id>, ...
  if (t.eventType.startsWith('xstate.after(')) return after(t.delay ?? t.eventType.slice(13, t.eventType.indexOf(')')))
  if (t.eventType.startsWith('done.invoke.')) return `done: ${t.eventType.slice(12)}`
  if (t.eventType.startsWith('error.platform.')) return `error: ${t.eventType.slice(15)}`
  if (t.eventType.startsWith('done.state.')) return 'done'
  if (t.eventType.startsWith('xstate.done.state.')) return 'done'
  if (t.eventType.startsWith('xstate.done.actor.')) return `done: ${t.eventType.slice(18)}`
  if (t.eventType.startsWith('xstate.error.actor.')) return `error: ${t.eventType.slice(19)}`
  return t.eventType || '(always)'
}

// A target is `#id` on the wire; an in-process toJSON() may still hold the state node itself.
const stripHash = (t: any): string =>
  typeof t === 'string' ? (t.startsWith('#') ? t.slice(1) : t) : String(t?.id ?? t)

/** Flattens a definition into nodes and transitions. */
export function readChart(def: StateNodeJSON): Chart {
  const nodes = new Map<string, ChartNode>()
  const edges: ChartTransition[] = []
  const visit = (n: StateNodeJSON, parent: string | undefined, depth: number) => {
    const children = Object.values(n.states ?? {})
    const node: ChartNode = {
      id: n.id,
      key: n.key,
      type: n.type,
      parent,
      children: children.map((c) => c.id),
      initial: n.initial?.target?.[0] ? stripHash(n.initial.target[0]) : undefined,
      depth,
      internal: [],
    }
    nodes.set(n.id, node)
    const ts = n.transitions ?? Object.values(n.on ?? {}).flat()
    ts.forEach((t, i) => {
      const guard = guardName(t.guard)
      const label = eventLabel(t) + (guard ? ` [${guard}]` : '')
      const ct: ChartTransition = {
        id: `${n.id}#${i}`,
        source: n.id,
        targets: (t.target ?? []).map(stripHash),
        eventType: t.eventType,
        label,
        guard,
      }
      if (ct.targets.length === 0) node.internal.push(ct)
      else edges.push(ct)
    })
    for (const c of children) visit(c, n.id, depth + 1)
  }
  visit(def, undefined, 0)
  return { root: def.id, nodes, edges }
}

/** Ids of the active state nodes for a snapshot value (the root included). */
export function activeIds(chart: Chart, value: unknown): Set<string> {
  const out = new Set<string>()
  const walk = (id: string, v: unknown) => {
    const n = chart.nodes.get(id)
    if (!n) return
    out.add(id)
    if (typeof v === 'string') {
      const c = n.children.find((cid) => chart.nodes.get(cid)!.key === v)
      if (c) out.add(c)
    } else if (v && typeof v === 'object') {
      for (const [k, sub] of Object.entries(v as Record<string, unknown>)) {
        const c = n.children.find((cid) => chart.nodes.get(cid)!.key === k)
        if (c) walk(c, sub)
      }
    }
  }
  walk(chart.root, value)
  return out
}

/** A transition an operator may trigger from the current state. */
export interface AcceptedEvent {
  type: string
  /** The state nodes that handle it, innermost first. */
  from: string[]
  guards: string[]
}

/**
 * Events the active states accept, read from the definition: every named event on an active node
 * (XState's own `xstate.*` events and wildcards are left out: they are not an operator's to send).
 */
export function acceptedEvents(chart: Chart, active: Set<string>): AcceptedEvent[] {
  const by = new Map<string, AcceptedEvent>()
  const ordered = [...active].sort((a, b) => chart.nodes.get(b)!.depth - chart.nodes.get(a)!.depth)
  for (const id of ordered) {
    const n = chart.nodes.get(id)!
    const ts = chart.edges.filter((e) => e.source === id).concat(n.internal)
    for (const t of ts) {
      if (!t.eventType || t.eventType.startsWith('xstate.') || t.eventType === '*' || t.eventType.endsWith('.*'))
        continue
      const a = by.get(t.eventType) ?? { type: t.eventType, from: [], guards: [] }
      if (!a.from.includes(id)) a.from.push(id)
      if (t.guard && !a.guards.includes(t.guard)) a.guards.push(t.guard)
      by.set(t.eventType, a)
    }
  }
  return [...by.values()].sort((a, b) => a.type.localeCompare(b.type))
}

/** The state node that owns a delayed event `xstate.after.<delay>.<state id>`, if it exists. */
export function delayOwner(chart: Chart, eventType: string): string | undefined {
  if (!eventType.startsWith('xstate.after.')) return undefined
  const rest = eventType.slice(13)
  // the delay may itself contain dots only if it is a number with a fraction; state ids follow it
  for (let i = rest.indexOf('.'); i >= 0; i = rest.indexOf('.', i + 1)) {
    const id = rest.slice(i + 1)
    if (chart.nodes.has(id)) return id
  }
  return undefined
}

/**
 * The transitions an event took from one snapshot to the next: transitions on `eventType` whose
 * source was active before and whose target (if any) is active after. With `before` unknown (a log
 * without the previous snapshot), a targeted transition qualifies by its target alone and an
 * internal one by its source being active after.
 */
export function takenTransitions(
  chart: Chart,
  eventType: string,
  before: Set<string> | null,
  after: Set<string>,
): ChartTransition[] {
  const all = chart.edges.concat([...chart.nodes.values()].flatMap((n) => n.internal))
  return all.filter(
    (t) =>
      t.eventType === eventType &&
      (before ? before.has(t.source) : t.targets.length > 0 || after.has(t.source)) &&
      (t.targets.length === 0 || t.targets.every((x) => after.has(x))),
  )
}

/** An event type for people: `xstate.after.green.trafficLight.light.green` -> `after green (light.green)`. */
export function eventDisplay(type: string): string {
  // XState v4: xstate.after(100)#elevator.arrived
  const v4 = /^xstate\.after\((\w+)\)#[^.]+\.?(.*)$/.exec(type)
  if (v4) return `after ${/^\d+$/.test(v4[1]) ? v4[1] + 'ms' : v4[1]}${v4[2] ? ` (${v4[2]})` : ''}`
  if (!type.startsWith('xstate.after.')) return type
  const [delay, ...rest] = type.slice(13).split('.')
  return `after ${/^\d+$/.test(delay) ? delay + 'ms' : delay}${rest.length > 1 ? ` (${rest.slice(1).join('.')})` : ''}`
}
