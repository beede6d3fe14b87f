import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { ActorSystem, LogReplayer } from '../../actors/index.ts'
import { counter } from '../../machines/counter.ts'
import type { FeedEvent } from '../../protocol/inspection.ts'
import { encodeWireEvent, expandWireEvent } from '../../protocol/inspectorFeed.ts'
import { LogFormatError, parseLog } from '../../protocol/log.ts'
import { entriesToLog, formatValue, InspectorModel, lastKnown } from '../../inspector/src/model.ts'

const snap = (count: number, value = 'open') => ({ value, context: { count }, status: 'active' })
const ev = (seq: number, path: string, actorSeq: number, type = 'inc', count = actorSeq): FeedEvent =>
  ({
    seq,
    path,
    at: 1000 + seq,
    rootId: 'hub',
    sessionId: path,
    id: `hub:${seq}`,
    createdAt: String(1000 + seq),
    _version: '1.0.0',
    type: '@xstate.event',
    event: { type },
    actorSeq,
    sourceId: 'test',
    snapshot: snap(count),
  }) as FeedEvent

const model = suite('inspector model')

model('inspector model - snapshot, live events, history merged by seq', () => {
  const m = new InspectorModel()
  m.applySnapshot(
    [{ path: 'a', machine: 'counter', status: 'active', durable: true, actorSeq: 3, at: 5, snapshot: snap(3) }],
    10,
  )
  m.applyEvents([ev(11, 'a', 4), ev(12, 'a', 5), ev(9, 'a', 2)])
  const a = m.actors.get('a')!
  assert.equal(
    a.entries.map((e) => e.seq),
    [3, 4, 5],
    'a feed seq at or below the snapshot is not applied twice',
  )
  m.applyHistory(
    'a',
    0,
    snap(0),
    [1, 2, 3, 4].map((s) => ({ seq: s, at: s, event: { type: 'inc' }, snapshot: snap(s) })),
  )
  assert.equal(
    a.entries.map((e) => e.seq),
    [0, 1, 2, 3, 4, 5],
  )
  assert.is(a.entries[3].event!.type, 'inc', 'history replaces the bare snapshot entry')
  assert.not.ok(a.truncated)
  assert.equal(
    m.timeline.map((r) => (r.kind === 'event' ? r.actorSeq : -1)),
    [4, 5],
  )
})

model('inspector model - bounded: per-actor entries and the timeline are capped; drops are marked', () => {
  const m = new InspectorModel({ liveCap: 100, timelineCap: 50 })
  m.applySnapshot(
    [{ path: 'a', machine: 'counter', status: 'active', durable: false, actorSeq: 0, at: 0, snapshot: snap(0) }],
    0,
  )
  const batch: FeedEvent[] = []
  for (let i = 1; i <= 1000; i++) batch.push(ev(i, 'a', i))
  m.applyEvents(batch, 7)
  const a = m.actors.get('a')!
  assert.ok(a.entries.length <= 100 + 100 / 8, `entries ${a.entries.length}`)
  assert.ok(a.truncated)
  assert.is(a.entries[a.entries.length - 1].seq, 1000)
  assert.ok(m.timeline.length <= 50 + 50 / 4)
  assert.is(m.dropped, 7)
  assert.is(m.received, 1000)
})

model('inspector model - a log loads as a read-only actor; missing snapshots are said', () => {
  const m = new InspectorModel()
  const text = [
    JSON.stringify({ format: 'aether.log/1', actor: 'x', machine: 'counter', at: 1 }),
    JSON.stringify({ seq: 1, at: 2, event: { type: 'inc' } }),
    JSON.stringify({ seq: 1, at: 2, snapshot: { value: 'open', context: { count: 1 } } }),
    JSON.stringify({ seq: 2, at: 3, event: { type: 'lock' } }),
  ].join('\n')
  const a = m.loadLog('x.log', text)
  assert.is(a.kind, 'log')
  assert.equal(
    a.entries.map((e) => e.seq),
    [0, 1, 2],
  )
  assert.equal(lastKnown(a.entries, 2)!.context, { count: 1 }, 'the last recorded state stands in')
  assert.match(a.note!, /1 of 2 events have no snapshot/)
  assert.throws(
    () => m.loadLog('bad.log', text + '\n{"seq":1,"at":1,"event":{"type":"x"}}'),
    (e: unknown) => e instanceof LogFormatError && e.line === 5,
  )
})

