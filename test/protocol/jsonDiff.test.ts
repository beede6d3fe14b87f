import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import fc from 'fast-check'
import { diffJson, jsonEqual } from '../../protocol/jsonDiff.ts'

const diff = suite('jsonDiff')

diff('jsonDiff - lists changed, added and removed leaves with their paths', () => {
  assert.equal(diffJson({ a: 1, b: { c: 2 }, e: 5 }, { a: 1, b: { c: 3 }, d: 4 }), [
    { path: 'b.c', before: 2, after: 3 },
    { path: 'e', before: 5, after: undefined },
    { path: 'd', before: undefined, after: 4 },
  ])
  assert.equal(diffJson({ items: [1, 2] }, { items: [1, 5, 6] }, 'context'), [
    { path: 'context.items[1]', before: 2, after: 5 },
    { path: 'context.items[2]', before: undefined, after: 6 },
  ])
})

diff('jsonDiff - values of different kinds differ as a whole; the root is named', () => {
  assert.equal(diffJson('open', { locked: 'idle' }), [{ path: '(root)', before: 'open', after: { locked: 'idle' } }])
  assert.equal(diffJson([1], { 0: 1 }, 'value'), [{ path: 'value', before: [1], after: { 0: 1 } }])
  assert.equal(diffJson(null, {}), [{ path: '(root)', before: null, after: {} }])
})

diff('jsonDiff - stops at the limit', () => {
  const a = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, i]))
  const b = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, i + 1]))
  assert.is(diffJson(a, b).length, 20)
  assert.is(diffJson(a, b, '', 50).length, 50)
})

diff('jsonDiff - agrees with jsonEqual and with JSON text for any JSON values', () => {
  const json = fc.jsonValue({ maxDepth: 4 })
  fc.assert(
    fc.property(json, json, (a, b) => {
      const same = JSON.stringify(a) === JSON.stringify(b)
      // key order aside, JSON text equality implies jsonEqual; jsonEqual is symmetric
      if (same) assert.ok(jsonEqual(a, b))
      assert.is(jsonEqual(a, b), jsonEqual(b, a))
      assert.is(diffJson(a, b, '', Infinity).length === 0, jsonEqual(a, b))
      assert.ok(jsonEqual(a, structuredClone(a)))
    }),
    { numRuns: 2000, seed: 11 },
  )
})

diff.run()
