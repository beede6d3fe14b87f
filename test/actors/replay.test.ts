import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import fc from 'fast-check'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { exportLog, LogReplayer, SimulatedClock } from '../../actors/index.ts'
import { counter } from '../../machines/counter.ts'
import { trafficLight } from '../../machines/trafficLight.ts'
import { LogFormatError, LogReader, parseLog, parseLogHeader } from '../../protocol/log.ts'
import { replayFile } from '../../runtime/commands/replay.ts'
import { door } from '../fixtures/machines.ts'
import { openSystem } from '../helpers/system.ts'
import { tmpDir } from '../helpers/tmp.ts'

const machines = { counter, trafficLight, door }

async function recordedLog(opts: { snapshots?: 'all' | 'stored'; snapshotEvery?: number } = {}): Promise<string> {
  const dir = tmpDir()
  const clock = new SimulatedClock(1_700_000_000_000)
  const { system, store } = await openSystem(dir, { machines, clock, snapshotEvery: opts.snapshotEvery ?? 3 })
  await system.spawn('tl', 'trafficLight', { durable: true, input: { maxCycles: 3 } })
  for (let i = 0; i < 40; i++) {
    if (i % 9 === 4) system.send('tl', { type: 'emergency' })
    else if (i % 9 === 6) system.send('tl', { type: 'resume' })
    else if (i % 5 === 0) system.send('tl', { type: 'pedestrian.request' })
    await system.flush()
    clock.increment(700)
    await system.flush()
  }
  let text = ''
  for await (const chunk of exportLog(store, 'tl', { snapshots: opts.snapshots, machine: trafficLight })) text += chunk
  await system.close()
  return text
}

const replay = suite('replay - logs exported from the host')

replay('a log exported with stored snapshots replays and verifies', async () => {
  const text = await recordedLog()
  const { header, lines } = parseLog(text)
  assert.is(header.format, 'aether.log/1')
  assert.ok(
    lines.some((l) => 'snapshot' in l),
    'has snapshot lines',
  )
  assert.ok(
    lines.some((l) => 'timer' in l && l.timer),
    'has timer fires',
  )
  const r = new LogReplayer(trafficLight, { verify: true })
  r.start(header)
  lines.forEach((l, i) => {
    r.line(l, i + 2)
  })
  const res = r.result()
  assert.ok(res.ok, JSON.stringify(res.divergence))
  assert.ok(res.snapshotsChecked > 5)
  assert.equal(res.warnings, [])
})

replay('--snapshots all writes a snapshot after every event, and it verifies', async () => {
  const text = await recordedLog({ snapshots: 'all', snapshotEvery: 1000 })
  const { header, lines } = parseLog(text)
  const events = lines.filter((l) => 'event' in l).length
  const snaps = lines.filter((l) => 'snapshot' in l).length
  assert.is(snaps, events)
  const r = new LogReplayer(trafficLight, { verify: true })
  r.start(header)
  lines.forEach((l, i) => {
    r.line(l, i + 2)
  })
  assert.ok(r.result().ok)
})

replay('a tampered snapshot is reported at its seq, with the event and a readable diff', async () => {
  const text = await recordedLog()
  const rows = text.trimEnd().split('\n')
  const idx = rows.findIndex((l, i) => i > 5 && l.includes('"snapshot"'))
  const row = JSON.parse(rows[idx])
  row.snapshot.context.cycles = 99
  rows[idx] = JSON.stringify(row)
  const dir = tmpDir()
  const file = join(dir, 'tampered.log')
  writeFileSync(file, rows.join('\n') + '\n')
  const run = await replayFile(file, trafficLight, { verify: true })
  assert.is(run.code, 1)
  assert.is(run.result!.divergence!.seq, row.seq)
  assert.is(run.result!.divergence!.line, idx + 1)
  assert.ok(run.result!.divergence!.diff.some((d) => d.path === 'context.cycles' && d.expected === 99))
})

replay('a different machineHash is a warning, not an error', async () => {
  const text = await recordedLog()
  const rows = text.split('\n')
  const h = JSON.parse(rows[0])
  h.machineHash = 'f'.repeat(64)
  rows[0] = JSON.stringify(h)
  const file = join(tmpDir(), 'h.log')
  writeFileSync(file, rows.join('\n'))
  const run = await replayFile(file, trafficLight, { verify: true })
  assert.is(run.code, 0)
  assert.is(run.result!.warnings.length, 1)
  assert.match(run.result!.warnings[0], /machineHash differs/)
})

