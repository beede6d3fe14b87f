/**
 * The inspector feed protocol: the frames of the WebSocket at `/inspector/feed`.
 *
 * Server to client (JSON text frames, each with a `t` discriminator):
 * - `hello`     once, first: the host id, the feed seq the snapshot is taken at, and whether this
 *               connection carries the hub token (`operator`) or not (`read-only`).
 * - `snapshot`  once, second: the current state of every actor. Live `events` frames follow, each
 *               event with a feed `seq` greater than the snapshot's.
 * - `events`    a batch of feed events (protocol/inspection.ts shapes) in feed order. `dropped`,
 *               when present, counts the events this client lost just before this batch because it
 *               read too slowly (its queue is bounded; the oldest go first).
 * - `history`   an answer to `history`: one page of an actor's journal, each entry with the
 *               snapshot after it (computed by pure replay on the hub), and `next` to ask for the
 *               following page (null at the end).
 * - `definition` an answer to `definition` or `machine`: `machine.toJSON()`.
 * - `error`     a frame the hub could not accept: `code`, a message that says what is wrong, and
 *               the request `id` when one could be read. The connection stays open.
 *
 * Client to server: `{ id?, cmd, ... }` with `cmd` one of `history {path, after?, limit?}`,
 * `definition {path}`, `machine {name}`, `ping`. Anything else gets an `error` frame.
 * Events are sent to actors over HTTP (`POST /api/actors/<path>/events`, with the token), not here.
 *
 * The decoder is pure and runs in Node and in the browser.
 */
import type { FeedEvent, FeedSnapshot, ActorStatus } from './inspection.ts'

export const FEED_PROTOCOL = 'aether.inspector/1'
/** Largest client frame the hub reads; a larger one is refused with `TOO_LARGE`. */
export const MAX_CLIENT_FRAME = 16 * 1024
/** Largest history page. */
export const MAX_HISTORY_PAGE = 2000

/** The state of one actor in a `snapshot` frame. */
export interface FeedActorState {
  path: string
  machine: string
  status: ActorStatus
  durable: boolean
  parent?: string
  /** The actor's last journal seq (durable actors; 0 otherwise). */
  actorSeq: number
  /** Host clock time of the actor's last event. */
  at: number
  snapshot: FeedSnapshot
}

/** One journal record with the snapshot it led to. */
export interface HistoryEntry {
  seq: number
  at: number
  event: { type: string; [k: string]: unknown }
  source?: string
  timer?: string
  rejected?: string
  snapshot: FeedSnapshot
}

export type ServerFrame =
  | { t: 'hello'; protocol: typeof FEED_PROTOCOL; hostId: string; access: 'operator' | 'read-only'; at: number }
  | { t: 'snapshot'; seq: number; at: number; actors: FeedActorState[] }
  | { t: 'events'; events: FeedEvent[]; dropped?: number }
  | { t: 'history'; id?: string | number; path: string; machine: string; first?: HistoryEntry; entries: HistoryEntry[]; next: number | null; start: FeedSnapshot | null }
  | { t: 'definition'; id?: string | number; path?: string; machine: string; definition: unknown }
  | { t: 'pong'; id?: string | number; at: number }
  | { t: 'error'; id?: string | number; code: FeedErrorCode; message: string }

export const FeedErrorCode = {
  malformed: 'MALFORMED',
  unknownCommand: 'UNKNOWN_COMMAND',
  badField: 'BAD_FIELD',
  tooLarge: 'TOO_LARGE',
  unknownActor: 'UNKNOWN_ACTOR',
  unknownMachine: 'UNKNOWN_MACHINE',
  notDurable: 'NOT_DURABLE',
  internal: 'INTERNAL',
} as const
export type FeedErrorCode = (typeof FeedErrorCode)[keyof typeof FeedErrorCode]

export type ClientCommand =
  | { id?: string | number; cmd: 'history'; path: string; after: number; limit: number }
  | { id?: string | number; cmd: 'definition'; path: string }
  | { id?: string | number; cmd: 'machine'; name: string }
  | { id?: string | number; cmd: 'ping' }

/** A client frame the hub refuses; `id` is the request id if the frame had a readable one. */
export class FeedFrameError extends Error {
  constructor(readonly code: FeedErrorCode, message: string, readonly id?: string | number) {
    super(message)
    this.name = 'FeedFrameError'
  }
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Decodes and checks one client frame; throws FeedFrameError naming what is wrong. */
export function decodeClientFrame(text: string): ClientCommand {
  if (text.length > MAX_CLIENT_FRAME) throw new FeedFrameError('TOO_LARGE', `a client frame is at most ${MAX_CLIENT_FRAME} bytes, this one has ${text.length}`)
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch (err) {
    throw new FeedFrameError('MALFORMED', `the frame is not valid JSON (${(err as Error).message})`)
  }
  if (!isObj(v)) throw new FeedFrameError('MALFORMED', 'a client frame must be a JSON object {cmd, ...}')
  let id: string | number | undefined
  if (v.id !== undefined) {
    if ((typeof v.id !== 'string' || v.id.length > 64) && !(typeof v.id === 'number' && Number.isSafeInteger(v.id))) {
      throw new FeedFrameError('BAD_FIELD', 'field "id" must be an integer or a string of at most 64 characters')
    }
    id = v.id as string | number
  }
  const bad = (field: string, what: string) => new FeedFrameError('BAD_FIELD', `field "${field}" ${what}`, id)
  const str = (field: string) => {
    const s = v[field]
    if (typeof s !== 'string' || !s || s.length > 512) throw bad(field, 'must be a non-empty string of at most 512 characters')
    return s
  }
  const int = (field: string, dflt: number, min: number, max: number) => {
    const n = v[field] ?? dflt
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min || n > max) throw bad(field, `must be an integer from ${min} to ${max}`)
    return n
  }
  switch (v.cmd) {
    case 'history':
      return { id, cmd: 'history', path: str('path'), after: int('after', 0, 0, Number.MAX_SAFE_INTEGER), limit: int('limit', 500, 1, MAX_HISTORY_PAGE) }
    case 'definition':
      return { id, cmd: 'definition', path: str('path') }
    case 'machine':
      return { id, cmd: 'machine', name: str('name') }
    case 'ping':
      return { id, cmd: 'ping' }
    case undefined:
      throw new FeedFrameError('MALFORMED', 'the frame has no "cmd" (history | definition | machine | ping)', id)
    default:
      throw new FeedFrameError('UNKNOWN_COMMAND', `unknown command ${JSON.stringify(v.cmd).slice(0, 80)}: use history, definition, machine or ping`, id)
  }
}
