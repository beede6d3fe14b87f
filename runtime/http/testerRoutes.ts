/**
 * The tester's read-only routes for the inspector (issue 21): the coverage heatmap of a machine over
 * the hub's stored journals, and a what-if fork of one actor's journal. Both run the same pure code
 * as `aether coverage` (actors/coverage.ts) and `aether replay --fork-at` (actors/fork.ts) on the
 * log `GET /api/actors/<path>/log?snapshots=stored` would serve; neither changes any state, so both
 * are GETs with the read gate of the logs (a tenant reads only its own actors), no token needed
 * beyond that.
 *
 * - `GET /api/coverage?machine=NAME[&actors=N][&events=N]`: the machine's durable actors (at most
 *   `actors`, default 100, max 1000) and their events (at most `events` in all, default 50 000, max
 *   500 000; the last actor read is cut there); `capped` says which limit stopped the reading.
 * - `GET /api/fork?actor=PATH&seq=N&(event=JSON|drop=1|insert=JSON)`: the ForkResult.
 */
import { isV4Machine } from '../../actors/index.ts'
import { CoverageRecorder } from '../../actors/coverage.ts'
import { exportLog } from '../../actors/index.ts'
import { ForkError, forkLog } from '../../actors/fork.ts'
import { isSnapshotLine, type LogLine, parseLog } from '../../protocol/log.ts'
import { UsageError } from '../args.ts'
import { forkChange } from '../commands/replayFork.ts'
import type { Hub } from '../Hub.ts'
import { HttpError } from './HubServer.ts'

const LIMITS = { actors: { def: 100, max: 1000 }, events: { def: 50_000, max: 500_000 } }

function limit(q: URLSearchParams, k: keyof typeof LIMITS): number {
  const v = q.get(k)
  if (v === null) return LIMITS[k].def
  const n = Number(v)
  if (!Number.isSafeInteger(n) || n < 1 || n > LIMITS[k].max)
    throw new HttpError(
      400,
      `"${k}" must be an integer from 1 to ${LIMITS[k].max}, got ${JSON.stringify(v)}`,
      'BAD_QUERY',
    )
  return n
}

/**
 * The actor's stored journal as a parsed log (the checkpoints it kept, no computed snapshots),
 * read at most `maxLines` lines past the header (each export chunk is one line), so a huge
 * journal is not read whole for a capped count.
 */
async function storedLog(hub: Hub, path: string, maxLines = Number.POSITIVE_INFINITY) {
  let text = ''
  let lines = -1
  for await (const chunk of exportLog(hub.store, path, { snapshots: 'stored' })) {
    text += chunk
    if (++lines >= maxLines) break
  }
  return parseLog(text)
}

function machineOf(hub: Hub, name: string) {
  const machine = hub.system.machine(name)
  if (!machine) throw new HttpError(404, `no machine "${name}" is registered on this hub`, 'UNKNOWN_MACHINE')
  if (isV4Machine(machine))
    throw new HttpError(
      409,
      `machine "${name}" is an XState v4 machine: coverage and forks read v5 machines`,
      'V4_MACHINE',
    )
  return machine
}

/** Adds `GET /api/coverage` and `GET /api/fork` to the hub's server. */
export function installTesterRoutes(hub: Hub): void {
  const s = hub.server
  const sys = hub.system
  s.route('GET', '/api/coverage', async (ctx) => {
    const q = ctx.url.searchParams
    const name = q.get('machine')
    if (!name) throw new HttpError(400, '"machine" must name a registered machine', 'BAD_QUERY')
    const machine = machineOf(hub, name)
    const maxActors = limit(q, 'actors')
    const maxEvents = limit(q, 'events')
    const r = hub.access.reader(ctx.req, ctx.url)
    const actors = sys.list().filter((a) => a.machine === name && a.durable && hub.access.mayRead(r, a.path))
    await sys.flush()
    const rec = new CoverageRecorder(machine as any, name)
    const skipped: { actor: string; reason: string }[] = []
    let events = 0
    let read = 0
    const capped = { actors: actors.length > maxActors, events: false }
    for (const a of actors.slice(0, maxActors)) {
      if (events >= maxEvents) {
        capped.events = true
        break
      }
      try {
        // at most one checkpoint per event: twice the events left (and the start) are enough lines
        const log = await storedLog(hub, a.path, 2 * (maxEvents - events) + 2)
        let lines: LogLine[] = log.lines
        const n = lines.filter((l) => !isSnapshotLine(l)).length
        if (events + n > maxEvents) {
          capped.events = true
          let left = maxEvents - events
          lines = lines.filter((l) => isSnapshotLine(l) || left-- > 0)
        }
        rec.addLog(log.header, lines)
        events += Math.min(n, maxEvents - events)
        read++
      } catch (err) {
        skipped.push({ actor: a.path, reason: (err as Error).message.split('\n')[0] })
      }
    }
    return {
      ...rec.result(),
      actorsRead: read,
      actorsFound: actors.length,
      limits: { actors: maxActors, events: maxEvents },
      capped,
      skipped,
    }
  })
  s.route('GET', '/api/fork', async (ctx) => {
    const q = ctx.url.searchParams
    const path = q.get('actor')
    if (!path) throw new HttpError(400, '"actor" must be the path of a durable actor', 'BAD_QUERY')
    const seq = Number(q.get('seq'))
    if (!Number.isSafeInteger(seq) || seq < 1)
      throw new HttpError(400, `"seq" must be a positive integer, got ${JSON.stringify(q.get('seq'))}`, 'BAD_QUERY')
    for (const k of ['event', 'insert'])
      if ((q.get(k)?.length ?? 0) > 8192) throw new HttpError(400, `"${k}" is longer than 8 KB`, 'BAD_QUERY')
    let change: ReturnType<typeof forkChange>
    try {
      change = forkChange({
        event: q.get('event') ?? undefined,
        insert: q.get('insert') ?? undefined,
        drop: q.has('drop'),
      })
    } catch (err) {
      if (err instanceof UsageError) throw new HttpError(400, err.message.replace(/--/g, ''), 'BAD_QUERY')
      throw err
    }
    const meta = await hub.store.getMeta(path)
    if (!meta || !hub.access.mayRead(hub.access.reader(ctx.req, ctx.url), path, meta))
      throw new HttpError(404, `no durable actor at "${path}"`, 'UNKNOWN_ACTOR')
    const machine = machineOf(hub, meta.machine)
    await sys.flush()
    const log = await storedLog(hub, path)
    try {
      return forkLog(machine as any, log.header, log.lines, seq, change)
    } catch (err) {
      if (err instanceof ForkError) throw new HttpError(400, err.message.replace('--fork-at', 'seq'), err.code)
      throw err
    }
  })
}
