// The member link's codec: round trips, and every refusal names its field with a stable code.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { ProtocolError } from '../../protocol/errors.ts'
import {
  decodeMemberMessage,
  encodeMemberMessage,
  MAX_MEMBER_MESSAGE,
  type MemberSnapshot,
} from '../../protocol/memberLink.ts'

const snap: MemberSnapshot = {
  v: 1,
  t: 'snapshot',
  hub: 'h1',
  member: 'm1',
  seq: 3,
  boot: 'b1',
  at: 1000,
  heartbeatMs: 1000,
  supervisor: '0.9.0',
  phase: 'serving',
  ready: true,
  slot: 'A',
  version: '1.0.0',
  buildId: 'build-1',
  update: { state: 'idle', attempt: 1, outcome: 'committed' },
  requests: [{ id: 'rollout:r1/requestWave@1/m1', action: 'update', attempt: 1, result: 'committed' }],
}

const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o))

function refusal(data: Uint8Array, expect: any[] = ['snapshot']): ProtocolError {
  try {
    decodeMemberMessage(data, expect)
  } catch (err) {
    assert.instance(err, ProtocolError)
    return err as ProtocolError
  }
  throw new Error('expected a refusal')
}

const test = suite('memberLink')

test('memberLink - a snapshot, a request and a reply round-trip', () => {
  assert.equal(decodeMemberMessage(encodeMemberMessage(snap), ['snapshot']), snap)
  const req = { v: 1, t: 'request', id: 'k/m1', hub: 'h1', member: 'm1', action: 'update', source: '/img' } as const
  assert.equal(decodeMemberMessage(encodeMemberMessage(req), ['request', 'ask']), req)
  const reply = { v: 1, t: 'reply', id: 'k/m1', member: 'm1', ok: false, state: 'countdown', code: 'BUSY' } as const
  assert.equal(decodeMemberMessage(encodeMemberMessage(reply), ['reply']), reply)
})

test('memberLink - bad messages are refused with the field named', () => {
  assert.is(refusal(new Uint8Array([0xff, 0xfe])).code, 'BAD_JSON')
  assert.is(refusal(enc({ ...snap, v: 2 })).code, 'BAD_VERSION')
  assert.is(refusal(enc({ ...snap, t: 'request' })).field, 't')
  const missing = refusal(enc({ ...snap, slot: undefined }))
  assert.is(missing.code, 'MISSING_FIELD')
  assert.is(missing.field, 'slot')
  assert.is(refusal(enc({ ...snap, member: 'a.b' })).field, 'member')
  assert.is(refusal(enc({ ...snap, extra: 1 })).code, 'UNKNOWN_FIELD')
  assert.is(
    refusal(enc({ ...snap, requests: [{ id: 'x', action: 'explode', result: 'pending' }] })).field,
    'requests[0].action',
  )
  assert.is(refusal(new Uint8Array(MAX_MEMBER_MESSAGE + 1)).code, 'TOO_LARGE')
})

test.run()
