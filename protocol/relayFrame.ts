/**
 * Relay messages: how the root carries a member's channel frames (protocol/channelFrame.ts) to
 * the member's hub over NATS and back, for a browser attached to the root instead of the hub.
 * JSON, one per NATS message, version 1:
 *
 *   {"v":1,"t":"open","m":"alice","c":"root-7"}                 root -> hub: member alice attached (connection c)
 *   {"v":1,"t":"frame","m":"alice","c":"root-7","f":"{...}"}    either way: one channel frame (text)
 *   {"v":1,"t":"close","m":"alice","c":"root-7","r":"why"}      either way: the connection is gone
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

export const MEMBER_ID = /^[A-Za-z0-9_.-]{1,64}$/
export const RELAY_CONN_ID = /^[A-Za-z0-9_.:-]{1,128}$/
/** Largest relay message (bytes): a maximal channel frame plus the envelope, under NATS's 1 MiB. */
export const MAX_RELAY_MESSAGE = 1000 * 1024

export class RelayMessageError extends Error {
  readonly code = 'BAD_RELAY_MESSAGE'
  constructor(readonly field: string, message: string) {
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
  if (data.byteLength > MAX_RELAY_MESSAGE) throw new RelayMessageError('message', `is larger than ${MAX_RELAY_MESSAGE} bytes`)
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
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new RelayMessageError('message', 'must be an object')
  if (o.v !== 1) throw new RelayMessageError('v', 'must be 1')
  if (typeof o.m !== 'string' || !MEMBER_ID.test(o.m)) throw new RelayMessageError('m', 'must be a member id (1-64 of A-Z a-z 0-9 _ . -)')
  if (typeof o.c !== 'string' || !RELAY_CONN_ID.test(o.c)) throw new RelayMessageError('c', 'must be a connection id (1-128 of A-Z a-z 0-9 _ . : -)')
  for (const k of Object.keys(o)) if (!['v', 't', 'm', 'c', 'f', 'r'].includes(k)) throw new RelayMessageError(k, 'is not a field of a relay message')
  switch (o.t) {
    case 'open':
      return { v: 1, t: 'open', m: o.m, c: o.c }
    case 'frame':
      if (typeof o.f !== 'string' || o.f.length === 0 || o.f.length > MAX_CHANNEL_FRAME) throw new RelayMessageError('f', `must be a channel frame of 1-${MAX_CHANNEL_FRAME} characters`)
      return { v: 1, t: 'frame', m: o.m, c: o.c, f: o.f }
    case 'close':
      if (o.r !== undefined && (typeof o.r !== 'string' || o.r.length > 200)) throw new RelayMessageError('r', 'must be a string of at most 200 characters')
      return { v: 1, t: 'close', m: o.m, c: o.c, ...(o.r !== undefined ? { r: o.r } : {}) }
    default:
      throw new RelayMessageError('t', 'must be open, frame or close')
  }
}
