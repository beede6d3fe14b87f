import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import fc from 'fast-check'
import { assign, setup } from 'xstate'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { exportLog, LogReplayer, SimulatedClock } from '../../actors/index.ts'
import { counter } from '../../machines/counter.ts'
import { trafficLight } from '../../machines/trafficLight.ts'
import { LogFormatError, LogReader, parseLog, parseLogHeader } from '../../protocol/log.ts'
import { replayFile } from '../../runtime/commands/replay.ts'
import * as changed from '../fixtures/changedCounter.ts'
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

replay('a log exported with stored snapshots replays and verifies, its final state included', async () => {
  const text = await recordedLog({ snapshots: 'stored' })
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
  assert.is(res.lastCheckedSeq, res.lastSeq, 'the final state was compared')
  assert.ok(res.snapshotsChecked < res.events, 'checkpoints only')
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

const verify = suite('replay --verify - says what it compared, and fails on nothing')

/** A durable counter driven by `events` on LevelDB, exported with `opts`; the log's file. */
async function counterLog(
  events: Array<{ type: string; by?: number }>,
  opts: { snapshots?: 'all' | 'stored'; machine?: boolean; snapshotEvery?: number } = {},
): Promise<string> {
  const { system, store } = await openSystem(tmpDir(), { machines, snapshotEvery: opts.snapshotEvery ?? 1000 })
  await system.spawn('c', 'counter', { durable: true })
  for (const e of events) await system.sendCommitted('c', e)
  let text = ''
  const machine = opts.machine === false ? undefined : counter
  for await (const chunk of exportLog(store, 'c', { snapshots: opts.snapshots, machine })) text += chunk
  await system.close()
  const file = join(tmpDir(), 'c.log')
  writeFileSync(file, text)
  return file
}

const incs = (n: number) => Array.from({ length: n }, (_, i) => ({ type: 'inc', by: i + 1 }))
const rows = (file: string) => readFileSync(file, 'utf8').trimEnd().split('\n')

verify('exports write a snapshot after every event by default', async () => {
  const lines = rows(await counterLog(incs(6)))
  assert.is(lines.filter((l) => l.includes('"snapshot"')).length, 6)
  assert.is(lines.filter((l) => l.includes('"event"')).length, 6)
})

verify('a snapshot at every step needs the machine: MACHINE_NEEDED names it and the way out', async () => {
  try {
    await counterLog(incs(2), { machine: false })
    assert.unreachable('exported without the machine')
  } catch (err) {
    assert.is((err as { code?: string }).code, 'MACHINE_NEEDED')
    assert.match((err as Error).message, /machine "counter".*--snapshots stored/)
  }
})

verify('a log without snapshot lines does not verify: nothing to compare is exit 2, not a pass', async () => {
  const file = await counterLog(incs(5))
  writeFileSync(
    file,
    rows(file)
      .filter((l) => !l.includes('"snapshot"'))
      .join('\n'),
  )
  const run = await replayFile(file, counter, { verify: true })
  assert.is(run.code, 2)
  assert.is(run.result!.ok, false)
  assert.match(run.result!.unverified!, /no snapshot line to compare with \(5 events replayed\)/)
  const plain = await replayFile(file, counter, {})
  assert.is(plain.code, 0, 'replay without --verify still replays it')
  assert.equal(plain.result!.final.context, { count: 15 })
})

verify('the final state is compared: a log whose last events have no snapshot line does not verify', async () => {
  const file = await counterLog(incs(6))
  writeFileSync(
    file,
    rows(file)
      .filter((l) => !(l.includes('"snapshot"') && JSON.parse(l).seq > 3))
      .join('\n'),
  )
  const run = await replayFile(file, counter, { verify: true })
  assert.is(run.code, 2)
  assert.is(run.result!.snapshotsChecked, 3)
  assert.match(run.result!.unverified!, /last snapshot line is at seq 3, the last event at seq 6/)
})

verify('a stored-only export ends with the final state, computed from the last checkpoint', async () => {
  const file = await counterLog(incs(7), { snapshots: 'stored', snapshotEvery: 3 })
  const snaps = rows(file)
    .filter((l) => l.includes('"snapshot"'))
    .map((l) => JSON.parse(l))
  assert.equal(
    snaps.map((l) => l.seq),
    [3, 6, 7],
    'checkpoints 3 and 6, then the final state',
  )
  assert.equal(snaps[2].snapshot.context, { count: 28 })
  const run = await replayFile(file, counter, { verify: true })
  assert.is(run.code, 0, JSON.stringify(run.result))
  assert.is(run.result!.snapshotsChecked, 3)
  assert.is(run.result!.lastCheckedSeq, 7)
  // without the machine there is no final state to write: verification says so
  const bare = await counterLog(incs(7), { snapshots: 'stored', snapshotEvery: 3, machine: false })
  const r2 = await replayFile(bare, counter, { verify: true })
  assert.is(r2.code, 2)
  assert.match(r2.result!.unverified!, /final state is not compared/)
})

verify('a log with no event has nothing to verify', async () => {
  const run = await replayFile(await counterLog([]), counter, { verify: true })
  assert.is(run.code, 2)
  assert.match(run.result!.unverified!, /no event after its header/)
})

verify('a changed machine diverges at the first event it computes differently, with a diff', async () => {
  const file = await counterLog([{ type: 'lock' }, { type: 'unlock' }, { type: 'inc', by: 2 }, { type: 'inc' }])
  const run = await replayFile(file, changed.counter, { verify: true })
  assert.is(run.code, 1)
  const d = run.result!.divergence!
  assert.equal([d.kind, d.seq, d.line], ['state', 3, 7])
  assert.equal(d.event, { type: 'inc', by: 2 })
  assert.equal(d.diff, [{ path: 'context.count', expected: 2, actual: 4 }])
  assert.is(run.result!.snapshotsChecked, 3, 'two matched before it')
})

verify(
  'an event the replayed machine takes no transition for, where the recorded actor changed, diverges',
  async () => {
    const file = await counterLog([{ type: 'inc' }, { type: 'lock' }, { type: 'inc' }])
    const run = await replayFile(file, changed.counterNoLock, { verify: true })
    assert.is(run.code, 1)
    const d = run.result!.divergence!
    assert.equal([d.kind, d.seq], ['unaccepted', 2])
    assert.match(d.message, /took no transition for "lock" in state "open", but the recorded actor changed/)
    assert.equal(d.diff, [{ path: 'value', expected: 'locked', actual: 'open' }])
  },
)

verify('an event that is ignored in the recorded run too is no divergence', async () => {
  // `unlock` while open changes nothing, live or replayed
  const file = await counterLog([{ type: 'inc' }, { type: 'unlock' }, { type: 'inc' }])
  const run = await replayFile(file, counter, { verify: true })
  assert.is(run.code, 0)
  assert.is(run.result!.events, 3)
})

verify('an event the replayed machine throws on is a divergence (exit 1), with or without --verify', async () => {
  const file = await counterLog(incs(5))
  for (const opts of [{ verify: true }, {}]) {
    const run = await replayFile(file, changed.counterThrows, opts)
    assert.is(run.code, 1)
    const d = run.result!.divergence!
    assert.equal([d.kind, d.seq], ['threw', 3])
    assert.match(d.message, /threw on "inc": count overflow/)
  }
})

verify('a compacted log replays from its starting checkpoint; a bad one is a divergence at its line', async () => {
  const file = await counterLog(incs(4))
  const lines = rows(file)
  // keep the header, start from the snapshot after seq 2
  const start = lines.findIndex((l) => l.includes('"snapshot"') && JSON.parse(l).seq === 2)
  writeFileSync(file, [lines[0], ...lines.slice(start)].join('\n'))
  const run = await replayFile(file, counter, { verify: true })
  assert.is(run.code, 0, JSON.stringify(run.result))
  assert.equal([run.result!.startSeq, run.result!.events, run.result!.snapshotsChecked], [2, 2, 2])
  const bad = JSON.parse(lines[start])
  bad.snapshot.value = 'ajar'
  writeFileSync(file, [lines[0], JSON.stringify(bad), ...lines.slice(start + 1)].join('\n'))
  const r2 = await replayFile(file, counter, { verify: true })
  assert.is(r2.code, 1)
  assert.equal([r2.result!.divergence!.kind, r2.result!.divergence!.line], ['threw', 2])
  assert.match(r2.result!.divergence!.message, /cannot start from this snapshot/)
})

verify('events after the actor is done change nothing, live or replayed', async () => {
  const ending = setup({}).createMachine({
    id: 'ending',
    context: { n: 0 },
    on: { x: { actions: assign({ n: ({ context }) => context.n + 1 }) } },
    initial: 'a',
    states: { a: { on: { end: 'b' } }, b: { type: 'final' } },
  })
  const { system, store } = await openSystem(tmpDir(), { machines: { ending } })
  await system.spawn('e', 'ending', { durable: true })
  await system.sendCommitted('e', { type: 'x' })
  // sent in one tick: all three are journaled before `end` makes the actor done
  const sent = ['end', 'x', 'x'].map((type) => system.sendCommitted('e', { type }))
  await Promise.all(sent)
  assert.equal(system.get('e')!.getSnapshot().context, { n: 1 }, 'the live actor took no event after done')
  let text = ''
  for await (const chunk of exportLog(store, 'e', { machine: ending })) text += chunk
  await system.close()
  const { header, lines } = parseLog(text)
  const last = lines[lines.length - 1]
  assert.ok('snapshot' in last)
  assert.equal([last.seq, last.snapshot.status, last.snapshot.context], [4, 'done', { n: 1 }])
  const r = new LogReplayer(ending, { verify: true })
  r.start(header)
  for (const [i, l] of lines.entries()) r.line(l, i + 2)
  const res = r.result()
  assert.ok(res.ok, JSON.stringify(res))
  assert.equal(res.final.context, { n: 1 })
})

const malformed = suite('replay - malformed logs exit 2 naming the line')

const header = JSON.stringify({ format: 'aether.log/1', actor: 'c', machine: 'counter', at: 1 })
const cases: Array<[string, string, number, RegExp]> = [
  ['bad JSON', `${header}\n{"seq":1,"at":1,"event":{"type":"inc"}}\n{"seq":2,`, 3, /not valid JSON/],
  ['missing event type', `${header}\n{"seq":1,"at":1,"event":{}}`, 2, /"type"/],
  ['missing seq', `${header}\n{"at":1,"event":{"type":"inc"}}`, 2, /"seq"/],
  [
    'seq going backwards',
    `${header}\n{"seq":1,"at":1,"event":{"type":"inc"}}\n{"seq":2,"at":1,"event":{"type":"inc"}}\n{"seq":1,"at":1,"event":{"type":"inc"}}`,
    4,
    /backwards/,
  ],
  [
    'a missing seq (a gap)',
    `${header}\n{"seq":1,"at":1,"event":{"type":"inc"}}\n{"seq":2,"at":1,"event":{"type":"inc"}}\n{"seq":4,"at":1,"event":{"type":"inc"}}`,
    4,
    /seq 4 follows seq 2: a gap \(seq 3 missing\)/,
  ],
  [
    'a first event after seq 1 without a starting snapshot',
    `${header}\n{"seq":5,"at":1,"event":{"type":"inc"}}`,
    2,
    /seq 1 to 4 are missing/,
  ],
  [
    'a gap after a starting snapshot',
    `${header}\n{"seq":7,"at":1,"snapshot":{"value":"open","context":{"count":2}}}\n{"seq":9,"at":1,"event":{"type":"inc"}}`,
    3,
    /seq 9 follows seq 7: a gap \(seq 8 missing\)/,
  ],
  [
    'two starting snapshots',
    `${header}\n{"seq":7,"at":1,"snapshot":{"value":"open","context":{"count":1}}}\n{"seq":8,"at":1,"snapshot":{"value":"open"}}`,
    3,
    /second snapshot line before the first event/,
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
      if (run.code === 2 && run.error) {
        assert.ok(run.error.line >= 1)
        assert.type(run.error.reason, 'string')
      } else if (run.code === 2) assert.type(run.result!.unverified, 'string', 'exit 2 says why it could not verify')
      if (run.code === 1) assert.type(run.result!.divergence!.message, 'string')
      if (run.code === 0) assert.ok(run.result!.snapshotsChecked > 0, 'a verified log compared something')
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
verify.run()
malformed.run()
fuzz.run()
