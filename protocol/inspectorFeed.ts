/**
 * The inspector feed protocol: the frames of the WebSocket at `/inspector/feed`.
 *
 * Server to client (JSON text frames, each with a `t` discriminator):
 * - `hello`     once, first: the host id, the feed seq the snapshot is taken at, and whether this
 *               connection carries the hub token (`operator`) or not (`read-only`).
 * - `snapshot`  once, second: the current state of every actor. Live `events` frames follow, each
 *               event with a feed `seq` greater than the snapshot's.
 * - `events`    a batch of feed events in feed order, as `WireEvent`s (the protocol/inspection.ts
 *               shapes without the five bookkeeping fields that follow from the rest). `dropped`,
 *               when present, counts the events this client lost just before this batch because it
 *               read too slowly (its queue is bounded; the oldest go first). `dict` appends
 *               entries (JSON values) to the connection's dictionary, ids counting from 0. Light
 *               events may come packed: such a frame is binary (`encodePackedFrame`): the JSON
 *               frame, then LIGHT_WIDTH little-endian int32 per event: seq, at - `at0`, actorSeq
 *               or -1, then dictionary ids of path, event type, state value, status and source or
 *               -1. `decodeFeedFrame` reads either kind; `FeedDecoder` turns an `events` frame
 *               back into WireEvents in feed order (packed and plain merged by seq).
 * - `history`   an answer to `history`: one page of an actor's journal, each entry with the
 *               snapshot after it (computed by pure replay on the hub), `start` the state before
 *               the first entry and `startSeq` its seq (never below the journal's first: after a
 *               compacted head, the checkpoint it starts from), and `next` to ask for the
 *               following page (null at the end).
 * - `definition` an answer to `definition` or `machine`: `machine.toJSON()`.
 * - `error`     a frame the hub could not accept: `code`, a message that says what is wrong, and
 *               the request `id` when one could be read. The connection stays open.
 *
 * Client to server: `{ id?, cmd, ... }` with `cmd` one of `history {path, after?, limit?}`,
 * `definition {path}`, `machine {name}`, `focus {paths}`, `ping`. Anything else gets an `error`.
 *
 * Focus: a client that sends `focus` gets full `@xstate.event`s (the event and the whole snapshot)
 * only for the focused actors; for the others each event carries `event: {type}` and
 * `snapshot: {value, status}` (no context), which is what a tree and a timeline show, and costs the
 * hub a fraction of the encoding. The answer (`t: 'focus'`) carries the focused actors' current
 * state. A client that never sends `focus` gets everything in full.
 * Events are sent to actors over HTTP (`POST /api/actors/<path>/events`, with the token), not here.
 *
 * External actors: apps Aether watches but does not host (runtime/inspector/ExternalApps.ts) appear
 * in the same feed under `<app>/<run>/...` paths. Their `@xstate.actor` events and `snapshot`
 * states carry `node` (the app's name, their `rootId` in `@statelyai/inspect` terms); they are
 * read-only (the hub cannot send them events), and `history` and `definition` answer for them from
 * their recordings.
 *
 * The decoder is pure and runs in Node and in the browser.
 */
import type { FeedEvent, FeedSnapshot, ActorStatus } from './inspection.ts'

/**
 * A feed event on the wire: a FeedEvent without `rootId`, `sessionId`, `id`, `createdAt` and
 * `_version`, which follow from the rest (rootId = the hello's `hostId`, sessionId = `path`,
 * id = `<hostId>:<seq>`, createdAt = String(at), _version = '1.0.0'); `expandWireEvent` restores
 * them. About a third fewer bytes to write on the hub and to parse in the page.
 */
export type WireEvent = FeedEvent extends infer E
  ? E extends FeedEvent
    ? Omit<E, 'rootId' | 'sessionId' | 'id' | 'createdAt' | '_version'>
    : never
  : never

/** The full inspection event of a wire event. */
export function expandWireEvent(w: WireEvent, hostId: string): FeedEvent {
  return {
    ...w,
    rootId: (w.type === '@xstate.actor' && w.node) || hostId,
    sessionId: w.path,
    id: `${hostId}:${w.seq}`,
    createdAt: String(w.at),
    _version: '1.0.0',
  } as FeedEvent
}

/**
 * Encodes a feed event as its wire JSON. One JSON.stringify of a plain literal: it yields a flat
 * string, where building it by concatenation yields a rope of small strings that the hub would
 * keep alive (and the garbage collector would trace) for as long as the event waits in a queue.
 */
export function encodeWireEvent(e: FeedEvent): string {
  if (e.type === '@xstate.event') {
    return JSON.stringify({
      seq: e.seq,
      path: e.path,
      at: e.at,
      type: e.type,
      event: e.event,
      actorSeq: e.actorSeq,
      sourceId: e.sourceId,
      snapshot: e.snapshot,
    })
  }
  if (e.type === '@xstate.actor') {
    return JSON.stringify({
      seq: e.seq,
      path: e.path,
      at: e.at,
      type: e.type,
      name: e.name,
      machine: e.machine,
      status: e.status,
      parentId: e.parentId,
      definition: e.definition,
      node: e.node,
      snapshot: e.snapshot,
    })
  }
  return JSON.stringify({ seq: e.seq, path: e.path, at: e.at, type: e.type, event: e.event, snapshot: e.snapshot })
}

