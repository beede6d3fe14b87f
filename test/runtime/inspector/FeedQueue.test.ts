import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import fc from 'fast-check'
import { FeedEventRecord } from '../../../actors/Feed.ts'
import type { FeedEvent } from '../../../protocol/inspection.ts'
import {
  decodeFeedFrame,
  encodeLightEvent,
  encodePackedFrame,
  encodeWireEvent,
  FeedDecoder,
  LIGHT_WIDTH,
  MAX_DICT,
} from '../../../protocol/inspectorFeed.ts'
import { FeedQueue } from '../../../runtime/inspector/FeedQueue.ts'

/** A socket that keeps every frame and reports each written on the next turn. */
class Sink {
  readyState = 1
  frames: (string | Uint8Array)[] = []
  send(data: string | Uint8Array, cb?: (err?: Error) => void): void {
    this.frames.push(data)
    setImmediate(() => cb?.())
  }
}

const settle = async (c: FeedQueue) => {
  for (let i = 0; i < 1000 && c.length > 0; i++) await new Promise((r) => setImmediate(r))
  await new Promise((r) => setImmediate(r))
}

/** Every event the frames carry, decoded as the page decodes them. */
function decodeAll(frames: (string | Uint8Array)[]): { events: any[]; dropped: number } {
  const d = new FeedDecoder()
  let dropped = 0
  const events: any[] = []
  for (const text of frames) {
    const f: any = decodeFeedFrame(text)
    if (f.t !== 'events') continue
    dropped += f.dropped ?? 0
    events.push(...d.events(f))
  }
  return { events, dropped }
}

const ev = (
  seq: number,
  path: string,
  type: string,
  value: unknown,
  o: { actorSeq?: number; source?: string; status?: string; at?: number } = {},
): FeedEvent =>
  new FeedEventRecord(
    seq,
    path,
    o.at ?? 1_795_000_000_000 + seq,
    'hub',
    { type, payload: seq },
    o.actorSeq,
    o.source,
    { value, context: { n: seq } },
    o.status ?? 'active',
  )

const packing = suite('FeedQueue - packed light events')

packing(
  'light events travel packed and decode to exactly their JSON light form, in feed order with the full ones',
  async () => {
    const sink = new Sink()
    const c = new FeedQueue(sink)
    c.focus = new Set(['a'])
    const sent = [
      ev(1, 'a', 'inc', 'open', { actorSeq: 1 }),
      ev(2, 'b', 'inc', 'open', { actorSeq: 7, source: 'someone' }),
      ev(3, 'b/c', 'go', { light: 'green', walk: 'idle' }),
      ev(4, 'a', 'inc', 'closed', { actorSeq: 2 }),
      ev(5, 'b', 'stop', 'done', { actorSeq: 8, status: 'done' }),
    ]
    for (const e of sent) c.push(e)
    await settle(c)
    assert.ok(
      sink.frames.some((f) => typeof f !== 'string' && (decodeFeedFrame(f) as any).light.length === 3 * LIGHT_WIDTH),
      'three events packed, in a binary frame',
    )
    const { events } = decodeAll(sink.frames)
    const expected = sent.map((e) => JSON.parse(e.path === 'a' ? encodeWireEvent(e) : encodeLightEvent(e)))
    assert.equal(events, expected)
  },
)

packing('any mix of events, focus and frame sizes round-trips (fast-check)', async () => {
  const arbEvent = fc.record({
    path: fc.constantFrom('a', 'b', 'c/d', 'é "quoted"', 'x\\y'),
    type: fc.constantFrom('inc', 'xstate.after.1000.m.s', 'weird"type'),
    value: fc.oneof(
      fc.constantFrom('open', 'closed', 'ü'),
      fc.dictionary(fc.constantFrom('p', 'q'), fc.constantFrom('x', 'y')),
    ),
    actorSeq: fc.option(fc.nat(1e9), { nil: undefined }),
    source: fc.option(fc.constantFrom('op', 'hub-1/x'), { nil: undefined }),
    status: fc.constantFrom('active', 'done', 'error'),
    dt: fc.integer({ min: 0, max: 5000 }),
  })
  await fc.assert(
    fc.asyncProperty(
      fc.array(arbEvent, { maxLength: 60 }),
      fc.subarray(['a', 'b', 'c/d']),
      fc.integer({ min: 1, max: 9 }),
      async (specs, focus, batch) => {
        const sink = new Sink()
        const c = new FeedQueue(sink, { batch })
        c.focus = new Set(focus)
        let at = 1_700_000_000_000
        const sent = specs.map((s, i) =>
          ev(i + 1, s.path, s.type, s.value, {
            actorSeq: s.actorSeq,
            source: s.source,
            status: s.status,
            at: (at += s.dt),
          }),
        )
        for (const e of sent) c.push(e)
        await settle(c)
        const { events } = decodeAll(sink.frames)
        assert.equal(
          events,
          sent.map((e) => JSON.parse(focus.includes(e.path) ? encodeWireEvent(e) : encodeLightEvent(e))),
        )
      },
    ),
    { numRuns: 150, seed: 11 },
  )
})

