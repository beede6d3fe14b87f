/**
 * The incident bundle, `aether.bundle/1`: every actor touched in a time window, from every node an
 * export could reach, in one file that `aether replay BUNDLE --verify` replays and the inspector
 * opens on one timeline.
 *
 * JSON Lines. Line 1 is the manifest; after it, one `aether.log/1` log per actor, in the
 * manifest's order, each its header line followed by its lines (`lines` in the manifest counts
 * them, the header included):
 *
 * ```
 * {"format":"aether.bundle/1","createdAt":1732200009000,"window":{"from":1732200000000,"to":1732200009000},
 *  "nodes":[{"id":"hub-1","role":"hub","url":"http://127.0.0.1:7070","offsetMs":0,"offsetVia":"reference"},
 *           {"id":"root","role":"root","offsetMs":-3,"offsetVia":"link.heartbeat.ack"}],
 *  "actors":[{"node":"hub-1","actor":"member-1/peer","machine":"peerSession","lines":41}],
 *  "notes":[{"node":"root","at":1732200004000,"text":"applied stream.record hub-1/orders #3"}]}
 * {"format":"aether.log/1","actor":"member-1/peer",...}
 * {"seq":12,"at":1732200000100,"snapshot":{...}}
 * {"seq":13,"at":1732200000120,"event":{"type":"rtc.answer",...}}
 * {"seq":13,"at":1732200000120,"snapshot":{...}}
 * ```
 *
 * - `nodes`: each node the export reached. `offsetMs` is what to add to a time of that node's
 *   clock to put it on the reference clock (the first node's); `offsetVia` says which exchange
 *   measured it (`reference`, `link.heartbeat.ack`, `ingest`, ...). All `at` fields in the logs
 *   are the node's own clock; a viewer adds the offset.
 * - `actors`: one entry per log, `(node, actor)` unique. Each log covers the window: it starts from
 *   the snapshot line before the first event in the window (or from seq 1) and ends at the last
 *   event in the window, with a snapshot line after every event.
 * - `notes`: what a node did in the window that no actor records (a root's applied Class A
 *   records): shown on the timeline, not replayed. At most `MAX_NOTES`.
 *
 * Parsing is pure (no I/O) and runs in the browser; every error names the line and what is wrong.
 */
import { LOG_FORMAT, LogFormatError, LogReader, parseLog, parseLogHeader, type LogHeader, type LogLine } from './log.ts'

export const BUNDLE_FORMAT = 'aether.bundle/1'
/** Most notes one bundle carries. */
export const MAX_NOTES = 10_000

export interface BundleNode {
  id: string
  role: string
  url?: string
  /** Added to this node's times to put them on the reference clock (the first node's). */
  offsetMs: number
  /** The exchange that measured the offset. */
  offsetVia: string
  /** Round trip of that exchange (the offset's uncertainty is about half of it). */
  rttMs?: number
}

export interface BundleActorEntry {
  node: string
  actor: string
  machine: string
  /** Lines of this actor's log, its header included. */
  lines: number
}

export interface BundleNote {
  node: string
  at: number
  text: string
}

export interface BundleManifest {
  format: typeof BUNDLE_FORMAT
  createdAt: number
  window: { from: number; to: number }
  nodes: BundleNode[]
  actors: BundleActorEntry[]
  notes?: BundleNote[]
}

/** One actor's log in a bundle. `firstLine` is the bundle line of its header (1-based). */
export interface BundleLog {
  node: string
  header: LogHeader
  lines: LogLine[]
  firstLine: number
}

export interface ParsedBundle {
  manifest: BundleManifest
  logs: BundleLog[]
}

/** A malformed bundle: `line` is 1-based in the bundle, `actor` the log it is in (if any). */
export class BundleFormatError extends Error {
  readonly code = 'BUNDLE_FORMAT'
  constructor(
    readonly line: number,
    readonly reason: string,
    readonly actor?: string,
  ) {
    super(`line ${line}${actor ? ` (log of ${actor})` : ''}: ${reason}`)
    this.name = 'BundleFormatError'
  }
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)
const isName = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 512

/** Whether a text's first non-empty line looks like a bundle manifest (cheap: no full parse). */
export function isBundleText(text: string): boolean {
  const first = text.slice(0, 256).trimStart()
  return first.startsWith('{') && first.includes('"aether.bundle/')
}

