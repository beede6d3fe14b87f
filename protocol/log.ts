/**
 * The event log, `aether.log/1`: what testers replay and the inspector scrubs.
 *
 * JSON Lines. Line 1 is the header; every other line is an event line or a snapshot line:
 *
 * ```
 * {"format":"aether.log/1","actor":"job-42","machine":"job","machineHash":"<sha256>","input":{...},"at":1732200000000}
 * {"seq":1,"at":1732200000005,"event":{"type":"job.start"}}
 * {"seq":1,"at":1732200000005,"snapshot":{"value":"running","context":{...}}}
 * ```
 *
 * - An event line is what the actor received from outside (sent events, child completions, timer
 *   fires), never what the machine raised itself. `timer` and `due` name the durable timer
 *   instance that fired (a fire whose instance was cancelled or re-armed meanwhile is stale and
 *   is skipped, as XState's cancel would have it);
 *   `rejected` marks an event whose processing threw: the host restarted the actor without it, so
 *   replay skips it too.
 * - A snapshot line records the persisted snapshot after the event of the same seq; it is a
 *   checkpoint for verification. One snapshot line before the first event line is the starting
 *   point of a log whose earlier events were compacted away (its seq is the last event it covers).
 *   A snapshot line at the last event's seq is the final state: `aether replay --verify` compares
 *   every snapshot line and needs that one (exports write a snapshot after every event by default).
 * - Seqs of event lines count up by one from 1, or from the starting snapshot's seq + 1: a missing
 *   seq is a gap, and the log is malformed there. A snapshot line has the seq of the latest event.
 *
 * Parsing is pure (no I/O) and runs in the browser too.
 */

export const LOG_FORMAT = 'aether.log/1'

export interface LogHeader {
  format: typeof LOG_FORMAT
  actor: string
  machine: string
  machineHash?: string
  input?: unknown
  at: number
  /**
   * The id path of the actor's parent, for a child actor recorded on its own (an external app's
   * invoked machine): it may send to its parent, which replay stands in for (sending nothing).
   */
  parent?: string
}

export interface LogEventLine {
  seq: number
  at: number
  event: { type: string; [k: string]: unknown }
  timer?: string
  /** Due time of the timer instance that fired (a re-armed or cancelled instance's fire is stale). */
  due?: number
  rejected?: string
  source?: string
}

export interface LogSnapshotLine {
  seq: number
  at: number
  snapshot: { value: unknown; context?: unknown; status?: string; [k: string]: unknown }
}

export type LogLine = LogEventLine | LogSnapshotLine

export function isSnapshotLine(l: LogLine): l is LogSnapshotLine {
  return (l as LogSnapshotLine).snapshot !== undefined
}

/** A malformed log. `line` is 1-based; `reason` says what is wrong there. */
export class LogFormatError extends Error {
  readonly code = 'LOG_FORMAT'
  constructor(
    readonly line: number,
    readonly reason: string,
  ) {
    super(`line ${line}: ${reason}`)
    this.name = 'LogFormatError'
  }
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const isSeq = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)

function parseJson(text: string, line: number): unknown {
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new LogFormatError(line, `not valid JSON (${(err as Error).message})`)
  }
}

/** Parses and checks line 1. */
export function parseLogHeader(text: string, line = 1): LogHeader {
  const v = parseJson(text, line)
  if (!isObj(v)) throw new LogFormatError(line, 'the header must be a JSON object')
  if (v.format === undefined) throw new LogFormatError(line, 'the header has no "format" field')
  if (v.format !== LOG_FORMAT)
    throw new LogFormatError(line, `unknown format ${JSON.stringify(v.format)} (expected "${LOG_FORMAT}")`)
  if (typeof v.actor !== 'string' || !v.actor)
    throw new LogFormatError(line, 'the header field "actor" must be a non-empty string')
  if (typeof v.machine !== 'string') throw new LogFormatError(line, 'the header field "machine" must be a string')
  if (v.machineHash !== undefined && typeof v.machineHash !== 'string')
    throw new LogFormatError(line, 'the header field "machineHash" must be a string')
  if (!isTime(v.at)) throw new LogFormatError(line, 'the header field "at" must be a number (ms since the epoch)')
  if (v.parent !== undefined && typeof v.parent !== 'string')
    throw new LogFormatError(line, 'the header field "parent" must be a string (an id path)')
  return v as unknown as LogHeader
}

