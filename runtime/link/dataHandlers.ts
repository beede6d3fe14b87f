/**
 * What a hub does with valid messages of its data traffic classes (route.control, route.frame,
 * integration, telemetry). Shared by the data-plane worker thread and the in-process fallback.
 */
import type { Envelope, TrafficClass } from '../../protocol/index.ts'

export interface DataState {
  routes: Map<string, { open: boolean; frames: number; lastSeq: number }>
  telemetry: Map<string, number>
  integrationEvents: number
}

export function dataState(): DataState {
  return { routes: new Map(), telemetry: new Map(), integrationEvents: 0 }
}

/** Handles one valid data-class message; the value is the Class B answer's detail. */
export function handleData(st: DataState, e: Envelope, c: TrafficClass): unknown {
  const p = e.payload as any
  switch (c) {
    case 'route.control': {
      const r = st.routes.get(p.routeId) ?? { open: false, frames: 0, lastSeq: -1 }
      if (p.op === 'open') r.open = true
      if (p.op === 'close') r.open = false
      st.routes.set(p.routeId, r)
      if (st.routes.size > 10_000) st.routes.delete(st.routes.keys().next().value!)
      return { routeId: p.routeId, open: r.open }
    }
    case 'route.frame': {
      const r = st.routes.get(p.routeId)
      if (r) r.frames++, (r.lastSeq = p.seq)
      return null
    }
    case 'integration':
      st.integrationEvents++
      return { accepted: true }
    case 'telemetry':
      if (st.telemetry.size < 10_000 || st.telemetry.has(p.name)) st.telemetry.set(p.name, p.value)
      return null
    default:
      return null
  }
}
