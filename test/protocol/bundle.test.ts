import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import {
  assembleBundle,
  BundleFormatError,
  checkIncidentPart,
  encodeBundle,
  parseBundle,
  windowLog,
  type IncidentPart,
} from '../../protocol/bundle.ts'
import { encodeLog, parseLog, type LogLine } from '../../protocol/log.ts'
import { BundleTimeline } from '../../inspector/src/bundleModel.ts'

const header = (actor: string) => ({ format: 'aether.log/1' as const, actor, machine: 'counter', at: 0 })
/** A counter's log: event i at time 10*i with a snapshot after it. */
function counterLog(actor: string, n: number, t0 = 0): { header: ReturnType<typeof header>; lines: LogLine[] } {
  const lines: LogLine[] = []
  for (let i = 1; i <= n; i++) {
    lines.push({ seq: i, at: t0 + 10 * i, event: { type: 'inc' } })
    lines.push({ seq: i, at: t0 + 10 * i, snapshot: { value: 'open', context: { count: i }, status: 'active' } })
  }
  return { header: header(actor), lines }
}

const part = (node: string, role: string, now: number, logs: string[], extra: Partial<IncidentPart> = {}) =>
  ({
    node,
    role,
    now,
    window: { from: 0, to: 100 },
    offsets: [],
    logs,
    notes: [],
    skipped: [],
    ...extra,
  }) as IncidentPart

const win = suite('bundle - windowLog')

win('windowLog - starts from the snapshot before the window and ends after its last event', () => {
  const cut = windowLog(counterLog('a', 6), 25, 45)!
  assert.equal(
    cut.lines.map((l) => `${'event' in l ? 'e' : 's'}${l.seq}`),
    ['s2', 'e3', 's3', 'e4', 's4'],
  )
  assert.is(windowLog(counterLog('a', 6), 100, 200), undefined, 'nothing in the window')
  assert.equal(windowLog(counterLog('a', 3), 0, 15)!.lines[0], { seq: 1, at: 10, event: { type: 'inc' } })
  // a log with checkpoints only: from the last one before the window, events before it kept
  const sparse = counterLog('a', 6).lines.filter((l) => 'event' in l || l.seq === 2)
  const c2 = windowLog({ header: header('a'), lines: sparse }, 45, 55)!
  assert.equal(
    c2.lines.map((l) => `${'event' in l ? 'e' : 's'}${l.seq}`),
    ['s2', 'e3', 'e4', 'e5'],
  )
  parseLog(encodeLog(c2.header, c2.lines)) // still a valid log
})

const rd = suite('bundle - parse and validate')

const good = () =>
  encodeBundle(
    {
      createdAt: 1,
      window: { from: 0, to: 100 },
      nodes: [{ id: 'h', role: 'hub', offsetMs: 0, offsetVia: 'reference' }],
    },
    [
      { node: 'h', ...counterLog('a', 2) },
      { node: 'h', ...counterLog('b', 1) },
    ],
  )

rd('parseBundle - reads what encodeBundle writes', () => {
  const b = parseBundle(good())
  assert.equal(
    b.logs.map((l) => [l.node, l.header.actor, l.lines.length, l.firstLine]),
    [
      ['h', 'a', 4, 2],
      ['h', 'b', 2, 7],
    ],
  )
})

function refused(text: string, re: RegExp, line?: number, actor?: string) {
  try {
    parseBundle(text)
  } catch (err) {
    assert.instance(err, BundleFormatError)
    assert.match((err as Error).message, re)
    if (line !== undefined) assert.is((err as BundleFormatError).line, line)
    if (actor !== undefined) assert.is((err as BundleFormatError).actor, actor)
    return
  }
  assert.unreachable(`accepted; expected ${re}`)
}

rd('parseBundle - every defect is named with its line', () => {
  const lines = good().trimEnd().split('\n')
  const m = JSON.parse(lines[0])
  const withManifest = (f: (m: any) => void) => {
    const c = structuredClone(m)
    f(c)
    return [JSON.stringify(c), ...lines.slice(1)].join('\n')
  }
  refused('', /empty/, 1)
  refused('not json', /manifest is not valid JSON/, 1)
  refused(
    withManifest((c) => (c.format = 'aether.bundle/9')),
    /unknown format "aether.bundle\/9"/,
  )
  refused(
    withManifest((c) => (c.window = { from: 5, to: 1 })),
    /"window"/,
  )
  refused(
    withManifest((c) => (c.nodes = [])),
    /"nodes" must be a non-empty array/,
  )
  refused(
    withManifest((c) => (c.actors[1].node = 'x')),
    /actors\[1\]\.node must name one of "nodes"/,
  )
  refused(
    withManifest((c) => c.actors.push(c.actors[0])),
    /actors\[2\]: a on h is listed twice/,
  )
  refused(
    withManifest((c) => (c.actors[0].actor = 'z')),
    /the log here is of a, but the manifest lists z/,
    2,
    'z',
  )
  refused(
    withManifest((c) => (c.actors[0].lines = 6)),
    /a log header inside the log of a/,
    7,
    'a',
  )
  refused(
    withManifest((c) => (c.actors[1].lines = 9)),
    /ends inside the log of b/,
    undefined,
    'b',
  )
  refused(
    withManifest((c) => c.actors.pop()),
    /a line after the last log/,
    7,
  )
  refused(
    withManifest((c) => (c.nodes[0].offsetMs = 'x')),
    /nodes\[0\]\.offsetMs must be a number/,
  )
  const gap = [...lines]
  gap.splice(3, 2) // drops seq 1's snapshot and seq 2's event: a gap inside the log of a
  refused(
    [JSON.stringify({ ...m, actors: [{ ...m.actors[0], lines: 3 }, m.actors[1]] }), ...gap.slice(1)].join('\n'),
    /seq|snapshot/,
    undefined,
    'a',
  )
})

