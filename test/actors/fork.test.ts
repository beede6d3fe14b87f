/**
 * What-if forks (actors/fork.ts, `aether replay LOG --fork-at`): on a door with an invoked motor
 * recorded on a real actor system, and on job logs of the corpus (test/corpus/jobs): a fork that
 * rejoins, one that diverges for good, one that needs an effect result nobody recorded.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { MemoryLevel } from 'memory-level'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { fromPromise } from 'xstate'
import { ActorSystem, exportLog } from '../../actors/index.ts'
import { ForkError, forkLog } from '../../actors/fork.ts'
import { parseLog } from '../../protocol/log.ts'
import { appMachine } from '../../runtime/app.ts'
import { LevelStore } from '../../runtime/LevelStore.ts'
import { door } from '../fixtures/door.ts'
import { aether, root } from '../helpers/cli.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { replayCommand } from '../../runtime/commands/replay.ts'
import { UsageError } from '../../runtime/args.ts'

/** Records the door: open, the motor's result, close, the motor's result, lock. */
async function doorLog() {
  const store = new LevelStore(new MemoryLevel({ keyEncoding: 'utf8', valueEncoding: 'utf8' }) as any)
  const live = door.provide({ actors: { motor: fromPromise(async ({ input }) => ({ at: (input as any).to })) } })
  const system = await ActorSystem.open({ store, machines: { door: live } })
  const settle = async () => {
    for (let i = 0; i < 5; i++) {
      await system.flush()
      await new Promise((r) => setImmediate(r))
    }
  }
  await system.spawn('door-1', 'door', { durable: true })
  for (const type of ['open', 'close', 'lock'] as const) {
    system.send('door-1', { type })
    await settle()
  }
  let text = ''
  for await (const c of exportLog(store, 'door-1', { machine: door })) text += c
  await system.close()
  return parseLog(text)
}

const Door = suite('fork - the door')

Door('the recording: open, motor done, close, motor done, lock', async () => {
  const log = await doorLog()
  const types = log.lines.filter((l: any) => l.event).map((l: any) => l.event.type)
  assert.equal(types, ['open', 'xstate.done.actor.motor', 'close', 'xstate.done.actor.motor', 'lock'])
})

Door('dropping "open": the motor results no longer apply; the paths rejoin when the door is closed again', async () => {
  const log = await doorLog()
  const r = forkLog(door, log.header, log.lines, 1, { kind: 'drop' })
  assert.equal(
    r.rows.map((x) => [x.seq, x.action, x.original.value, x.fork.value, x.differs]),
    [
      [1, 'dropped', 'opening', 'closed', true],
      [2, 'not-running', 'open', 'closed', true],
      [3, 'ignored', 'closing', 'closed', true],
      [4, 'not-running', 'closed', 'closed', false],
      [5, 'same', 'locked', 'locked', false],
    ],
  )
  assert.is(r.rejoinedAt, 4)
  assert.equal(r.effects.notRunning, ['door-1/motor@1', 'door-1/motor@3'])
  assert.equal(r.effects.missing, [])
})

Door('replacing "close" by "lock" while open: ignored, and the doors differ for good', async () => {
  const log = await doorLog()
  const r = forkLog(door, log.header, log.lines, 3, { kind: 'replace', event: { type: 'lock' } })
  assert.is(r.rejoinedAt, null)
  assert.equal(r.final.original.value, 'locked')
  assert.equal(r.final.fork.value, 'open')
  assert.equal(r.final.diff, [{ path: 'value', original: 'locked', fork: 'open' }])
  assert.equal(r.effects.notRunning, ['door-1/motor@3'])
})

Door('an event inserted that changes nothing: the recorded effect results still apply (same keys)', async () => {
  const log = await doorLog()
  const r = forkLog(door, log.header, log.lines, 3, { kind: 'insert', event: { type: 'unlock' } })
  assert.equal(r.rows[0], { ...r.rows[0], seq: 3, action: 'inserted', differs: false })
  assert.is(r.rows[1].action, 'same')
  assert.is(r.rejoinedAt, 3)
  assert.equal(r.effects.reused, ['door-1/motor@3'])
})

Door('"open" while closing: the fork runs the motor under a key the recording never completed', async () => {
  const log = await doorLog()
  const r = forkLog(door, log.header, log.lines, 4, { kind: 'replace', event: { type: 'open' } })
  assert.equal(r.final.fork.value, 'opening')
  assert.equal(r.effects.missing, [{ key: 'door-1/motor@4', child: 'motor' }])
  assert.is(r.rejoinedAt, null)
})

Door('--then: the fork goes on with the events of another recording', async () => {
  const log = await doorLog()
  const then = [
    { seq: 4, at: 10, event: { type: 'xstate.done.actor.motor', output: { at: 'closed' } } },
    { seq: 5, at: 11, event: { type: 'open' } },
  ]
  const r = forkLog(door, log.header, log.lines, 3, { kind: 'replace', event: { type: 'close' } }, then)
  assert.equal(
    r.rows.map((x) => [x.seq, x.action, x.original.value, x.fork.value]),
    [
      [3, 'replaced', 'closing', 'closing'],
      [4, 'same', 'closed', 'closed'],
      [5, 'same', 'locked', 'opening'],
    ],
  )
  assert.equal(r.effects.missing, [{ key: 'door-1/motor@5', child: 'motor' }])
})