const jsonCache = new Map<string, string>()
/** JSON of a short string that recurs (paths, event types, state names), computed once. */
function cachedJson(s: string): string {
  let j = jsonCache.get(s)
  if (j === undefined) {
    j = JSON.stringify(s)
    if (jsonCache.size < 10_000) jsonCache.set(s, j)
  }
  return j
}

/**
 * The light wire form of an `@xstate.event` for an actor the client does not focus on: the event
 * type and the state value, no payload, no context. Built without JSON.stringify when the value
 * is a state name (the common case), which is most of what a full encoding costs the hub.
 */
export function encodeLightEvent(e: FeedEvent): string {
  if (e.type !== '@xstate.event') return encodeWireEvent(e)
  const v = e.snapshot.value
  const value = typeof v === 'string' ? cachedJson(v) : JSON.stringify(v ?? null)
  return (
    `{"seq":${e.seq},"path":${cachedJson(e.path)},"at":${e.at},"type":"@xstate.event","event":{"type":${cachedJson(e.event.type)}}` +
    (e.actorSeq !== undefined ? `,"actorSeq":${e.actorSeq}` : '') +
    (e.sourceId !== undefined ? `,"sourceId":${cachedJson(e.sourceId)}` : '') +
    `,"snapshot":{"value":${value},"status":${cachedJson(e.snapshot.status)}},"light":true}`
  )
}

/** Numbers per packed light event in an `events` frame. */
export const LIGHT_WIDTH = 8
/** Most dictionary entries per connection; beyond them light events are sent as JSON. */
export const MAX_DICT = 100_000

const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1
const utf8 = new TextEncoder()

/**
 * A binary `events` frame: a uint32 (LE) byte length of the JSON part, the JSON part (UTF-8),
 * zero padding to a multiple of 4, then the packed events as int32 LE.
 */
export function encodePackedFrame(json: string, light: Int32Array): Uint8Array {
  const max = json.length * 3
  const head = new Uint8Array(4 + max)
  const { written } = utf8.encodeInto(json, head.subarray(4))
  const at = (4 + written! + 3) & ~3
  const out = new Uint8Array(at + light.length * 4)
  out.set(head.subarray(0, 4 + written!))
  const dv = new DataView(out.buffer)
  dv.setUint32(0, written!, true)
  if (littleEndian) out.set(new Uint8Array(light.buffer, light.byteOffset, light.length * 4), at)
  else for (let i = 0; i < light.length; i++) dv.setInt32(at + i * 4, light[i], true)
  return out
}

/** A feed frame as received (text, or a binary packed `events` frame), parsed; throws if malformed. */
export function decodeFeedFrame(data: string | ArrayBuffer | Uint8Array): ServerFrame {
  if (typeof data === 'string') return JSON.parse(data)
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data)
  if (bytes.length < 4) throw new Error('a binary frame shorter than its header')
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length)
  const n = dv.getUint32(0, true)
  if (4 + n > bytes.length) throw new Error('a binary frame shorter than its JSON part')
  const f = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + n)))
  const at = (4 + n + 3) & ~3
  const count = (bytes.length - at) >> 2
  if (f?.t !== 'events' || bytes.length < at || (bytes.length - at) % 4 !== 0)
    throw new Error('a malformed binary frame')
  const light = new Int32Array(count)
  for (let i = 0; i < count; i++) light[i] = dv.getInt32(at + i * 4, true)
  f.light = light
  return f
}

/**
 * The client side of packed light events: keeps the connection's dictionary and turns each
 * `events` frame into its WireEvents in feed order. One decoder per connection (a new connection
 * starts a new dictionary).
 */
export class FeedDecoder {
  private dict: unknown[] = []
  // Decoded light events share their (frozen) `event` and `snapshot` objects: a page that files
  // 100,000 events a second allocates one object per event instead of three.
  private events_ = new Map<number, Readonly<{ type: unknown }>>()
  private snaps = new Map<number, Readonly<{ value: unknown; status: unknown }>>()