replay('--until stops after the given seq', async () => {
  const text = await recordedLog()
  const file = join(tmpDir(), 'u.log')
  writeFileSync(file, text)
  const run = await replayFile(file, trafficLight, { until: 7 })
  assert.is(run.result!.lastSeq, 7)
  assert.is(run.result!.events, 7)
})

const malformed = suite('replay - malformed logs exit 2 naming the line')

const header = JSON.stringify({ format: 'aether.log/1', actor: 'c', machine: 'counter', at: 1 })
const cases: Array<[string, string, number, RegExp]> = [
  ['bad JSON', `${header}\n{"seq":1,"at":1,"event":{"type":"inc"}}\n{"seq":2,`, 3, /not valid JSON/],
  ['missing event type', `${header}\n{"seq":1,"at":1,"event":{}}`, 2, /"type"/],
  ['missing seq', `${header}\n{"at":1,"event":{"type":"inc"}}`, 2, /"seq"/],
  [
    'seq going backwards',
    `${header}\n{"seq":2,"at":1,"event":{"type":"inc"}}\n{"seq":1,"at":1,"event":{"type":"inc"}}`,
    3,
    /backwards/,
  ],
  ['unknown format', `{"format":"aether.log/9","actor":"c","machine":"m","at":1}`, 1, /unknown format/],
  ['no header', `{"seq":1,"at":1,"event":{"type":"inc"}}`, 1, /format/],
  [
    'snapshot seq mismatch',
    `${header}\n{"seq":1,"at":1,"event":{"type":"inc"}}\n{"seq":5,"at":1,"snapshot":{"value":"open"}}`,
    3,
    /snapshot seq/,
  ],
  [
    'both event and snapshot',
    `${header}\n{"seq":1,"at":1,"event":{"type":"inc"},"snapshot":{"value":1}}`,
    2,
    /exactly one/,
  ],
]
for (const [name, text, line, re] of cases) {
  malformed(name, async () => {
    const file = join(tmpDir(), 'm.log')
    writeFileSync(file, text)
    const run = await replayFile(file, counter, { verify: true })
    assert.is(run.code, 2)
    assert.is(run.error!.line, line)
    assert.match(run.error!.reason, re)
  })
}

const fuzz = suite('replay - the log reader under fuzzing')

fuzz('parseLog throws only LogFormatError, for any text', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 400 }), (text) => {
      try {
        parseLog(text)
      } catch (err) {
        if (!(err instanceof LogFormatError)) throw err
        assert.ok(err.line >= 1)
      }
    }),
    { numRuns: 2000, seed: 42 },
  )
})

const jsonish = fc.jsonValue({ maxDepth: 3 })
const lineArb = fc.oneof(
  fc.record(
    {
      seq: fc.oneof(fc.nat(20), fc.integer(), fc.double(), fc.string()),
      at: fc.oneof(fc.nat(), fc.string()),
      event: fc.oneof(
        fc.record({ type: fc.constantFrom('inc', 'reset', 'lock', 'unlock', '', 'xstate.init') }),
        jsonish,
      ),
    },
    { requiredKeys: [] },
  ),
  fc.record(
    {
      seq: fc.nat(20),
      at: fc.nat(),
      snapshot: fc.oneof(
        fc.record({ value: fc.constantFrom('open', 'locked'), context: fc.record({ count: fc.integer() }) }),
        jsonish,
      ),
    },
    { requiredKeys: [] },
  ),
  jsonish,
)

fuzz('replayFile on mutated logs: no crash, always exit 0, 1 or 2, and 2 carries a line and a reason', async () => {
  const dir = tmpDir()
  let i = 0
  await fc.assert(
    fc.asyncProperty(fc.array(lineArb, { maxLength: 12 }), fc.boolean(), async (lines, withHeader) => {
      const text = (withHeader ? header + '\n' : '') + lines.map((l) => JSON.stringify(l)).join('\n')
      const file = join(dir, `f${i++}.log`)
      writeFileSync(file, text)
      const run = await replayFile(file, counter, { verify: true })
      assert.ok([0, 1, 2].includes(run.code))
      if (run.code === 2) {
        assert.ok(run.error!.line >= 1)
        assert.type(run.error!.reason, 'string')
      }
    }),
    { numRuns: 300, seed: 7 },
  )
})

fuzz('LogReader and parseLogHeader reject non-objects with LogFormatError', () => {
  for (const t of ['null', '[]', '1', '"x"', 'true']) {
    assert.throws(
      () => parseLogHeader(t),
      (e: unknown) => e instanceof LogFormatError,
    )
    assert.throws(
      () => new LogReader().line(t, 2),
      (e: unknown) => e instanceof LogFormatError,
    )
  }
})

replay.run()
malformed.run()
fuzz.run()
