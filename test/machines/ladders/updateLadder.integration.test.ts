/**
 * The ladder of `updateTransition` (issue 21.4) on its real executor: an `aether supervisor` child
 * process with hub runtimes started from slot images (test/helpers/supervisorProcess.ts,
 * slotFixture.ts), every step slowed by AETHER_SUPERVISOR_STEP_DELAY_MS so that each state can be
 * caught. Faults: an operator's cancel (with a reason) in the states before a candidate runtime
 * starts; a warm update that commits (two runtimes up for a while); root updates cancelled, promoted and coming back on the same or another version (the
 * supervisor exits and is started again). The supervisor's journal is counted with
 * the corpus recordings, and the ladder transitions none of them took get paths from the graph.
 * Invariant, sampled every 50 ms for the whole run: never more than one runtime answers
 * `/api/health` as active; after each attempt exactly one runtime is alive, the one the status
 * names.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { parseLog } from '../../../protocol/log.ts'
import { inputsOf, ladderCoverage, updateFaults } from '../../helpers/ladders.ts'
import { buildVersion } from '../../helpers/slotFixture.ts'
import {
  freePort,
  reapRuntimes,
  runtimesOf,
  startSupervisor,
  until,
  type SupervisorHandle,
} from '../../helpers/supervisorProcess.ts'

const dir = mkdtempSync(join(tmpdir(), 'aether-update-ladder-'))
const slots = join(dir, 'slots')
const data = join(dir, 'data')
let sup: SupervisorHandle
let port = 0
let slotPorts: [number, number] = [0, 0]
const args = [
  '--countdown-ms',
  '50',
  '--min-interval-ms',
  '0',
  '--prewarm-settle-ms',
  '0',
  '--verify-deadline-ms',
  '20000',
  // a runtime starting on this loaded machine (2 cores, several test suites) can take many seconds
  '--health-deadline-ms',
  '60000',
]
const start = () =>
  startSupervisor({ slots, data, port, slotPorts, args, env: { AETHER_SUPERVISOR_STEP_DELAY_MS: '400' } })

// the invariant's sampler: how many runtimes answer /api/health as active, every 50 ms (a runtime
// that does not answer in time, on this loaded machine, is counted as not answering)
const samples = { taken: 0, maxActive: 0, oneActive: 0, twoAlive: 0 }
let sampling = true
async function sample(): Promise<void> {
  while (sampling) {
    const roles = await Promise.all(
      slotPorts.map(async (p) => {
        try {
          const r = await fetch(`http://127.0.0.1:${p}/api/health`, { signal: AbortSignal.timeout(3000) })
          return ((await r.json()) as any).role as string
        } catch {
          return null
        }
      }),
    )
    const active = roles.filter((r) => r === 'active').length
    samples.taken++
    samples.maxActive = Math.max(samples.maxActive, active)
    if (active === 1) samples.oneActive++
    if (roles.every((r) => r !== null)) samples.twoAlive++
    await new Promise((r) => setTimeout(r, 50))
  }
}
let sampler: Promise<void>

async function resolved(ms = 60_000): Promise<any> {
  return until(
    async () => {
      const s = await sup.status()
      return s.transition.state === 'idle' && s.transition.attempt?.outcome && s.phase === 'serving' && s.active?.alive
        ? s
        : null
    },
    ms,
    'the attempt to resolve',
  )
}

/** After an attempt: exactly one runtime alive, the one the status names. */
async function oneRuntime(s: any): Promise<void> {
  await until(() => runtimesOf(slots).length === 1, 5000, 'one runtime alive')
  assert.is(runtimesOf(slots)[0].id, s.active.runtimeInstanceId)
}

async function request(source: string, kind: 'hub' | 'root' = 'hub'): Promise<void> {
  const r = await sup.post('/api/supervisor/update', { source: join(dir, source), kind })
  assert.is(r.status, 202, JSON.stringify(r.body))
}

const inState = (state: string) =>
  until(async () => (await sup.status()).transition.state === state, 20_000, `state ${state}`, 20)

const test = suite('the ladder of updateTransition on a supervisor process under faults')

test.before(async () => {
  buildVersion(join(slots, 'A'), '1.0.0')
  buildVersion(join(dir, 'v2'), '2.0.0')
  // root updates: the supervisor's own version (package.json) comes back, or another one
  buildVersion(join(dir, 'root-same'), '0.1.0')
  buildVersion(join(dir, 'root-other'), '9.9.9')
  port = await freePort()
  slotPorts = [await freePort(), await freePort()]
  try {
    sup = await start()
    await until(async () => (await sup.status()).phase === 'serving', 30_000, 'the first runtime')
  } catch (err) {
    // uvu reports nothing of a failed hook: say why, and leave nothing running
    console.error(err)
    await sup?.stop()
    reapRuntimes(slots)
    throw err
  }
  sampler = sample()
})

