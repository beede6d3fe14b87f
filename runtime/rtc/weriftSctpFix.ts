/**
 * A fix for werift 0.24.x's SCTP receiver, applied by the adapter (runtime/rtc/werift.ts) to the
 * association of each peer connection before data flows.
 *
 * The bug: `InboundStream.popMessages` delivers one message, then goes on with the next chunk as if
 * it continued that message's TSN run (it never resets its start position). A data channel's TSNs
 * are only consecutive while no other channel sends in between; so when a lost packet is
 * retransmitted (or packets arrive reordered) and the gap fills, only the first waiting message
 * is delivered. The rest stay in the reassembly queue until more chunks arrive on that stream,
 * each arrival releasing one: the last messages of a burst are held until the member sends again.
 * Seen as a webspace edit burst over the `sync` channel that never fully reached the hub
 * (test/runtime/channel/sync.e2e.test.ts, about 1 run in 14; test/runtime/rtc/weriftSctpFix.test.ts
 * shows it on werift's own InboundStream).
 *
 * The fixed generator below is werift's, with the start position reset after each delivered
 * message, so every complete message that is next in order (ordered) or complete (unordered) is
 * delivered at once.
 */

const LAST_FRAG = 0x01
const FIRST_FRAG = 0x02
const UNORDERED = 0x04

const uint16Gt = (a: number, b: number): boolean => {
  const half = 2 ** 15
  return (a < b && b - a > half) || (a > b && a - b < half)
}
const uint16Add = (a: number, b: number): number => (a + b) % 2 ** 16
const tsnPlusOne = (a: number): number => (a + 1) % 2 ** 32

interface Chunk {
  tsn: number
  streamSeqNum: number
  flags: number
  streamId: number
  protocol: number
  userData: Buffer
}

interface InboundStreamLike {
  reassembly: Chunk[]
  streamSequenceNumber: number
}

/** werift's `InboundStream.prototype.popMessages`, fixed. */
export function* popMessages(this: InboundStreamLike): Generator<[number, number, Buffer]> {
  let pos = 0
  let startPos: number | undefined
  let expectedTsn = 0
  let ordered = true
  while (pos < this.reassembly.length) {
    const chunk = this.reassembly[pos]
    if (startPos === undefined) {
      ordered = !(chunk.flags & UNORDERED)
      if (!(chunk.flags & FIRST_FRAG)) {
        if (ordered) break
        pos++
        continue
      }
      if (ordered && uint16Gt(chunk.streamSeqNum, this.streamSequenceNumber)) break
      expectedTsn = chunk.tsn
      startPos = pos
    } else if (chunk.tsn !== expectedTsn) {
      if (ordered) break
      startPos = undefined
      continue
    }
    if (chunk.flags & LAST_FRAG) {
      const userData = Buffer.concat(this.reassembly.slice(startPos, pos + 1).map((c) => c.userData))
      this.reassembly = [...this.reassembly.slice(0, startPos), ...this.reassembly.slice(pos + 1)]
      if (ordered && chunk.streamSeqNum === this.streamSequenceNumber)
        this.streamSequenceNumber = uint16Add(this.streamSequenceNumber, 1)
      pos = startPos
      // the next message starts afresh: its own first fragment, its own TSN run
      startPos = undefined
      yield [chunk.streamId, chunk.protocol, userData]
      continue
    }
    pos++
    expectedTsn = tsnPlusOne(expectedTsn)
  }
}

const FIXED = Symbol.for('aether.weriftSctpFix')
const COLLECT = Symbol.for('aether.weriftSctpFix.collect')
/** SCTP chunk type of DATA (RFC 4960 §3.2). */
const DATA = 0

interface ChunkLike {
  type: number
  bytes: Buffer
}

interface SctpLike {
  sackNeeded: boolean
  isStopped: boolean
  sendSack(): Promise<void>
  [COLLECT]?: (c: ChunkLike) => void
}

/**
 * werift's `SCTP.prototype.sendChunk`, wrapped: a DATA chunk sent while a SACK is owed carries
 * that SACK in the same packet (RFC 4960 §6.2 bundling; SACK first), instead of a packet for the
 * SACK alone (werift 0.24 acknowledges every DATA packet at once, right after delivering its
 * message). A message answered at once (the probe's ping and pong, a message and its ack) then
 * costs three packets, not four. werift's own `sendSack` builds the chunk and settles the rest
 * of its state (duplicates, counts); it hands the chunk to `sendChunk` synchronously, where it is
 * collected instead of sent.
 */
function bundlingSendChunk(original: (this: SctpLike, c: ChunkLike) => Promise<void>) {
  // async, as werift's: what it throws rejects (werift may call it with no chunk: timer1's retry
  // after the INIT was answered meanwhile, a rejection werift catches and logs)
  return async function sendChunk(this: SctpLike, chunk: ChunkLike): Promise<void> {
    const collect = this[COLLECT]
    if (collect) return collect(chunk)
    if (chunk?.type !== DATA || !this.sackNeeded || this.isStopped) return original.call(this, chunk)
    let sack: ChunkLike | undefined
    this[COLLECT] = (c) => {
      sack = c
    }
    try {
      void this.sendSack()
    } finally {
      this[COLLECT] = undefined
    }
    if (!sack) return original.call(this, chunk)
    // owed no more (werift's sendSack says so only after its await: a SACK scheduled meanwhile,
    // by the packet whose message this DATA answers, would go out alone all the same)
    this.sackNeeded = false
    return original.call(this, { type: DATA, bytes: Buffer.concat([sack.bytes, chunk.bytes]) })
  }
}

/**
 * Installs the fix on the prototypes behind a werift `SCTP` instance (`pc.sctpTransport.sctp`):
 * every inbound stream it (or any later association) creates uses the fixed `popMessages`, and its
 * DATA packets carry a SACK that is owed (`bundlingSendChunk`).
 * Idempotent; returns whether the SCTP prototype is (now) fixed.
 */
export function fixWeriftSctp(sctp: unknown): boolean {
  if (!sctp || typeof sctp !== 'object') return false
  const proto = Object.getPrototypeOf(sctp)
  if (typeof proto?.getInboundStream !== 'function') return false
  if (proto[FIXED]) return true
  const original = proto.getInboundStream
  proto.getInboundStream = function (this: unknown, streamId: number) {
    const stream = original.call(this, streamId)
    const sp = Object.getPrototypeOf(stream)
    if (sp && !sp[FIXED] && typeof sp.popMessages === 'function') {
      sp.popMessages = popMessages
      sp[FIXED] = true
    }
    return stream
  }
  if (typeof proto.sendChunk === 'function' && typeof proto.sendSack === 'function')
    proto.sendChunk = bundlingSendChunk(proto.sendChunk)
  proto[FIXED] = true
  return true
}
