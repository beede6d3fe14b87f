// The `/route` socket's frames (protocol/routeFrame.ts): every kind decodes, every bad field is
// named, signaling envelopes are told apart, and direct-session ids map back to their consumer.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { decodeRouteFrame, parseRouteSessionId, routeSessionId } from '../../protocol/routeFrame.ts'

const T = suite('routeFrame - decode')

const ok = (o: unknown) => {
  const r = decodeRouteFrame(JSON.stringify(o))
  assert.ok(r.ok, JSON.stringify(r))
  return r.ok ? r.value : undefined
}
const bad = (o: unknown, code: string, field: string) => {
  const r = decodeRouteFrame(typeof o === 'string' ? o : JSON.stringify(o))
  assert.not.ok(r.ok, JSON.stringify(o))
  if (!r.ok) {
    assert.is(r.error.code, code, JSON.stringify(o))
    assert.is(r.error.field, field, JSON.stringify(o))
  }
}

T('routeFrame - every kind decodes, with defaults', () => {
  assert.equal(ok({ v: 1, kind: 'hello', nodeId: 'page-1' }), { v: 1, kind: 'hello', nodeId: 'page-1' })
  assert.equal(ok({ v: 1, kind: 'advertise', needs: ['clock', 'clock'], paths: ['direct'] }), {
    v: 1,
    kind: 'advertise',
    needs: ['clock'],
    paths: ['direct'],
    healthy: true,
  })
  assert.equal(ok({ v: 1, kind: 'need', need: 'clock' }), { v: 1, kind: 'need', need: 'clock' })
  assert.equal(ok({ v: 1, kind: 'report', need: 'clock', seq: 2, status: 'up' }), {
    v: 1,
    kind: 'report',
    need: 'clock',
    seq: 2,
    status: 'up',
    reason: null,
  })
  assert.equal(ok({ v: 1, kind: 'release', need: 'clock' }), { v: 1, kind: 'release', need: 'clock' })
  assert.equal(ok({ v: 1, kind: 'frame', need: 'clock', to: 'page-1', data: { n: 1 } }), {
    v: 1,
    kind: 'frame',
    need: 'clock',
    to: 'page-1',
    data: { n: 1 },
  })
  assert.equal(ok({ v: 1, kind: 'event', subject: 'rtc.offer' }), { v: 1, kind: 'signal' })
})

T('routeFrame - a bad frame names its field', () => {
  bad('not json', 'BAD_FRAME', '')
  bad('[1]', 'BAD_FRAME', '')
  bad('x'.repeat(100 * 1024), 'TOO_LARGE', '')
  bad({ v: 2, kind: 'need', need: 'clock' }, 'BAD_FIELD', 'v')
  bad({ v: 1, kind: 'hello', nodeId: 'hub' }, 'BAD_FIELD', 'nodeId')
  bad({ v: 1, kind: 'hello', nodeId: 'a/b' }, 'BAD_FIELD', 'nodeId')
  bad({ v: 1, kind: 'advertise', needs: 'clock', paths: [] }, 'BAD_FIELD', 'needs')
  bad({ v: 1, kind: 'advertise', needs: Array(33).fill('a'), paths: [] }, 'BAD_FIELD', 'needs')
  bad({ v: 1, kind: 'advertise', needs: ['clock'], paths: ['carrier-pigeon'] }, 'BAD_FIELD', 'paths')
  bad({ v: 1, kind: 'advertise', needs: ['clock'], paths: [], healthy: 'yes' }, 'BAD_FIELD', 'healthy')
  bad({ v: 1, kind: 'need', need: '' }, 'BAD_FIELD', 'need')
  bad({ v: 1, kind: 'report', need: 'clock', seq: 1.5, status: 'up' }, 'BAD_FIELD', 'seq')
  bad({ v: 1, kind: 'report', need: 'clock', seq: 1, status: 'meh' }, 'BAD_FIELD', 'status')
  bad({ v: 1, kind: 'report', need: 'clock', seq: 1, status: 'up', reason: 7 }, 'BAD_FIELD', 'reason')
  bad({ v: 1, kind: 'frame', need: 'clock', to: '' }, 'BAD_FIELD', 'to')
  bad({ v: 1, kind: 'teleport' }, 'UNKNOWN_KIND', 'kind')
})

T('routeFrame - direct session ids map back to their consumer and attempt', () => {
  assert.is(routeSessionId('page-1', 7), 'page-1:r7')
  assert.equal(parseRouteSessionId('page-1:r7'), { consumer: 'page-1', seq: 7 })
  assert.equal(parseRouteSessionId('a:b:r12'), { consumer: 'a:b', seq: 12 })
  assert.is(parseRouteSessionId('page-1'), undefined)
  assert.is(parseRouteSessionId('cam-1:rx'), undefined)
})

T.run()
