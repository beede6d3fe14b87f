/**
 * Coverage of recorded traffic (actors/coverage.ts, `aether coverage`): counts of states entered
 * and transitions taken (guards said no counted too) on hand-made logs; paths generated with
 * xstate/graph for the transitions the corpus never took, each run as a test: fed to the machine,
 * it takes its transition.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { assign, setup } from 'xstate'
import { CoverageRecorder, pathsToUncovered } from '../../actors/coverage.ts'
import { counter } from '../../machines/index.ts'
import { LOG_FORMAT, type LogHeader, type LogLine } from '../../protocol/log.ts'
import { coverageOf } from '../../runtime/commands/coverage.ts'
import { coverageHtml } from '../../runtime/corpus/coverageHtml.ts'
import { logFiles } from '../../runtime/corpus/logFiles.ts'
import { aether, root } from '../helpers/cli.ts'
import { tmpDir } from '../helpers/tmp.ts'

const header = (machine: string, actor = 'a-1'): LogHeader => ({ format: LOG_FORMAT, actor, machine, at: 0 })
const events = (...types: string[]): LogLine[] => types.map((type, i) => ({ seq: i + 1, at: i, event: { type } }))

/** A turnstile with a guard: a coin opens it unless it is jammed. */
const turnstile = setup({
  types: { context: {} as { jammed: boolean }, events: {} as { type: 'coin' } | { type: 'push' } | { type: 'jam' } },
  guards: { free: ({ context }) => !context.jammed },
}).createMachine({
  id: 'turnstile',
  context: { jammed: false },
  initial: 'locked',
  states: {
    locked: {
      on: {
        coin: [{ guard: 'free', target: 'open' }, { target: 'locked' }],
        jam: { actions: assign({ jammed: true }) },
      },
    },
    open: { on: { push: 'locked' } },
  },
})

const Counts = suite('coverage - counts')

Counts('states entered and transitions taken; an event nothing takes is unhandled', () => {
  const rec = new CoverageRecorder(counter, 'counter')
  rec.addLog(header('counter'), events('inc', 'lock', 'inc', 'unlock', 'inc'))
  rec.addLog(header('counter', 'a-2'), events('inc'))
  const c = rec.result()
  assert.equal(
    c.states.map((s) => [s.id, s.entered]),
    [
      ['counter.open', 3],
      ['counter.locked', 1],
    ],
  )
  const taken = Object.fromEntries(c.transitions.map((t) => [t.id, t.taken]))
  assert.equal(taken, {
    'counter.open inc#0': 3,
    'counter.open reset#0': 0,
    'counter.open lock#0': 1,
    'counter.locked unlock#0': 1,
  })
  assert.equal([c.logs, c.events, c.unhandled], [2, 6, 1])
  assert.equal(c.summary, { states: 2, statesCovered: 2, transitions: 4, transitionsCovered: 3 })
})

Counts('a guard that says no is counted on its transition; the fallback is taken', () => {
  const rec = new CoverageRecorder(turnstile, 'turnstile')
  rec.addLog(header('turnstile'), events('coin', 'push', 'jam', 'coin', 'coin'))
  const t = Object.fromEntries(rec.result().transitions.map((x) => [x.id, [x.taken, x.guardFalse, x.guard ?? '']]))
  assert.equal(t['turnstile.locked coin#0'], [1, 2, 'free'])
  assert.equal(t['turnstile.locked coin#1'], [2, 0, ''])
  assert.equal(t['turnstile.open push#0'], [1, 0, ''])
  // re-entering its own state (coin while jammed) counts as an entry
  assert.is(rec.result().states.find((s) => s.id === 'turnstile.locked')!.entered, 4)
})

const Paths = suite('coverage - generated paths')

/** Runs a generated path as a test: its events replayed, the transition it names must be taken. */
function runPath(machine: any, name: string, input: unknown, path: { transition: string; events: any[] }) {
  const rec = new CoverageRecorder(machine, name)
  rec.addLog(
    { ...header(name), input },
    path.events.map((event, i) => ({ seq: i + 1, at: i, event })),
  )
  const t = rec.result().transitions.find((x) => x.id === path.transition)!
  assert.ok(t.taken >= 1, `${name}: the path ${path.events.map((e) => e.type).join(' -> ')} takes ${path.transition}`)
}

