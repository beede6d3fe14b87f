/**
 * Channel frames: what two semantic channels (machines/semanticChannel.ts) say to each other over
 * whichever path is active. JSON text, one frame per message, version 1:
 *
 *   {"v":1,"ch":"command","k":"cmd","id":"c-1","s":"sess","seq":1,"p":{...}}   a command (ordered, acked)
 *   {"v":1,"ch":"command","k":"ack","id":"c-1"}                              its acknowledgement
 *   {"v":1,"ch":"event","k":"evt","id":"e-9","p":{...}}                       an event (deduplicated by id)
 *   {"v":1,"ch":"presence","k":"sub","topic":"room/1"} / "k":"unsub"          subscriptions
 *   {"v":1,"ch":"command","k":"probe","id":"p-3"} / "k":"pong"                a path probe and its answer
 *
 * `s` is the sender's session: a new session (a reloaded page) starts its command seqs at 1.
 * `decodeChannelFrame` validates everything and throws a `ChannelFrameError` naming the field.
 */

export const CHANNELS = ['command', 'event', 'sync', 'presence', 'route', 'media'] as const
export type ChannelName = (typeof CHANNELS)[number]

export type ChannelFrame =
  | { v: 1; ch: ChannelName; k: 'cmd'; id: string; s: string; seq: number; p?: unknown }
  | { v: 1; ch: ChannelName; k: 'ack'; id: string }
  | { v: 1; ch: ChannelName; k: 'evt'; id: string; p?: unknown }
  | { v: 1; ch: ChannelName; k: 'sub' | 'unsub'; topic: string }
  | { v: 1; ch: ChannelName; k: 'probe' | 'pong'; id: string }

export class ChannelFrameError extends Error {
  readonly code = 'BAD_CHANNEL_FRAME'
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`bad channel frame: ${field} ${message}`)
    this.name = 'ChannelFrameError'
  }
}

/** Largest frame accepted (characters). */
export const MAX_CHANNEL_FRAME = 256 * 1024

export function encodeChannelFrame(f: ChannelFrame): string {
  return JSON.stringify(f)
}

const ID_RE = /^[A-Za-z0-9_.:@/-]{1,128}$/

export function decodeChannelFrame(text: unknown): ChannelFrame {
  if (typeof text !== 'string') throw new ChannelFrameError('frame', 'must be JSON text')
  if (text.length > MAX_CHANNEL_FRAME)
    throw new ChannelFrameError('frame', `is longer than ${MAX_CHANNEL_FRAME} characters`)
  let f: any
  try {
    f = JSON.parse(text)
  } catch {
    throw new ChannelFrameError('frame', 'is not JSON')
  }
  if (typeof f !== 'object' || f === null || Array.isArray(f)) throw new ChannelFrameError('frame', 'must be an object')
  if (f.v !== 1) throw new ChannelFrameError('v', 'must be 1')
  if (!CHANNELS.includes(f.ch)) throw new ChannelFrameError('ch', `must be one of ${CHANNELS.join(', ')}`)
  const id = () => {
    if (typeof f.id !== 'string' || !ID_RE.test(f.id))
      throw new ChannelFrameError('id', 'must be 1-128 of A-Z a-z 0-9 _ . : @ / -')
  }
  switch (f.k) {
    case 'cmd':
      id()
      if (typeof f.s !== 'string' || !ID_RE.test(f.s)) throw new ChannelFrameError('s', 'must be a session id')
      if (!Number.isSafeInteger(f.seq) || f.seq < 1) throw new ChannelFrameError('seq', 'must be an integer >= 1')
      return { v: 1, ch: f.ch, k: 'cmd', id: f.id, s: f.s, seq: f.seq, p: f.p }
    case 'evt':
      id()
      return { v: 1, ch: f.ch, k: 'evt', id: f.id, p: f.p }
    case 'ack':
    case 'probe':
    case 'pong':
      id()
      return { v: 1, ch: f.ch, k: f.k, id: f.id }
    case 'sub':
    case 'unsub':
      if (typeof f.topic !== 'string' || !f.topic || f.topic.length > 256)
        throw new ChannelFrameError('topic', 'must be a string of 1-256 characters')
      return { v: 1, ch: f.ch, k: f.k, topic: f.topic }
    default:
      throw new ChannelFrameError('k', 'must be cmd, ack, evt, sub, unsub, probe or pong')
  }
}
