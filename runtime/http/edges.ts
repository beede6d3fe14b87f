/**
 * What the hub's server checks at its edges before a handler runs, and how it counts what it
 * refuses. Pure helpers (no sockets): HubServer.ts applies them to every request and socket.
 *
 * - `wsCloseFor(err)`: the close code and reason for an error the `ws` library reports on a
 *   socket (a frame larger than the endpoint's limit is 1009, invalid UTF-8 is 1007, a broken
 *   frame is 1002, too many fragments is 1008); anything else a handler throws is 1011.
 * - `EdgeCounters`: refusals and closes counted per edge (`ws /chan`, `http POST /api/actors`)
 *   and reason, for `/metrics` (Prometheus text) and the reliability report.
 * - `HostPolicy`: the names a hub answers to. A page whose DNS name was rebound to 127.0.0.1 sends
 *   its own name in `Host` (and a matching `Origin`); only names the hub serves are accepted.
 * - `jsonTooDeep(value, max)`: a body nested deeper than a JSON encoder can write back is refused
 *   at the edge, naming its field, instead of failing later in the journal.
 * - `decodeSegment`, `toAnswer`: a broken percent-escape is a 400; what a handler threw becomes its
 *   answer (an HttpError or a known refusal as is, anything else a 500 without details).
 */
import { isIP } from 'node:net'

/** A refusal a handler throws: answered with `status` and `{error: code, message}`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code = 'HTTP_ERROR',
  ) {
    super(message)
    this.name = 'HttpError'
  }
}

/** Decodes one percent-encoded path segment; a broken escape (`%zz`, a cut UTF-8 sequence) is a 400. */
export function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    throw new HttpError(
      400,
      `the path has a malformed percent-escape near "${segment.slice(0, 40)}": encode "%" as %25`,
      'BAD_PATH',
    )
  }
}

const CLOSE_REASONS: Record<string, string> = {
  too_big: 'message too big',
  bad_data: 'invalid message data',
  protocol: 'protocol error',
  policy: 'policy violation',
  slow_client: 'the client does not read what it is sent',
  handler: 'internal error; see the hub log',
}

/** The close reason sent with a close code (never an error's own message or stack). */
export function closeReason(reason: string): string {
  return CLOSE_REASONS[reason] ?? 'closed'
}

const REFUSALS: Record<string, number> = {
  BAD_PATH: 400,
  BAD_EVENT: 400,
  BAD_INPUT: 400,
  UNKNOWN_MACHINE: 400,
  UNKNOWN_PARENT: 400,
  ACTOR_EXISTS: 409,
  UNKNOWN_ACTOR: 404,
  ACTOR_NOT_RUNNING: 409,
}

/** The answer to what a handler threw: an HttpError or a known refusal as is, anything else a 500. */
export function toAnswer(err: unknown): { status: number; code: string; message: string } {
  if (err instanceof HttpError) return { status: err.status, code: err.code, message: err.message }
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code === 'string' && REFUSALS[code] !== undefined)
    return { status: REFUSALS[code], code, message: (err as Error).message }
  return { status: 500, code: 'INTERNAL', message: 'internal error; see the hub log' }
}

/** Why a WebSocket edge closed a connection (the `reason` label of the counters). */
export type WsCloseReason = 'too_big' | 'bad_data' | 'protocol' | 'policy' | 'slow_client' | 'handler'

const WS_ERRORS: Record<string, { code: number; reason: WsCloseReason }> = {
  WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: { code: 1009, reason: 'too_big' },
  WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH: { code: 1009, reason: 'too_big' },
  WS_ERR_INVALID_UTF8: { code: 1007, reason: 'bad_data' },
  WS_ERR_TOO_MANY_BUFFERED_PARTS: { code: 1008, reason: 'policy' },
}

/** The close code and counter reason for an error reported on (or thrown by the handler of) a socket. */
export function wsCloseFor(err: unknown): { code: number; reason: WsCloseReason } {
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code === 'string') {
    const known = WS_ERRORS[code]
    if (known) return known
    // every other error of `ws`'s frame parser is a broken frame: bad opcode, RSV bits, mask, close code
    if (code.startsWith('WS_ERR_')) return { code: 1002, reason: 'protocol' }
  }
  return { code: 1011, reason: 'handler' }
}

/** One counter row: an edge (`ws /yws`, `http POST /api/actors`), a reason and the code sent. */
export interface EdgeCount {
  kind: 'http' | 'ws'
  endpoint: string
  reason: string
  /** The HTTP status or WebSocket close code the client got. */
  code: number
  count: number
}

const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')

/**
 * Refusals and closes by edge and reason. Label values come from the route table and from fixed
 * reason codes (never from the request), so the number of rows stays bounded.
 */
export class EdgeCounters {
  private rows = new Map<string, EdgeCount>()

