import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import {
  decodeSidecarHeader,
  encodeSidecarFrame,
  MAX_SIDECAR_FRAME,
  SidecarFrameReader,
} from '../../protocol/sidecarFrame.ts'
import { ProtocolError } from '../../protocol/errors.ts'

const Frames = suite('sidecarFrame - the hub <-> sidecar socket codec')

const bytes = (s: string) => new TextEncoder().encode(s)

Frames('frames survive any chunking, bodies intact', () => {
  const a = encodeSidecarFrame({ op: 'pub', subject: 'aether.root.h.stream', reply: 'aether.hub.h.ack' }, bytes('abc'))
  const b = encodeSidecarFrame({ op: 'flush', id: 7 })
  const c = encodeSidecarFrame({ op: 'msg', sid: 3, subject: 'x.y', tp: '00-aa-bb-01' }, new Uint8Array(70_000).fill(9))
  const all = new Uint8Array(a.length + b.length + c.length)
  all.set(a)
  all.set(b, a.length)
  all.set(c, a.length + b.length)
  for (const size of [1, 5, 6, 7, 100, all.length]) {
    const r = new SidecarFrameReader()
    const out = []
    for (let i = 0; i < all.length; i += size) out.push(...r.push(all.slice(i, i + size)))
    assert.is(out.length, 3, `chunks of ${size}`)
    assert.equal(out[0].header, { op: 'pub', subject: 'aether.root.h.stream', reply: 'aether.hub.h.ack' })
    assert.is(new TextDecoder().decode(out[0].body), 'abc')
    assert.equal(out[1].header, { op: 'flush', id: 7 })
    assert.is(out[1].body.length, 0)
    assert.is(out[2].body.length, 70_000)
    assert.is(out[2].body[69_999], 9)
  }
})

const refused = (fn: () => unknown, code: string, field?: string) => {
  try {
    fn()
  } catch (err) {
    assert.instance(err, ProtocolError)
    assert.is((err as ProtocolError).code, code)
    if (field) assert.is((err as ProtocolError).field, field)
    return
  }
  assert.unreachable(`expected ${code}`)
}

Frames('bad headers are refused with a code naming the field', () => {
  refused(() => decodeSidecarHeader({ op: 'nope' }), 'UNKNOWN_KIND', 'op')
  refused(() => decodeSidecarHeader({ op: 'sub', sid: 1 }), 'MISSING_FIELD', 'subject')
  refused(() => decodeSidecarHeader({ op: 'pub', subject: 'has space' }), 'BAD_FIELD', 'subject')
  refused(() => decodeSidecarHeader({ op: 'hello', v: 2, channel: 'control', name: 'h' }), 'BAD_FIELD', 'v')
  refused(() => decodeSidecarHeader({ op: 'hello', v: 1, channel: 'other', name: 'h' }), 'BAD_FIELD', 'channel')
  refused(() => decodeSidecarHeader({ op: 'req', id: 1, subject: 's', ms: 1, extra: 1 }), 'UNKNOWN_FIELD', 'extra')
})

Frames('a frame too large, a header past its frame, or a header that is not JSON throws', () => {
  const big = new Uint8Array(6)
  new DataView(big.buffer).setUint32(0, MAX_SIDECAR_FRAME + 1)
  refused(() => new SidecarFrameReader().push(big), 'TOO_LARGE')
  const over = new Uint8Array(10)
  new DataView(over.buffer).setUint32(0, 6)
  new DataView(over.buffer).setUint16(4, 9)
  refused(() => new SidecarFrameReader().push(over), 'BAD_FIELD')
  const notJson = new Uint8Array(9)
  new DataView(notJson.buffer).setUint32(0, 5)
  new DataView(notJson.buffer).setUint16(4, 3)
  notJson.set(bytes('{x}'), 6)
  refused(() => new SidecarFrameReader().push(notJson), 'BAD_JSON')
})

Frames.run()
