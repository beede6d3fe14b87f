/**
 * WebRTC signaling messages: `rtc.offer | rtc.answer | rtc.ice | rtc.supersede`, and their
 * validation at the edge. Pure: no I/O, runs in Node and in the browser.
 *
 * Every message names the peer session (`peerSessionId`, which changes on a full rebuild), the
 * negotiation it belongs to (`negotiationId`, unique per offer), the sender (`fromNodeId`) and the
 * receiver (`targetNodeId`). Offers and answers carry the `mediaShape` they were built for, so a
 * receiver can tell a media-shape change from a recovery renegotiation.
 *
 * On the hub's `/ws` a message travels as the `payload` of an envelope whose `subject` is its type:
 *
 * ```
 * {"v":1,"id":"…","kind":"event","class":"B","subject":"rtc.offer","ts":1732200000000,
 *  "from":"member-1","to":"hub","payload":{"type":"rtc.offer","peerSessionId":"member-1.s0", …}}
 * ```
 *
 * (`encodeSignalFrame`/`decodeSignalFrame`; kept self-contained so it does not depend on the
 * general envelope module.) A bad frame yields a `SignalingError` with a stable `code` and the
 * field at fault; it never throws past `decode*`.
 */
import { decodeTraceParent } from './traceparent.ts'

/** Direction of one media slot, as the W3C `RTCRtpTransceiverDirection`. */
export type SlotDirection = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive'

/** The media slots of a peer session: one transceiver each, created once per session. */
export const MEDIA_SLOTS = ['microphone', 'camera', 'screen'] as const
export type MediaSlot = (typeof MEDIA_SLOTS)[number]

/** What the m-sections of a negotiation look like: one direction per slot. */
export type MediaShape = Record<MediaSlot, SlotDirection>

/**
 * Why an offer was made: a change of media shape, one rung of the recovery ladder, or `resume`:
 * the member's peer connection is new (its page reloaded) and the session goes on under the same
 * `peerSessionId` (the other side renews its peer to answer it).
 */
export const OFFER_PURPOSES = ['initial', 'shape', 'ice-restart', 'renegotiate', 'rebuild', 'resume'] as const
export type OfferPurpose = (typeof OFFER_PURPOSES)[number]

/** An ICE candidate as the W3C `RTCIceCandidateInit`. `candidate: ''` is end-of-candidates. */
export interface IceCandidateInit {
  candidate: string
  sdpMid?: string | null
  sdpMLineIndex?: number | null
  usernameFragment?: string | null
}

interface Base {
  peerSessionId: string
  negotiationId: string
  fromNodeId: string
  targetNodeId: string
}

export interface RtcOffer extends Base {
  type: 'rtc.offer'
  sdp: string
  mediaShape: MediaShape
  purpose: OfferPurpose
}
export interface RtcAnswer extends Base {
  type: 'rtc.answer'
  sdp: string
  mediaShape: MediaShape
}
export interface RtcIce extends Base {
  type: 'rtc.ice'
  candidate: IceCandidateInit
}
/**
 * The sender replaced `peerSessionId` by `newPeerSessionId` (a full rebuild); everything of the
 * old session is superseded. `reason` says why, for the journal and the operator.
 */
export interface RtcSupersede extends Base {
  type: 'rtc.supersede'
  newPeerSessionId: string
  reason: string
}

export type SignalingMessage = RtcOffer | RtcAnswer | RtcIce | RtcSupersede
export type SignalingType = SignalingMessage['type']
export const SIGNALING_TYPES: readonly SignalingType[] = ['rtc.offer', 'rtc.answer', 'rtc.ice', 'rtc.supersede']

export const SignalingErrorCode = {
  /** Not a JSON object, or not an envelope. */
  BadFrame: 'BAD_FRAME',
  /** `type`/`subject` is not one of the rtc.* types. */
  UnknownType: 'UNKNOWN_TYPE',
  /** A field is missing or has the wrong type or shape. */
  BadField: 'BAD_FIELD',
  /** The SDP is not an SDP of the right kind. */
  BadSdp: 'BAD_SDP',
  /** Too large. */
  TooLarge: 'TOO_LARGE',
} as const
export type SignalingErrorCode = (typeof SignalingErrorCode)[keyof typeof SignalingErrorCode]

