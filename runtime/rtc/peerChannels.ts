/**
 * What a peer session's two data channels carry besides the session's own frames (issue 20.3,
 * "one WebRTC stack"): the member's channels and webspaces ride the member's peer session.
 *
 * - `events` (text): the session's frames (`{t:'ping'|'pong'|'msg'|'ack', seq}`) and the member's
 *   channel frames (protocol/channelFrame.ts, `{v:1, ch, ...}`), told apart by `v`. Channel frames
 *   are not the machine's: they are not journaled, and go to the ChannelFeature as the path
 *   `direct`, up while the session's `link` region is `open`.
 * - `sync` (binary): y-protocols frames of any webspace, each with a small header naming its
 *   webspace and attachment (a new attachment number starts a new sync session on the hub, as a
 *   new `/yws` socket would): `[n][attachment: n bytes utf-8][m][webspace: m bytes utf-8][frame]`.
 */

const enc = new TextEncoder()
const dec = new TextDecoder()

/** Whether a parsed `events` message is a channel frame (it has `v`), not one of the session's frames. */
export function isChannelFrame(f: unknown): boolean {
  return typeof f === 'object' && f !== null && 'v' in f
}

/** A `sync` message: the y-protocols `frame` of webspace `name` in sync session `attachment`. */
export function encodeSyncMessage(attachment: string, name: string, frame: Uint8Array): Uint8Array {
  const a = enc.encode(attachment)
  const n = enc.encode(name)
  if (a.length > 255 || n.length > 255) throw new RangeError('attachment and webspace names are at most 255 bytes')
  const out = new Uint8Array(2 + a.length + n.length + frame.length)
  out[0] = a.length
  out.set(a, 1)
  out[1 + a.length] = n.length
  out.set(n, 2 + a.length)
  out.set(frame, 2 + a.length + n.length)
  return out
}

/** The parts of a `sync` message, or null when its header does not fit in it. */
export function decodeSyncMessage(m: Uint8Array): { attachment: string; name: string; frame: Uint8Array } | null {
  if (m.length < 2) return null
  const al = m[0]
  if (2 + al > m.length) return null
  const nl = m[1 + al]
  const start = 2 + al + nl
  if (start > m.length) return null
  return {
    attachment: dec.decode(m.subarray(1, 1 + al)),
    name: dec.decode(m.subarray(2 + al, start)),
    frame: m.subarray(start),
  }
}
