/**
 * The hub's link to its root (`aether hub --nats URL` or NATS_URL): the `hubLink` actor with its
 * lifecycle heartbeats and control authority, one `classAStream` actor per Class A stream over
 * the LevelDB outbox, the traffic classes, a Class B registration, and their part of the
 * reliability model.
 *
 * NATS is optional: the hub never waits for it. Unreachable, the link keeps retrying in the
 * background, the reliability report says `degraded` and why, and Class A records wait in the
 * outbox until the link returns. Two connections: `control` (heartbeats, Class A, the control
 * class) on the main thread, and `data` (route frames, route control, integration, telemetry) in
 * a worker thread (DataPlane), so a flood of route frames costs neither the control socket nor
 * the main thread's time.
 *
 * Settings (options, else environment): AETHER_HUB_ID (default: generated once and stored),
 * AETHER_LINK_HEARTBEAT_MS (1000), AETHER_AUTHORITY_AGING_MS (3000), AETHER_AUTHORITY_STALE_MS
 * (10000), AETHER_RETRANSMIT_MS (2000), AETHER_CLASSA_SYNC (1: fsync each group commit),
 * AETHER_TRAFFIC_BUDGETS (pending budgets per class, e.g. `route.frame:2000,telemetry:500`),
 * AETHER_OUTBOX_MEMORY (records per stream held in memory; the rest of a backlog stays on disk).
 */
import { randomBytes } from 'node:crypto'
import { fromCallback } from 'xstate'
import {
  decodeEnvelope,
  encodeFrame,
  envelope,
  IncidentClass,
  NODE_ID,
  subjects,
  TRAFFIC_CLASSES,
  type DegradedCapability,
  type Envelope,
  type ReadinessNode,
  type TrafficClass,
} from '../../protocol/index.ts'
import { defineService, requestKey } from '../../actors/index.ts'
import { classAStream, hubLink, type ControlAuthority, type HubLinkEvent } from '../../machines/index.ts'
import type { Hub, HubFeature } from '../Hub.ts'
import { HttpError } from '../http/HubServer.ts'
import { setting } from '../config.ts'
import { linkKeys } from '../keyLayout.ts'
import { openHubLinks, sidecarRoutes, type HubLinks } from '../sidecar/hubTransport.ts'
import type { Transport, TransportKind } from './Transport.ts'
import { clockOffsetsOf } from '../incident/clockOffsets.ts'
import { reliabilityOf } from '../reliability/Reliability.ts'
import { ClassASender } from './ClassASender.ts'
import { GroupWriter } from './GroupWriter.ts'
import { Outbox } from './Outbox.ts'
import { emptyCounters, TrafficClasses, type TrafficCounters } from './TrafficClasses.ts'
import { tracingService } from '../tracing/service.ts'

export interface LinkOptions {
  nats?: string
  hubId?: string
  heartbeatMs?: number
  agingMs?: number
  staleMs?: number
  retransmitMs?: number
  sync?: boolean
  budgets?: Partial<Record<TrafficClass, number>>
  /** Where the NATS connections live: this process (default) or the transport sidecar. */
  transport?: TransportKind
}

/** Options with the settings (runtime/config.ts) filled in. */
export function linkOptions(
  o: LinkOptions = {},
): Required<Omit<LinkOptions, 'nats' | 'hubId' | 'budgets'>> & LinkOptions {
  const socket = setting('sidecar-socket')
  return {
    ...o,
    hubId: o.hubId ?? setting('hub-id'),
    heartbeatMs: o.heartbeatMs ?? setting('link-heartbeat-ms'),
    agingMs: o.agingMs ?? setting('authority-aging-ms'),
    staleMs: o.staleMs ?? setting('authority-stale-ms'),
    retransmitMs: o.retransmitMs ?? setting('retransmit-ms'),
    sync: o.sync ?? setting('classa-sync'),
    budgets: o.budgets ?? setting('traffic-budgets'),
    transport: o.transport ?? (socket ? 'sidecar' : setting('transport')),
  }
}

interface AuthorityChange {
  at: number
  from: ControlAuthority
  to: ControlAuthority
}

/** The hub's id and its control NATS connection (none without `--nats`), once the link feature is installed. */
export const rootLink = defineService<{ hubId: string; control?: Transport }>('link.root')

