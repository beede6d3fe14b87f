/**
 * Signaling messages at the edge: every frame either decodes to a well-formed message or yields a
 * typed SignalingError (stable code, the field at fault); nothing throws.
 */
import fc from 'fast-check'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import {
  decodeSignalFrame,
  encodeSignalFrame,
  SignalingError,
  SignalingErrorCode,
  uniformShape,
  validateSignal,
  type SignalingMessage,
} from '../../protocol/signaling.ts'

const SDP =
  'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=ice-ufrag:abcd\r\na=ice-pwd:xyz\r\na=fingerprint:sha-256 AA:BB\r\n'
const base = { peerSessionId: 'm1.g0', negotiationId: 'm1.0.1', fromNodeId: 'm1', targetNodeId: 'hub' }
const valid: SignalingMessage[] = [
  { type: 'rtc.offer', ...base, sdp: SDP, mediaShape: uniformShape('inactive'), purpose: 'initial' },
  {
    type: 'rtc.answer',
    ...base,
    sdp: SDP,
    mediaShape: { microphone: 'inactive', camera: 'sendrecv', screen: 'recvonly' },
  },
  {
    type: 'rtc.ice',
    ...base,
    candidate: {
      candidate: 'candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host generation 0 ufrag ab',
      sdpMid: '0',
      sdpMLineIndex: 0,
    },
  },
  { type: 'rtc.supersede', ...base, newPeerSessionId: 'm1.g1', reason: 'probe silent' },
]
const CODES = Object.values(SignalingErrorCode)

function typed(r: ReturnType<typeof decodeSignalFrame>): void {
  if (r.ok) return
  assert.instance(r.error, SignalingError)
  assert.ok(CODES.includes(r.error.code), r.error.code)
  assert.type(r.error.field, 'string')
  assert.ok(r.error.field.length > 0)
  assert.ok(r.error.message.length > 0)
}

const Codec = suite('signaling - codec')

Codec('signaling - valid messages round-trip through the envelope', () => {
  for (const m of valid) {
    const r = decodeSignalFrame(encodeSignalFrame(m, 'id-1', 1))
    assert.ok(r.ok)
    if (r.ok) assert.equal(r.value, m)
  }
})

Codec('signaling - each kind of bad field is named', () => {
  const bad = (patch: Record<string, unknown>, field: string, code: string) => {
    const r = validateSignal({ ...valid[0], ...patch })
    assert.not.ok(r.ok)
    if (!r.ok) {
      assert.is(r.error.field, field)
      assert.is(r.error.code, code)
    }
  }
  bad({ peerSessionId: '' }, 'peerSessionId', 'BAD_FIELD')
  bad({ negotiationId: 'a b' }, 'negotiationId', 'BAD_FIELD')
  bad({ sdp: 'hello' }, 'sdp', 'BAD_SDP')
  bad({ sdp: 'v=0\r\no=x\r\nm=audio 9 x\r\n' }, 'sdp', 'BAD_SDP')
  bad({ sdp: 'v=0' + 'x'.repeat(70_000) }, 'sdp', 'TOO_LARGE')
  bad(
    { mediaShape: { microphone: 'up', camera: 'inactive', screen: 'inactive' } },
    'mediaShape.microphone',
    'BAD_FIELD',
  )
  bad({ mediaShape: { ...uniformShape('inactive'), extra: 'inactive' } }, 'mediaShape.extra', 'BAD_FIELD')
  bad({ purpose: 'whim' }, 'purpose', 'BAD_FIELD')
  bad({ type: 'rtc.bye' }, 'type', 'UNKNOWN_TYPE')
  const ice = validateSignal({ ...valid[2], candidate: { candidate: 'candidate:garbage' } })
  assert.ok(!ice.ok && ice.error.field === 'candidate.candidate')
  const f = decodeSignalFrame(JSON.stringify({ v: 1, id: 'x', subject: 'rtc.answer', payload: valid[0] }))
  assert.ok(!f.ok && f.error.field === 'subject')
  assert.ok(!decodeSignalFrame('{nope').ok)
})

const Fuzz = suite('signaling - fuzz')

Fuzz('signaling - arbitrary JSON: a typed error or a valid message, never a throw', () => {
  fc.assert(
    fc.property(fc.jsonValue(), (j) => {
      typed(decodeSignalFrame(j))
      typed(decodeSignalFrame(JSON.stringify(j)))
      typed(validateSignal(j) as any)
    }),
    { numRuns: 400, seed: 6 },
  )
})

Fuzz('signaling - mutated valid frames: a typed error or a valid message', () => {
  const keys = [
    'type',
    'peerSessionId',
    'negotiationId',
    'fromNodeId',
    'targetNodeId',
    'sdp',
    'mediaShape',
    'purpose',
    'candidate',
    'newPeerSessionId',
    'reason',
  ]
  fc.assert(
    fc.property(
      fc.constantFrom(...valid),
      fc.constantFrom(...keys),
      fc.oneof(fc.jsonValue(), fc.string(), fc.constant(undefined)),
      fc.boolean(),
      (m, k, v, wrapEnvelope) => {
        const mutated: any = { ...m, [k]: v }
        const r = wrapEnvelope
          ? decodeSignalFrame(
              JSON.stringify({
                v: 1,
                id: 'f',
                kind: 'event',
                class: 'B',
                subject: m.type,
                ts: 0,
                from: m.fromNodeId,
                to: m.targetNodeId,
                payload: mutated,
              }),
            )
          : validateSignal(mutated)
        typed(r as any)
        if (r.ok) {
          // what passes is complete and carries only known fields
          assert.ok(typeof r.value.peerSessionId === 'string' && typeof r.value.negotiationId === 'string')
        }
      },
    ),
    { numRuns: 600, seed: 7 },
  )
})

Codec.run()
Fuzz.run()
