/**
 * `aether root`: the control plane over NATS, as a feature of the same host as the hub (actor
 * system, LevelDB store, HTTP server with token). It runs the `RootService` (Class A inboxes,
 * Class B answers, heartbeats), serves provenance (`GET /api/streams/:hub/:stream`), the hubs it
 * hears from (`GET /api/hubs`), its part of the reliability model, and the member relay
 * (`/relay`, RootRelay.ts): browsers attached to the root reach their hub's channels over NATS.
 */
import { IncidentClass, NODE_ID, type DegradedCapability, type ReadinessNode } from '../../protocol/index.ts'
import type { Hub, HubFeature } from '../Hub.ts'
import { HttpError } from '../http/HubServer.ts'
import { FleetStore, NatsLink } from '../nats/NatsTransport.ts'
import { RootFleet } from './RootFleet.ts'
import { reliabilityOf } from '../reliability/Reliability.ts'
import { addIncidentNotes } from '../incident/incidentFeature.ts'
import { installInboxesView } from './inboxesView.ts'
import { RootService } from './RootService.ts'
import { RootRelay } from './RootRelay.ts'
import { tracingService } from '../tracing/service.ts'

export interface RootFeatureOptions {
  nats: string
  rootId: string
  agingMs?: number
  staleMs?: number
  cacheTtlMs?: number
  sync?: boolean
  /** Page origins (besides the root's own) allowed to attach to `/relay`. */
  relayOrigins?: string[]
  /**
   * Join a fleet of roots on this NATS server (RootFleet.ts): hubs are shared out by rendezvous
   * hashing over the members, Class A inboxes live in the shared stream. `leaseMs`: a member
   * silent this long is gone and its hubs move.
   */
  fleet?: { leaseMs?: number }
}

/** Names of the fleet's shared state on the NATS server. */
export const FLEET_STORE = {
  stream: 'AETHER_INBOX',
  subjectPrefix: 'aether.inbox',
  bucket: 'aether-roots',
  bucketTtlMs: 24 * 3600_000,
} as const

