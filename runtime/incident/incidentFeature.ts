/**
 * A node's part of an incident bundle: `GET /api/incident?from=T&to=T` answers with every durable
 * actor of this node that received an event in the window, as an `aether.log/1` log cut to the
 * window (protocol/bundle.ts `windowLog`: from the snapshot before its first event in the window to
 * the snapshot after its last), the node's measured clock offsets to its peers, and notes (what
 * the node did in the window that no actor records, e.g. a root's applied Class A records).
 * `aether incident export` asks every node it is given and writes one bundle; the inspector's
 * "Incident bundle" button asks the node it is on.
 *
 * Reading logs follows the actors' read rules (a tenant's actors need its token or the hub's).
 * The cost: one journal read for each durable actor (its last event's time), and an export of
 * each actor whose last event is not before the window (there is no index by time).
 */
import { exportLog } from '../../actors/index.ts'
import { defineService } from '../../actors/index.ts'
import { windowLog, type BundleNote, type IncidentPart } from '../../protocol/bundle.ts'
import { parseLog } from '../../protocol/log.ts'
import type { ActorSystem } from '../../actors/index.ts'
import type { Hub, HubFeature } from '../Hub.ts'
import type { LevelStore } from '../LevelStore.ts'
import { HttpError } from '../http/HubServer.ts'
import { reliabilityOf } from '../reliability/Reliability.ts'
import { clockOffsetsOf } from './clockOffsets.ts'

/** Logs of actors this node recorded for others (an external app, a browser member), by their node. */
export type LogSource = (from: number, to: number) => Promise<Array<{ node: string; role: string; text: string }>>
export const incidentLogs = defineService<LogSource[]>('incident.logs')

/** Adds a source of other nodes' logs (recorded here, on this node's clock) to the incident parts. */
export function addIncidentLogs(hub: Hub, source: LogSource): void {
  const s = hub.system.services
  const list = s.find(incidentLogs) ?? s.provide(incidentLogs, [])
  list.push(source)
}

/** Cuts a log text to the window; undefined when no event of it falls in the window. */
export function cutLog(text: string, from: number, to: number): string | undefined {
  const cut = windowLog(parseLog(text), from, to)
  if (!cut) return undefined
  let out = JSON.stringify(cut.header) + '\n'
  for (const l of cut.lines) out += JSON.stringify(l) + '\n'
  return out
}

/** Sources of notes for a window, added by features (the root's inbox records). */
export type NoteSource = (from: number, to: number) => Promise<Array<{ at: number; text: string }>>
export const incidentNotes = defineService<NoteSource[]>('incident.notes')

/** Adds a source of notes to this node's incident parts. */
export function addIncidentNotes(hub: Hub, source: NoteSource): void {
  const s = hub.system.services
  const list = s.find(incidentNotes) ?? s.provide(incidentNotes, [])
  list.push(source)
}

const MAX_WINDOW_MS = 7 * 24 * 3600_000

/** Parses `from` and `to` (ms since the epoch); throws a 400 naming the bad one. */
export function windowOf(q: URLSearchParams): { from: number; to: number } {
  const num = (k: string) => {
    const v = q.get(k)
    const n = v === null || v.trim() === '' ? Number.NaN : Number(v)
    if (!Number.isSafeInteger(n) || n < 0)
      throw new HttpError(400, `"${k}" must be a time in ms since the epoch, got ${JSON.stringify(v)}`, 'BAD_QUERY')
    return n
  }
  const from = num('from')
  const to = num('to')
  if (from > to) throw new HttpError(400, `"from" (${from}) is after "to" (${to})`, 'BAD_QUERY')
  if (to - from > MAX_WINDOW_MS) throw new HttpError(400, 'the window is at most 7 days', 'BAD_QUERY')
  return { from, to }
}

/** The durable actors of one actor system touched in the window, each as a log cut to it. */
export async function actorLogs(
  sys: ActorSystem,
  store: LevelStore,
  from: number,
  to: number,
  mayRead = (_path: string) => true,
): Promise<Pick<IncidentPart, 'logs' | 'skipped'>> {
  await sys.flush()
  const logs: string[] = []
  const skipped: IncidentPart['skipped'] = []
  for (const a of sys.list()) {
    if (!a.durable || a.seq === 0 || !mayRead(a.path)) continue
    const machine = sys.machine(a.machine)
    if (!machine) {
      skipped.push({ actor: a.path, reason: `machine "${a.machine}" is not registered here` })
      continue
    }
    // journals are in time order: an actor whose last event is before the window is not read
    let lastAt = Number.POSITIVE_INFINITY
    for await (const e of store.events(a.path, a.seq - 1, a.seq)) lastAt = e.at
    if (lastAt < from) continue
    let text = ''
    try {
      for await (const chunk of exportLog(store, a.path, { snapshots: 'all', machine })) text += chunk
    } catch (err) {
      skipped.push({ actor: a.path, reason: (err as Error).message })
      continue
    }
    const cut = cutLog(text, from, to)
    if (cut) logs.push(cut)
  }
  return { logs, skipped }
}

/** This node's part of a bundle for the window. */
export async function incidentPart(hub: Hub, from: number, to: number, mayRead = (_path: string) => true) {
  const sys = hub.system
  const { logs, skipped } = await actorLogs(sys, hub.store, from, to, mayRead)
  const reached = new Map<string, { node: string; role: string; via: string; logs: string[] }>()
  for (const src of sys.services.find(incidentLogs) ?? [])
    for (const l of await src(from, to)) {
      const r = reached.get(l.node) ?? { node: l.node, role: l.role, via: 'recorded', logs: [] }
      r.logs.push(l.text)
      reached.set(l.node, r)
    }
  const notes: BundleNote[] = []
  const model = reliabilityOf(hub)
  const node = model.node
  for (const src of sys.services.find(incidentNotes) ?? [])
    for (const n of await src(from, to)) notes.push({ node, at: n.at, text: n.text })
  return {
    node,
    role: model.role,
    now: Date.now(),
    window: { from, to },
    offsets: clockOffsetsOf(hub).list(),
    logs,
    notes,
    skipped,
    ...(reached.size
      ? { reached: [...reached.values()].map((r) => ({ ...r, via: `recorded by ${model.node}` })) }
      : {}),
  } satisfies IncidentPart
}

/** Serves `GET /api/incident?from=T&to=T`. */
export function incidentFeature(): HubFeature {
  return {
    name: 'incident',
    install(hub: Hub) {
      hub.server.route('GET', '/api/incident', (ctx) => {
        const { from, to } = windowOf(ctx.url.searchParams)
        const r = hub.access.reader(ctx.req, ctx.url)
        return incidentPart(hub, from, to, (p) => hub.access.mayRead(r, p))
      })
    },
  }
}