Paths('a transition no log took gets a path that takes it', () => {
  const rec = new CoverageRecorder(counter, 'counter')
  rec.addLog(header('counter'), events('inc', 'lock'))
  const uncovered = rec.result().transitions.filter((t) => t.taken === 0)
  const { paths, unreachable } = pathsToUncovered(counter, uncovered)
  assert.equal(unreachable, [])
  assert.equal(
    paths.map((p) => [p.transition, p.events.map((e) => e.type)]),
    [
      ['counter.open reset#0', ['reset']],
      ['counter.locked unlock#0', ['lock', 'unlock']],
    ],
  )
  for (const p of paths) runPath(counter, 'counter', undefined, p)
})

Paths('the corpus: every generated path for a never-taken transition takes it', async () => {
  const files = logFiles([join(root, 'test/corpus')])
  const report = await coverageOf(files, { app: join(root, 'test/corpus/app.ts') }, { paths: true })
  assert.equal(report.skipped, [])
  const { machineSource } = await import('../../runtime/corpus/machineSource.ts')
  const source = await machineSource({ app: join(root, 'test/corpus/app.ts') })
  const inputs = new Map<string, unknown>()
  for (const f of files) {
    const h = JSON.parse(readFileSync(f, 'utf8').split('\n')[0])
    if (!inputs.has(h.machine)) inputs.set(h.machine, h.input)
  }
  let ran = 0
  for (const m of report.machines) {
    const machine = source.find(m.machine)!.machine
    for (const p of m.paths ?? []) {
      runPath(machine, m.machine, inputs.get(m.machine), p)
      ran++
    }
    // what the corpus and the paths cover together
    const never = m.transitions.filter((t) => t.taken === 0).length
    assert.is((m.paths?.length ?? 0) + (m.unreachable?.length ?? 0), never, m.machine)
  }
  assert.ok(ran >= 50, `${ran} generated paths ran`)
})

const Cli = suite('coverage - the command line')

Cli('--json and --html on a part of the corpus; a malformed log is one line and exit 2', async () => {
  const dir = tmpDir('aether-cov-')
  writeFileSync(join(dir, 'bad.log'), '{"format":"aether.log/1","actor":"x","machine":"counter","at":1}\n{"seq":2\n')
  const html = join(dir, 'report.html')
  const r = await aether(['coverage', 'test/corpus/actors', dir, '--html', html])
  assert.is(r.code, 2, r.stderr)
  assert.match(r.stderr, /^aether coverage: .*bad\.log: malformed at line 2: /)
  assert.is(r.stderr.trim().split('\n').length, 1)
  assert.match(r.stdout, /^counter: 6 logs, \d+ events; states 2\/2 \(100%\), transitions 4\/4 \(100%\)$/m)
  const page = readFileSync(html, 'utf8')
  assert.match(page, /<h2>trafficLight<\/h2>/)
  assert.match(page, /<h2>Skipped logs<\/h2>/)
  const j = await aether(['coverage', 'test/corpus/actors/light-*.log', '--json'])
  assert.is(j.code, 0, j.stderr)
  const report = JSON.parse(j.stdout)
  assert.equal(
    report.machines.map((m: any) => m.machine),
    ['trafficLight'],
  )
  assert.is(report.machines[0].logs, 6)
})

Cli('the HTML page shades counts and marks the never exercised in red', () => {
  const rec = new CoverageRecorder(counter, 'counter')
  rec.addLog(header('counter'), events('inc', 'inc', 'lock'))
  const page = coverageHtml({ machines: [rec.result()], skipped: [] })
  assert.match(
    page,
    /<td class="n" style="background:#f8d7da">0<\/td><td><code>counter.open<\/code><\/td><td><code>reset<\/code>/,
  )
  assert.match(page, /states <b>2\/2<\/b> \(100%\)/)
  assert.match(page, /transitions <b>2\/4<\/b> \(50%\)/)
})

Counts.run()
Paths.run()
Cli.run()
