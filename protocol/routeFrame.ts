/**
 * Frames of the hub's `/route` socket (media routes, machines/mediaRoute.ts), and their
 * validation at the edge. Pure: no I/O, runs in Node and in the browser.
 *
 * A client's first frame is `{"v":1,"kind":"hello","nodeId":ID}`. After it, JSON text frames:
 *
 * ```
 * member   -> hub  {"v":1,"kind":"advertise","needs":["clock"],"paths":["direct","relay"],"healthy":true}
 * consumer -> hub  {"v":1,"kind":"need","need":"clock"}                       (opens the route)
 * consumer -> hub  {"v":1,"kind":"report","need":"clock","seq":3,"status":"up"|"failed","reason":"…"}
 * consumer -> hub  {"v":1,"kind":"release","need":"clock"}
 * member   -> hub  {"v":1,"kind":"frame","need":"clock","to":CONSUMER,"data":…}  (the relayed path)
 * hub -> consumer  {"v":1,"kind":"route","need","seq","target","path","status","reason"}
 * hub -> member    {"v":1,"kind":"serve","need","consumer","seq","path"}       (path null: stop)
 * hub -> consumer  {"v":1,"kind":"frame","need","from","via":"hub","data"}
 * hub -> client    {"v":1,"kind":"error","error":{"code","field","message"}}
 * ```
 *
 * Signaling envelopes (protocol/signaling.ts, `"subject":"rtc.*"`) travel on the same socket
 * between a consumer and the target of its direct route; the hub forwards them, it never reads
 * their SDP.
 */

export type RoutePathName = 'direct' | 'relay'

export type RouteClientFrame =
  | { v: 1; kind: 'hello'; nodeId: string }
  | { v: 1; kind: 'advertise'; needs: string[]; paths: RoutePathName[]; healthy: boolean }
  | { v: 1; kind: 'need'; need: string }
  | { v: 1; kind: 'report'; need: string; seq: number; status: 'up' | 'failed'; reason: string | null }
  | { v: 1; kind: 'release'; need: string }
  | { v: 1; kind: 'frame'; need: string; to: string; data: unknown }
  /** A signaling envelope: its own decoder (protocol/signaling.ts) checks it. */
  | { v: 1; kind: 'signal' }

export interface RouteAnnounce {
  v: 1
  kind: 'route'
  need: string
  consumer: string
  seq: number
  target: string | null
  path: RoutePathName | null
  status: string
  reason: string | null
}

export interface RouteServe {
  v: 1
  kind: 'serve'
  need: string
  consumer: string
  seq: number
  path: RoutePathName | null
}

export interface RouteRelayed {
  v: 1
  kind: 'frame'
  need: string
  from: string
  via: 'hub'
  data: unknown
}

/** A refused `/route` frame: `code` is stable, `field` names what is wrong. */
export class RouteFrameError extends Error {
  readonly name = 'RouteFrameError'
  constructor(
    readonly code: 'BAD_FRAME' | 'BAD_FIELD' | 'UNKNOWN_KIND' | 'TOO_LARGE',
    readonly field: string,
    message: string,
  ) {
    super(message)
  }
  toJSON(): { code: string; field: string; message: string } {
    return { code: this.code, field: this.field, message: this.message }
  }
}

export const NODE_ID_RE = /^[A-Za-z0-9_.:-]{1,64}$/
export const NEED_RE = /^[A-Za-z0-9_.-]{1,64}$/
/** Largest frame accepted (a relayed media frame included). */
export const MAX_ROUTE_FRAME = 96 * 1024
const NEED_MSG = '"need" must be a name [A-Za-z0-9_.-]{1,64}'
const PATHS: readonly RoutePathName[] = ['direct', 'relay']

type Result = { ok: true; value: RouteClientFrame } | { ok: false; error: RouteFrameError }
const bad = (field: string, message: string): Result => ({
  ok: false,
  error: new RouteFrameError('BAD_FIELD', field, message),
})