/** The hub's root link, or undefined when the link feature is not installed. */
export function rootLinkOf(hub: Hub): { hubId: string; control?: Transport } | undefined {
  return hub.system.services.find(rootLink)
}

export function hubLinkFeature(options: LinkOptions = {}): HubFeature {
  const o = linkOptions(options)
  let links: HubLinks | undefined
  let sender: ClassASender | undefined
  let traffic: TrafficClasses | undefined
  let writer: GroupWriter | undefined
  const timers: Array<ReturnType<typeof setInterval>> = []
  return {
    name: 'link',
    async install(hub: Hub) {
      writer = new GroupWriter(hub.store, o.sync)
      const hubId = o.hubId ?? (await storedHubId(writer))
      if (!NODE_ID.test(hubId))
        throw new Error(`the hub id "${hubId}" must match ${NODE_ID.source} (set AETHER_HUB_ID)`)
      const model = reliabilityOf(hub)
      model.node = hubId
      const outbox = await Outbox.open(writer, hubId)
      const startedAt = Date.now()
      const sys = hub.system
      const offsets = clockOffsetsOf(hub)

      // Heartbeat bookkeeping: send times (the period under load) and round trips.
      const hb = {
        seq: 0,
        sent: 0,
        acked: 0,
        missed: 0,
        lastSentAt: 0,
        /** Heartbeats sent at once on an ack from another root (a fleet handover), and owner changes seen. */
        forced: 0,
        rootChanges: 0,
        intervals: [] as number[],
        rtts: [] as number[],
      }
      const authorityHistory: AuthorityChange[] = []
      let rootId: string | null = null
      /** Sends a heartbeat now (set while the heartbeats run): an ack came from a root that is not `rootId`. */
      let beatNow: (() => void) | undefined
      let lastForcedAt = 0
      let registration: unknown = null

      if (o.nats) {
        const socket = setting('sidecar-socket')
        links = openHubLinks(hub, {
          kind: o.transport,
          nats: o.nats,
          hubId,
          budgets: o.budgets,
          ...(socket ? { socket, token: setting('sidecar-token') } : {}),
        })
        sidecarRoutes(hub, hubId, links)
      }
      const control = links?.control
      hub.system.services.provide(rootLink, { hubId, control })

      const heartbeats = fromCallback<HubLinkEvent, { hubId: string; heartbeatMs: number }>(({ sendBack, input }) => {
        const beat = (forced = false) => {
          const now = Date.now()
          if (hb.lastSentAt && !forced) {
            hb.intervals.push(now - hb.lastSentAt)
            if (hb.intervals.length > 240) hb.intervals.shift()
          }
          hb.lastSentAt = now
          if (control?.status !== 'connected') {
            hb.missed++
            sendBack({
              type: 'link.heartbeat.missed',
              at: now,
              reason: control ? `NATS ${control.status}` : 'no NATS configured',
            })
            return
          }
          const seq = ++hb.seq
          hb.sent++
          const streams: Record<string, { next: number; acked: number }> = {}
          let n = 0
          for (const s of outbox.streams.values())
            if (n++ < 1024) streams[s.streamId] = { next: s.next, acked: s.acked }
          const frame = encodeFrame(
            envelope('link.heartbeat', hubId, {
              seq,
              uptimeMs: now - startedAt,
              degraded: model.report().status !== 'ready',
              status: linkState(),
              streams,
            }),
          )
          const t0 = performance.now()
          const sentAt = Date.now()
          control.request(subjects.rootLink(hubId), frame, Math.max(input.heartbeatMs * 2, 500)).then(
            (data) => {
              try {
                const a = decodeEnvelope(data)
                if (a.subject !== 'link.heartbeat.ack') throw new Error(`root answered ${a.subject}`)
                hb.acked++
                hb.rtts.push(performance.now() - t0)
                if (hb.rtts.length > 240) hb.rtts.shift()
                const was = rootId
                rootId = (a.payload as { rootId: string }).rootId
                if (was && rootId !== was) {
                  // A new owner (root fleet handover): what the old one left unacked goes to it now.
                  hb.rootChanges++
                  sender?.restartAll('root changed')
                }
                offsets.measure(
                  rootId,
                  'link.heartbeat.ack',
                  sentAt,
                  (a.payload as { rootTime: number }).rootTime,
                  performance.now() - t0,
                )
                sendBack({ type: 'link.heartbeat.ack', at: Date.now(), rootId: rootId!, rttMs: performance.now() - t0 })
              } catch (err) {
                hb.missed++
                sendBack({ type: 'link.heartbeat.missed', at: Date.now(), reason: (err as Error).message })
              }
            },
            (err) => {
              hb.missed++
              sendBack({ type: 'link.heartbeat.missed', at: Date.now(), reason: (err as Error).message })
            },
          )
        }
        const t = setInterval(beat, input.heartbeatMs)
        beat()
        beatNow = () => beat(true)
        return () => {
          clearInterval(t)
          beatNow = undefined
        }
      })

      sys.register('hubLink', hubLink)
      sys.register('classAStream', classAStream)
      const linkMachine = hubLink.provide({ actors: { heartbeats } })
      if (sys.hosted('link')) await sys.stop('link')
      await sys.spawn('link', linkMachine, {
        durable: false,
        input: { hubId, heartbeatMs: o.heartbeatMs, agingMs: o.agingMs, staleMs: o.staleMs },
      })
      const linkActor = () => sys.hosted('link')?.actor
      const snap = () =>
        linkActor()?.getSnapshot() as
          | { value: { connection: string; authority: ControlAuthority }; context: any }
          | undefined
      const authority = (): ControlAuthority => snap()?.value.authority ?? 'missing'
      const linkState = (): string => snap()?.value.connection ?? 'connecting'
      let lastAuthority: ControlAuthority = 'missing'
      /** Reports a lifecycle record (set once the outbox API below exists). */
      let reportLifecycle: ((record: Record<string, unknown>) => void) | undefined
      linkActor()?.subscribe((s: any) => {
        const a = s.value.authority as ControlAuthority
        if (a === lastAuthority) return
        authorityHistory.push({ at: Date.now(), from: lastAuthority, to: a })
        // The root learns the hub's own view of its authority, in order, even across outages.
        if (a === 'stale' || (a === 'fresh' && lastAuthority !== 'aging'))
          reportLifecycle?.({ event: 'link.authority', from: lastAuthority, to: a, at: Date.now() })
        if (authorityHistory.length > 100) authorityHistory.shift()
        if (a === 'stale')
          model.incident(
            IncidentClass.controlAuthority,
            'root-link',
            `no answer from the root for ${o.staleMs} ms: control authority stale`,
          )
        else if (a === 'fresh' && (lastAuthority === 'stale' || lastAuthority === 'aging'))
          model.incident(
            IncidentClass.controlAuthority,
            'root-link',
            `control authority fresh again (was ${lastAuthority})`,
          )
        lastAuthority = a
        model.changed()
      })

      const streamPath = (id: string) => `link/stream-${id}`
      const ensureStreamActor = async (id: string) => {
        if (sys.hosted(streamPath(id))) return
        const s = outbox.stream(id)
        await sys.spawn(streamPath(id), 'classAStream', {
          durable: false,
          input: { streamId: id, appended: s.persisted, acked: s.acked, linkUp: control?.status === 'connected' },
        })
      }
      for (const id of outbox.streams.keys()) await ensureStreamActor(id)
      const tell = (id: string, ev: any) => {
        if (sys.hosted(streamPath(id))) sys.send(streamPath(id), ev)
      }

      if (links && control) {
        sender = new ClassASender(
          hubId,
          outbox,
          control,
          (e) =>
            tell(
              e.streamId,
              e.type === 'stream.acked'
                ? { type: 'stream.acked', upTo: e.upTo }
                : { type: 'stream.retransmit', from: e.upTo },
            ),
          {
            retransmitMs: o.retransmitMs,
            rootId: () => rootId,
            // at most one forced heartbeat per 100 ms: forged acks cannot turn into a request flood
            onForeignAck: () => {
              const now = Date.now()
              if (now - lastForcedAt < 100) return
              lastForcedAt = now
              hb.forced++
              beatNow?.()
            },
            tracing: sys.services.find(tracingService),
          },
        )
        const onStatus = (name: string, link: { lastError?: string }) => (s: string, prev: string) => {
          if (name === 'control') {
            if (s === 'connected') sys.send('link', { type: 'link.connected' })
            else if (s === 'reconnecting') sys.send('link', { type: 'link.reconnecting' })
            for (const id of outbox.streams.keys()) tell(id, { type: s === 'connected' ? 'link.up' : 'link.down' })
            if (s === 'connected') void register()
          }
          if (s === 'reconnecting' && prev === 'connected')
            model.incident(
              IncidentClass.transport,
              `nats-${name}`,
              `NATS ${name} connection lost (${link.lastError ?? 'disconnected'}); reconnecting`,
            )
          if (s === 'connected' && prev === 'reconnecting')
            model.incident(IncidentClass.transport, `nats-${name}`, `NATS ${name} connection back`)
          model.changed()
        }
        links.control.onStatus(onStatus('control', links.control))
        links.data.onStatus(onStatus('data', links.data))
        if (links.control.status === 'connected') sys.send('link', { type: 'link.connected' })

        traffic = new TrafficClasses(
          hubId,
          { control: links.control, data: links.control },
          (e, c) => handleTraffic(e, c),
          o.budgets,
          60_000,
          ['control'],
        )
        traffic.start()

        // Class B: announce ourselves once per start; retries reuse the key, so the root
        // answers them from its cache instead of counting a second registration.
        const key = requestKey('register', hubId, startedAt)
        let registering = false
        const register = async () => {
          if (registering || registration) return
          registering = true
          try {
            for (let i = 0; i < 20 && !registration && control.status === 'connected'; i++) {
              try {
                const data = await control.request(
                  subjects.rootCommand(hubId),
                  encodeFrame(envelope('hub.register', hubId, { hubId, version: '0.1.0', startedAt }, { key })),
                  2000,
                )
                const a = decodeEnvelope(data)
                if (a.subject === 'hub.register.result') registration = a.payload
              } catch {
                await new Promise((r) => setTimeout(r, 500))
              }
            }
          } finally {
            registering = false
          }
        }
        if (control.status === 'connected') void register()
      }

      // What the control class does with valid messages (the data classes: dataHandlers.ts).
      const handleTraffic = (e: Envelope, c: TrafficClass): unknown => {
        const p = e.payload as any
        if (c !== 'control') return null
        if (p.op === 'ping') return { pong: Date.now() }
        if (p.op === 'report') return model.report()
        if (p.op === 'resync') {
          sender?.restartAll('resync')
          return { resent: outbox.pending() }
        }
        return null
      }
      const countersOf = (c: TrafficClass): TrafficCounters =>
        c === 'control'
          ? traffic!.counters.control
          : (links!.data.counters[c] ?? emptyCounters(traffic!.counters[c].budget))

      // The reliability model's part for the link.
      const stats = (xs: number[]) => {
        if (!xs.length) return null
        const s = [...xs].sort((a, b) => a - b)
        return {
          n: s.length,
          p50: Math.round(s[s.length >> 1]),
          p99: Math.round(s[Math.min(s.length - 1, Math.floor(s.length * 0.99))]),
          max: Math.round(s[s.length - 1]),
        }
      }
      model.add('root-link', {
        node(): ReadinessNode {
          const a = authority()
          const st =
            sender?.status() ??
            Object.fromEntries(
              [...outbox.streams.values()].map((s) => [
                s.streamId,
                { next: s.next, acked: s.acked, pending: s.next - 1 - s.acked },
              ]),
            )
          const streamNodes: ReadinessNode[] = Object.entries(st).map(([id, v]: [string, any]) => {
            const state = String((sys.hosted(streamPath(id))?.actor?.getSnapshot() as any)?.value ?? 'unknown')
            // Standalone (no NATS configured) is the embedded default, not a fault.
            const held = !!links && v.pending > 0 && control?.status !== 'connected'
            return {
              id: `stream:${id}`,
              label: `class A ${id}`,
              actor: streamPath(id),
              status: state === 'stalled' || held ? 'degraded' : 'ready',
              ...(held
                ? { reason: `${v.pending} records held in the outbox until the link returns` }
                : state === 'stalled'
                  ? { reason: 'no ack progress' }
                  : {}),
              detail: { state, ...v },
            }
          })
          if (!links) {
            return {
              id: 'root-link',
              label: 'root link',
              actor: 'link',
              status: 'ready',
              reason: 'standalone (no --nats or NATS_URL): Class A records wait in the outbox',
              detail: { authority: a },
              children: streamNodes,
            }
          }
          const transport: ReadinessNode = {
            id: 'transport',
            label: links.kind === 'sidecar' ? 'NATS transport (sidecar)' : 'NATS transport',
            actor: 'link',
            status: links.control.status === 'connected' && links.data.status === 'connected' ? 'ready' : 'degraded',
            ...(links.control.status !== 'connected'
              ? {
                  reason: `NATS ${links.control.status} at ${o.nats}${links.control.lastError ? `: ${links.control.lastError}` : ''}`,
                }
              : links.data.status !== 'connected'
                ? { reason: `data connection ${links.data.status}` }
                : {}),
            detail: {
              transport: links.kind,
              control: links.control.status,
              data: links.data.status,
              reconnects: links.control.counters.reconnects + links.data.reconnects.n,
            },
          }
          const auth: ReadinessNode = {
            id: 'authority',
            label: 'control authority',
            actor: 'link',
            status: a === 'fresh' || a === 'aging' ? 'ready' : 'degraded',
            ...(a !== 'fresh'
              ? {
                  reason:
                    a === 'missing'
                      ? 'no answer from the root yet'
                      : `last answer from the root ${rootAge()} ms ago (${a})`,
                }
              : {}),
            detail: { authority: a, rootId, lastAckAgoMs: rootAge() },
          }
          const overs = [...(traffic?.overBudget() ?? []), ...links.data.overBudget]
          const trafficNode: ReadinessNode = {
            id: 'traffic',
            label: 'traffic classes',
            status: overs.length ? 'degraded' : 'ready',
            ...(overs.length ? { reason: `over budget: ${overs.join(', ')}` } : {}),
            children: TRAFFIC_CLASSES.map((c) => {
              const k = countersOf(c)
              return {
                id: `traffic:${c}`,
                label: c,
                status: k.queued >= k.budget ? 'degraded' : 'ready',
                detail: {
                  received: k.received,
                  processed: k.processed,
                  dropped: k.dropped,
                  deferred: k.deferred,
                  rejected: k.rejected,
                  queued: k.queued,
                  budget: k.budget,
                },
              } as ReadinessNode
            }),
          }
          const streamsNode: ReadinessNode = {
            id: 'streams',
            label: 'class A streams',
            status: streamNodes.some((n) => n.status !== 'ready') ? 'degraded' : 'ready',
            detail: { pending: outbox.pending() },
            children: streamNodes,
          }
          const children = [transport, auth, streamsNode, trafficNode]
          const bad = children.filter((c) => c.status !== 'ready')
          return {
            id: 'root-link',
            label: 'root link',
            actor: 'link',
            status: bad.length ? 'degraded' : 'ready',
            ...(bad.length ? { reason: bad.map((c) => `${c.label}: ${c.reason ?? c.status}`).join('; ') } : {}),
            detail: { state: linkState(), authority: a },
            children,
          }
        },
        matrix(): DegradedCapability[] {
          const a = authority()
          const up = control?.status === 'connected'
          return [
            { capability: 'local sessions', allowed: true },
            {
              capability: 'class A reports',
              allowed: true,
              ...(up ? {} : { why: 'queued in the outbox until the link returns' }),
            },
            {
              capability: 'root control commands',
              allowed: a === 'fresh' || a === 'aging',
              ...(a === 'fresh' || a === 'aging' ? {} : { why: `control authority ${a}` }),
            },
            {
              capability: 'updates needing root authority',
              allowed: a === 'fresh',
              ...(a === 'fresh' ? {} : { why: `control authority ${a}` }),
            },
            {
              capability: 'route relay via root',
              allowed: !!(links && links.data.status === 'connected'),
              ...(links?.data.status === 'connected'
                ? {}
                : { why: links ? `NATS ${links.data.status}` : 'no NATS configured' }),
            },
          ]
        },
        churn(): Record<string, number[]> {
          return links ? { 'root-link': links.control.reconnectTimes, 'nats-data': links.data.reconnectTimes } : {}
        },
        extra() {
          return {
            link: {
              hubId,
              nats: o.nats ?? null,
              state: linkState(),
              authority: authority(),
              authorityHistory,
              thresholds: { heartbeatMs: o.heartbeatMs, agingMs: o.agingMs, staleMs: o.staleMs },
              heartbeat: {
                ...hb,
                intervals: undefined,
                rtts: undefined,
                period: stats(hb.intervals),
                rtt: stats(hb.rtts),
              },
              registration,
              rootId,
              rootUrl: setting('root-url') ?? null,
            },
            classA: sender
              ? {
                  ...sender.counters,
                  rejected: sender.rejected,
                  resend: sender.resend.status(),
                  streams: sender.status(),
                }
              : {
                  streams: Object.fromEntries(
                    [...outbox.streams.values()].map((s) => [s.streamId, { next: s.next, acked: s.acked }]),
                  ),
                },
            traffic:
              traffic && links
                ? {
                    classes: Object.fromEntries(TRAFFIC_CLASSES.map((c) => [c, countersOf(c)])),
                    rejectedByCode: mergeCounts(traffic.rejectedByCode, links.data.rejectedByCode),
                  }
                : null,
          }
        },
      })
      const rootAge = () => {
        const at = snap()?.context.lastAckAt
        return at ? Date.now() - at : null
      }

      // HTTP: append to a Class A stream; list streams.
      hub.server.route('POST', '/api/streams/:stream', async (ctx) => {
        hub.server.requireToken(ctx)
        const id = ctx.params.stream
        if (!NODE_ID.test(id))
          throw new HttpError(400, `stream id "${id.slice(0, 40)}" must match ${NODE_ID.source}`, 'BAD_STREAM')
        const body = (await hub.server.body(ctx)) as any
        const payloads =
          body && typeof body === 'object' && Array.isArray(body.payloads)
            ? body.payloads
            : body && typeof body === 'object' && 'payload' in body
              ? [body.payload]
              : null
        if (!payloads || payloads.length === 0 || payloads.length > 1000)
          throw new HttpError(
            400,
            'the body must be {"payload": ...} or {"payloads": [...]} with 1 to 1000 records',
            'BAD_BODY',
          )
        const r = await append(id, payloads)
        ctx.res.statusCode = 201
        return { streamId: id, ...r }
      })
      hub.server.route('GET', '/api/streams', () => ({
        hubId,
        streams:
          sender?.status() ??
          Object.fromEntries(
            [...outbox.streams.values()].map((s) => [
              s.streamId,
              { next: s.next, acked: s.acked, pending: s.next - 1 - s.acked },
            ]),
          ),
      }))

      const append = async (id: string, payloads: unknown[]) => {
        const fresh = !outbox.streams.has(id)
        const r = await outbox.append(id, payloads)
        if (fresh) await ensureStreamActor(id)
        tell(id, { type: 'stream.appended', upTo: outbox.stream(id).persisted })
        sender?.pump(id)
        return r
      }
      ;(hub as any).classA = { append, outbox }

      // The hub reports its own lifecycle on the `lifecycle` stream. The start record takes its
      // cursor now (first) and is written with the next group commit; the start does not wait for
      // its fsync (a hub start is on the path of a warm cutover), `close` flushes it.
      reportLifecycle = (record) => void append('lifecycle', [record]).catch(() => {})
      append('lifecycle', [{ event: 'hub.started', at: startedAt, pid: process.pid }]).catch((err) => {
        try {
          sys.incident({ at: Date.now(), class: 'storage', message: `the hub.started record: ${String(err)}` })
        } catch {
          // the system closed meanwhile
        }
      })
      const mirror = setInterval(() => model.changed(), 250)
      mirror.unref?.()
      timers.push(mirror)
    },
    async close() {
      for (const t of timers) clearInterval(t)
      sender?.close()
      traffic?.close()
      await writer?.flush().catch(() => {})
      await links?.close()
    },
  }
}

function mergeCounts(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out = { ...a }
  for (const [k, v] of Object.entries(b)) out[k] = (out[k] ?? 0) + v
  return out
}

/** The hub id kept in the store, generated at the first start (written with fsync). */
async function storedHubId(writer: GroupWriter): Promise<string> {
  const v = await writer.db.get(linkKeys.hubId)
  if (v) return v
  const id = `hub-${randomBytes(4).toString('hex')}`
  await writer.db.put(linkKeys.hubId, id, { sync: true } as any)
  return id
}
