/**
 * The frames of XState apps that Aether watches but does not host, as they arrive, checked.
 *
 * Two dialects, both JSON text frames with a `type`:
 *
 * - `@statelyai/inspect` (XState v5; 0.7.x, `createWebSocketInspector({ url })`): the app connects
 *   to the hub (`/inspector/ingest`) and sends one inspection event per frame, never reading:
 *   `@xstate.actor {sessionId, name, parentId?, rootId?, definition?, snapshot?}` when an actor is
 *   created (`definition` is the machine's config as JSON text, keys sorted, functions as
 *   `{type: <function name>}`, cut at `serializationDepthLimit`, 10 by default);
 *   `@xstate.event {sessionId, event, sourceId?}` when an event is sent to it (`xstate.init` with
 *   the actor's `input` first); `@xstate.snapshot {sessionId, event, snapshot}` after the actor
 *   processed `event`. Other fields (`id`, `createdAt`, `_version`) are read when well-formed and
 *   otherwise ignored.
 * - `@xstate/inspect` 0.8 (XState v4, its server mode `inspect({ server })`): the hub connects to
 *   the app's WebSocket server, sends `{"type":"xstate.inspecting"}` and reads
 *   `service.register {sessionId, id?, machine, state}` (`machine` is the machine definition as
 *   JSON text, `state` the State as JSON text), `service.event {sessionId, event}` (an SCXML event
 *   as JSON text: `{name, data, origin?}`), `service.state {sessionId, state?}` (without `state`
 *   when the service had none yet) and `service.stop {sessionId}`.
 *
 * Decoding is pure and runs anywhere; a frame that does not fit throws `ExternalFrameError`,
 * whose `code` says what is wrong and `close` the WebSocket close code to answer with (1007 for a
 * frame that is not a JSON text, 1008 for one that breaks the protocol).
 */

/** Largest frame accepted from an app (a machine definition travels in one). */
export const MAX_EXTERNAL_FRAME = 1 << 20
/** Longest session id, actor name or event type accepted. */
const MAX_ID = 256

export const ExternalFrameCode = {
  /** Not a JSON text frame (binary, or text that does not parse). */
  malformed: 'MALFORMED',
  /** JSON, but not an object with a known `type`. */
  unknownType: 'UNKNOWN_TYPE',
  /** A field is missing or has the wrong shape. */
  badField: 'BAD_FIELD',
  tooLarge: 'TOO_LARGE',
  /** A run went past a limit (actors per run). */
  limit: 'LIMIT',
} as const
export type ExternalFrameCode = (typeof ExternalFrameCode)[keyof typeof ExternalFrameCode]

/** A frame from an app that the hub refuses; the connection closes with `close`. */
export class ExternalFrameError extends Error {
  readonly close: 1007 | 1008
  constructor(
    readonly code: ExternalFrameCode,
    message: string,
  ) {
    super(message)
    this.name = 'ExternalFrameError'
    this.close = code === 'MALFORMED' ? 1007 : 1008
  }
}

/** An event as both dialects deliver it (a JSON object with a string `type`). */
export interface InspectedEvent {
  type: string
  [k: string]: unknown
}

/** The `@statelyai/inspect` frames (XState v5). */
export type StatelyFrame =
  | {
      type: '@xstate.actor'
      sessionId: string
      name: string
      parentId?: string
      /** The machine config as JSON text (absent or `{"id":...}` for logic that is not a machine). */
      definition?: string
      snapshot?: Record<string, unknown>
    }
  | { type: '@xstate.event'; sessionId: string; event: InspectedEvent; sourceId?: string }
  | { type: '@xstate.snapshot'; sessionId: string; event: InspectedEvent; snapshot: Record<string, unknown> }

