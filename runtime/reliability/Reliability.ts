/**
 * The node's reliability model, assembled from what each feature reports: readiness tree nodes,
 * degraded-matrix rows, incidents (with their classes) and reconnect churn per channel. Served at
 * `GET /api/reliability` (a `ReliabilityReport`) and mirrored into the `reliability` actor, so
 * the inspection feed carries it too.
 *
 * Features find the node's model with `reliabilityOf(hub)`: the `reliability` service of the hub's
 * actor system, created on first use.
 */
import {
  branch,
  channelStability,
  type DegradedCapability,
  type IncidentClass,
  type ReadinessNode,
  type ReliabilityIncident,
  type ReliabilityReport,
} from '../../protocol/index.ts'
import { defineService } from '../../actors/index.ts'
import { reliabilityView } from '../../machines/index.ts'
import type { Hub, HubFeature } from '../Hub.ts'

export interface ReliabilitySource {
  /** A top-level node of the readiness tree (a source of counters only has none). */
  node?(): ReadinessNode
  matrix?(): DegradedCapability[]
  /** Reconnect times by channel name, for channel stability. */
  churn?(): Record<string, number[]>
  /** Extra top-level fields of the report (counters). */
  extra?(): Record<string, unknown>
}

export class Reliability {
  readonly incidents: ReliabilityIncident[] = []
  private sources = new Map<string, ReliabilitySource>()
  private listeners = new Set<() => void>()

  private incidentSources: Array<() => ReliabilityIncident[]> = []

  constructor(
    public node: string,
    readonly role: 'hub' | 'root',
  ) {}

  /** Incidents kept elsewhere (e.g. the root service's hub-liveness incidents) join the report. */
  addIncidents(fn: () => ReliabilityIncident[]): void {
    this.incidentSources.push(fn)
  }

  add(id: string, source: ReliabilitySource): void {
    this.sources.set(id, source)
    this.changed()
  }

  incident(cls: IncidentClass, subject: string, message: string, at = Date.now()): void {
    this.incidents.push({ at, class: cls, subject, message })
    if (this.incidents.length > 500) this.incidents.shift()
    this.changed()
  }

  /** Something a report is made of changed (the mirror actor is refreshed, throttled). */
  changed(): void {
    for (const fn of this.listeners) fn()
  }

  onChange(fn: () => void): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  report(now = Date.now()): ReliabilityReport {
    const nodes: ReadinessNode[] = []
    const matrix: DegradedCapability[] = []
    const churn: Record<string, number[]> = {}
    let extra: Record<string, unknown> = {}
    for (const s of this.sources.values()) {
      if (s.node) nodes.push(s.node())
      if (s.matrix) matrix.push(...s.matrix())
      if (s.churn) Object.assign(churn, s.churn())
      if (s.extra) extra = { ...extra, ...s.extra() }
    }
    // the tree's root is the node's report, mirrored into the `reliability` actor
    const tree = { ...branch(this.node, `${this.role} ${this.node}`, nodes), actor: 'reliability' }
    const incidents = [...this.incidents, ...this.incidentSources.flatMap((f) => f())].sort((a, b) => a.at - b.at)
    const channels = Object.entries(churn).map(([ch, times]) =>
      channelStability(
        ch,
        incidents.filter((i) => i.subject === ch || i.subject.startsWith(ch + ':')).map((i) => i.at),
        times,
        now,
      ),
    )
    return {
      ...extra,
      node: this.node,
      role: this.role,
      at: now,
      status: tree.status,
      degraded: tree.status === 'degraded' || tree.status === 'down',
      tree,
      matrix,
      incidents: incidents.slice(-100),
      channels,
    }
  }
}

/** The node's reliability model. */
export const reliabilityModel = defineService<Reliability>('reliability')

/** The hub's reliability model (created and provided on first use). */
export function reliabilityOf(hub: Hub, role: 'hub' | 'root' = 'hub'): Reliability {
  const s = hub.system.services
  return s.has(reliabilityModel)
    ? s.get(reliabilityModel)
    : s.provide(reliabilityModel, new Reliability(hub.opts.hostId ?? role, role))
}

/**
 * Serves `GET /api/reliability` and keeps the `reliability` actor (machine `reliabilityView`)
 * in step with the report, at most every `mirrorMs`.
 */
export function reliabilityFeature(opts: { role?: 'hub' | 'root'; mirrorMs?: number } = {}): HubFeature {
  let timer: ReturnType<typeof setInterval> | undefined
  return {
    name: 'reliability',
    async install(hub) {
      const model = reliabilityOf(hub, opts.role ?? 'hub')
      model.add('actors', {
        node: () => {
          const list = hub.system.list()
          const failed = list.filter((a) => a.status === 'failed')
          return {
            id: 'actors',
            label: 'actors',
            status: failed.length ? 'degraded' : 'ready',
            ...(failed.length
              ? {
                  reason: `${failed.length} failed: ${failed
                    .slice(0, 3)
                    .map((a) => a.path)
                    .join(', ')}`,
                }
              : {}),
            detail: { running: list.length, failed: failed.length, incidents: hub.system.incidents.length },
          }
        },
      })
      // what the edges refused or closed, per endpoint and reason (the same counters as /metrics)
      model.add('edges', { extra: () => ({ edges: hub.server.edges.list() }) })
      hub.server.route('GET', '/api/reliability', () => model.report())
      hub.system.register('reliabilityView', reliabilityView)
      if (!hub.system.hosted('reliability'))
        await hub.system.spawn('reliability', 'reliabilityView', { durable: false })
      let last = ''
      const mirror = () => {
        const r = model.report()
        const key = JSON.stringify({ s: r.status, t: r.tree, m: r.matrix, n: r.incidents.length })
        if (key === last) return
        last = key
        try {
          hub.system.send('reliability', { type: 'reliability.report', report: r })
        } catch {
          // the system is closing
        }
      }
      timer = setInterval(mirror, opts.mirrorMs ?? 1000)
      timer.unref?.()
      mirror()
    },
    close() {
      if (timer) clearInterval(timer)
    },
  }
}