  /** The frame's events in feed order; throws on a frame that does not decode. */
  events(f: { events: WireEvent[]; dict?: unknown[]; at0?: number; light?: ArrayLike<number> }): WireEvent[] {
    if (f.dict) for (const v of f.dict) this.dict.push(v)
    const light = f.light
    if (!light || light.length === 0) return f.events
    if (light.length % LIGHT_WIDTH !== 0 || typeof f.at0 !== 'number')
      throw new Error('a malformed packed events frame')
    const d = this.dict
    const word = (id: number) => {
      if (!(id >= 0 && id < d.length)) throw new Error(`dictionary id ${id} is unknown`)
      return d[id]
    }
    const eventOf = (id: number) => {
      let e = this.events_.get(id)
      if (!e) this.events_.set(id, (e = Object.freeze({ type: word(id) })))
      return e
    }
    const snapshotOf = (value: number, status: number) => {
      if (status >= 0x40000) return Object.freeze({ value: word(value), status: word(status) })
      const k = value * 0x40000 + status
      let sn = this.snaps.get(k)
      if (!sn) this.snaps.set(k, (sn = Object.freeze({ value: word(value), status: word(status) })))
      return sn
    }
    const out: WireEvent[] = []
    const plain = f.events
    let p = 0
    for (let i = 0; i < light.length; i += LIGHT_WIDTH) {
      const seq = light[i]
      while (p < plain.length && plain[p].seq < seq) out.push(plain[p++])
      const e: any = {
        seq,
        path: word(light[i + 3]),
        at: f.at0 + light[i + 1],
        type: '@xstate.event',
        event: eventOf(light[i + 4]),
        snapshot: snapshotOf(light[i + 5], light[i + 6]),
        light: true,
      }
      if (light[i + 2] >= 0) e.actorSeq = light[i + 2]
      if (light[i + 7] >= 0) e.sourceId = word(light[i + 7])
      out.push(e)
    }
    while (p < plain.length) out.push(plain[p++])
    return out
  }
}

export const FEED_PROTOCOL = 'aether.inspector/1'
/** Largest client frame the hub reads; a larger one is refused with `TOO_LARGE`. */
export const MAX_CLIENT_FRAME = 16 * 1024
/** Most actors a client can focus on at once. */
export const MAX_FOCUS = 64
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
  /** The app of an external actor (read-only: no events can be sent to it); absent for hosted ones. */
  node?: string
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
  | { t: 'events'; events: WireEvent[]; dropped?: number; dict?: unknown[]; at0?: number; light?: ArrayLike<number> }
  | {
      t: 'history'
      id?: string | number
      path: string
      machine: string
      first?: HistoryEntry
      entries: HistoryEntry[]
      next: number | null
      start: FeedSnapshot | null
      /** The seq `start` is the state after (0: the actor's initial state). */
      startSeq?: number
    }
  | { t: 'definition'; id?: string | number; path?: string; machine: string; definition: unknown }
  | { t: 'pong'; id?: string | number; at: number }
  | { t: 'focus'; id?: string | number; paths: string[]; actors: FeedActorState[] }
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
  | { id?: string | number; cmd: 'focus'; paths: string[] }

/** A client frame the hub refuses; `id` is the request id if the frame had a readable one. */
export class FeedFrameError extends Error {
  constructor(
    readonly code: FeedErrorCode,
    message: string,
    readonly id?: string | number,
  ) {
    super(message)
    this.name = 'FeedFrameError'
  }
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Decodes and checks one client frame; throws FeedFrameError naming what is wrong. */
export function decodeClientFrame(text: string): ClientCommand {
  if (text.length > MAX_CLIENT_FRAME)
    throw new FeedFrameError(
      'TOO_LARGE',
      `a client frame is at most ${MAX_CLIENT_FRAME} bytes, this one has ${text.length}`,
    )
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
    if (typeof s !== 'string' || !s || s.length > 512)
      throw bad(field, 'must be a non-empty string of at most 512 characters')
    return s
  }
  const int = (field: string, dflt: number, min: number, max: number) => {
    const n = v[field] ?? dflt
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min || n > max)
      throw bad(field, `must be an integer from ${min} to ${max}`)
    return n
  }
  switch (v.cmd) {
    case 'history':
      return {
        id,
        cmd: 'history',
        path: str('path'),
        after: int('after', 0, 0, Number.MAX_SAFE_INTEGER),
        limit: int('limit', 500, 1, MAX_HISTORY_PAGE),
      }
    case 'definition':
      return { id, cmd: 'definition', path: str('path') }
    case 'machine':
      return { id, cmd: 'machine', name: str('name') }
    case 'ping':
      return { id, cmd: 'ping' }
    case 'focus': {
      const p = v.paths
      if (!Array.isArray(p) || p.length > MAX_FOCUS || p.some((x) => typeof x !== 'string' || !x || x.length > 512)) {
        throw bad('paths', `must be an array of at most ${MAX_FOCUS} non-empty id paths`)
      }
      return { id, cmd: 'focus', paths: p as string[] }
    }
    case undefined:
      throw new FeedFrameError(
        'MALFORMED',
        'the frame has no "cmd" (history | definition | machine | focus | ping)',
        id,
      )
    default:
      throw new FeedFrameError(
        'UNKNOWN_COMMAND',
        `unknown command ${JSON.stringify(v.cmd).slice(0, 80)}: use history, definition, machine, focus or ping`,
        id,
      )
  }
}
