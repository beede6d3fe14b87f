/**
 * Relay messages: how the root carries a member's channel frames (protocol/channelFrame.ts) to
 * the member's hub over NATS and back, for a browser attached to the root instead of the hub.
 * JSON, one per NATS message, version 1:
 *
 *   {"v":1,"t":"open","m":"alice","c":"root-7"}                 root -> hub: member alice attached (connection c)
 *   {"v":1,"t":"frame","m":"alice","c":"root-7","f":"{...}"}    either way: one channel frame (text)
 *   {"v":1,"t":"close","m":"alice","c":"root-7","r":"why"}      either way: the connection is gone
 *   {"v":1,"t":"sync","m":"alice","c":"root-7","a":"3","w":"notes","y":"AAE..."}
 *                                                                either way: one y-protocols frame (base64)
 *                                                                of webspace `w`, attachment `a`
 *
 * Sync frames travel on the member's `/relay` socket as binary messages (`encodeSyncFrame`):
 * the ASCII header `<attachment> <webspace> ` and then the y-protocols bytes, the same fields as
 * the direct path's `sync` data channel. A new attachment starts a new sync session at the hub
 * (its own update count and acks), as a new `/yws` socket would. The root checks the envelope
 * (attachment, webspace name, size); the hub's YjsWebspaces checks the y-protocols frame.
 *
 * Subjects: root -> hub `aether.hub.<hub>.relay`, hub -> root `aether.root.<hub>.relay`
 * (protocol/subjects.ts). Delivery over core NATS is at most once; what must arrive (commands)
 * is acked by id and sent again by the semantic channels at both ends. `decodeRelayMessage`
 * validates everything and throws a `RelayMessageError` naming the field; the channel frame inside
 * is validated by the receiver with `decodeChannelFrame`.
 */
import { MAX_CHANNEL_FRAME } from './channelFrame.ts'

export type RelayMessage =
  | { v: 1; t: 'open'; m: string; c: string }
  | { v: 1; t: 'frame'; m: string; c: string; f: string }
  | { v: 1; t: 'close'; m: string; c: string; r?: string }
  | { v: 1; t: 'sync'; m: string; c: string; a: string; w: string; y: string }

export const MEMBER_ID = /^[A-Za-z0-9_.-]{1,64}$/
export const RELAY_CONN_ID = /^[A-Za-z0-9_.:-]{1,128}$/
/** A sync attachment id, and a webspace name (the same rule as YjsWebspaces' WEBSPACE_NAME_RE). */
export const SYNC_ATTACHMENT = /^[A-Za-z0-9_.-]{1,32}$/
export const SYNC_WEBSPACE = /^[A-Za-z0-9_.-]{1,100}$/
/** Largest y-protocols frame the relay carries (bytes): base64 plus the envelope stays under MAX_RELAY_MESSAGE. */
export const MAX_RELAY_SYNC_BYTES = 512 * 1024
const B64 = /^[A-Za-z0-9+/]*={0,2}$/
/** Largest relay message (bytes): a maximal channel frame plus the envelope, under NATS's 1 MiB. */
export const MAX_RELAY_MESSAGE = 1000 * 1024

export class RelayMessageError extends Error {
  readonly code = 'BAD_RELAY_MESSAGE'
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`bad relay message: ${field} ${message}`)
    this.name = 'RelayMessageError'
  }
}

const enc = new TextEncoder()
const dec = new TextDecoder('utf-8', { fatal: true })

export function encodeRelayMessage(m: RelayMessage): Uint8Array {
  return enc.encode(JSON.stringify(m))
}

