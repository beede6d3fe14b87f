/**
 * The envelope every hub<->root message travels in, and its delivery classes.
 *
 *   { v, id, kind: command|event|state|ack, class: A|B|C, subject, streamId?, cursor?, key?,
 *     ts, from, to?, payload }
 *
 * - Class A (must not lose): the sender keeps it in a persisted outbox under a per-stream
 *   `cursor` (1, 2, 3, ...) until acked; the receiver persists it and its cursor, applies each
 *   cursor once and in order, and ignores duplicates and stale cursors.
 * - Class B (retryable request): carries an idempotency `key`; the receiver answers a retry of
 *   the same key with its cached answer.
 * - Class C (ephemeral: presence, telemetry, route frames): may be dropped under pressure, and
 *   drops are counted.
 *
 * Wire frame (one NATS message): UTF-8 JSON, either one envelope object or an array of at most
 * `MAX_BATCH` envelopes (Class A records are batched this way). Frames above `MAX_FRAME_BYTES`
 * are refused before parsing.
 *
 * Pure: no node:*, runs in the browser.
 */
import { ProtocolError } from './errors.ts'
import { messageSchemas, envelopeSchema, type MessageSubject } from './messages.ts'

export const PROTOCOL_VERSION = 1

export const Kind = { command: 'command', event: 'event', state: 'state', ack: 'ack' } as const
export type Kind = (typeof Kind)[keyof typeof Kind]

export const DeliveryClass = { A: 'A', B: 'B', C: 'C' } as const
export type DeliveryClass = (typeof DeliveryClass)[keyof typeof DeliveryClass]

export interface Envelope<P = unknown> {
  v: 1
  id: string
  kind: Kind
  class: DeliveryClass
  subject: MessageSubject
  streamId?: string
  cursor?: number
  key?: string
  ts: number
  from: string
  to?: string
  payload: P
}

/** Largest frame a receiver parses (bytes). */
export const MAX_FRAME_BYTES = 1 << 20
/** Most envelopes in one batch frame. */
export const MAX_BATCH = 1024

const decoder = new TextDecoder('utf-8', { fatal: true })
const encoder = new TextEncoder()

/** Checks an already parsed value: the envelope's fields, then its subject's payload schema. */
export function validateEnvelope(value: unknown, path = ''): Envelope {
  envelopeSchema.check(value, path)
  const env = value as unknown as Envelope
  const p = (f: string) => (path ? `${path}.${f}` : f)
  const m = messageSchemas[env.subject]
  if (!m)
    throw new ProtocolError(
      'UNKNOWN_SUBJECT',
      `field "${p('subject')}" names no known message: "${String(env.subject).slice(0, 60)}"`,
      p('subject'),
    )
  if (env.kind !== m.kind)
    throw new ProtocolError('BAD_FIELD', `field "${p('kind')}" must be "${m.kind}" for ${env.subject}`, p('kind'))
  if (env.class !== m.class)
    throw new ProtocolError('WRONG_CLASS', `field "${p('class')}" must be "${m.class}" for ${env.subject}`, p('class'))
  if (env.class === 'A' && env.kind !== 'ack') {
    if (env.streamId === undefined)
      throw new ProtocolError('MISSING_FIELD', `field "${p('streamId')}" is required for Class A`, p('streamId'))
    if (env.cursor === undefined)
      throw new ProtocolError('MISSING_FIELD', `field "${p('cursor')}" is required for Class A`, p('cursor'))
  }
  if (env.class === 'B' && env.kind === 'command' && env.key === undefined)
    throw new ProtocolError('MISSING_FIELD', `field "${p('key')}" (idempotency key) is required for Class B`, p('key'))
  m.payload.check(env.payload, p('payload'))
  return env
}

/** Parses and validates one frame: an envelope or a batch of them. Throws `ProtocolError`. */
export function decodeFrame(data: Uint8Array | string, maxBytes = MAX_FRAME_BYTES): Envelope[] {
  const size = typeof data === 'string' ? data.length : data.byteLength
  if (size > maxBytes) throw new ProtocolError('TOO_LARGE', `the frame has ${size} bytes, more than ${maxBytes}`)
  let parsed: unknown
  try {
    parsed = JSON.parse(typeof data === 'string' ? data : decoder.decode(data))
  } catch (err) {
    throw new ProtocolError(
      'BAD_JSON',
      `the frame is not UTF-8 JSON: ${(err as Error).message.slice(0, 80)}`,
      undefined,
      { cause: err },
    )
  }
  if (Array.isArray(parsed)) {
    if (parsed.length === 0) throw new ProtocolError('BAD_FIELD', 'a batch frame must hold at least one envelope', '[]')
    if (parsed.length > MAX_BATCH)
      throw new ProtocolError(
        'TOO_LARGE',
        `a batch frame holds at most ${MAX_BATCH} envelopes, got ${parsed.length}`,
        '[]',
      )
    const out = new Array<Envelope>(parsed.length)
    for (let i = 0; i < parsed.length; i++) out[i] = validateEnvelope(parsed[i], `[${i}]`)
    return out
  }
  return [validateEnvelope(parsed)]
}

/** Decodes a frame that must hold exactly one envelope. */
export function decodeEnvelope(data: Uint8Array | string, maxBytes = MAX_FRAME_BYTES): Envelope {
  const all = decodeFrame(data, maxBytes)
  if (all.length !== 1) throw new ProtocolError('BAD_FIELD', 'expected one envelope, got a batch', '[]')
  return all[0]
}

/** Encodes one envelope or a batch as a frame. */
export function encodeFrame(envs: Envelope | Envelope[]): Uint8Array {
  return encoder.encode(JSON.stringify(envs))
}

/** A batch frame from envelopes already serialized as JSON text (no re-stringify per send). */
export function encodeBatchOfJson(jsonEnvelopes: readonly string[]): Uint8Array {
  return encoder.encode(`[${jsonEnvelopes.join(',')}]`)
}

let idCounter = 0
/** A message id unique per sender: `<from>-<time base36>-<counter base36>` unless given. */
export function messageId(from: string, now: number): string {
  idCounter = (idCounter + 1) % 0x7fffffff
  return `${from}-${now.toString(36)}-${idCounter.toString(36)}`
}

/** Builds an envelope with the right kind and class for `subject`. */
export function envelope<P>(
  subject: MessageSubject,
  from: string,
  payload: P,
  extra: Partial<Pick<Envelope, 'id' | 'streamId' | 'cursor' | 'key' | 'to' | 'ts'>> = {},
): Envelope<P> {
  const m = messageSchemas[subject]
  const ts = extra.ts ?? Date.now()
  return {
    v: 1,
    id: extra.id ?? messageId(from, ts),
    kind: m.kind,
    class: m.class,
    subject,
    ts,
    from,
    payload,
    ...stripUndefined(extra),
  } as Envelope<P>
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {}
  for (const k in o) if (o[k] !== undefined) out[k] = o[k]
  return out
}