/** A rejected signaling message: `code` is stable, `field` names what is wrong. */
export class SignalingError extends Error {
  readonly name = 'SignalingError'
  constructor(
    readonly code: SignalingErrorCode,
    readonly field: string,
    message: string,
  ) {
    super(message)
  }
  toJSON(): { code: string; field: string; message: string } {
    return { code: this.code, field: this.field, message: this.message }
  }
}

export type DecodeResult<T> = { ok: true; value: T } | { ok: false; error: SignalingError }

const ID_RE = /^[A-Za-z0-9_.:/-]{1,128}$/
const DIRECTIONS: readonly SlotDirection[] = ['sendrecv', 'sendonly', 'recvonly', 'inactive']
/** Largest SDP accepted (a session with a few m-sections is a few KB). */
export const MAX_SDP = 64 * 1024
export const MAX_FRAME = 96 * 1024

const fail = (code: SignalingErrorCode, field: string, message: string): { ok: false; error: SignalingError } => ({
  ok: false,
  error: new SignalingError(code, field, message),
})

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x)
}

function checkId(o: Record<string, unknown>, f: string): SignalingError | undefined {
  const v = o[f]
  if (typeof v !== 'string' || !ID_RE.test(v))
    return new SignalingError('BAD_FIELD', f, `"${f}" must be an id of 1-128 characters [A-Za-z0-9_.:/-]`)
  return undefined
}

/** Checks a media shape: exactly the known slots, each a direction. */
export function validateMediaShape(x: unknown, field = 'mediaShape'): DecodeResult<MediaShape> {
  if (!isObj(x))
    return fail('BAD_FIELD', field, `"${field}" must be an object {microphone, camera, screen} of directions`)
  const out = {} as MediaShape
  for (const slot of MEDIA_SLOTS) {
    const d = x[slot]
    if (typeof d !== 'string' || !DIRECTIONS.includes(d as SlotDirection))
      return fail('BAD_FIELD', `${field}.${slot}`, `"${field}.${slot}" must be one of ${DIRECTIONS.join(', ')}`)
    out[slot] = d as SlotDirection
  }
  for (const k of Object.keys(x))
    if (!(MEDIA_SLOTS as readonly string[]).includes(k))
      return fail('BAD_FIELD', `${field}.${k}`, `"${field}" has an unknown slot "${k}"`)
  return { ok: true, value: out }
}

/** Checks that `sdp` is an SDP session of the given type (structure only; the peer parses it). */
export function validateSdp(sdp: unknown, kind: 'offer' | 'answer'): SignalingError | undefined {
  if (typeof sdp !== 'string') return new SignalingError('BAD_FIELD', 'sdp', '"sdp" must be a string')
  if (sdp.length > MAX_SDP) return new SignalingError('TOO_LARGE', 'sdp', `"sdp" is longer than ${MAX_SDP} characters`)
  if (!sdp.startsWith('v=0')) return new SignalingError('BAD_SDP', 'sdp', `the ${kind} SDP must start with "v=0"`)
  const lines = sdp.split(/\r?\n/)
  if (!lines.some((l) => l.startsWith('o=')))
    return new SignalingError('BAD_SDP', 'sdp', `the ${kind} SDP has no "o=" line`)
  if (!lines.some((l) => l.startsWith('m=')))
    return new SignalingError('BAD_SDP', 'sdp', `the ${kind} SDP has no m-section`)
  if (!lines.some((l) => l.startsWith('a=ice-ufrag:')))
    return new SignalingError('BAD_SDP', 'sdp', `the ${kind} SDP has no ICE credentials (a=ice-ufrag)`)
  if (!lines.some((l) => l.startsWith('a=fingerprint:')))
    return new SignalingError('BAD_SDP', 'sdp', `the ${kind} SDP has no DTLS fingerprint`)
  for (const l of lines)
    if (l !== '' && !/^[a-z]=/.test(l))
      return new SignalingError('BAD_SDP', 'sdp', `the ${kind} SDP has a malformed line "${l.slice(0, 40)}"`)
  return undefined
}