/** Parses and checks the manifest line. */
export function parseManifest(text: string, line = 1): BundleManifest {
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch (err) {
    throw new BundleFormatError(line, `the manifest is not valid JSON (${(err as Error).message})`)
  }
  const bad = (why: string) => new BundleFormatError(line, `manifest: ${why}`)
  if (!isObj(v)) throw bad('must be a JSON object')
  if (v.format !== BUNDLE_FORMAT) throw bad(`unknown format ${JSON.stringify(v.format)} (expected "${BUNDLE_FORMAT}")`)
  if (!isTime(v.createdAt)) throw bad('"createdAt" must be a number (ms since the epoch)')
  const w = v.window
  if (!isObj(w) || !isTime(w.from) || !isTime(w.to) || w.from > w.to)
    throw bad('"window" must be {from, to}, two times with from <= to')
  if (!Array.isArray(v.nodes) || v.nodes.length === 0) throw bad('"nodes" must be a non-empty array')
  const nodes = new Set<string>()
  v.nodes.forEach((n, i) => {
    if (!isObj(n) || !isName(n.id)) throw bad(`nodes[${i}].id must be a non-empty string`)
    if (nodes.has(n.id)) throw bad(`nodes[${i}]: node "${n.id}" is listed twice`)
    if (!isName(n.role)) throw bad(`nodes[${i}].role must be a non-empty string`)
    if (n.url !== undefined && typeof n.url !== 'string') throw bad(`nodes[${i}].url must be a string`)
    if (!isTime(n.offsetMs)) throw bad(`nodes[${i}].offsetMs must be a number`)
    if (!isName(n.offsetVia)) throw bad(`nodes[${i}].offsetVia must be a non-empty string`)
    if (n.rttMs !== undefined && !isTime(n.rttMs)) throw bad(`nodes[${i}].rttMs must be a number`)
    nodes.add(n.id)
  })
  if (!Array.isArray(v.actors)) throw bad('"actors" must be an array')
  const seen = new Set<string>()
  v.actors.forEach((a, i) => {
    if (!isObj(a) || !isName(a.node) || !nodes.has(a.node))
      throw bad(`actors[${i}].node must name one of "nodes" (got ${JSON.stringify(isObj(a) ? a.node : a)})`)
    if (!isName(a.actor)) throw bad(`actors[${i}].actor must be a non-empty id path`)
    if (typeof a.machine !== 'string') throw bad(`actors[${i}].machine must be a string`)
    if (!Number.isSafeInteger(a.lines) || (a.lines as number) < 1)
      throw bad(`actors[${i}].lines must be a positive integer (the log's lines, its header included)`)
    const key = `${a.node}\u0000${a.actor}`
    if (seen.has(key)) throw bad(`actors[${i}]: ${a.actor} on ${a.node} is listed twice`)
    seen.add(key)
  })
  if (v.notes !== undefined) {
    if (!Array.isArray(v.notes) || v.notes.length > MAX_NOTES)
      throw bad(`"notes" must be an array of at most ${MAX_NOTES}`)
    v.notes.forEach((n, i) => {
      if (!isObj(n) || !isName(n.node) || !nodes.has(n.node)) throw bad(`notes[${i}].node must name one of "nodes"`)
      if (!isTime(n.at)) throw bad(`notes[${i}].at must be a number`)
      if (typeof n.text !== 'string') throw bad(`notes[${i}].text must be a string`)
    })
  }
  return v as unknown as BundleManifest
}

/** Parses a whole bundle, checking every log against its manifest entry and the log format. */
export function parseBundle(text: string): ParsedBundle {
  const raw = text.split('\n')
  if (raw.length && raw[raw.length - 1] === '') raw.pop()
  if (!raw.length || raw[0].trim() === '') throw new BundleFormatError(1, 'the bundle is empty (no manifest line)')
  const manifest = parseManifest(raw[0], 1)
  const logs: BundleLog[] = []
  let i = 1
  for (const entry of manifest.actors) {
    const firstLine = i + 1
    if (i + entry.lines > raw.length)
      throw new BundleFormatError(
        raw.length,
        `the bundle ends inside the log of ${entry.actor} (${entry.node}): the manifest says ${entry.lines} lines, ${raw.length - i} remain`,
        entry.actor,
      )
    let header: LogHeader
    const lines: LogLine[] = []
    try {
      header = parseLogHeader(raw[i], firstLine)
      if (header.actor !== entry.actor)
        throw new LogFormatError(
          firstLine,
          `the log here is of ${header.actor}, but the manifest lists ${entry.actor} (${entry.node}) at this place`,
        )
      const reader = new LogReader()
      for (let j = i + 1; j < i + entry.lines; j++) {
        if (raw[j].includes(`"format":"${LOG_FORMAT}"`) && raw[j].trimStart().startsWith('{"format"'))
          throw new LogFormatError(
            j + 1,
            `a log header inside the log of ${entry.actor}: the manifest's "lines" (${entry.lines}) is too large`,
          )
        lines.push(reader.line(raw[j], j + 1))
      }
    } catch (err) {
      if (err instanceof LogFormatError) throw new BundleFormatError(err.line, err.reason, entry.actor)
      throw err
    }
    logs.push({ node: entry.node, header, lines, firstLine })
    i += entry.lines
  }
  for (; i < raw.length; i++)
    if (raw[i].trim() !== '')
      throw new BundleFormatError(i + 1, 'a line after the last log the manifest lists (its "actors" is incomplete)')
  return { manifest, logs }
}