packing('a full queue drops the oldest events of either kind and the next frame counts them', async () => {
  const sink = new Sink()
  const c = new FeedQueue(sink, { limit: 5 })
  c.focus = new Set(['a'])
  const sent = Array.from({ length: 12 }, (_, i) => ev(i + 1, i % 3 === 0 ? 'a' : 'b', 'inc', 'open'))
  for (const e of sent) c.push(e)
  assert.is(c.length, 5)
  await settle(c)
  const { events, dropped } = decodeAll(sink.frames)
  assert.is(dropped, 7)
  assert.equal(
    events.map((e) => e.seq),
    [8, 9, 10, 11, 12],
  )
  assert.is(c.stats.dropped, 7)
  assert.is(c.stats.sent, 5)
})

packing('past the dictionary limit light events are sent as JSON and still decode', async () => {
  const sink = new Sink()
  const c = new FeedQueue(sink, { limit: MAX_DICT + 100, batch: 5000 })
  c.focus = new Set()
  const N = MAX_DICT + 10
  for (let i = 1; i <= N; i++) c.push(ev(i, `p${i}`, 'inc', 'open'))
  await settle(c)
  const { events } = decodeAll(sink.frames)
  assert.is(events.length, N)
  assert.equal(events[N - 1], JSON.parse(encodeLightEvent(ev(N, `p${N}`, 'inc', 'open'))))
  assert.equal(events.map((e) => e.seq).slice(-3), [N - 2, N - 1, N])
})

packing('FeedDecoder refuses a packed frame it cannot read', () => {
  const d = new FeedDecoder()
  assert.throws(() => d.events({ events: [], at0: 0, light: [1, 2, 3] }), /malformed/)
  assert.throws(() => d.events({ events: [], at0: 0, light: [1, 0, -1, 0, 0, 0, 0, -1] }), /dictionary id 0 is unknown/)
  assert.throws(() => d.events({ events: [], light: [1, 0, -1, 0, 0, 0, 0, -1], dict: ['a'] }), /malformed/)
})

packing(
  'with a custom encode, light events reach it as JSON (nothing is packed where encode cannot see it)',
  async () => {
    const sink = new Sink()
    const seen: string[] = []
    const c = new FeedQueue(sink, { encode: (events) => (seen.push(...events), events) })
    c.focus = new Set(['a'])
    const sent = [ev(1, 'a', 'inc', 'open'), ev(2, 'b', 'inc', 'open')]
    for (const e of sent) c.push(e)
    await settle(c)
    assert.equal(
      seen.map((t) => JSON.parse(t)),
      [JSON.parse(encodeWireEvent(sent[0])), JSON.parse(encodeLightEvent(sent[1]))],
    )
  },
)

packing('decodeFeedFrame reads a packed frame back, and refuses binary that is not one', () => {
  const light = Int32Array.from([1, 5, -1, 0, 1, 2, 3, -1, 2, 9, 4, 0, 1, 2, 3, 4])
  const f: any = decodeFeedFrame(encodePackedFrame('{"t":"events","at0":7,"events":[],"é":"ü"}', light))
  assert.is(f.t, 'events')
  assert.is(f.é, 'ü')
  assert.equal([...f.light], [...light])
  assert.throws(() => decodeFeedFrame(new Uint8Array([1, 0])), /shorter than its header/)
  assert.throws(() => decodeFeedFrame(new Uint8Array([200, 0, 0, 0, 1])), /shorter than its JSON/)
  assert.throws(() => decodeFeedFrame(encodePackedFrame('{"t":"hello"}', light)), /malformed/)
})

packing('a held queue sends nothing; released, it sends every event in order (the warm switch hold)', async () => {
  const sink = new Sink()
  const c = new FeedQueue(sink)
  c.hold(true)
  const sent = [ev(1, 'a', 'inc', 'open'), ev(2, 'b', 'go', 'closed'), ev(3, 'a', 'inc', 'done')]
  for (const e of sent) c.push(e)
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r))
  assert.is(sink.frames.length, 0, 'nothing sent while held')
  assert.is(c.length, 3)
  c.hold(false)
  await settle(c)
  assert.equal(
    decodeAll(sink.frames).events.map((e) => e.seq),
    [1, 2, 3],
  )
})

packing.run()