function validateCandidate(x: unknown): DecodeResult<IceCandidateInit> {
  if (!isObj(x))
    return fail('BAD_FIELD', 'candidate', '"candidate" must be an object {candidate, sdpMid?, sdpMLineIndex?}')
  const c = x.candidate
  if (typeof c !== 'string' || c.length > 1024)
    return fail('BAD_FIELD', 'candidate.candidate', '"candidate.candidate" must be a string (at most 1024 characters)')
  if (
    c !== '' &&
    !/^(a=)?candidate:\S+ \d+ (udp|tcp|UDP|TCP) \d+ \S+ \d+ typ (host|srflx|prflx|relay)( .*)?$/.test(c)
  ) {
    return fail(
      'BAD_FIELD',
      'candidate.candidate',
      '"candidate.candidate" is not an ICE candidate line ("candidate:F C udp P ADDR PORT typ host ...")',
    )
  }
  if (x.sdpMid !== undefined && x.sdpMid !== null && (typeof x.sdpMid !== 'string' || x.sdpMid.length > 64))
    return fail('BAD_FIELD', 'candidate.sdpMid', '"candidate.sdpMid" must be a short string or null')
  if (
    x.sdpMLineIndex !== undefined &&
    x.sdpMLineIndex !== null &&
    (!Number.isInteger(x.sdpMLineIndex) || (x.sdpMLineIndex as number) < 0 || (x.sdpMLineIndex as number) > 64)
  ) {
    return fail('BAD_FIELD', 'candidate.sdpMLineIndex', '"candidate.sdpMLineIndex" must be an integer 0-64 or null')
  }
  if (
    x.usernameFragment !== undefined &&
    x.usernameFragment !== null &&
    (typeof x.usernameFragment !== 'string' || x.usernameFragment.length > 256)
  ) {
    return fail('BAD_FIELD', 'candidate.usernameFragment', '"candidate.usernameFragment" must be a string or null')
  }
  const out: IceCandidateInit = { candidate: c }
  if (x.sdpMid !== undefined) out.sdpMid = x.sdpMid as string | null
  if (x.sdpMLineIndex !== undefined) out.sdpMLineIndex = x.sdpMLineIndex as number | null
  if (x.usernameFragment !== undefined) out.usernameFragment = x.usernameFragment as string | null
  return { ok: true, value: out }
}

/** Validates a signaling message (the payload); returns a fresh object with only known fields. */
export function validateSignal(x: unknown): DecodeResult<SignalingMessage> {
  if (!isObj(x)) return fail('BAD_FRAME', 'payload', 'a signaling message must be a JSON object')
  const type = x.type
  if (typeof type !== 'string' || !(SIGNALING_TYPES as readonly string[]).includes(type))
    return fail('UNKNOWN_TYPE', 'type', `"type" must be one of ${SIGNALING_TYPES.join(', ')}`)
  for (const f of ['peerSessionId', 'negotiationId', 'fromNodeId', 'targetNodeId']) {
    const e = checkId(x, f)
    if (e) return { ok: false, error: e }
  }
  const base = {
    peerSessionId: x.peerSessionId as string,
    negotiationId: x.negotiationId as string,
    fromNodeId: x.fromNodeId as string,
    targetNodeId: x.targetNodeId as string,
  }
  if (type === 'rtc.offer' || type === 'rtc.answer') {
    const kind = type === 'rtc.offer' ? 'offer' : 'answer'
    const e = validateSdp(x.sdp, kind)
    if (e) return { ok: false, error: e }
    const shape = validateMediaShape(x.mediaShape)
    if (!shape.ok) return shape
    if (type === 'rtc.answer')
      return { ok: true, value: { type, ...base, sdp: x.sdp as string, mediaShape: shape.value } }
    if (typeof x.purpose !== 'string' || !(OFFER_PURPOSES as readonly string[]).includes(x.purpose))
      return fail('BAD_FIELD', 'purpose', `"purpose" must be one of ${OFFER_PURPOSES.join(', ')}`)
    return {
      ok: true,
      value: { type, ...base, sdp: x.sdp as string, mediaShape: shape.value, purpose: x.purpose as OfferPurpose },
    }
  }
  if (type === 'rtc.ice') {
    const c = validateCandidate(x.candidate)
    if (!c.ok) return c
    return { ok: true, value: { type, ...base, candidate: c.value } }
  }
  const e = checkId(x, 'newPeerSessionId')
  if (e) return { ok: false, error: e }
  if (typeof x.reason !== 'string' || x.reason.length === 0 || x.reason.length > 200)
    return fail('BAD_FIELD', 'reason', '"reason" must be a non-empty string of at most 200 characters')
  return {
    ok: true,
    value: { type: 'rtc.supersede', ...base, newPeerSessionId: x.newPeerSessionId as string, reason: x.reason },
  }
}