export function decodeRelayMessage(data: Uint8Array): RelayMessage {
  if (data.byteLength > MAX_RELAY_MESSAGE)
    throw new RelayMessageError('message', `is larger than ${MAX_RELAY_MESSAGE} bytes`)
  let text: string
  try {
    text = dec.decode(data)
  } catch {
    throw new RelayMessageError('message', 'is not UTF-8')
  }
  let o: any
  try {
    o = JSON.parse(text)
  } catch {
    throw new RelayMessageError('message', 'is not JSON')
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o))
    throw new RelayMessageError('message', 'must be an object')
  if (o.v !== 1) throw new RelayMessageError('v', 'must be 1')
  if (typeof o.m !== 'string' || !MEMBER_ID.test(o.m))
    throw new RelayMessageError('m', 'must be a member id (1-64 of A-Z a-z 0-9 _ . -)')
  if (typeof o.c !== 'string' || !RELAY_CONN_ID.test(o.c))
    throw new RelayMessageError('c', 'must be a connection id (1-128 of A-Z a-z 0-9 _ . : -)')
  for (const k of Object.keys(o))
    if (!['v', 't', 'm', 'c', 'f', 'r', 'a', 'w', 'y'].includes(k))
      throw new RelayMessageError(k, 'is not a field of a relay message')
  switch (o.t) {
    case 'open':
      return { v: 1, t: 'open', m: o.m, c: o.c }
    case 'frame':
      if (typeof o.f !== 'string' || o.f.length === 0 || o.f.length > MAX_CHANNEL_FRAME)
        throw new RelayMessageError('f', `must be a channel frame of 1-${MAX_CHANNEL_FRAME} characters`)
      return { v: 1, t: 'frame', m: o.m, c: o.c, f: o.f }
    case 'close':
      if (o.r !== undefined && (typeof o.r !== 'string' || o.r.length > 200))
        throw new RelayMessageError('r', 'must be a string of at most 200 characters')
      return { v: 1, t: 'close', m: o.m, c: o.c, ...(o.r !== undefined ? { r: o.r } : {}) }
    case 'sync':
      if (typeof o.a !== 'string' || !SYNC_ATTACHMENT.test(o.a))
        throw new RelayMessageError('a', 'must be an attachment id (1-32 of A-Z a-z 0-9 _ . -)')
      if (typeof o.w !== 'string' || !SYNC_WEBSPACE.test(o.w))
        throw new RelayMessageError('w', 'must be a webspace name (1-100 of A-Z a-z 0-9 _ . -)')
      if (
        typeof o.y !== 'string' ||
        o.y.length === 0 ||
        o.y.length % 4 !== 0 ||
        o.y.length > Math.ceil(MAX_RELAY_SYNC_BYTES / 3) * 4 ||
        !B64.test(o.y)
      )
        throw new RelayMessageError('y', `must be base64 of a y-protocols frame of 1-${MAX_RELAY_SYNC_BYTES} bytes`)
      return { v: 1, t: 'sync', m: o.m, c: o.c, a: o.a, w: o.w, y: o.y }
    default:
      throw new RelayMessageError('t', 'must be open, frame, close or sync')
  }
}

/** A sync frame on the member's socket: `<attachment> <webspace> ` (ASCII) then the y-protocols bytes. */
export function encodeSyncFrame(attachment: string, webspace: string, bytes: Uint8Array): Uint8Array {
  const head = enc.encode(`${attachment} ${webspace} `)
  const out = new Uint8Array(head.byteLength + bytes.byteLength)
  out.set(head, 0)
  out.set(bytes, head.byteLength)
  return out
}

/** Reads a member's binary sync frame; throws a RelayMessageError naming the bad part. */
export function decodeSyncFrame(data: Uint8Array): { a: string; w: string; y: Uint8Array } {
  const a = data.indexOf(0x20)
  if (a < 1 || a > 32)
    throw new RelayMessageError('a', 'a sync frame must start with an attachment id (1-32 characters) and a space')
  const b = data.indexOf(0x20, a + 1)
  if (b < a + 2 || b - a - 1 > 100)
    throw new RelayMessageError(
      'w',
      'a sync frame needs a webspace name (1-100 characters) and a space after the attachment',
    )
  const attachment = String.fromCharCode(...data.subarray(0, a))
  const webspace = String.fromCharCode(...data.subarray(a + 1, b))
  if (!SYNC_ATTACHMENT.test(attachment))
    throw new RelayMessageError('a', 'must be an attachment id (1-32 of A-Z a-z 0-9 _ . -)')
  if (!SYNC_WEBSPACE.test(webspace))
    throw new RelayMessageError('w', 'must be a webspace name (1-100 of A-Z a-z 0-9 _ . -)')
  const y = data.subarray(b + 1)
  if (y.byteLength === 0 || y.byteLength > MAX_RELAY_SYNC_BYTES)
    throw new RelayMessageError('y', `must be a y-protocols frame of 1-${MAX_RELAY_SYNC_BYTES} bytes`)
  return { a: attachment, w: webspace, y }
}
