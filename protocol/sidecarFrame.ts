/**
 * The local wire between a hub and its transport sidecar (`aether sidecar`): the hub's side of
 * a NATS connection (subscribe, publish, request, flush) carried over a Unix socket, so the
 * connection itself can live in another process. Version 1, one frame after another:
 *
 *   u32 BE  n: the length of what follows (2 + header + body), at most MAX_SIDECAR_FRAME
 *   u16 BE  h: the header's length
 *   h bytes the header: a JSON object whose `op` names the frame (below)
 *   rest    the body: the NATS message's bytes (pub, msg, req, res), else empty
 *
 * Hub -> sidecar:
 *   {"op":"hello","v":1,"channel":"control"|"data","name":"hub-1","token":"..."}  first frame
 *   {"op":"sub","sid":3,"subject":"aether.hub.hub-1.ack","queue":"q"}
 *   {"op":"unsub","sid":3}
 *   {"op":"pub","subject":"...","reply":"...","tp":"00-...-01"}                   body: data
 *   {"op":"req","id":7,"subject":"...","ms":2000}                                body: data
 *   {"op":"flush","id":8}    {"op":"status","id":9}
 * Sidecar -> hub:
 *   {"op":"welcome","status":"connected","sidecar":"sc-1a2b"}  {"op":"nats","status":"reconnecting","prev":"connected","error":"..."}
 *   {"op":"msg","sid":3,"subject":"...","reply":"...","tp":"..."}               body: data
 *   {"op":"res","id":7,"error":"..."}                                            body: the reply (req), status JSON (status)
 *   {"op":"bye","reason":"superseded by a newer control client"}
 *
 * `SidecarFrameReader` takes the socket's chunks as they come and returns whole frames, each
 * header checked against its op's schema; a bad frame throws a `ProtocolError` naming the field.
 */
import { ProtocolError } from './errors.ts'
import { int, lit, obj, str, type Schema } from './schema.ts'

/** Largest frame (header and body) either side accepts. */
export const MAX_SIDECAR_FRAME = 8 << 20
export const SIDECAR_WIRE_VERSION = 1

const subject = str({ minLength: 1, maxLength: 512, pattern: /^[^\s]+$/ })
const id = int({ min: 0 })
const status = str({ enum: ['connecting', 'connected', 'reconnecting', 'closed'] })
const text = str({ maxLength: 2000 })

const headerSchemas = {
  hello: obj(
    {
      op: lit('hello'),
      v: lit(1),
      channel: str({ enum: ['control', 'data'] }),
      name: str({ minLength: 1, maxLength: 128 }),
      token: str({ maxLength: 512 }),
    },
    ['op', 'v', 'channel', 'name'],
  ),
  sub: obj({ op: lit('sub'), sid: id, subject, queue: str({ maxLength: 128 }) }, ['op', 'sid', 'subject']),
  unsub: obj({ op: lit('unsub'), sid: id }, ['op', 'sid']),
  pub: obj({ op: lit('pub'), subject, reply: subject, tp: str({ maxLength: 128 }) }, ['op', 'subject']),
  req: obj({ op: lit('req'), id, subject, ms: int({ min: 1, max: 600_000 }) }, ['op', 'id', 'subject', 'ms']),
  flush: obj({ op: lit('flush'), id }, ['op', 'id']),
  status: obj({ op: lit('status'), id }, ['op', 'id']),
  welcome: obj({ op: lit('welcome'), status, sidecar: str({ maxLength: 64 }), error: text }, [
    'op',
    'status',
    'sidecar',
  ]),
  nats: obj({ op: lit('nats'), status, prev: status, error: text }, ['op', 'status', 'prev']),
  msg: obj({ op: lit('msg'), sid: id, subject, reply: subject, tp: str({ maxLength: 128 }) }, ['op', 'sid', 'subject']),
  res: obj({ op: lit('res'), id, error: text }, ['op', 'id']),
  bye: obj({ op: lit('bye'), reason: text }, ['op', 'reason']),
} satisfies Record<string, Schema>

export type SidecarOp = keyof typeof headerSchemas
type HeaderOf<K extends SidecarOp> = NonNullable<(typeof headerSchemas)[K]['_type']>
/** One decoded header, discriminated on `op`. */
export type SidecarHeader = { [K in SidecarOp]: HeaderOf<K> }[SidecarOp]

export interface SidecarFrame {
  header: SidecarHeader
  body: Uint8Array
}

const utf8 = new TextEncoder()
const fromUtf8 = new TextDecoder()
const EMPTY = new Uint8Array(0)

/** Encodes one frame; the header is not checked here (the sender builds it from typed values). */
export function encodeSidecarFrame(header: SidecarHeader, body: Uint8Array = EMPTY): Uint8Array {
  const h = utf8.encode(JSON.stringify(header))
  const out = new Uint8Array(6 + h.length + body.length)
  const dv = new DataView(out.buffer)
  dv.setUint32(0, 2 + h.length + body.length)
  dv.setUint16(4, h.length)
  out.set(h, 6)
  out.set(body, 6 + h.length)
  return out
}

/** Checks one header (parsed JSON) against its op's schema. */
export function decodeSidecarHeader(value: unknown): SidecarHeader {
  const op = (value as { op?: unknown } | null)?.op
  if (typeof op !== 'string' || !(op in headerSchemas))
    throw new ProtocolError('UNKNOWN_KIND', `field "op" must be one of ${Object.keys(headerSchemas).join(' | ')}`, 'op')
  headerSchemas[op as SidecarOp].check(value, '')
  return value as SidecarHeader
}

/** Reassembles frames from a byte stream (socket chunks in any sizes). */
export class SidecarFrameReader {
  private buf: Uint8Array = EMPTY
  private used = 0

  /** Appends a chunk and returns the frames it completed; throws on a bad frame (then drop the stream). */
  push(chunk: Uint8Array): SidecarFrame[] {
    if (this.used === 0 && this.buf.length === 0) this.buf = chunk
    else {
      const rest = this.buf.subarray(this.used)
      const next = new Uint8Array(rest.length + chunk.length)
      next.set(rest)
      next.set(chunk, rest.length)
      this.buf = next
      this.used = 0
    }
    const frames: SidecarFrame[] = []
    const b = this.buf
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength)
    let at = this.used
    while (b.length - at >= 6) {
      const n = dv.getUint32(at)
      if (n > MAX_SIDECAR_FRAME || n < 2)
        throw new ProtocolError('TOO_LARGE', `a sidecar frame must be 2 to ${MAX_SIDECAR_FRAME} bytes, got ${n}`)
      if (b.length - at - 4 < n) break
      const h = dv.getUint16(at + 4)
      if (h > n - 2) throw new ProtocolError('BAD_FIELD', `the header length ${h} exceeds the frame (${n - 2})`)
      let parsed: unknown
      try {
        parsed = JSON.parse(fromUtf8.decode(b.subarray(at + 6, at + 6 + h)))
      } catch (err) {
        throw new ProtocolError('BAD_JSON', 'a sidecar frame header is not JSON', undefined, { cause: err })
      }
      frames.push({ header: decodeSidecarHeader(parsed), body: b.subarray(at + 6 + h, at + 4 + n) })
      at += 4 + n
    }
    if (at === b.length) {
      this.buf = EMPTY
      this.used = 0
    } else this.used = at
    return frames
  }
}
