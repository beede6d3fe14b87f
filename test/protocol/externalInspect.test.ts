import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import {
  decodeStatelyFrame,
  decodeXStateInspectFrame,
  ExternalFrameError,
  MAX_EXTERNAL_FRAME,
} from '../../protocol/externalInspect.ts'

/** Frames as @statelyai/inspect 0.7.2 sent them from a real XState 5.33 app (keys sorted by its stringify). */
const V5 = {
  actor:
    '{"_version":"0.7.2","createdAt":"1796466210173","definition":"{\\"id\\":\\"shop\\",\\"initial\\":\\"a\\",\\"states\\":{\\"a\\":{}}}","id":null,"name":"shop","rootId":"x:0","sessionId":"x:0","snapshot":{"children":{},"context":{"n":0},"historyValue":{},"status":"active","tags":[],"value":"a"},"type":"@xstate.actor"}',
  init: '{"_version":"0.7.2","createdAt":"1","event":{"input":{"owner":"ann"},"type":"xstate.init"},"id":null,"rootId":"x:0","sessionId":"x:0","type":"@xstate.event"}',
  child:
    '{"_version":"0.7.2","createdAt":"1","event":{"type":"child.poked"},"id":null,"rootId":"x:0","sessionId":"x:0","sourceId":"x:1","type":"@xstate.event"}',
  snapshot:
    '{"_version":"0.7.2","createdAt":"1","event":{"type":"xstate.init"},"id":null,"rootId":"x:0","sessionId":"x:1","snapshot":{"children":{},"context":{},"historyValue":{},"status":"active","tags":[],"value":"a"},"type":"@xstate.snapshot"}',
}

/** Frames as @xstate/inspect 0.8.0 sent them from a real XState 4.38 app. */
const V4 = {
  register: JSON.stringify({
    type: 'service.register',
    machine: JSON.stringify({ id: 'light', key: 'light', initial: 'green', states: { green: { id: 'light.green' } } }),
    state: JSON.stringify({
      value: 'green',
      context: { n: 0 },
      _event: { name: 'xstate.init', data: { type: 'xstate.init' }, $$type: 'scxml', type: 'external' },
      event: { type: 'xstate.init' },
      children: { kid: { id: 'kid' } },
      done: false,
    }),
    id: 'light',
    sessionId: 'x:1',
  }),
  event: JSON.stringify({
    type: 'service.event',
    event: JSON.stringify({ name: 'child.poked', data: { type: 'child.poked' }, $$type: 'scxml', origin: 'x:2' }),
    sessionId: 'x:1',
  }),
  empty: '{"type":"service.state","sessionId":"x:1"}',
  stop: '{"type":"service.stop","sessionId":"x:2"}',
}

function refused(fn: () => unknown, code: string, close: number, msg?: RegExp) {
  try {
    fn()
  } catch (err) {
    assert.instance(err, ExternalFrameError)
    const e = err as ExternalFrameError
    assert.is(e.code, code, e.message)
    assert.is(e.close, close)
    if (msg) assert.match(e.message, msg)
    return
  }
  assert.unreachable(`expected ${code}`)
}

const stately = suite('externalInspect - @statelyai/inspect frames')

stately('the three kinds a real app sends decode to what the hub records', () => {
  const { snapshot, ...actor } = decodeStatelyFrame(V5.actor) as any
  assert.equal(actor, {
    type: '@xstate.actor',
    sessionId: 'x:0',
    name: 'shop',
    definition: JSON.parse(V5.actor).definition,
  })
  assert.is(snapshot.value, 'a')
  assert.equal(decodeStatelyFrame(V5.init), {
    type: '@xstate.event',
    sessionId: 'x:0',
    event: { input: { owner: 'ann' }, type: 'xstate.init' },
  })
  assert.is((decodeStatelyFrame(V5.child) as any).sourceId, 'x:1')
  const s = decodeStatelyFrame(V5.snapshot)
  assert.is(s.type, '@xstate.snapshot')
  assert.is((s as any).snapshot.value, 'a')
  // bytes decode the same as text
  assert.equal(decodeStatelyFrame(new TextEncoder().encode(V5.init)), decodeStatelyFrame(V5.init))
})

