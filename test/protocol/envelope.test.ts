import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import fc from 'fast-check'
import {
  decodeEnvelope,
  decodeFrame,
  encodeBatchOfJson,
  encodeFrame,
  envelope,
  messageSchemas,
  messageSubjects,
  protocolJsonSchema,
  ProtocolError,
  MAX_BATCH,
} from '../../protocol/index.ts'

function fails(fn: () => unknown): ProtocolError {
  try {
    fn()
  } catch (err) {
    assert.instance(err, ProtocolError)
    return err as ProtocolError
  }
  throw new Error('expected a ProtocolError')
}

const Envelope = suite('envelope - validation names the field')

Envelope('a valid record round-trips, alone and in a batch', () => {
  const e = envelope('stream.record', 'hub-1', { a: 1 }, { streamId: 's', cursor: 1 })
  assert.equal(decodeEnvelope(encodeFrame(e)), e)
  const batch = [e, { ...e, cursor: 2, id: 'x2' }]
  assert.equal(decodeFrame(encodeFrame(batch)), batch)
  assert.equal(decodeFrame(encodeBatchOfJson(batch.map((b) => JSON.stringify(b)))), batch)
})

Envelope('wrong types, missing and unknown fields are typed errors naming the field', () => {
  const e = envelope('stream.ack', 'root', { streamId: 's', upTo: 1, applied: 1, duplicates: 0, stale: 0, gaps: 0 })
  let err = fails(() => decodeFrame(JSON.stringify({ ...e, payload: { ...e.payload, upTo: 'x' } })))
  assert.is(err.code, 'BAD_FIELD')
  assert.is(err.field, 'payload.upTo')
  err = fails(() => decodeFrame(JSON.stringify({ ...e, kind: 'zap' })))
  assert.is(err.code, 'UNKNOWN_KIND')
  assert.is(err.field, 'kind')
  err = fails(() => decodeFrame(JSON.stringify({ ...e, subject: 'nope' })))
  assert.is(err.code, 'UNKNOWN_SUBJECT')
  err = fails(() => decodeFrame(JSON.stringify({ ...e, extra: 1 })))
  assert.is(err.code, 'UNKNOWN_FIELD')
  assert.is(err.field, 'extra')
  const { ts: _ts, ...noTs } = e
  err = fails(() => decodeFrame(JSON.stringify(noTs)))
  assert.is(err.code, 'MISSING_FIELD')
  assert.is(err.field, 'ts')
  err = fails(() => decodeFrame(JSON.stringify([e, { ...e, from: 7 }])))
  assert.is(err.field, '[1].from')
  assert.match(err.message, /\[1\]\.from/)
})

Envelope('delivery class rules: A needs stream and cursor, B commands need a key', () => {
  const a = envelope('stream.record', 'h', 1, { streamId: 's', cursor: 1 })
  const { cursor: _c, ...noCursor } = a
  assert.is(fails(() => decodeFrame(JSON.stringify(noCursor))).field, 'cursor')
  assert.is(fails(() => decodeFrame(JSON.stringify({ ...a, class: 'C' }))).code, 'WRONG_CLASS')
  const b = envelope('hub.register', 'h', { hubId: 'h', version: '1', startedAt: 0 })
  assert.is(fails(() => decodeFrame(JSON.stringify(b))).field, 'key')
  assert.is(fails(() => decodeFrame(JSON.stringify({ ...a, cursor: 0 }))).field, 'cursor')
})

Envelope('size limits: frames, batches', () => {
  assert.is(fails(() => decodeFrame('x'.repeat(2000), 1000)).code, 'TOO_LARGE')
  const e = envelope('stream.record', 'h', 1, { streamId: 's', cursor: 1 })
  assert.is(fails(() => decodeFrame(JSON.stringify(Array(MAX_BATCH + 1).fill(e)))).code, 'TOO_LARGE')
  assert.is(fails(() => decodeFrame(Uint8Array.from([0xff, 0xfe]))).code, 'BAD_JSON')
})

Envelope('fuzz: any bytes or JSON either decode or fail with a ProtocolError', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 200 }),
        fc.json().map((j) => new TextEncoder().encode(j)),
        fc.anything().map((v) => new TextEncoder().encode(JSON.stringify(v) ?? 'u')),
      ),
      (data) => {
        try {
          decodeFrame(data)
        } catch (err) {
          assert.instance(err, ProtocolError)
        }
      },
    ),
    { numRuns: 2000, seed: 1 },
  )
})

const Schema = suite('protocol schema - JSON Schema export')

Schema('every message subject has a JSON Schema with its kind, class and payload', () => {
  const s = protocolJsonSchema() as any
  assert.is(s.$schema, 'https://json-schema.org/draft/2020-12/schema')
  for (const subject of messageSubjects) {
    const d = s.$defs[subject]
    assert.ok(d, subject)
    assert.equal(d.properties.kind, { const: (messageSchemas as any)[subject].kind })
    assert.equal(d.properties.class, { const: (messageSchemas as any)[subject].class })
  }
  assert.ok(s.$defs['stream.record'].required.includes('cursor'))
  assert.ok(s.$defs['hub.register'].required.includes('key'))
  assert.equal(s.$defs['stream.ack'].properties.payload.properties.upTo, { type: 'integer', minimum: 0 })
  assert.is(s.$defs.envelope.additionalProperties, false)
})

const Browser = suite('protocol - runs in the browser')

Browser('protocol/index.ts bundles for the browser with nothing of Node', async () => {
  const { build } = await import('esbuild')
  const r = await build({
    entryPoints: [new URL('../../protocol/index.ts', import.meta.url).pathname],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    write: false,
    logLevel: 'silent',
  })
  assert.is(r.errors.length, 0)
  assert.not.match(r.outputFiles[0].text, /require\(["']node:|from ["']node:/)
})

Envelope.run()
Schema.run()
Browser.run()