  add(kind: EdgeCount['kind'], endpoint: string, reason: string, code: number): void {
    const key = `${kind} ${endpoint} ${reason} ${code}`
    const row = this.rows.get(key)
    if (row) row.count++
    else this.rows.set(key, { kind, endpoint, reason, code, count: 1 })
  }

  /** The sum over the rows that match every given field. */
  total(match: Partial<Omit<EdgeCount, 'count'>> = {}): number {
    let n = 0
    for (const r of this.rows.values())
      if (
        (match.kind === undefined || r.kind === match.kind) &&
        (match.endpoint === undefined || r.endpoint === match.endpoint) &&
        (match.reason === undefined || r.reason === match.reason) &&
        (match.code === undefined || r.code === match.code)
      )
        n += r.count
    return n
  }

  list(): EdgeCount[] {
    return [...this.rows.values()].map((r) => ({ ...r }))
  }

  /** `aether_ws_closed_total` and `aether_http_refused_total` in the Prometheus text format. */
  prometheus(): string {
    const out: string[] = [
      '# HELP aether_ws_closed_total WebSocket connections the hub closed because of what the client sent or did, by endpoint, reason and close code.',
      '# TYPE aether_ws_closed_total counter',
    ]
    const http: string[] = [
      '# HELP aether_http_refused_total HTTP requests refused at the edge (4xx) or failed (5xx), by route, reason and status.',
      '# TYPE aether_http_refused_total counter',
    ]
    for (const r of this.rows.values()) {
      const labels = `endpoint="${esc(r.endpoint)}",reason="${esc(r.reason)}",code="${r.code}"`
      ;(r.kind === 'ws' ? out : http).push(
        `aether_${r.kind === 'ws' ? 'ws_closed' : 'http_refused'}_total{${labels}} ${r.count}`,
      )
    }
    return out.concat(http).join('\n') + '\n'
  }
}

/** The names of the loopback interface, which every hub answers to. */
export const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '::1'] as const

/**
 * The names a server answers to: the loopback names, the address it binds (unless a wildcard) and
 * the extra names configured (`--allow-host`). An IP literal is always accepted: DNS rebinding
 * needs a name the attacker controls, and a literal address names no one else. The port is not
 * compared: a supervisor forwards requests for its public port to a runtime on another one.
 */
export class HostPolicy {
  private names = new Set<string>()

  constructor(bind: string | undefined, extra: Iterable<string> = []) {
    for (const n of LOOPBACK_NAMES) this.names.add(n)
    if (bind && bind !== '0.0.0.0' && bind !== '::') this.names.add(normalize(bind))
    for (const n of extra) this.names.add(normalize(n))
  }

  /** The names accepted (for messages and docs). */
  get list(): string[] {
    return [...this.names]
  }

  /** Whether a `Host` header names this server. An absent Host (HTTP/1.0 tools) is accepted. */
  allows(host: string | undefined): boolean {
    if (host === undefined) return true
    const name = hostname(host)
    if (name === undefined) return false
    return this.names.has(name) || isIP(name) !== 0
  }
}

function normalize(name: string): string {
  return hostname(name) ?? name.toLowerCase()
}

/** The name part of a Host header (`[::1]:7070` -> `::1`, `Hub.Local.:80` -> `hub.local`), or undefined. */
export function hostname(host: string): string | undefined {
  let h = host.trim().toLowerCase()
  if (isIP(h) === 6) return h // a bare IPv6 address (a name given in --allow-host or --host, not a Host header)
  if (h.startsWith('[')) {
    const end = h.indexOf(']')
    if (end < 0) return undefined
    const rest = h.slice(end + 1)
    if (rest && !/^:\d{1,5}$/.test(rest)) return undefined
    return h.slice(1, end)
  }
  const colon = h.lastIndexOf(':')
  if (colon >= 0) {
    if (!/^\d{1,5}$/.test(h.slice(colon + 1))) return undefined
    h = h.slice(0, colon)
  }
  if (h.endsWith('.')) h = h.slice(0, -1)
  return /^[a-z0-9.-]{1,253}$/.test(h) ? h : undefined
}

/**
 * Where `value` nests deeper than `max` levels: the top-level field it is under (`input`), `""`
 * for the value itself, or undefined when it does not. Iterative, so any depth is safe to check.
 */
export function jsonTooDeep(value: unknown, max: number): string | undefined {
  const stack: Array<[unknown, number, string]> = [[value, 0, '']]
  while (stack.length) {
    const [v, depth, field] = stack.pop()!
    if (typeof v !== 'object' || v === null) continue
    if (depth >= max) return field
    if (Array.isArray(v)) for (const x of v) stack.push([x, depth + 1, field])
    else for (const [k, x] of Object.entries(v)) stack.push([x, depth + 1, depth === 0 ? k : field])
  }
  return undefined
}
