/**
 * What the Reliability view draws, from a node's `ReliabilityReport` (`GET /api/reliability`): the
 * readiness tree as rows, each with the actor behind it (the node's `actor`, else an actor named
 * like the node), and the supervisor's report made from its status (`GET /api/supervisor/status`,
 * which has no reliability model of its own). Pure; runs in Node (tests) and the browser.
 */
import type {
  DegradedCapability,
  Readiness,
  ReadinessNode,
  ReliabilityIncident,
  ReliabilityReport,
} from '../../protocol/reliability.ts'

export interface TreeRow {
  node: ReadinessNode
  depth: number
  /** The actor a click opens, if the page knows one. */
  actor?: string
}

/** The tree depth-first, each node with the actor behind it among `actors` (paths the page shows). */
export function treeRows(tree: ReadinessNode, actors: ReadonlySet<string>, prefix = ''): TreeRow[] {
  const out: TreeRow[] = []
  const walk = (n: ReadinessNode, depth: number) => {
    const candidates = [n.actor, n.id].filter((x): x is string => !!x).map((p) => prefix + p)
    const actor = candidates.find((p) => actors.has(p))
    out.push(actor ? { node: n, depth, actor } : { node: n, depth })
    for (const c of n.children ?? []) walk(c, depth + 1)
  }
  walk(tree, 0)
  return out
}

/** What the panel reads of the supervisor's status (docs/supervisor.md). */
export interface SupervisorStatusLike {
  phase: string
  transition: { state: string; attempt?: { outcome?: string; reason?: string } | null }
  active: { runtimeInstanceId: string; slot: string; version: string; good?: boolean } | null
  runtime: { state: string; lastError: string | null }
  proxy: { down: string | null; paused: boolean }
  incidents: Array<{ at: number; kind: string; message: string; slot: string; runtimeInstanceId: string }>
  operatorActions: Record<string, boolean>
  supervisor: { version: string }
}

const PHASE: Record<string, Readiness> = {
  serving: 'ready',
  applying: 'degraded',
  restarting: 'degraded',
  rolling_back: 'degraded',
  root_promotion_pending: 'degraded',
  root_restarting: 'degraded',
  failed: 'down',
  offline: 'down',
}

/** The supervisor as a reliability report: its runtime, the update transition, the proxy. */
export function supervisorReport(s: SupervisorStatusLike, now = Date.now()): ReliabilityReport {
  const rt = s.active
  const runtime: ReadinessNode = {
    id: 'runtime',
    label: rt ? `runtime ${rt.runtimeInstanceId} (slot ${rt.slot}, v${rt.version})` : 'runtime',
    status: s.runtime.state === 'up' && rt ? 'ready' : s.runtime.state === 'failed' ? 'down' : 'degraded',
    ...(s.runtime.state !== 'up'
      ? { reason: `${s.runtime.state}${s.runtime.lastError ? `: ${s.runtime.lastError}` : ''}` }
      : {}),
    detail: { state: s.runtime.state, ...(rt ? { slot: rt.slot, version: rt.version } : {}) },
  }
  const applying = s.phase !== 'serving' && s.phase !== 'offline' && s.phase !== 'failed'
  const update: ReadinessNode = {
    id: 'update',
    label: 'update transition',
    actor: 'supervisor.update',
    status: s.transition.state === 'failed' ? 'down' : applying ? 'degraded' : 'ready',
    ...(applying ? { reason: `${s.phase}: ${s.transition.state}` } : {}),
    detail: {
      state: s.transition.state,
      ...(s.transition.attempt?.outcome ? { last: s.transition.attempt.outcome } : {}),
    },
  }
  const proxy: ReadinessNode = {
    id: 'proxy',
    label: 'proxy',
    status: s.proxy.down ? 'down' : s.proxy.paused ? 'degraded' : 'ready',
    ...(s.proxy.down ? { reason: s.proxy.down } : s.proxy.paused ? { reason: 'holding requests during a switch' } : {}),
  }
  const children = [runtime, update, proxy]
  const status = PHASE[s.phase] ?? 'unknown'
  const bad = children.filter((c) => c.status !== 'ready')
  const tree: ReadinessNode = {
    id: 'supervisor',
    label: `supervisor v${s.supervisor.version}`,
    status,
    ...(bad.length ? { reason: bad.map((c) => `${c.label}: ${c.reason ?? c.status}`).join('; ') } : {}),
    children,
  }
  const matrix: DegradedCapability[] = [
    {
      capability: 'requests to the hub',
      allowed: !s.proxy.down,
      ...(s.proxy.down ? { why: s.proxy.down } : s.proxy.paused ? { why: 'held until the switch ends' } : {}),
    },
    { capability: 'new update', allowed: s.transition.state === 'idle' || s.transition.state === 'failed' },
    ...Object.entries(s.operatorActions).map(([action, allowed]) => ({
      capability: `${action} the update`,
      allowed,
      ...(allowed ? {} : { why: `not in ${s.transition.state}` }),
    })),
  ]
  const incidents: ReliabilityIncident[] = s.incidents.map((i) => ({
    at: i.at,
    class: 'artifact',
    subject: `runtime ${i.runtimeInstanceId} (slot ${i.slot})`,
    message: `${i.kind}: ${i.message}`,
  }))
  return {
    node: 'supervisor',
    role: 'hub',
    at: now,
    status,
    degraded: status === 'degraded' || status === 'down',
    tree,
    matrix,
    incidents,
    channels: [],
  }
}