/**
 * A stateful reader that checks each line against the ones before it (seq order).
 * Feed it lines 2..n in order with their 1-based line numbers.
 */
export class LogReader {
  private lastEventSeq = -1
  /** Seq of the last line read; -1 before any (the first event then has seq 1). */
  private lastSeq = -1
  private sawEvent = false

  line(text: string, line: number): LogLine {
    const v = parseJson(text, line)
    if (!isObj(v)) throw new LogFormatError(line, 'a log line must be a JSON object')
    if (v.format !== undefined) throw new LogFormatError(line, 'a second header line')
    if (!isSeq(v.seq)) throw new LogFormatError(line, 'missing or invalid "seq" (a non-negative integer)')
    if (!isTime(v.at)) throw new LogFormatError(line, 'missing or invalid "at" (a number)')
    const hasEvent = v.event !== undefined
    const hasSnap = v.snapshot !== undefined
    if (hasEvent === hasSnap) throw new LogFormatError(line, 'a line must have exactly one of "event" or "snapshot"')
    if (hasEvent) {
      if (!isObj(v.event) || typeof v.event.type !== 'string' || !v.event.type) {
        throw new LogFormatError(line, '"event" must be an object with a non-empty string "type"')
      }
      if (v.seq <= this.lastSeq)
        throw new LogFormatError(line, `seq went backwards or repeated (${v.seq} after ${this.lastSeq})`)
      const expected = this.lastSeq < 0 ? 1 : this.lastSeq + 1
      if (v.seq !== expected)
        throw new LogFormatError(
          line,
          this.lastSeq < 0
            ? `the first event has seq ${v.seq}, not 1, and no snapshot line before it to start from (a gap: seq 1 to ${v.seq - 1} are missing)`
            : `seq ${v.seq} follows seq ${this.lastSeq}: a gap (seq ${expected}${v.seq - 1 > expected ? ` to ${v.seq - 1}` : ''} missing)`,
        )
      if (v.timer !== undefined && typeof v.timer !== 'string')
        throw new LogFormatError(line, '"timer" must be a string')
      if (v.due !== undefined && !isTime(v.due)) throw new LogFormatError(line, '"due" must be a number')
      if (v.rejected !== undefined && typeof v.rejected !== 'string')
        throw new LogFormatError(line, '"rejected" must be a string')
      this.lastEventSeq = this.lastSeq = v.seq
      this.sawEvent = true
      return v as unknown as LogEventLine
    }
    if (!isObj(v.snapshot) || !('value' in v.snapshot))
      throw new LogFormatError(line, '"snapshot" must be an object with a "value"')
    if (this.sawEvent && v.seq !== this.lastEventSeq)
      throw new LogFormatError(line, `snapshot seq ${v.seq} does not match the last event seq ${this.lastEventSeq}`)
    if (!this.sawEvent && this.lastSeq >= 0)
      throw new LogFormatError(line, 'a second snapshot line before the first event (a log starts from one checkpoint)')
    this.lastSeq = v.seq
    return v as unknown as LogSnapshotLine
  }
}

/** A whole log, parsed. */
export interface ParsedLog {
  header: LogHeader
  lines: LogLine[]
}

/** Parses a whole log text (the inspector's file loader; the CLI streams instead). */
export function parseLog(text: string): ParsedLog {
  const raw = text.split('\n')
  let i = 0
  while (i < raw.length && raw[i].trim() === '') i++
  if (i >= raw.length) throw new LogFormatError(1, 'the log is empty')
  const header = parseLogHeader(raw[i], i + 1)
  const reader = new LogReader()
  const lines: LogLine[] = []
  for (let j = i + 1; j < raw.length; j++) {
    if (raw[j].trim() === '') continue
    lines.push(reader.line(raw[j], j + 1))
  }
  return { header, lines }
}

/** Encodes a log as JSON Lines text. */
export function encodeLog(header: LogHeader, lines: Iterable<LogLine>): string {
  let out = JSON.stringify(header) + '\n'
  for (const l of lines) out += JSON.stringify(l) + '\n'
  return out
}