/** The envelope a signaling message travels in on `/ws`. */
export interface SignalFrame {
  v: 1
  id: string
  kind: 'event'
  class: 'B'
  subject: SignalingType
  ts: number
  from: string
  to: string
  payload: SignalingMessage
  /** W3C `traceparent` of the sender's negotiation span (protocol/traceparent.ts), when it traces. */
  trace?: string
}

/**
 * Wraps a message for the wire. `id` and `ts` are the caller's (ids and time are injected);
 * `trace`, a W3C traceparent, goes in the envelope, never in the message the actor journals.
 */
export function encodeSignalFrame(msg: SignalingMessage, id: string, ts: number, trace?: string): string {
  const f: SignalFrame = {
    v: 1,
    id,
    kind: 'event',
    class: 'B',
    subject: msg.type,
    ts,
    from: msg.fromNodeId,
    to: msg.targetNodeId,
    payload: msg,
  }
  if (trace) f.trace = trace
  return JSON.stringify(f)
}

/**
 * Parses and validates a frame from the wire (text or already-parsed JSON). A valid `trace`
 * (W3C traceparent) comes back beside the message; one that does not parse is dropped and
 * `badTrace` says so (trace context is advice: the frame is still good).
 */
export function decodeSignalFrame(
  data: unknown,
): DecodeResult<SignalingMessage> & { trace?: string; badTrace?: boolean } {
  let x = data
  if (typeof data === 'string') {
    if (data.length > MAX_FRAME)
      return fail('TOO_LARGE', 'frame', `a signaling frame is at most ${MAX_FRAME} characters`)
    try {
      x = JSON.parse(data)
    } catch {
      return fail('BAD_FRAME', 'frame', 'the frame is not JSON')
    }
  }
  if (!isObj(x))
    return fail('BAD_FRAME', 'frame', 'the frame must be a JSON object envelope {v, id, kind, subject, payload}')
  if (x.v !== 1) return fail('BAD_FRAME', 'v', '"v" must be 1')
  if (typeof x.id !== 'string' || x.id.length === 0 || x.id.length > 128)
    return fail('BAD_FRAME', 'id', '"id" must be a non-empty string')
  if (typeof x.subject !== 'string' || !(SIGNALING_TYPES as readonly string[]).includes(x.subject))
    return fail('UNKNOWN_TYPE', 'subject', `"subject" must be one of ${SIGNALING_TYPES.join(', ')}`)
  const r = validateSignal(x.payload)
  if (!r.ok) return r
  if (r.value.type !== x.subject)
    return fail('BAD_FRAME', 'subject', `"subject" (${x.subject}) differs from the payload's type (${r.value.type})`)
  if (x.trace === undefined) return r
  return decodeTraceParent(x.trace) ? { ...r, trace: x.trace as string } : { ...r, badTrace: true }
}

/** A media shape with every slot set to `d`. */
export function uniformShape(d: SlotDirection): MediaShape {
  return { microphone: d, camera: d, screen: d }
}

export function sameShape(a: MediaShape, b: MediaShape): boolean {
  return MEDIA_SLOTS.every((s) => a[s] === b[s])
}
