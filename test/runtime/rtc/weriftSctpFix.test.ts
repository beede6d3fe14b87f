/**
 * werift 0.24's SCTP receiver held every message but the first after a filled gap when the
 * stream's TSNs were not consecutive (another data channel sending in between). The fix
 * (runtime/rtc/weriftSctpFix.ts) is installed on a real werift association's prototypes.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import fc from 'fast-check'
import { createRequire } from 'node:module'
import { fixWeriftSctp, popMessages } from '../../../runtime/rtc/weriftSctpFix.ts'
import { openBareWeriftPair } from '../../../runtime/rtc/werift.ts'

const require = createRequire(import.meta.url)
// werift's CommonJS build of the same class (the package's exports map hides it; the path does not)
const { InboundStream } = require(
  require.resolve('werift').replace(/lib\/webrtc\/src\/index\.js$/, 'lib/sctp/src/sctp.js'),
)

const chunk = (tsn: number, ssn: number, streamId = 1) => ({
  tsn,
  streamSeqNum: ssn,
  flags: 3,
  streamId,
  protocol: 51,
  userData: Buffer.from(`m${ssn}`),
})

/** m0 arrives; m1 is lost and retransmitted after m2 and m3; TSNs step by 2 (another channel between). */
function scenario(stream: any): string[] {
  const got: string[] = []
  const arrive = (c: any) => {
    stream.addChunk(c)
    for (const m of stream.popMessages()) got.push(m[2].toString())
  }
  arrive(chunk(100, 0))
  arrive(chunk(104, 2))
  arrive(chunk(106, 3))
  arrive(chunk(102, 1))
  return got
}

const t = suite('werift SCTP receive fix')

t('werift 0.24 as shipped holds m2 and m3 after the retransmission fills the gap (the bug)', () => {
  assert.equal(scenario(new InboundStream()), ['m0', 'm1'])
})

t('the fixed popMessages delivers every waiting message in order', () => {
  const s = new InboundStream()
  s.popMessages = popMessages
  assert.equal(scenario(s), ['m0', 'm1', 'm2', 'm3'])
  assert.equal(s.reassembly, [])
})

t('fixWeriftSctp patches the inbound streams of a real werift association', async () => {
  const { RTCPeerConnection } = await import('werift')
  const pc = new RTCPeerConnection({ iceServers: [] })
  pc.createDataChannel('events', { negotiated: true, id: 0, ordered: true })
  const sctp = (pc as any).sctpTransport.sctp
  assert.ok(fixWeriftSctp(sctp))
  assert.ok(fixWeriftSctp(sctp), 'idempotent')
  assert.equal(scenario(sctp.getInboundStream(1)), ['m0', 'm1', 'm2', 'm3'])
  await pc.close()
})

t('a DATA packet sent while a SACK is owed carries it (bundled, SACK first)', async () => {
  const pair = await openBareWeriftPair()
  try {
    const [, b] = pair.peers
    const sctp = (b as any).sctpTransport.sctp
    // the first chunk type of each SCTP packet b sends (common header: 12 bytes)
    const sent: number[][] = []
    const send = sctp.transport.send.bind(sctp.transport)
    sctp.transport.send = (packet: Buffer) => {
      const types: number[] = []
      for (let o = 12; o + 4 <= packet.length; ) {
        types.push(packet[o])
        o += (packet.readUInt16BE(o + 2) + 3) & ~3
      }
      sent.push(types)
      return send(packet)
    }
    const [ca, cb] = [pair.channels[0].events, pair.channels[1].events]
    const answered = new Promise<void>((resolve) => ca.onMessage.subscribe(() => resolve()))
    // b answers at once, as the probe's follower does
    cb.onMessage.subscribe((m: any) => cb.send(`pong ${m}`))
    ca.send('ping')
    await answered
    await new Promise((r) => setTimeout(r, 400))
    assert.equal(sent[0], [3, 0], 'the answer carries the SACK of the ping')
    assert.equal(sent.length, 1, 'no SACK sent alone after the delay')
    // werift calls sendChunk with no chunk (timer1's retry after the INIT was answered): a
    // rejection it catches, as werift's own sendChunk gives, never a synchronous throw
    let rejected = false
    await sctp.sendChunk(undefined).catch(() => (rejected = true))
    assert.ok(rejected)
  } finally {
    pair.close()
  }
})

t('any arrival order of single-chunk messages: all delivered once, in SSN order (property)', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 2, max: 30 }),
      fc.integer({ min: 0, max: 2 ** 32 - 200 }),
      fc.array(fc.nat(), { minLength: 30, maxLength: 30 }),
      (n, base, keys) => {
        const s = new InboundStream()
        s.popMessages = popMessages
        // TSNs with gaps (other streams' chunks between), arriving in a random order
        const chunks = Array.from({ length: n }, (_, i) => chunk(base + 3 * i, i))
        const order = chunks
          .map((c, i) => ({ c, k: keys[i] }))
          .sort((a, b) => a.k - b.k)
          .map((x) => x.c)
        const got: string[] = []
        for (const c of order) {
          s.addChunk(c)
          for (const m of s.popMessages()) got.push(m[2].toString())
        }
        return got.join(',') === chunks.map((c) => `m${c.streamSeqNum}`).join(',') && s.reassembly.length === 0
      },
    ),
    { numRuns: 300, seed: 5 },
  )
})

t.run()
