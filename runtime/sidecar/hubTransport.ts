/**
 * Where the hub's link (runtime/link/linkFeature.ts) gets its two connections: in this process
 * (`in-process`, the default: a `NatsLink` for control and the data-plane worker's own) or
 * through the transport sidecar (`sidecar`: a `SidecarLink` per channel to `aether sidecar`,
 * which the hub starts and supervises unless AETHER_SIDECAR_SOCKET names one run by hand). Also
 * the sidecar's HTTP surface:
 *
 *   GET  /api/sidecar          the transport strategy (current, candidates, attempts), control and
 *                              route readiness, reconnects, the sidecar's own status (provenance,
 *                              quarantine and supersede history) and its process lives
 *   POST /api/sidecar/restart  restart the supervised sidecar (token); 409 NO_SIDECAR otherwise
 */
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import type { TrafficClass } from '../../protocol/index.ts'
import type { Hub } from '../Hub.ts'
import { HttpError } from '../http/HubServer.ts'
import { DataPlane } from '../link/DataPlane.ts'
import type { Transport, TransportKind } from '../link/Transport.ts'
import { NatsLink } from '../nats/NatsTransport.ts'
import { SidecarProcess } from '../supervisor/SidecarProcess.ts'
import { SidecarLink } from './SidecarLink.ts'

export interface HubTransportOptions {
  kind: TransportKind
  nats: string
  hubId: string
  budgets?: Partial<Record<TrafficClass, number>>
  /** A sidecar run by hand: its socket and token (else the hub starts its own in its data folder). */
  socket?: string
  token?: string
}

export interface HubLinks {
  kind: TransportKind
  control: Transport
  data: DataPlane
  /** The supervised sidecar process (none in-process, or when it runs by hand). */
  process?: SidecarProcess
  close(): Promise<void>
}

/** Opens the hub's control and data connections the way `o.kind` says; never waits for them. */
export function openHubLinks(hub: Hub, o: HubTransportOptions): HubLinks {
  if (o.kind === 'in-process') {
    const control = new NatsLink({ url: o.nats, name: `aether-hub-${o.hubId}-control` })
    control.connected().catch(() => {})
    const data = new DataPlane({ url: o.nats, hubId: o.hubId, budgets: o.budgets })
    return { kind: o.kind, control, data, close: async () => void (await Promise.all([control.close(), data.close()])) }
  }
  const socket = o.socket ?? join(hub.dataDir, 'sidecar.sock')
  const token = o.socket ? o.token : randomBytes(16).toString('hex')
  const proc = o.socket
    ? undefined
    : new SidecarProcess({ nats: o.nats, socket, token: token!, name: `hub-${o.hubId}` })
  const sidecar = { socket, ...(token !== undefined ? { token } : {}) }
  const control = new SidecarLink({ ...sidecar, channel: 'control', name: `aether-hub-${o.hubId}-control` })
  control.connected().catch(() => {})
  const data = new DataPlane({ url: o.nats, hubId: o.hubId, budgets: o.budgets, sidecar })
  return {
    kind: o.kind,
    control,
    data,
    process: proc,
    close: async () => {
      await Promise.all([control.close(), data.close()])
      await proc?.stop()
    },
  }
}

/** The sidecar's HTTP surface on the hub (both kinds answer GET; only a supervised sidecar restarts). */
export function sidecarRoutes(hub: Hub, hubId: string, links: HubLinks): void {
  hub.server.route('GET', '/api/sidecar', async () => {
    const c = links.control
    const sc = c instanceof SidecarLink ? c : undefined
    let sidecar: unknown = null
    let sidecarError: string | null = null
    if (sc)
      sidecar = await sc.sidecarStatus().catch((err) => {
        sidecarError = (err as Error).message
        return null
      })
    return {
      hubId,
      strategy: {
        current: links.kind,
        candidates: [
          { kind: 'sidecar', chosen: links.kind === 'sidecar', ...(sc ? { endpoint: sc.opts.socket } : {}) },
          { kind: 'in-process', chosen: links.kind === 'in-process' },
        ],
        attempts: sc?.attempts ?? [],
        attemptCounts: sc?.attemptCounts ?? { ok: 0, failed: 0 },
      },
      control: {
        ready: c.status === 'connected',
        status: c.status,
        lastError: c.lastError ?? null,
        reconnects: c.counters.reconnects,
        disconnects: c.counters.disconnects,
        reconnectTimes: c.reconnectTimes.slice(-25),
        ...(sc ? { sidecarId: sc.sidecarId, nats: sc.natsStatus } : {}),
      },
      route: {
        ready: links.data.status === 'connected',
        status: links.data.status,
        lastError: links.data.lastError ?? null,
        reconnects: links.data.reconnects.n,
        reconnectTimes: links.data.reconnectTimes.slice(-25),
      },
      process: links.process?.status() ?? null,
      sidecar,
      sidecarError,
    }
  })
  hub.server.route('POST', '/api/sidecar/restart', (ctx) => {
    hub.server.requireToken(ctx)
    if (!links.process)
      throw new HttpError(
        409,
        links.kind === 'sidecar'
          ? 'this sidecar runs by hand (AETHER_SIDECAR_SOCKET): restart it where it runs'
          : 'this hub uses the in-process transport (start it with --transport sidecar)',
        'NO_SIDECAR',
      )
    const pid = links.process.pid ?? null
    links.process.restart()
    ctx.res.statusCode = 202
    return { restarting: true, pid }
  })
}
