/**
 * The hub's tracing feature: provides the process's `Tracing` (when tracing is on) as the
 * `tracing.spans` service before the other features install, serves the trace ids of actors'
 * work at `GET /api/traces` (read-only, memory only), and exports what is left at close.
 *
 *   GET /api/traces?actor=<id>  -> {enabled, actor, traces: [{traceId, spanId, name, at}]}
 *   GET /api/traces[?limit=N]   -> {enabled, actors: [{actor, traces}]}  (most recent first)
 */
import type { Hub, HubFeature } from '../Hub.ts'
import type { Tracing } from './Tracing.ts'
import { signalTracesService, tracingService } from './service.ts'
import { ActorSpans, signalTraces } from './actorSpans.ts'

export function tracingFeature(tracing: Tracing | undefined): HubFeature {
  let spans: ActorSpans | undefined
  return {
    name: 'tracing',
    install(hub: Hub) {
      if (tracing) {
        hub.system.services.provide(tracingService, tracing)
        spans = new ActorSpans(tracing, hub.system)
        hub.system.services.provide(signalTracesService, signalTraces(spans))
      }
      hub.server.route('GET', '/api/traces', (ctx) => {
        const actor = ctx.url.searchParams.get('actor')
        const r = hub.access.active ? hub.access.reader(ctx.req, ctx.url) : undefined
        const readable = (path: string) => !r || hub.access.mayRead(r, path)
        if (actor !== null)
          return { enabled: !!tracing, actor, traces: tracing && readable(actor) ? tracing.index.of(actor) : [] }
        const limit = Math.min(1000, Math.max(1, Number(ctx.url.searchParams.get('limit')) || 100))
        const actors = tracing ? tracing.index.recent(limit * 4).filter((a) => readable(a.actor)) : []
        return { enabled: !!tracing, actors: actors.slice(0, limit) }
      })
    },
    async close() {
      spans?.close()
      await tracing?.close()
    },
  }
}