/** Encodes a bundle; `lines` of each actor entry is computed from its log. */
export function encodeBundle(
  manifest: Omit<BundleManifest, 'actors' | 'format'>,
  logs: Array<{ node: string; header: LogHeader; lines: LogLine[] }>,
): string {
  const m: BundleManifest = {
    format: BUNDLE_FORMAT,
    ...manifest,
    actors: logs.map((l) => ({
      node: l.node,
      actor: l.header.actor,
      machine: l.header.machine,
      lines: l.lines.length + 1,
    })),
  }
  let out = JSON.stringify(m) + '\n'
  for (const l of logs) {
    out += JSON.stringify(l.header) + '\n'
    for (const x of l.lines) out += JSON.stringify(x) + '\n'
  }
  return out
}

/**
 * The part of a log a bundle keeps for a window: from the snapshot line before the first event in
 * `[from, to]` (or from the log's own start when there is none at that seq) to the snapshot after
 * the last event in it. Undefined when no event falls in the window. Times are the log's own.
 */
export function windowLog(
  log: { header: LogHeader; lines: LogLine[] },
  from: number,
  to: number,
): { header: LogHeader; lines: LogLine[] } | undefined {
  const { lines } = log
  let first = -1
  let last = -1
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]
    if ('event' in l && l.at >= from && l.at <= to) {
      if (first < 0) first = i
      last = i
    }
  }
  if (first < 0) return undefined
  // the latest snapshot line before the first event in the window is the replay's starting point
  let start = 0
  for (let i = first - 1; i >= 0; i--)
    if (!('event' in lines[i])) {
      start = i
      break
    }
  let end = last
  while (end + 1 < lines.length && !('event' in lines[end + 1])) end++
  return { header: log.header, lines: lines.slice(start, end + 1) }
}

/** A node's part of a bundle, as `GET /api/incident?from=T&to=T` answers it. */
export interface IncidentPart {
  node: string
  role: string
  /** The node's clock when it answered. */
  now: number
  window: { from: number; to: number }
  /** Offsets of the node's peers to its own clock, from the protocol's exchanges. */
  offsets: Array<{ peer: string; offsetMs: number; rttMs: number; via: string; at: number }>
  /** One `aether.log/1` text per actor touched in the window. */
  logs: string[]
  notes: BundleNote[]
  /** Actors left out and why (a machine the node does not have, a journal it cannot read). */
  skipped: Array<{ actor: string; reason: string }>
  /**
   * Nodes whose actors this node recorded (a browser member's, an external app's), with their
   * logs; their times are this node's clock (`via` says so).
   */
  reached?: Array<{ node: string; role: string; via: string; logs: string[] }>
}

/**
 * Checks a node's answer to `GET /api/incident` (it comes from outside); throws an Error naming
 * the first field that is wrong. The logs inside are checked when the bundle is assembled.
 */
