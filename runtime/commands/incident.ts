/**
 * `aether incident export`: asks every node it is given (`--url`, repeatable) for its part of the
 * window (`GET /api/incident`) and writes one `aether.bundle/1` file (protocol/bundle.ts), which
 * `aether replay BUNDLE --verify` replays and the inspector opens.
 */
import { writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { assembleBundle, checkIncidentPart, type FetchedPart, type IncidentPart } from '../../protocol/bundle.ts'
import { UsageError, type Command } from '../args.ts'
import { setting } from '../config.ts'
import { DEFAULT_HUB_URL, requestServer, serverUrl } from './remote.ts'

/** A time flag: ms since the epoch, an ISO date, `now`, or `now-30s` / `now-5m` / `now-2h`. */
export function parseTime(v: unknown, flag: string, now = Date.now()): number {
  const s = String(v).trim()
  const rel = /^now(?:-(\d+)(ms|s|m|h))?$/.exec(s)
  if (rel) {
    const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[rel[2] as 'ms' | 's' | 'm' | 'h'] ?? 0
    return now - Number(rel[1] ?? 0) * unit
  }
  if (/^\d+$/.test(s)) return Number(s)
  const t = Date.parse(s)
  if (Number.isNaN(t))
    throw new UsageError(
      `--${flag} must be ms since the epoch, an ISO date (2026-12-05T17:00:00Z), now or now-30s/-5m/-2h; got "${s}"`,
    )
  return t
}

export const incidentCommand: Command = {
  name: 'incident',
  summary: 'export an incident bundle: every actor touched in a time window, from every node given',
  usage: 'aether incident export --from T [--to T] [--url URL]... [--token T] [--out FILE]',
  positionals: [{ name: 'export', help: 'the subcommand', required: true }],
  flags: {
    from: { type: 'string', arg: 'T', help: 'window start: ms, ISO date, or now-5m', required: true },
    to: { type: 'string', arg: 'T', help: 'window end', default: 'now' },
    url: {
      type: 'string',
      arg: 'URL',
      repeat: true,
      help: `a node to ask (a hub, a root, a supervisor: its own actors and its active runtime's); the first is the reference clock (default ${DEFAULT_HUB_URL})`,
    },
    token: { type: 'string', arg: 'T', help: "the nodes' token, for tenants' actors (or AETHER_TOKEN)" },
    out: { type: 'string', arg: 'FILE', help: 'write to FILE instead of standard output' },
  },
  details: `
The bundle holds a manifest (the nodes with their clock offsets to the first node, the window,
the actors) and one aether.log/1 log per actor that received an event in the window, cut to it,
with a snapshot after every event. A supervisor's URL gives two nodes: its active runtime (a hub)
and the supervisor itself (node "supervisor": its updateTransition); docs/replay.md describes the format. Replay it with
\`aether replay BUNDLE --verify\`; open it in the inspector ("Open bundle").

exit codes: 0 written; 1 a node could not be reached, answered an error or a malformed part (its
URL and what is wrong);
2 usage error (a bad time, a window whose start is after its end, a bad URL).`,
  async run({ flags, positionals }) {
    const [sub, extra] = positionals
    if (sub !== 'export')
      throw new UsageError(sub ? `unknown subcommand "${sub}" (only "export")` : 'missing subcommand: export')
    if (extra) throw new UsageError(`unexpected argument "${extra}"`)
    const now = Date.now()
    const from = parseTime(flags.from, 'from', now)
    const to = parseTime(flags.to, 'to', now)
    if (from > to)
      throw new UsageError(`--from (${new Date(from).toISOString()}) is after --to (${new Date(to).toISOString()})`)
    const urls = String(flags.url ?? DEFAULT_HUB_URL)
      .split(',')
      .filter(Boolean)
      .map((u) => serverUrl(u, 'url'))
    const token = setting('token', flags.token)
    const parts: FetchedPart[] = []
    const ask = async (server: URL, path: string, optional: boolean): Promise<void> => {
      const sentAt = Date.now()
      const res = await requestServer(server, `${path}?from=${from}&to=${to}`, 'url', {
        headers: token ? { authorization: `Bearer ${token}` } : {},
      })
      const body = await res.text()
      // a node that is no supervisor has no supervisor part
      if (optional && res.status === 404) return
      if (!res.ok) throw new Error(`${res.status} from ${server.origin}${path}: ${body.slice(0, 500)}`)
      let part: IncidentPart
      try {
        part = checkIncidentPart(JSON.parse(body))
      } catch (err) {
        throw new Error(`${server.origin}${path} answered something else than a node's part: ${(err as Error).message}`)
      }
      parts.push({ url: server.origin, part, sentAt, receivedAt: Date.now() })
      for (const s of part.skipped) console.error(`warning: ${part.node}: ${s.actor} left out: ${s.reason}`)
    }
    for (const server of urls) {
      await ask(server, '/api/incident', false)
      // a supervisor's URL reaches its active runtime's part above, and its own actors here
      await ask(server, '/api/supervisor/incident', true)
    }
    let text: string
    try {
      text = assembleBundle(parts, { from, to }, Date.now())
    } catch (err) {
      throw new Error(`cannot make a bundle of the nodes' answers: ${(err as Error).message}`)
    }
    if (flags.out) writeFileSync(resolve(String(flags.out)), text)
    else process.stdout.write(text)
    const actors = parts.reduce((n, p) => n + p.part.logs.length, 0)
    console.error(
      `incident bundle${flags.out ? ` ${flags.out}` : ''}: ${parts.map((p) => `${p.part.node} (${p.part.role}, ${p.part.logs.length} actors)`).join(', ')}; ${actors} actors`,
    )
    return 0
  },
}
