/**
 * Trace links: the OpenTelemetry trace ids of an actor's work, read from the hub's read-only
 * `GET /api/traces?actor=<path>` (runtime/tracing/tracingFeature.ts). The snapshot view shows the
 * trace of the selected event: the last trace of the actor that started by the event's time.
 * A hub without tracing answers `enabled: false` (or has no such route), and the view then never
 * asks again.
 */

/** One trace an actor's work went to, as the hub lists it. */
export interface TraceRef {
  traceId: string
  spanId: string
  name: string
  at: number
}

/** Refetch an actor's traces at most this often while it is shown. */
const REFRESH_MS = 2000

export class TraceLinks {
  private byActor = new Map<string, { refs: TraceRef[]; fetchedAt: number }>()
  private inFlight = new Set<string>()
  private enabled = true

  /** `changed` is called when newly fetched traces should be drawn. */
  constructor(private readonly changed: () => void) {}

  /** The trace of `path`'s work at time `at` (its last trace started by then, else its first), if known. */
  traceAt(path: string, at: number | undefined): TraceRef | undefined {
    this.refresh(path)
    const refs = this.byActor.get(path)?.refs ?? []
    let found: TraceRef | undefined
    for (const r of refs) if (at === undefined || r.at <= at) found = r
    return found ?? refs[0]
  }

  private refresh(path: string): void {
    if (!this.enabled || this.inFlight.has(path)) return
    const known = this.byActor.get(path)
    if (known && Date.now() - known.fetchedAt < REFRESH_MS) return
    this.inFlight.add(path)
    fetch(`/api/traces?actor=${encodeURIComponent(path)}`, { cache: 'no-store' })
      .then((r) => {
        if (r.status === 404) this.enabled = false // a hub without the tracing feature
        return r.ok ? r.json() : undefined
      })
      .then((body: { enabled?: boolean; traces?: TraceRef[] } | undefined) => {
        if (!body) return
        if (body.enabled === false) this.enabled = false
        const refs = Array.isArray(body.traces) ? body.traces : []
        const before = this.byActor.get(path)?.refs.length ?? 0
        this.byActor.set(path, { refs, fetchedAt: Date.now() })
        if (refs.length !== before) this.changed()
      })
      .catch(() => {})
      .finally(() => this.inFlight.delete(path))
  }
}