/** Decodes one client frame; never throws. A signaling envelope (`"kind":"event"`) decodes as `signal`. */
export function decodeRouteFrame(text: string): Result {
  if (text.length > MAX_ROUTE_FRAME)
    return { ok: false, error: new RouteFrameError('TOO_LARGE', '', `a frame is at most ${MAX_ROUTE_FRAME} bytes`) }
  let o: any
  try {
    o = JSON.parse(text)
  } catch {
    return { ok: false, error: new RouteFrameError('BAD_FRAME', '', 'a frame is a JSON object') }
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o))
    return { ok: false, error: new RouteFrameError('BAD_FRAME', '', 'a frame is a JSON object') }
  if (o.v !== 1) return bad('v', '"v" must be 1')
  const need = () => (typeof o.need === 'string' && NEED_RE.test(o.need) ? undefined : bad('need', NEED_MSG))
  switch (o.kind) {
    case 'hello':
      if (typeof o.nodeId !== 'string' || !NODE_ID_RE.test(o.nodeId) || o.nodeId === 'hub')
        return bad('nodeId', '"nodeId" must be an id [A-Za-z0-9_.:-]{1,64} other than "hub"')
      return { ok: true, value: { v: 1, kind: 'hello', nodeId: o.nodeId } }
    case 'advertise': {
      if (!Array.isArray(o.needs) || o.needs.length > 32 || !o.needs.every((n: unknown) => NEED_RE.test(String(n))))
        return bad('needs', `"needs" must be a list of at most 32 needs, each ${NEED_MSG}`)
      if (!Array.isArray(o.paths) || !o.paths.every((p: unknown) => PATHS.includes(p as RoutePathName)))
        return bad('paths', '"paths" must be a list of "direct" and "relay"')
      if (o.healthy !== undefined && typeof o.healthy !== 'boolean')
        return bad('healthy', '"healthy" must be a boolean')
      return {
        ok: true,
        value: {
          v: 1,
          kind: 'advertise',
          needs: [...new Set<string>(o.needs)],
          paths: [...new Set<RoutePathName>(o.paths)],
          healthy: o.healthy ?? true,
        },
      }
    }
    case 'need':
      return need() ?? { ok: true, value: { v: 1, kind: 'need', need: o.need } }
    case 'release':
      return need() ?? { ok: true, value: { v: 1, kind: 'release', need: o.need } }
    case 'report':
      if (need()) return need()!
      if (!Number.isSafeInteger(o.seq) || o.seq < 1)
        return bad('seq', '"seq" must be the attempt\'s seq (an integer >= 1)')
      if (o.status !== 'up' && o.status !== 'failed') return bad('status', '"status" must be "up" or "failed"')
      if (o.reason !== undefined && o.reason !== null && (typeof o.reason !== 'string' || o.reason.length > 200))
        return bad('reason', '"reason" must be a string of at most 200 characters')
      return {
        ok: true,
        value: { v: 1, kind: 'report', need: o.need, seq: o.seq, status: o.status, reason: o.reason ?? null },
      }
    case 'frame':
      if (need()) return need()!
      if (typeof o.to !== 'string' || !NODE_ID_RE.test(o.to)) return bad('to', '"to" must be the consumer\'s node id')
      return { ok: true, value: { v: 1, kind: 'frame', need: o.need, to: o.to, data: o.data ?? null } }
    case 'event':
      return { ok: true, value: { v: 1, kind: 'signal' } }
    default:
      return {
        ok: false,
        error: new RouteFrameError(
          'UNKNOWN_KIND',
          'kind',
          '"kind" must be hello, advertise, need, report, release or frame (or a signaling envelope)',
        ),
      }
  }
}

/**
 * The node id of a consumer's direct session of attempt `seq` (`<consumer>:r<seq>`): each direct
 * attempt is a fresh peer session, and the hub maps the id back to the consumer's socket.
 */
export function routeSessionId(consumer: string, seq: number): string {
  return `${consumer}:r${seq}`
}

/** The consumer and attempt of a direct session id, or undefined when `id` is not one. */
export function parseRouteSessionId(id: string): { consumer: string; seq: number } | undefined {
  const m = /^(.+):r(\d{1,9})$/.exec(id)
  return m ? { consumer: m[1], seq: Number(m[2]) } : undefined
}

/** A frame from the hub (route, serve, frame, error or a signaling envelope), parsed; undefined when it is not JSON. */
export function parseHubFrame(text: string): { kind?: unknown; [k: string]: any } | undefined {
  try {
    const f = JSON.parse(text)
    return typeof f === 'object' && f !== null ? f : undefined
  } catch {
    return undefined
  }
}