Door('a seq outside the log is a ForkError naming the range', async () => {
  const log = await doorLog()
  assert.throws(
    () => forkLog(door, log.header, log.lines, 9, { kind: 'drop' }),
    (e: unknown) => {
      return e instanceof ForkError && e.code === 'FORK_SEQ' && /seq 1 to 5/.test(e.message)
    },
  )
})

const corpusJob = join(root, 'test/corpus/jobs/job-00000lfls-00000.log')
const app = join(root, 'test/corpus/app.ts')

const Job = suite('fork - a job that retried twice (test/corpus)')

Job('another error message at the first failure: rejoins at the next failure', async () => {
  const log = parseLog(readFileSync(corpusJob, 'utf8'))
  const m = await appMachine(app, log.header.machine)
  const r = forkLog(m, log.header, log.lines, 1, {
    kind: 'replace',
    event: { type: 'xstate.error.actor.try', error: { message: 'timeout' } },
  })
  assert.is(r.rejoinedAt, 3)
  assert.equal(r.rows[0].diff, [{ path: 'context.lastError', original: 'try: carrier down', fork: 'timeout' }])
  assert.equal(r.effects.missing, [])
})

Job('success at the first attempt: completes, and differs for good (attempts, output)', async () => {
  const log = parseLog(readFileSync(corpusJob, 'utf8'))
  const m = await appMachine(app, log.header.machine)
  const r = forkLog(m, log.header, log.lines, 1, {
    kind: 'replace',
    event: { type: 'xstate.done.actor.try', output: 'early' },
  })
  assert.is(r.rejoinedAt, null)
  assert.is(r.final.fork.value, 'completed')
  assert.is((r.final.fork.context as any).attempts, 1)
  assert.ok(r.rows.slice(1).every((x) => x.action === 'not-running' || x.action === 'stale-timer'))
})

Job('a third failure: the fork retries and needs a fourth result nobody recorded', async () => {
  const cli = await aether([
    'replay',
    corpusJob,
    '--app',
    app,
    '--fork-at',
    '5',
    '--event',
    '{"type":"xstate.error.actor.try","error":{"message":"again"}}',
    '--json',
  ])
  assert.is(cli.code, 1, cli.stderr)
  const r = JSON.parse(cli.stdout)
  assert.equal(r.effects.missing, [{ key: 'job-00000lfls-00000/try', child: 'try' }])
  assert.is(r.timers.synthesized.length, 1, 'its backoff timer fired by the fork itself')
  assert.equal(r.final.fork.value, { running: 'try' })
})

const Cli = suite('fork - the command line')

Cli('side by side, the verdict, exit 0 when the paths rejoin', async () => {
  const cli = await aether([
    'replay',
    corpusJob,
    '--app',
    app,
    '--fork-at',
    '1',
    '--event',
    '{"type":"xstate.error.actor.try","error":{"message":"timeout"}}',
  ])
  assert.is(cli.code, 0, cli.stderr)
  assert.match(cli.stdout, /^fork of job-00000lfls-00000 \(job:flaky\) at seq 1: the event replaced by/)
  assert.match(cli.stdout, /context\.lastError: original "try: carrier down", fork "timeout"/)
  assert.match(cli.stdout, /rejoined at seq 3: the two paths agree from there to the end/)
})

Cli('bad --fork-at, bad JSON, no change or two: a usage error each, naming what is wrong', async () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ 'fork-at': 99, drop: true }, /--fork-at 99: the log's events are seq 1 to 5/],
    [{ 'fork-at': 0, drop: true }, /--fork-at must be a positive integer/],
    [{ 'fork-at': 1.5, drop: true }, /--fork-at must be a positive integer/],
    [{ 'fork-at': 2, event: '{"type":' }, /--event: not JSON/],
    [{ 'fork-at': 2, event: '{"kind":1}' }, /--event: an event is a JSON object with a non-empty string "type"/],
    [{ 'fork-at': 2 }, /needs exactly one of --event JSON/],
    [{ 'fork-at': 2, drop: true, insert: '{"type":"a"}' }, /needs exactly one of/],
    [{ drop: true }, /--drop goes with --fork-at SEQ/],
    [{ 'fork-at': 2, drop: true, verify: true }, /--fork-at does not take --verify/],
    [
      // biome-ignore lint/suspicious/noThenProperty: the flag is --then
      { 'fork-at': 2, drop: true, then: join(root, 'test/corpus/actors/counter-0.log') },
      /--then .*its machine is "counter", the log's is "job:flaky"/,
    ],
  ]
  for (const [flags, re] of cases) {
    let message = ''
    try {
      await replayCommand.run({ flags: { app, ...flags }, positionals: [corpusJob] })
    } catch (err) {
      assert.instance(err, UsageError)
      message = (err as Error).message
    }
    assert.match(message, re, JSON.stringify(flags))
  }
  // a malformed log
  const dir = tmpDir('aether-fork-')
  const bad = join(dir, 'bad.log')
  writeFileSync(bad, readFileSync(corpusJob, 'utf8').replace('"seq":3,', '"seq":9,'))
  let message = ''
  try {
    await replayCommand.run({ flags: { app, 'fork-at': 1, drop: true }, positionals: [bad] })
  } catch (err) {
    message = (err as Error).message
  }
  assert.match(message, /malformed log .*bad\.log, line \d+: seq 9 follows seq 2/)
})

Door.run()
Job.run()
Cli.run()
