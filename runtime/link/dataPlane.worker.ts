/**
 * The hub's data plane in a worker thread: its own NATS connection and the data traffic classes
 * (route.control, route.frame, integration, telemetry). A flood of route frames then costs this
 * thread's CPU, not the main thread's, where heartbeats, control and Class A run. Reports its
 * status at once on change and its counters every `statsMs` to the parent.
 *
 * Started by `DataPlane` (runtime/link/DataPlane.ts) through dataPlane.worker.mjs (tsx). With
 * `sidecar` set, its connection is the transport sidecar's `data` channel (a `SidecarLink`).
 */
import { parentPort, workerData } from 'node:worker_threads'
import { TRAFFIC_CLASSES, type TrafficClass } from '../../protocol/index.ts'
import { NatsLink } from '../nats/NatsTransport.ts'
import { SidecarLink } from '../sidecar/SidecarLink.ts'
import type { Transport } from './Transport.ts'
import { dataState, handleData } from './dataHandlers.ts'
import { TrafficClasses } from './TrafficClasses.ts'

export interface DataPlaneInit {
  url: string
  hubId: string
  budgets?: Partial<Record<TrafficClass, number>>
  statsMs?: number
  sidecar?: { socket: string; token?: string }
}

export const DATA_CLASSES = TRAFFIC_CLASSES.filter((c) => c !== 'control')

const init = workerData as DataPlaneInit
const port = parentPort!
const name = `aether-hub-${init.hubId}-data`
const link: Transport = init.sidecar
  ? new SidecarLink({ ...init.sidecar, channel: 'data', name })
  : new NatsLink({ url: init.url, name })
link.connected().catch(() => {})
const st = dataState()
const traffic = new TrafficClasses(
  init.hubId,
  { control: link, data: link },
  (e, c) => handleData(st, e, c),
  init.budgets,
  60_000,
  DATA_CLASSES,
)
traffic.start()

const stats = () => ({
  type: 'stats',
  status: link.status,
  lastError: link.lastError ?? null,
  reconnects: link.counters.reconnects,
  reconnectTimes: link.reconnectTimes,
  counters: traffic.counters,
  rejectedByCode: traffic.rejectedByCode,
  overBudget: traffic.overBudget(),
  routes: st.routes.size,
  integrationEvents: st.integrationEvents,
})
// `connected` is reported once the server has our subscriptions (a flush round trip), so a
// sender that sees the hub's data plane connected can rely on being heard.
link.onStatus((s, prev) => {
  const post = () =>
    port.postMessage({
      type: 'status',
      status: link.status,
      prev,
      lastError: link.lastError ?? null,
      reconnects: link.counters.reconnects,
    })
  if (s === 'connected') link.flush().then(post, post)
  else post()
})
let announced = false
link.onStatus((s) => {
  if (s === 'connected')
    link.flush().then(
      () => (announced = true),
      () => {},
    )
})
const timer = setInterval(() => port.postMessage(stats()), init.statsMs ?? 200)
port.postMessage({ type: 'status', status: link.status, prev: 'connecting', lastError: null })

port.on('message', async (m: { type: string }) => {
  if (m.type === 'close') {
    clearInterval(timer)
    traffic.close()
    port.postMessage(stats())
    await link.close()
    port.close()
  }
})
