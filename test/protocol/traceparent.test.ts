import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { decodeTraceParent, encodeTraceParent } from '../../protocol/traceparent.ts'
import { decodeSignalFrame, encodeSignalFrame, uniformShape, type SignalingMessage } from '../../protocol/signaling.ts'

const t = suite('traceparent - W3C trace context')
const TP = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'

t('decodes and encodes version 00', () => {
  const p = decodeTraceParent(TP)
  assert.equal(p, { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', flags: 1 })
  assert.is(encodeTraceParent(p!), TP)
})

t('refuses what is not a valid traceparent', () => {
  for (const bad of [
    undefined,
    42,
    '',
    TP.toUpperCase(),
    TP.replace('00-', '01-'),
    `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`,
    `00-4bf92f3577b34da6a3ce929d0e0e4736-${'0'.repeat(16)}-01`,
    `${TP}-extra`,
    TP.slice(0, -1),
  ])
    assert.is(decodeTraceParent(bad), undefined, String(bad))
})

t('a signaling frame carries it in the envelope, beside the message, and a bad one is dropped', () => {
  const m: SignalingMessage = {
    type: 'rtc.offer',
    peerSessionId: 'm.s0',
    negotiationId: 'n1',
    fromNodeId: 'm',
    targetNodeId: 'hub',
    sdp: 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=ice-ufrag:abcd\r\na=ice-pwd:xyz\r\na=fingerprint:sha-256 AA:BB\r\n',
    mediaShape: uniformShape('recvonly'),
    purpose: 'initial',
  }
  const r = decodeSignalFrame(encodeSignalFrame(m, 'f1', 1, TP))
  assert.ok(r.ok)
  assert.is(r.trace, TP)
  assert.equal(r.ok && r.value, m, 'the message itself has no trace field')
  const plain = decodeSignalFrame(encodeSignalFrame(m, 'f2', 1))
  assert.ok(plain.ok && plain.trace === undefined && !plain.badTrace)
  const bad = decodeSignalFrame({ ...JSON.parse(encodeSignalFrame(m, 'f3', 1)), trace: 'nonsense' })
  assert.ok(bad.ok, 'the frame is still taken')
  assert.is(bad.badTrace, true)
  assert.is(bad.trace, undefined)
})

t.run()