stately('a frame that is not JSON text closes 1007; one that breaks the protocol 1008, naming the field', () => {
  refused(() => decodeStatelyFrame(new Uint8Array([1, 2]), true), 'MALFORMED', 1007, /binary/)
  refused(() => decodeStatelyFrame('{"type":'), 'MALFORMED', 1007, /not valid JSON/)
  refused(() => decodeStatelyFrame('[1]'), 'UNKNOWN_TYPE', 1008)
  refused(
    () => decodeStatelyFrame('{"type":"@xstate.action","sessionId":"x:0"}'),
    'UNKNOWN_TYPE',
    1008,
    /@xstate\.action/,
  )
  refused(() => decodeStatelyFrame('{"type":"@xstate.event","event":{"type":"a"}}'), 'BAD_FIELD', 1008, /"sessionId"/)
  refused(() => decodeStatelyFrame('{"type":"@xstate.event","sessionId":"x","event":{}}'), 'BAD_FIELD', 1008, /"event"/)
  refused(
    () => decodeStatelyFrame('{"type":"@xstate.event","sessionId":"x","event":{"type":""}}'),
    'BAD_FIELD',
    1008,
    /non-empty/,
  )
  refused(
    () =>
      decodeStatelyFrame(JSON.stringify({ type: '@xstate.event', sessionId: 'x'.repeat(300), event: { type: 'a' } })),
    'BAD_FIELD',
    1008,
  )
  refused(
    () => decodeStatelyFrame('{"type":"@xstate.snapshot","sessionId":"x","event":{"type":""}}'),
    'BAD_FIELD',
    1008,
  )
  refused(
    () => decodeStatelyFrame('{"type":"@xstate.actor","sessionId":"x","definition":{"id":"a"}}'),
    'BAD_FIELD',
    1008,
    /JSON text/,
  )
  refused(() => decodeStatelyFrame('x'.repeat(MAX_EXTERNAL_FRAME + 1)), 'TOO_LARGE', 1008)
})

stately('a snapshot with an empty event type (createInspector().snapshot() by hand) is accepted', () => {
  const f = decodeStatelyFrame('{"type":"@xstate.snapshot","sessionId":"x","event":{"type":""},"snapshot":{"value":1}}')
  assert.is((f as any).event.type, '')
})

stately.run()

const xs = suite('externalInspect - @xstate/inspect frames')

xs('register, event, an empty state and stop decode with their JSON texts parsed', () => {
  const r = decodeXStateInspectFrame(V4.register)
  assert.is(r.type, 'service.register')
  if (r.type !== 'service.register') return
  assert.is(r.id, 'light')
  assert.equal(r.state, {
    value: 'green',
    context: { n: 0 },
    event: { type: 'xstate.init' },
    done: false,
    children: ['kid'],
  })
  assert.is(r.machineText, JSON.parse(V4.register).machine)
  assert.equal(decodeXStateInspectFrame(V4.event), {
    type: 'service.event',
    sessionId: 'x:1',
    event: { type: 'child.poked' },
    origin: 'x:2',
  })
  assert.equal(decodeXStateInspectFrame(V4.empty), { type: 'service.state', sessionId: 'x:1' })
  assert.equal(decodeXStateInspectFrame(V4.stop), { type: 'service.stop', sessionId: 'x:2' })
})

xs('a state of a machine without context has none (absent, not null)', () => {
  const f = decodeXStateInspectFrame(
    JSON.stringify({
      type: 'service.state',
      sessionId: 'x',
      state: JSON.stringify({ value: 'a', event: { type: 'e' } }),
    }),
  )
  assert.ok(f.type === 'service.state' && f.state && !('context' in f.state && f.state.context !== undefined))
})

xs('broken frames are refused, naming what is wrong', () => {
  refused(() => decodeXStateInspectFrame('nope'), 'MALFORMED', 1007)
  refused(() => decodeXStateInspectFrame('{"type":"xstate.event"}'), 'UNKNOWN_TYPE', 1008)
  refused(
    () => decodeXStateInspectFrame('{"type":"service.register","sessionId":"x","machine":"{","state":"{}"}'),
    'BAD_FIELD',
    1008,
    /"machine" is not valid JSON/,
  )
  refused(
    () => decodeXStateInspectFrame('{"type":"service.register","sessionId":"x","machine":"{}","state":"{}"}'),
    'BAD_FIELD',
    1008,
    /"id"/,
  )
  refused(
    () =>
      decodeXStateInspectFrame(
        JSON.stringify({ type: 'service.register', sessionId: 'x', machine: '{"id":"m"}', state: '{"context":1}' }),
      ),
    'BAD_FIELD',
    1008,
    /"value"/,
  )
  refused(
    () => decodeXStateInspectFrame('{"type":"service.event","sessionId":"x","event":"{\\"name\\":\\"a\\"}"}'),
    'BAD_FIELD',
    1008,
    /event\.data/,
  )
})

xs.run()
