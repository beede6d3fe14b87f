/**
 * The reliability model's wire shapes and its pure parts: the readiness tree, the degraded
 * matrix, incidents with their classes, and channel stability computed from incidents and
 * reconnect churn (never from the last "connected" bit alone). `GET /api/reliability` serves a
 * `ReliabilityReport`; the inspector and `aether reliability` draw it.
 *
 * Pure: no node:*, runs in the browser.
 */

export type Readiness = 'ready' | 'degraded' | 'down' | 'unknown'

/** A node of the readiness tree (root link, members, sync, media, jobs, update, ...). */
export interface ReadinessNode {
  id: string
  label: string
  status: Readiness
  /** Why it is not ready (one line an operator can act on). */
  reason?: string
  /** Small facts shown beside the node (authority, pending counts, ...). */
  detail?: Record<string, unknown>
  /** The path of the actor behind this node, if one is (the inspector opens it on a click). */
  actor?: string
  children?: ReadinessNode[]
}

/** A row of the degraded matrix: what is still allowed right now, and why not. */
export interface DegradedCapability {
  capability: string
  allowed: boolean
  why?: string
}

export const IncidentClass = {
  transport: 'transport',
  route: 'route',
  controlAuthority: 'control authority',
  sync: 'sync',
  artifact: 'artifact',
} as const
export type IncidentClass = (typeof IncidentClass)[keyof typeof IncidentClass]

export interface ReliabilityIncident {
  at: number
  class: IncidentClass
  /** The channel or component it concerns (`root-link`, `stream:lifecycle`, ...). */
  subject: string
  message: string
}

export type StabilityLevel = 'stable' | 'flapping' | 'unstable'

export interface ChannelStability {
  channel: string
  level: StabilityLevel
  /** 1 = no trouble in the window, towards 0 the more incidents and reconnects. */
  score: number
  incidents: number
  reconnects: number
  windowMs: number
}

export interface ReliabilityReport {
  node: string
  role: 'hub' | 'root'
  at: number
  /** The worst status of the tree: `ready`, `degraded` or `down`. */
  status: Readiness
  tree: ReadinessNode
  matrix: DegradedCapability[]
  incidents: ReliabilityIncident[]
  channels: ChannelStability[]
  [extra: string]: unknown
}

const RANK: Record<Readiness, number> = { ready: 0, unknown: 1, degraded: 2, down: 3 }

/** The worst status among a node and its children (unknown counts as better than degraded). */
export function worst(statuses: Readiness[]): Readiness {
  let w: Readiness = 'ready'
  for (const s of statuses) if (RANK[s] > RANK[w]) w = s
  return w
}

/** A parent node whose status is the worst of its children's unless given. */
export function branch(
  id: string,
  label: string,
  children: ReadinessNode[],
  own?: Readiness,
  reason?: string,
): ReadinessNode {
  const status = worst([...(own ? [own] : []), ...children.map((c) => c.status)])
  const why =
    reason ??
    children
      .filter((c) => c.status !== 'ready' && c.status !== 'unknown')
      .map((c) => `${c.label}: ${c.reason ?? c.status}`)
      .join('; ')
  return { id, label, status, ...(why ? { reason: why } : {}), children }
}

/**
 * Stability of one channel over the last `windowMs`: each incident costs 0.15, each reconnect
 * 0.1 (churn hurts even when every reconnect succeeds). `flapping` below 0.8, `unstable` below 0.4.
 */
export function channelStability(
  channel: string,
  incidentTimes: number[],
  reconnectTimes: number[],
  now: number,
  windowMs = 5 * 60_000,
): ChannelStability {
  const inWin = (t: number) => t > now - windowMs && t <= now
  const incidents = incidentTimes.filter(inWin).length
  const reconnects = reconnectTimes.filter(inWin).length
  const score = Math.max(0, Math.round((1 - 0.15 * incidents - 0.1 * reconnects) * 100) / 100)
  const level: StabilityLevel = score < 0.4 ? 'unstable' : score < 0.8 ? 'flapping' : 'stable'
  return { channel, level, score, incidents, reconnects, windowMs }
}

/** The tree as indented text lines (`aether reliability`). */
export function formatTree(node: ReadinessNode, indent = ''): string[] {
  const mark = { ready: 'ok  ', degraded: 'DEG ', down: 'DOWN', unknown: '?   ' }[node.status]
  const detail = node.detail
    ? ' ' +
      Object.entries(node.detail)
        .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`)
        .join(' ')
    : ''
  const lines = [`${indent}${mark} ${node.label}${node.reason ? ` (${node.reason})` : ''}${detail}`]
  for (const c of node.children ?? []) lines.push(...formatTree(c, indent + '  '))
  return lines
}