test.after(async () => {
  sampling = false
  await sampler?.catch(() => {})
  await sup?.stop()
  reapRuntimes(slots)
  rmSync(dir, { recursive: true, force: true })
})

// (the later states need a candidate runtime to come up, which takes tens of seconds on a loaded
// machine: their faults, the candidate killed during prewarm or verifying and the verify deadline,
// are in Supervisor.integration.test.ts; here they are covered by the corpus and graph paths)
for (const state of ['gate', 'preparing', 'validating']) {
  test(`an operator's cancel in ${state}: the attempt ends, the serving slot stays`, async () => {
    const before = await sup.status()
    await request('v2')
    await inState(state)
    const r = await sup.post('/api/supervisor/actions', { action: 'cancel', reason: `cancelled in ${state}` })
    assert.is(r.status, 200, JSON.stringify(r.body))
    const s = await resolved()
    assert.is(s.transition.attempt.outcome, 'cancelled')
    assert.is(s.transition.attempt.reason, `cancelled by operator: cancelled in ${state}`)
    assert.is(s.serving, before.serving)
    await oneRuntime(s)
  })
}

test('a warm update committed: the candidate prewarmed beside the active runtime, then the only one', async () => {
  const before = await sup.status()
  await request('v2')
  const s = await resolved()
  assert.is(s.transition.attempt.outcome, 'committed', s.transition.attempt.reason)
  assert.is(s.transition.attempt.mode, 'warm_switch')
  assert.is.not(s.serving, before.serving)
  await oneRuntime(s)
})

test('a root update cancelled while its promotion is pending', async () => {
  await request('root-same', 'root')
  await inState('rootPromotionPending')
  const r = await sup.post('/api/supervisor/actions', { action: 'cancel', reason: 'not tonight' })
  assert.is(r.status, 200, JSON.stringify(r.body))
  const s = await resolved()
  assert.is(s.transition.attempt.outcome, 'cancelled')
})

for (const [source, outcome] of [
  ['root-same', 'committed'],
  ['root-other', 'rolled_back'],
] as const) {
  test(`a root update promoted: the supervisor restarts, comes back ${source === 'root-same' ? 'on the version' : 'on another version'}: ${outcome}`, async () => {
    await request(source, 'root')
    await inState('rootPromotionPending')
    const r = await sup.post('/api/supervisor/actions', { action: 'promote' })
    assert.is(r.status, 200, JSON.stringify(r.body))
    // the supervisor exits (75) to be restarted on the new version; here: started again as it was
    await until(() => sup.proc.exitCode !== null, 10_000, 'the supervisor to exit for the restart')
    assert.is(sup.proc.exitCode, 75)
    sup = await start()
    // a rollback starts the previous slot's runtime again: tens of seconds on a loaded machine
    const s = await resolved(120_000)
    assert.is(s.transition.attempt.outcome, outcome, s.transition.attempt.reason)
    await oneRuntime(s)
  })
}

test('ladder coverage >= 90% (executor runs + corpus + graph paths); never two active runtimes', async () => {
  const cov = ladderCoverage('updateTransition')
  const log = parseLog(await (await fetch(`${sup.url}/api/supervisor/log`)).text())
  cov.rec.addLog(log.header, log.lines)
  console.log(`  executor runs: ${cov.line()}`)
  const inputs = inputsOf([log, ...cov.addCorpus()])
  console.log(`  + corpus: ${cov.line()}`)
  const { hosted, pure, unreachable } = await cov.runPathsHosted(inputs, updateFaults(cov))
  console.log(`  + graph paths (${hosted.length} hosted, ${pure.length} pure): ${cov.line()}`)
  if (unreachable.length) console.log(`    no path from the graph: ${unreachable.join(', ')}`)
  console.log(
    `  health samples: ${samples.taken}; one active: ${samples.oneActive}; both slots answering: ${samples.twoAlive}; most active at once: ${samples.maxActive}`,
  )
  assert.ok(samples.oneActive > 50, 'sampled throughout')
  assert.ok(samples.twoAlive > 0, 'sampled while two runtimes were up (the warm switch)')
  assert.is(samples.maxActive, 1, 'never two runtimes active at once')
  assert.ok(cov.report().pct >= 90, cov.line())
})

test.run()
