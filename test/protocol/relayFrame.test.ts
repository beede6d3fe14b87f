/** Relay messages and the member's binary sync frames: round trips, and each bad field named. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fc from 'fast-check'
import {
  decodeRelayMessage,
  decodeSyncFrame,
  encodeRelayMessage,
  encodeSyncFrame,
  MAX_RELAY_SYNC_BYTES,
  RelayMessageError,
} from '../../protocol/relayFrame.ts'

const attachment = fc.stringMatching(/^[A-Za-z0-9_.-]{1,32}$/)
const webspace = fc.stringMatching(/^[A-Za-z0-9_.-]{1,100}$/)

test('sync frames round-trip, and as relay messages (base64) too', () => {
  fc.assert(
    fc.property(attachment, webspace, fc.uint8Array({ minLength: 1, maxLength: 2000 }), (a, w, y) => {
      const f = decodeSyncFrame(encodeSyncFrame(a, w, y))
      assert.is(f.a, a)
      assert.is(f.w, w)
      assert.equal([...f.y], [...y])
      const m = decodeRelayMessage(
        encodeRelayMessage({ v: 1, t: 'sync', m: 'alice', c: 'root-1', a, w, y: Buffer.from(y).toString('base64') }),
      )
      assert.equal(m.t === 'sync' && [...Buffer.from(m.y, 'base64')], [...y])
    }),
    { numRuns: 200, seed: 1 },
  )
})

const field = (fn: () => unknown) => {
  try {
    fn()
  } catch (err) {
    if (err instanceof RelayMessageError) return err.field
    throw err
  }
  return null
}

test('bad sync frames and sync relay messages name the field', () => {
  const enc = (s: string) => new TextEncoder().encode(s)
  assert.is(
    field(() => decodeSyncFrame(enc('nospace'))),
    'a',
  )
  assert.is(
    field(() => decodeSyncFrame(enc(' doc x'))),
    'a',
  )
  assert.is(
    field(() => decodeSyncFrame(enc('1  x'))),
    'w',
  )
  assert.is(
    field(() => decodeSyncFrame(enc('1 a/b x'))),
    'w',
  )
  assert.is(
    field(() => decodeSyncFrame(enc('a!b doc x'))),
    'a',
  )
  assert.is(
    field(() => decodeSyncFrame(enc('1 doc '))),
    'y',
  )
  assert.is(
    field(() => decodeSyncFrame(encodeSyncFrame('1', 'doc', new Uint8Array(MAX_RELAY_SYNC_BYTES + 1)))),
    'y',
  )
  assert.is(
    field(() => decodeSyncFrame(encodeSyncFrame('1', 'doc', new Uint8Array(MAX_RELAY_SYNC_BYTES)))),
    null,
  )
  const msg = (o: object) => () =>
    decodeRelayMessage(enc(JSON.stringify({ v: 1, t: 'sync', m: 'alice', c: 'c1', a: '1', w: 'doc', y: 'AAEC', ...o })))
  assert.is(field(msg({})), null)
  assert.is(field(msg({ a: '' })), 'a')
  assert.is(field(msg({ a: 'x'.repeat(33) })), 'a')
  assert.is(field(msg({ w: 'a b' })), 'w')
  assert.is(field(msg({ y: '' })), 'y')
  assert.is(field(msg({ y: 'AAE' })), 'y')
  assert.is(field(msg({ y: 'A=AA' })), 'y')
  assert.is(field(msg({ y: 'AA!A' })), 'y')
  assert.is(field(msg({ y: 'A'.repeat(Math.ceil(MAX_RELAY_SYNC_BYTES / 3) * 4 + 4) })), 'y')
  assert.is(field(msg({ z: 1 })), 'z')
})

test.run()