export function checkIncidentPart(v: unknown): IncidentPart {
  const bad = (why: string) => new Error(`malformed incident part: ${why}`)
  if (!isObj(v)) throw bad('not a JSON object')
  if (!isName(v.node)) throw bad('"node" must be a non-empty string')
  if (!isName(v.role)) throw bad('"role" must be a non-empty string')
  if (!isTime(v.now)) throw bad('"now" must be a number')
  if (!Array.isArray(v.offsets)) throw bad('"offsets" must be an array')
  v.offsets.forEach((o, i) => {
    if (!isObj(o) || !isName(o.peer) || !isTime(o.offsetMs) || !isTime(o.rttMs) || !isName(o.via))
      throw bad(`offsets[${i}] must be {peer, offsetMs, rttMs, via, at}`)
  })
  if (!Array.isArray(v.logs) || v.logs.some((l) => typeof l !== 'string'))
    throw bad('"logs" must be an array of log texts')
  if (!Array.isArray(v.notes)) throw bad('"notes" must be an array')
  v.notes.forEach((n, i) => {
    if (!isObj(n) || !isName(n.node) || !isTime(n.at) || typeof n.text !== 'string')
      throw bad(`notes[${i}] must be {node, at, text}`)
  })
  if (!Array.isArray(v.skipped)) throw bad('"skipped" must be an array')
  if (v.reached !== undefined) {
    if (!Array.isArray(v.reached)) throw bad('"reached" must be an array')
    v.reached.forEach((r, i) => {
      if (!isObj(r) || !isName(r.node) || !isName(r.role) || !isName(r.via))
        throw bad(`reached[${i}] must be {node, role, via, logs}`)
      if (!Array.isArray(r.logs) || r.logs.some((l) => typeof l !== 'string'))
        throw bad(`reached[${i}].logs must be an array of log texts`)
    })
  }
  return v as unknown as IncidentPart
}

/** A part as fetched: where from, and the fetcher's clock before and after (for the offset). */
export interface FetchedPart {
  url?: string
  part: IncidentPart
  sentAt: number
  receivedAt: number
}

/**
 * Puts nodes' parts into one bundle. The first part's node is the reference clock. A node's
 * offset comes, best first, from the reference node's measurement of it, from its own measurement
 * of the reference node (negated), or from the fetch itself (`http`: the node's `now` against the
 * fetcher's clock, error at most half the round trip). A node fetched twice counts once.
 */
export function assembleBundle(parts: FetchedPart[], window: { from: number; to: number }, createdAt: number): string {
  if (!parts.length) throw new Error('a bundle needs at least one node')
  const byNode = new Map<string, FetchedPart>()
  for (const p of parts) if (!byNode.has(p.part.node)) byNode.set(p.part.node, p)
  const list = [...byNode.values()]
  const ref = list[0]
  const httpOffset = (p: FetchedPart) => p.sentAt + (p.receivedAt - p.sentAt) / 2 - p.part.now
  const nodes: BundleNode[] = list.map((p) => {
    const base = { id: p.part.node, role: p.part.role, ...(p.url ? { url: p.url } : {}) }
    if (p === ref) return { ...base, offsetMs: 0, offsetVia: 'reference' }
    const seen = ref.part.offsets.find((o) => o.peer === p.part.node)
    if (seen) return { ...base, offsetMs: seen.offsetMs, offsetVia: seen.via, rttMs: seen.rttMs }
    const back = p.part.offsets.find((o) => o.peer === ref.part.node)
    if (back) return { ...base, offsetMs: -back.offsetMs, offsetVia: back.via, rttMs: back.rttMs }
    return {
      ...base,
      offsetMs: httpOffset(p) - httpOffset(ref),
      offsetVia: 'http',
      rttMs: p.receivedAt - p.sentAt + (ref.receivedAt - ref.sentAt),
    }
  })
  for (const p of list)
    for (const r of p.part.reached ?? []) {
      if (nodes.some((n) => n.id === r.node)) continue
      const host = nodes.find((n) => n.id === p.part.node)!
      nodes.push({ id: r.node, role: r.role, offsetMs: host.offsetMs, offsetVia: r.via })
    }
  const logs: Array<{ node: string; header: LogHeader; lines: LogLine[] }> = []
  const add = (node: string, text: string) => {
    let parsed: { header: LogHeader; lines: LogLine[] }
    try {
      parsed = parseLog(text)
    } catch (err) {
      throw new Error(`${node} sent a malformed log: ${(err as Error).message}`)
    }
    if (!logs.some((l) => l.node === node && l.header.actor === parsed.header.actor)) logs.push({ node, ...parsed })
  }
  for (const p of list) {
    for (const text of p.part.logs) add(p.part.node, text)
    for (const r of p.part.reached ?? []) for (const text of r.logs) add(r.node, text)
  }
  const known = new Set(nodes.map((n) => n.id))
  const notes = list
    .flatMap((p) => p.part.notes)
    .filter((n) => known.has(n.node))
    .slice(0, MAX_NOTES)
  const text = encodeBundle({ createdAt, window, nodes, ...(notes.length ? { notes } : {}) }, logs)
  parseBundle(text) // what was assembled from the nodes' answers must read back
  return text
}