model('inspector model - an actor history round-trips through entriesToLog', () => {
  const m = new InspectorModel()
  m.applySnapshot(
    [{ path: 'a', machine: 'counter', status: 'active', durable: false, actorSeq: 0, at: 0, snapshot: snap(0) }],
    0,
  )
  m.applyEvents([ev(1, 'a', 1), ev(2, 'a', 2, 'lock', 2)])
  const back = m.loadLog('a.log', entriesToLog(m.actors.get('a')!))
  assert.equal(
    back.entries.map((e) => [e.seq, e.event?.type, (e.snapshot?.context as any)?.count]),
    [
      [0, undefined, 0],
      [1, 'inc', 1],
      [2, 'lock', 2],
    ],
  )
})

model('inspector model - a download holds the last run without a gap, from a known state, and verifies', () => {
  const m = new InspectorModel()
  m.applySnapshot(
    [{ path: 'a', machine: 'counter', status: 'active', durable: false, actorSeq: 0, at: 0, snapshot: snap(0) }],
    0,
  )
  // the page missed the actor's event 4 (its feed dropped it)
  m.applyEvents([ev(1, 'a', 1), ev(2, 'a', 2), ev(3, 'a', 3)])
  m.applyEvents([ev(5, 'a', 5), ev(6, 'a', 6), ev(7, 'a', 7)], 1)
  const { header, lines } = parseLog(entriesToLog(m.actors.get('a')!))
  assert.equal(
    lines.map((l) => ('event' in l ? `e${l.seq}` : `s${l.seq}`)),
    ['s5', 'e6', 's6', 'e7', 's7'],
  )
  const r = new LogReplayer(counter, { verify: true })
  r.start(header)
  for (const [i, l] of lines.entries()) r.line(l, i + 2)
  const res = r.result()
  assert.ok(res.ok, JSON.stringify(res))
  assert.equal([res.startSeq, res.events, res.snapshotsChecked, res.final.context], [5, 2, 2, { count: 7 }])
})

model('inspector model - light events keep value and type; focus restores the full state', () => {
  const m = new InspectorModel()
  m.applySnapshot(
    [{ path: 'a', machine: 'counter', status: 'active', durable: false, actorSeq: 0, at: 0, snapshot: snap(0) }],
    0,
  )
  m.applyEvents([
    {
      seq: 1,
      path: 'a',
      at: 1,
      type: '@xstate.event',
      event: { type: 'inc' },
      actorSeq: 1,
      snapshot: { value: 'open', status: 'active' },
    } as any,
  ])
  const a = m.actors.get('a')!
  assert.ok(m.hasLightEntries(a))
  assert.is(formatValue(a.current!.value), 'open')
  m.applyFocus([
    { path: 'a', machine: 'counter', status: 'active', durable: false, actorSeq: 1, at: 1, snapshot: snap(1) },
  ])
  assert.equal(a.current!.context, { count: 1 })
  assert.not.ok(m.hasLightEntries(a), 'the last entry got the full snapshot')
})

model('inspector model - formatting a state value', () => {
  assert.is(formatValue({ light: 'green', pedestrian: { waiting: {} } }), 'light.green, pedestrian.waiting')
})

model.run()

const wire = suite('inspector feed wire events')

wire('inspector wire - encodeWireEvent is JSON that expands back to the live feed event', async () => {
  const sys = await ActorSystem.open({ machines: { counter } })
  const seen: FeedEvent[] = []
  sys.feed.listen((e) => seen.push(e))
  await sys.spawn('p', 'counter')
  await sys.spawn('p/c', 'counter')
  sys.send('p/c', { type: 'inc', by: 2, note: 'a "quoted" \u2028 line' }, 'tester')
  await sys.stop('p/c')
  assert.ok(seen.length >= 4)
  for (const e of seen) {
    const clean = JSON.parse(JSON.stringify(e))
    assert.equal(expandWireEvent(JSON.parse(encodeWireEvent(e)), 'hub'), clean)
  }
  await sys.close()
})

wire.run()