export function rootFeature(o: RootFeatureOptions): HubFeature {
  let link: NatsLink | undefined
  let service: RootService | undefined
  let relay: RootRelay | undefined
  let stopView: (() => void) | undefined
  let log: FleetStore | undefined
  return {
    name: 'root',
    async install(hub: Hub) {
      if (!NODE_ID.test(o.rootId)) throw new Error(`the root id "${o.rootId}" must match ${NODE_ID.source}`)
      const model = reliabilityOf(hub, 'root')
      model.node = o.rootId
      let fleet: RootFleet | undefined
      if (o.fleet) {
        log = await FleetStore.connect(o.nats, `aether-root-${o.rootId}-fleet`, FLEET_STORE)
        fleet = new RootFleet(log, { rootId: o.rootId, leaseMs: o.fleet.leaseMs, info: { pid: process.pid } })
        await fleet.start()
      }
      service = new RootService(hub.store, {
        fleet: fleet && log && { membership: fleet, log },
        rootId: o.rootId,
        agingMs: o.agingMs,
        staleMs: o.staleMs,
        cacheTtlMs: o.cacheTtlMs,
        sync: o.sync,
        tracing: hub.system.services.find(tracingService),
      })
      link = new NatsLink({ url: o.nats, name: `aether-root-${o.rootId}` })
      link.connected().catch(() => {})
      const svc = service
      const l = link
      await svc.start(l)
      relay = new RootRelay(hub, l, { rootId: o.rootId, origins: o.relayOrigins })
      relay.install()
      const rel = relay
      l.onStatus((s, prev) => {
        if (s === 'reconnecting' && prev === 'connected')
          model.incident(
            IncidentClass.transport,
            'nats',
            `NATS connection lost (${l.lastError ?? 'disconnected'}); reconnecting`,
          )
        if (s === 'connected' && prev === 'reconnecting')
          model.incident(IncidentClass.transport, 'nats', 'NATS connection back')
      })

      hub.server.route('GET', '/api/streams', () => ({
        streams: [...svc.inboxes.values()].map((ib) => svc.stateOf(ib.hub, ib.stream)),
      }))
      hub.server.route('GET', '/api/streams/:hub/:stream', async (ctx) => {
        const { hub: h, stream } = ctx.params
        const after = Number(ctx.url.searchParams.get('after') ?? 0)
        const limit = Number(ctx.url.searchParams.get('limit') ?? 1000)
        if (!Number.isInteger(after) || after < 0 || !Number.isInteger(limit) || limit < 1 || limit > 10_000)
          throw new HttpError(400, '"after" must be an integer >= 0 and "limit" 1..10000', 'BAD_QUERY')
        const state = await svc.inboxState(h, stream)
        if (!state) throw new HttpError(404, `no stream "${stream}" from hub "${h}"`, 'UNKNOWN_STREAM')
        const messages = await svc.applied(h, stream, after, limit)
        return {
          hub: h,
          stream,
          state,
          messages: messages.map((m) => ({
            cursor: m.cursor,
            id: m.id,
            ts: m.ts,
            receivedAt: m.receivedAt,
            result: m.result,
            root: m.root,
            ack: 'acked after persist',
            payload: m.payload,
          })),
          next: messages.length === limit ? messages[messages.length - 1].cursor : null,
          refused: ctx.url.searchParams.get('refused') === '0' ? undefined : await svc.refused(h, stream, 1000),
        }
      })
      hub.server.route('GET', '/api/hubs', () => ({ hubs: [...svc.hubs.values()] }))
      hub.server.route('GET', '/api/fleet', () => {
        if (!fleet) throw new HttpError(404, 'this root is not in a fleet (start it with --fleet)', 'NO_FLEET')
        const owned = new Set<string>()
        for (const ib of svc.inboxes.values()) if (fleet.owns(ib.hub)) owned.add(ib.hub)
        return { ...fleet.view(), owned: owned.size }
      })
      stopView = await installInboxesView(hub, svc)
      // an incident bundle's notes: the Class A records this root applied in the window
      addIncidentNotes(hub, async (from, to) => {
        const notes = []
        for (const ib of svc.inboxes.values())
          for (const m of await svc.applied(ib.hub, ib.stream, 0, 10_000))
            if (m.receivedAt >= from && m.receivedAt <= to)
              notes.push({ at: m.receivedAt, text: `applied ${ib.hub}/${ib.stream} #${m.cursor} (${m.id})` })
        return notes
      })

      const stats = (xs: number[]) => {
        if (!xs.length) return null
        const s = [...xs].sort((a, b) => a - b)
        return {
          n: s.length,
          p50: s[s.length >> 1],
          p99: s[Math.min(s.length - 1, Math.floor(s.length * 0.99))],
          max: s[s.length - 1],
        }
      }
      model.add('root', {
        node(): ReadinessNode {
          const transport: ReadinessNode = {
            id: 'transport',
            label: 'NATS transport',
            status: l.status === 'connected' ? 'ready' : 'down',
            ...(l.status === 'connected'
              ? {}
              : { reason: `NATS ${l.status} at ${o.nats}${l.lastError ? `: ${l.lastError}` : ''}` }),
            detail: { status: l.status, reconnects: l.counters.reconnects },
          }
          const storage: ReadinessNode = {
            id: 'storage',
            label: 'Class A storage',
            status: svc.writer.failed ? 'down' : 'ready',
            ...(svc.writer.failed ? { reason: `writes failed: ${svc.writer.failed.message}` } : {}),
            detail: { ...svc.writer.stats, inboxes: svc.inboxes.size },
          }
          const hubs = [...svc.hubs.values()]
          const shown = hubs.slice(0, 200)
          const hubsNode: ReadinessNode = {
            id: 'hubs',
            label: 'hubs',
            status: hubs.some((h) => h.authority === 'stale') ? 'degraded' : 'ready',
            ...(hubs.some((h) => h.authority === 'stale')
              ? { reason: `${hubs.filter((h) => h.authority === 'stale').length} hubs silent (stale)` }
              : {}),
            detail: {
              known: hubs.length,
              fresh: hubs.filter((h) => h.authority === 'fresh').length,
              aging: hubs.filter((h) => h.authority === 'aging').length,
              stale: hubs.filter((h) => h.authority === 'stale').length,
            },
            children: shown.map((h) => ({
              id: `hub:${h.hub}`,
              label: h.hub,
              status: h.authority === 'stale' ? 'degraded' : 'ready',
              ...(h.authority === 'stale' ? { reason: `no heartbeat for ${Date.now() - h.lastHeartbeatAt} ms` } : {}),
              detail: {
                authority: h.authority,
                degraded: h.degraded,
                lastHeartbeatAgoMs: Date.now() - h.lastHeartbeatAt,
              },
            })),
          }
          return {
            id: 'control-plane',
            label: 'control plane',
            status: transport.status === 'down' || storage.status === 'down' ? 'down' : hubsNode.status,
            ...(transport.reason || storage.reason
              ? { reason: [transport.reason, storage.reason].filter(Boolean).join('; ') }
              : {}),
            children: [transport, storage, hubsNode],
          }
        },
        matrix(): DegradedCapability[] {
          const up = l.status === 'connected'
          const st = !svc.writer.failed
          return [
            {
              capability: 'accept class A records',
              allowed: up && st,
              ...(up && st
                ? {}
                : { why: up ? 'storage failed' : `NATS ${l.status}: hubs keep records in their outboxes` }),
            },
            {
              capability: 'answer class B commands',
              allowed: up && st,
              ...(up && st ? {} : { why: up ? 'storage failed' : `NATS ${l.status}` }),
            },
            { capability: 'provenance queries', allowed: true },
          ]
        },
        churn() {
          return { nats: l.reconnectTimes }
        },
        extra() {
          const hubs: Record<string, unknown> = {}
          for (const h of [...svc.hubs.values()].slice(0, 2000))
            hubs[h.hub] = {
              authority: h.authority,
              heartbeats: h.heartbeats,
              lastHeartbeatAgoMs: Date.now() - h.lastHeartbeatAt,
              period: stats(h.intervals),
              degraded: h.degraded,
            }
          const mem = process.memoryUsage()
          return {
            relay: { ...rel.counters, open: rel.conns.size, refusedBy: rel.refusedBy },
            root: {
              ...svc.counters,
              rejectedByCode: svc.rejectedByCode,
              ackLatencyMs: stats(svc.ackLatency.slice(-5000)),
              memory: { rss: mem.rss, heapUsed: mem.heapUsed },
            },
            hubs,
          }
        },
      })
      model.addIncidents(() => svc.incidents)
    },
    async close() {
      stopView?.()
      relay?.close()
      await service?.close()
      await link?.close()
      await log?.close()
    },
  }
}