/** The `@xstate/inspect` frames (XState v4), with their JSON texts parsed. */
export type XStateInspectFrame =
  | {
      type: 'service.register'
      sessionId: string
      id?: string
      machine: Record<string, unknown>
      /** The machine definition as received (its hash is the v4 machine's `machineHash`). */
      machineText: string
      state: V4State
    }
  | { type: 'service.event'; sessionId: string; event: InspectedEvent; origin?: string }
  | { type: 'service.state'; sessionId: string; state?: V4State }
  | { type: 'service.stop'; sessionId: string }
  | { type: 'xstate.disconnect' }

/** The part of a v4 State the hub reads. */
export interface V4State {
  value: unknown
  context: unknown
  /** The event that led to this state. */
  event?: InspectedEvent
  done?: boolean
  /** Ids of the state's child actors. */
  children: string[]
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

function parseText(data: string | Uint8Array, isBinary: boolean): Record<string, unknown> {
  if (isBinary) throw new ExternalFrameError('MALFORMED', 'binary frames are not accepted: send JSON text')
  if (data.length > MAX_EXTERNAL_FRAME)
    throw new ExternalFrameError('TOO_LARGE', `a frame is at most ${MAX_EXTERNAL_FRAME} bytes`)
  const text = typeof data === 'string' ? data : new TextDecoder().decode(data)
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch (err) {
    throw new ExternalFrameError('MALFORMED', `the frame is not valid JSON (${(err as Error).message})`)
  }
  if (!isObj(v)) throw new ExternalFrameError('UNKNOWN_TYPE', 'a frame must be a JSON object with a "type"')
  return v
}

const bad = (what: string) => new ExternalFrameError('BAD_FIELD', what)

function id(v: Record<string, unknown>, field: string, optional: true): string | undefined
function id(v: Record<string, unknown>, field: string, optional?: false): string
function id(v: Record<string, unknown>, field: string, optional = false): string | undefined {
  const s = v[field]
  if (s === undefined || s === null) {
    if (optional) return undefined
    throw bad(`"${field}" is missing: it must be a string of 1 to ${MAX_ID} characters`)
  }
  if (typeof s !== 'string' || !s || s.length > MAX_ID)
    throw bad(`"${field}" must be a string of 1 to ${MAX_ID} characters`)
  return s
}

function eventOf(v: unknown, field: string, allowEmpty: boolean): InspectedEvent {
  if (!isObj(v) || typeof v.type !== 'string' || v.type.length > MAX_ID || (!allowEmpty && !v.type))
    throw bad(`"${field}" must be an event: an object with a${allowEmpty ? '' : ' non-empty'} string "type"`)
  return v as InspectedEvent
}

function jsonText(v: Record<string, unknown>, field: string): { text: string; value: unknown } {
  const s = v[field]
  if (typeof s !== 'string') throw bad(`"${field}" must be a JSON text (a string)`)
  try {
    return { text: s, value: JSON.parse(s) }
  } catch (err) {
    throw bad(`"${field}" is not valid JSON text (${(err as Error).message})`)
  }
}

/** Decodes one `@statelyai/inspect` frame; throws ExternalFrameError. */
export function decodeStatelyFrame(data: string | Uint8Array, isBinary = false): StatelyFrame {
  const v = parseText(data, isBinary)
  switch (v.type) {
    case '@xstate.actor': {
      const sessionId = id(v, 'sessionId')
      const name = id(v, 'name', true) ?? sessionId
      const parentId = id(v, 'parentId', true)
      if (v.definition !== undefined && v.definition !== null && typeof v.definition !== 'string')
        throw bad('"definition" must be the machine config as JSON text')
      if (v.snapshot !== undefined && v.snapshot !== null && !isObj(v.snapshot))
        throw bad('"snapshot" must be an object')
      const f: StatelyFrame = { type: '@xstate.actor', sessionId, name }
      if (parentId !== undefined) f.parentId = parentId
      if (typeof v.definition === 'string') f.definition = v.definition
      if (isObj(v.snapshot)) f.snapshot = v.snapshot
      return f
    }
    case '@xstate.event': {
      const f: StatelyFrame = {
        type: '@xstate.event',
        sessionId: id(v, 'sessionId'),
        event: eventOf(v.event, 'event', false),
      }
      const sourceId = id(v, 'sourceId', true)
      if (sourceId !== undefined) f.sourceId = sourceId
      return f
    }
    case '@xstate.snapshot': {
      if (!isObj(v.snapshot)) throw bad('"snapshot" must be an object')
      if (v.snapshot.status !== undefined && typeof v.snapshot.status !== 'string')
        throw bad('"snapshot.status" must be a string')
      // `createInspector().snapshot()` called by hand sends `{type: ''}` when given no event
      return {
        type: '@xstate.snapshot',
        sessionId: id(v, 'sessionId'),
        event: eventOf(v.event, 'event', true),
        snapshot: v.snapshot,
      }
    }
    default:
      throw new ExternalFrameError(
        'UNKNOWN_TYPE',
        `unknown frame type ${JSON.stringify(v.type)?.slice(0, 80)}: @statelyai/inspect sends @xstate.actor, @xstate.event and @xstate.snapshot`,
      )
  }
}

function v4State(v: unknown, field: string): V4State {
  if (!isObj(v) || !('value' in v)) throw bad(`"${field}" must be a v4 State: an object with a "value"`)
  // a machine without context has none (absent, not null): replay compares it only when present
  const s: V4State = { value: v.value, context: v.context, children: [] }
  // `event` is what the service received; `_event.data` is the same event in SCXML form
  const ev = isObj(v._event) && isObj(v._event.data) ? v._event.data : v.event
  if (ev !== undefined) s.event = eventOf(ev, `${field}.event`, false)
  if (typeof v.done === 'boolean') s.done = v.done
  if (isObj(v.children)) s.children = Object.keys(v.children)
  return s
}

/** Decodes one `@xstate/inspect` frame (v4 server mode); throws ExternalFrameError. */
export function decodeXStateInspectFrame(data: string | Uint8Array, isBinary = false): XStateInspectFrame {
  const v = parseText(data, isBinary)
  switch (v.type) {
    case 'service.register': {
      const m = jsonText(v, 'machine')
      if (!isObj(m.value) || typeof m.value.id !== 'string')
        throw bad('"machine" must be a machine definition with an "id"')
      const f: XStateInspectFrame = {
        type: 'service.register',
        sessionId: id(v, 'sessionId'),
        machine: m.value,
        machineText: m.text,
        state: v4State(jsonText(v, 'state').value, 'state'),
      }
      const sid = id(v, 'id', true)
      if (sid !== undefined) f.id = sid
      return f
    }
    case 'service.event': {
      const e = jsonText(v, 'event').value
      if (!isObj(e)) throw bad('"event" must be an SCXML event {name, data}')
      const f: XStateInspectFrame = {
        type: 'service.event',
        sessionId: id(v, 'sessionId'),
        event: eventOf(e.data, 'event.data', false),
      }
      const origin = id(e, 'origin', true)
      if (origin !== undefined) f.origin = origin
      return f
    }
    case 'service.state': {
      const sessionId = id(v, 'sessionId')
      // a service's first notification may come before it has a state: the field is absent
      if (v.state === undefined) return { type: 'service.state', sessionId }
      return { type: 'service.state', sessionId, state: v4State(jsonText(v, 'state').value, 'state') }
    }
    case 'service.stop':
      return { type: 'service.stop', sessionId: id(v, 'sessionId') }
    case 'xstate.disconnect':
      return { type: 'xstate.disconnect' }
    default:
      throw new ExternalFrameError(
        'UNKNOWN_TYPE',
        `unknown frame type ${JSON.stringify(v.type)?.slice(0, 80)}: @xstate/inspect sends service.register, service.event, service.state and service.stop`,
      )
  }
}