const asm = suite('bundle - assembleBundle')

asm('assembleBundle - offsets: measured by the reference, measured back, else from the fetch', () => {
  const a = encodeLog(counterLog('a', 1).header, counterLog('a', 1).lines)
  const text = assembleBundle(
    [
      {
        url: 'http://h',
        part: part('hub', 'hub', 1000, [a], {
          offsets: [{ peer: 'root', offsetMs: 7, rttMs: 2, via: 'link.heartbeat.ack', at: 0 }],
          reached: [{ node: 'member-1', role: 'external app', via: 'recorded by hub', logs: [a] }],
        }),
        sentAt: 1000,
        receivedAt: 1010,
      },
      { url: 'http://r', part: part('root', 'root', 2000, []), sentAt: 1020, receivedAt: 1030 },
      // the supervisor's clock is 500 ms ahead of the exporter's; the hub's 5 ms behind
      { url: 'http://s', part: part('sup', 'supervisor', 1545, []), sentAt: 1040, receivedAt: 1050 },
      { url: 'http://h2', part: part('hub', 'hub', 0, []), sentAt: 0, receivedAt: 0 },
    ],
    { from: 0, to: 100 },
    5,
  )
  const b = parseBundle(text)
  assert.equal(
    b.manifest.nodes.map((n) => [n.id, n.offsetMs, n.offsetVia]),
    [
      ['hub', 0, 'reference'],
      ['root', 7, 'link.heartbeat.ack'],
      ['sup', -505, 'http'], // sup 1545 ~ exporter 1045 ~ hub 1040
      ['member-1', 0, 'recorded by hub'],
    ],
  )
  assert.equal(
    b.logs.map((l) => `${l.node}:${l.header.actor}`),
    ['hub:a', 'member-1:a'],
  )
})

asm("checkIncidentPart - a node's answer is checked field by field", () => {
  const ok = part('h', 'hub', 1, [])
  assert.is(checkIncidentPart(ok), ok)
  const refuse = (v: unknown, re: RegExp) => assert.throws(() => checkIncidentPart(v), re)
  refuse('x', /not a JSON object/)
  refuse({ ...ok, node: '' }, /"node"/)
  refuse({ ...ok, now: 'soon' }, /"now"/)
  refuse({ ...ok, offsets: [{ peer: 'r' }] }, /offsets\[0\]/)
  refuse({ ...ok, logs: [1] }, /"logs"/)
  refuse({ ...ok, notes: [{ node: 'h', at: 1 }] }, /notes\[0\]/)
  refuse({ ...ok, reached: [{ node: 'm', role: 'x', via: 'y', logs: 'no' }] }, /reached\[0\]\.logs/)
  // a log that is not a log is refused when assembled, naming the node
  assert.throws(
    () => assembleBundle([{ part: part('h', 'hub', 1, ['{}']), sentAt: 0, receivedAt: 0 }], { from: 0, to: 1 }, 1),
    /h sent a malformed log: line 1/,
  )
})

asm('BundleTimeline - one ordered timeline on the reference clock, states at any step', () => {
  const text = encodeBundle(
    {
      createdAt: 1,
      window: { from: 0, to: 100 },
      nodes: [
        { id: 'h', role: 'hub', offsetMs: 0, offsetVia: 'reference' },
        { id: 'r', role: 'root', offsetMs: -5, offsetVia: 'link.heartbeat.ack' },
      ],
      notes: [{ node: 'r', at: 30, text: 'applied x' }],
    },
    [
      { node: 'h', ...counterLog('a', 3) },
      { node: 'r', ...counterLog('b', 2, 2) },
    ],
  )
  const tl = BundleTimeline.parse('x', text)
  assert.equal(
    tl.steps.map((s) => `${s.t}:${s.node}:${s.actor || 'note'}`),
    ['7:r:b', '10:h:a', '17:r:b', '20:h:a', '25:r:note', '30:h:a'],
  )
  assert.equal(
    tl.lanes.map((l) => l.key),
    ['h a', 'r b', 'r (notes)'],
  )
  const at = tl.statesAt(3)
  assert.equal(at.get('h a')?.context, { count: 2 })
  assert.equal(at.get('r b')?.context, { count: 2 })
  assert.is(tl.statesAt(-1).size, 0)
  const chosen = tl.filter('R B, notes')
  assert.equal(
    chosen.lanes.map((l) => l.key),
    ['r b', 'r (notes)'],
  )
  assert.equal(
    chosen.steps.map((s) => s.t),
    [7, 17, 25],
  )
  assert.is(tl.filter(' , '), tl)
})

win.run()
rd.run()
asm.run()
