// updateTransition on a SimulatedClock, hosted as a durable actor on a real LevelDB store, with
// fake effects the test settles by hand. Covers: the full path, the minimum interval, the one
// queued follow-up, operator actions only in their states, the live-media gate, the verify
// deadline, the supervisor restarting in every state (deterministic resolution), root updates, and
// the journal replaying with `--verify`.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { fromPromise } from 'xstate'
import { ActorSystem, SimulatedClock, exportLog } from '../../actors/index.ts'
import { operatorActions, updateTransition, type Slot } from '../../machines/updateTransition.ts'
import { LevelStore } from '../../runtime/LevelStore.ts'
import { replayFile } from '../../runtime/commands/replay.ts'

type Pending = { resolve: (v: any) => void; reject: (e: any) => void; input: any }

/** Effects as promises the test settles: `h.pending.install` etc. */
function harness() {
  const pending: Record<string, Pending | undefined> = {}
  const calls: string[] = []
  const fx = (name: string) =>
    fromPromise<any, any>(({ input }) => {
      calls.push(name)
      return new Promise((resolve, reject) => (pending[name] = { resolve, reject, input }))
    })
  const machine = updateTransition.provide({
    actors: {
      checkGate: fx('checkGate') as any,
      install: fx('install') as any,
      validate: fx('validate') as any,
      admit: fx('admit') as any,
      prewarm: fx('prewarm') as any,
      cutover: fx('cutover') as any,
      rollback: fx('rollback') as any,
      restartRoot: fx('restartRoot') as any,
    },
  })
  return { machine, pending, calls }
}

const settings = {
  countdownMs: 1000,
  minIntervalMs: 10_000,
  verifyDeadlineMs: 5000,
  deferMs: 3000,
  rootDeadlineMs: 8000,
}

async function open(dir: string, clock: SimulatedClock, h = harness()) {
  const store = await LevelStore.open(dir)
  const system = await ActorSystem.open({ store, clock, machines: { updateTransition: h.machine } })
  return { system, h }
}

const PATH = 'supervisor.update'
async function tick(system: ActorSystem, n = 6) {
  for (let i = 0; i < n; i++) {
    await system.flush()
    await new Promise((r) => setImmediate(r))
  }
}
const snap = (s: ActorSystem) => s.hosted(PATH)!.actor.getSnapshot()
const value = (s: ActorSystem) => snap(s).value as string

/** Drives one attempt from countdown to verifying; returns after cutover. */
async function toVerifying(
  system: ActorSystem,
  h: ReturnType<typeof harness>,
  clock: SimulatedClock,
  mode: 'warm_switch' | 'stop_and_switch' = 'warm_switch',
) {
  clock.increment(settings.countdownMs)
  await tick(system)
  assert.is(value(system), 'gate')
  h.pending.checkGate!.resolve({ at: clock.now(), live: 0 })
  await tick(system)
  assert.is(value(system), 'preparing')
  h.pending.install!.resolve({ at: clock.now(), version: '2.0.0', buildId: 'b2' })
  await tick(system)
  assert.is(value(system), 'validating')
  h.pending.validate!.resolve({ at: clock.now() })
  await tick(system)
  h.pending.admit!.resolve({ at: clock.now(), mode, reason: 'test' })
  await tick(system)
  if (mode === 'warm_switch') {
    assert.is(value(system), 'prewarm')
    h.pending.prewarm!.resolve({ at: clock.now(), runtimeInstanceId: 'cand-1' })
    await tick(system)
  }
  assert.is(value(system), 'cutover')
  h.pending.cutover!.resolve({ at: clock.now(), runtimeInstanceId: 'rt-2', gapMs: 12 })
  await tick(system)
  assert.is(value(system), 'verifying')
}

const req = (clock: SimulatedClock, extra: Record<string, unknown> = {}) => ({
  type: 'update.request' as const,
  kind: 'hub' as const,
  source: '/v2',
  version: '2.0.0',
  at: clock.now(),
  ...extra,
})

function tmp() {
  return mkdtempSync(join(tmpdir(), 'aether-ut-'))
}

// ---------------------------------------------------------------------------------------------

const flow = suite('updateTransition - flow')
let dir = ''
flow.before.each(() => {
  dir = tmp()
})
flow.after.each(() => rmSync(dir, { recursive: true, force: true }))

flow('updateTransition - full warm update commits and switches the serving slot', async () => {
  const clock = new SimulatedClock(1_000_000)
  const { system, h } = await open(dir, clock)
  await system.spawn(PATH, 'updateTransition', { durable: true, input: { serving: 'A', settings } })
  await system.sendCommitted(PATH, req(clock))
  assert.is(value(system), 'countdown')
  await toVerifying(system, h, clock)
  assert.is(snap(system).context.serving, 'B')
  await system.sendCommitted(PATH, { type: 'runtime.good', runtimeInstanceId: 'rt-2', slot: 'B', at: clock.now() })
  await tick(system)
  assert.is(value(system), 'idle')
  const a = snap(system).context.attempt
  assert.is(a.outcome, 'committed')
  assert.is(a.mode, 'warm_switch')
  assert.is(a.from, 'A')
  assert.is(a.target, 'B')
  assert.is(snap(system).context.serving, 'B')
  await system.close()
})

flow('updateTransition - verify deadline rolls back to the previous slot', async () => {
  const clock = new SimulatedClock(1_000_000)
  const { system, h } = await open(dir, clock)
  await system.spawn(PATH, 'updateTransition', { durable: true, input: { serving: 'A', settings } })
  await system.sendCommitted(PATH, req(clock))
  await toVerifying(system, h, clock, 'stop_and_switch')
  // good from the wrong slot is not accepted
  await system.sendCommitted(PATH, { type: 'runtime.good', runtimeInstanceId: 'old', slot: 'A', at: clock.now() })
  assert.is(value(system), 'verifying')
  clock.increment(settings.verifyDeadlineMs)
  await tick(system)
  assert.is(value(system), 'rollingBack')
  assert.equal(h.pending.rollback!.input, { to: 'A', from: 'B' })
  h.pending.rollback!.resolve({ at: clock.now() })
  await tick(system)
  assert.is(value(system), 'idle')
  assert.is(snap(system).context.serving, 'A')
  assert.is(snap(system).context.attempt.outcome, 'rolled_back')
  assert.match(snap(system).context.attempt.reason, /verify deadline/)
  await system.close()
})

flow('updateTransition - a failed validation rolls back with the reason', async () => {
  const clock = new SimulatedClock(1_000_000)
  const { system, h } = await open(dir, clock)
  await system.spawn(PATH, 'updateTransition', { durable: true, input: { serving: 'B', settings } })
  await system.sendCommitted(PATH, req(clock))
  clock.increment(settings.countdownMs)
  await tick(system)
  h.pending.checkGate!.resolve({ at: clock.now(), live: 0 })
  await tick(system)
  h.pending.install!.resolve({ at: clock.now(), version: '2.0.0', buildId: 'b2' })
  await tick(system)
  assert.is(h.pending.validate!.input.slot, 'A')
  h.pending.validate!.reject({ message: 'health deadline passed', code: 'HEALTH_DEADLINE' })
  await tick(system)
  assert.is(value(system), 'rollingBack')
  h.pending.rollback!.resolve({ at: clock.now() })
  await tick(system)
  assert.is(value(system), 'idle')
  assert.is(snap(system).context.serving, 'B')
  assert.is(snap(system).context.attempt.reason, 'validation failed: health deadline passed')
  await system.close()
})

flow.run()

// ---------------------------------------------------------------------------------------------

const timing = suite('updateTransition - minimum interval and the queued follow-up')
timing.before.each(() => {
  dir = tmp()
})
timing.after.each(() => rmSync(dir, { recursive: true, force: true }))

timing('updateTransition - one follow-up is queued, a second refused, the interval is kept', async () => {
  const clock = new SimulatedClock(1_000_000)
  const { system, h } = await open(dir, clock)
  await system.spawn(PATH, 'updateTransition', { durable: true, input: { serving: 'A', settings } })
  await system.sendCommitted(PATH, req(clock))
  // a follow-up while busy is queued
  const follow = req(clock, { source: '/v3', version: '3.0.0' })
  assert.ok(snap(system).can(follow))
  await system.sendCommitted(PATH, follow)
  assert.is(snap(system).context.queued.source, '/v3')
  // a second follow-up is refused (the API checks can() and answers 409)
  assert.not.ok(snap(system).can(req(clock, { source: '/v4' })))
  await toVerifying(system, h, clock)
  const finishedAt = clock.now()
  await system.sendCommitted(PATH, { type: 'runtime.good', runtimeInstanceId: 'rt-2', slot: 'B', at: finishedAt })
  await tick(system)
  // the follow-up starts at once, but waits in planned for the minimum interval
  assert.is(value(system), 'planned')
  const c = snap(system).context
  assert.is(c.queued, null)
  assert.is(c.attempt.source, '/v3')
  assert.is(c.attempt.from, 'B')
  assert.is(c.attempt.target, 'A')
  assert.match(c.attempt.waitReason, /minimum interval: 10000 ms left/)
  clock.increment(settings.minIntervalMs - 1)
  await tick(system)
  assert.is(value(system), 'planned')
  clock.increment(1)
  await tick(system)
  assert.is(value(system), 'countdown')
  assert.is(clock.now(), finishedAt + settings.minIntervalMs)
  await system.close()
})

timing('updateTransition - a short deferral during the interval wait does not shorten the interval', async () => {
  const clock = new SimulatedClock(1_000_000)
  const { system, h } = await open(dir, clock)
  await system.spawn(PATH, 'updateTransition', { durable: true, input: { serving: 'A', settings } })
  await system.sendCommitted(PATH, req(clock))
  await toVerifying(system, h, clock)
  const finishedAt = clock.now()
  await system.sendCommitted(PATH, { type: 'runtime.good', runtimeInstanceId: 'rt-2', slot: 'B', at: finishedAt })
  await system.sendCommitted(PATH, req(clock))
  assert.is(value(system), 'planned')
  await system.sendCommitted(PATH, { type: 'update.defer', reason: 'short', ms: 100, at: clock.now() })
  clock.increment(100)
  await tick(system)
  assert.is(value(system), 'planned', 'back to waiting for the interval')
  clock.increment(settings.minIntervalMs - 101)
  await tick(system)
  assert.is(value(system), 'planned')
  clock.increment(1)
  await tick(system)
  assert.is(value(system), 'countdown')
  assert.is(clock.now(), finishedAt + settings.minIntervalMs)
  await system.close()
})

timing('updateTransition - a request after the interval goes straight to countdown', async () => {
  const clock = new SimulatedClock(1_000_000)
  const { system, h } = await open(dir, clock)
  await system.spawn(PATH, 'updateTransition', { durable: true, input: { serving: 'A', settings } })
  await system.sendCommitted(PATH, req(clock))
  await toVerifying(system, h, clock)
  await system.sendCommitted(PATH, { type: 'runtime.good', runtimeInstanceId: 'rt-2', slot: 'B', at: clock.now() })
  clock.increment(settings.minIntervalMs + 5)
  await tick(system)
  await system.sendCommitted(PATH, req(clock))
  assert.is(value(system), 'countdown')
  await system.close()
})

timing(
  'updateTransition - defer restarts the countdown after its own time; the gate defers for live media',
  async () => {
    const clock = new SimulatedClock(1_000_000)
    const { system, h } = await open(dir, clock)
    await system.spawn(PATH, 'updateTransition', { durable: true, input: { serving: 'A', settings } })
    await system.sendCommitted(PATH, req(clock))
    clock.increment(500)
    await system.sendCommitted(PATH, { type: 'update.defer', reason: 'maintenance window', ms: 2000, at: clock.now() })
    assert.is(value(system), 'deferred')
    assert.is(snap(system).context.attempt.waitReason, 'deferred by operator: maintenance window')
    clock.increment(1999)
    await tick(system)
    assert.is(value(system), 'deferred')
    clock.increment(1)
    await tick(system)
    assert.is(value(system), 'countdown')
    clock.increment(settings.countdownMs)
    await tick(system)
    h.pending.checkGate!.resolve({ at: clock.now(), live: 2 })
    await tick(system)
    assert.is(value(system), 'deferred')
    assert.match(snap(system).context.attempt.waitReason, /live media: 2 media subflows live/)
    assert.is(snap(system).context.attempt.deferrals.length, 2)
    clock.increment(settings.deferMs)
    await tick(system)
    assert.is(value(system), 'countdown')
    await system.close()
  },
)

timing('updateTransition - a forced update passes the live-media gate', async () => {
  const clock = new SimulatedClock(1_000_000)
  const { system, h } = await open(dir, clock)
  await system.spawn(PATH, 'updateTransition', { durable: true, input: { serving: 'A', settings } })
  await system.sendCommitted(PATH, req(clock, { force: true }))
  clock.increment(settings.countdownMs)
  await tick(system)
  h.pending.checkGate!.resolve({ at: clock.now(), live: 3 })
  await tick(system)
  assert.is(value(system), 'preparing')
  await system.close()
})

timing.run()

// ---------------------------------------------------------------------------------------------

const actions = suite('updateTransition - operator actions only in their states')
actions.before.each(() => {
  dir = tmp()
})
actions.after.each(() => rmSync(dir, { recursive: true, force: true }))

actions('updateTransition - cancel, defer and promote are accepted exactly in their states', async () => {
  const clock = new SimulatedClock(1_000_000)
  const { system, h } = await open(dir, clock)
  await system.spawn(PATH, 'updateTransition', { durable: true, input: { serving: 'A', settings } })
  const seen = new Set<string>()
  const check = () => {
    const s = snap(system)
    const state = s.value as string
    seen.add(state)
    const ev = {
      cancel: { type: 'update.cancel', reason: 'r', at: clock.now() },
      defer: { type: 'update.defer', reason: 'r', at: clock.now() },
      promote: { type: 'update.promote', at: clock.now() },
    } as const
    for (const [name, allowed] of Object.entries(operatorActions)) {
      assert.is(
        s.can(ev[name as keyof typeof ev]),
        (allowed as readonly string[]).includes(state),
        `${name} in ${state}`,
      )
    }
    // a defer or cancel without a reason is refused everywhere
    assert.not.ok(s.can({ type: 'update.defer', reason: ' ', at: 0 }), `empty defer in ${state}`)
    assert.not.ok(s.can({ type: 'update.cancel', reason: '', at: 0 }), `empty cancel in ${state}`)
  }
  check() // idle
  await system.sendCommitted(PATH, req(clock))
  check() // countdown
  await toVerifyingChecked(system, h, clock, check)
  check() // verifying
  clock.increment(settings.verifyDeadlineMs)
  await tick(system)
  check() // rollingBack
  h.pending.rollback!.resolve({ at: clock.now() })
  await tick(system)
  // planned (interval wait) and deferred
  await system.sendCommitted(PATH, req(clock))
  check()
  await system.sendCommitted(PATH, { type: 'update.defer', reason: 'x', at: clock.now() })
  check()
  // root: promotion pending and restarting
  await system.sendCommitted(PATH, { type: 'update.cancel', reason: 'x', at: clock.now() })
  clock.increment(settings.minIntervalMs)
  await system.sendCommitted(PATH, req(clock, { kind: 'root', version: 'r2' }))
  clock.increment(settings.countdownMs)
  await tick(system)
  h.pending.checkGate!.resolve({ at: clock.now(), live: 0 })
  await tick(system)
  h.pending.install!.resolve({ at: clock.now(), version: 'r2', buildId: 'rb' })
  await tick(system)
  h.pending.validate!.resolve({ at: clock.now() })
  await tick(system)
  check()
  await system.sendCommitted(PATH, { type: 'update.promote', at: clock.now() })
  check()
  for (const s of [
    'idle',
    'countdown',
    'gate',
    'preparing',
    'validating',
    'admission',
    'prewarm',
    'cutover',
    'verifying',
    'rollingBack',
    'planned',
    'deferred',
    'rootPromotionPending',
    'rootRestarting',
  ]) {
    assert.ok(seen.has(s), `visited ${s}`)
  }
  await system.close()
})

async function toVerifyingChecked(
  system: ActorSystem,
  h: ReturnType<typeof harness>,
  clock: SimulatedClock,
  check: () => void,
) {
  clock.increment(settings.countdownMs)
  await tick(system)
  check()
  h.pending.checkGate!.resolve({ at: clock.now(), live: 0 })
  await tick(system)
  check()
  h.pending.install!.resolve({ at: clock.now(), version: '2.0.0', buildId: 'b2' })
  await tick(system)
  check()
  h.pending.validate!.resolve({ at: clock.now() })
  await tick(system)
  check()
  h.pending.admit!.resolve({ at: clock.now(), mode: 'warm_switch', reason: 'test' })
  await tick(system)
  check()
  h.pending.prewarm!.resolve({ at: clock.now(), runtimeInstanceId: 'c' })
  await tick(system)
  check()
  h.pending.cutover!.resolve({ at: clock.now(), runtimeInstanceId: 'rt-2', gapMs: 3 })
  await tick(system)
}

actions.run()

// ---------------------------------------------------------------------------------------------

const crash = suite('updateTransition - the supervisor restarting in each state')
crash.before.each(() => {
  dir = tmp()
})
crash.after.each(() => rmSync(dir, { recursive: true, force: true }))

/** Steps to bring a fresh actor into `state`. */
async function driveTo(state: string, system: ActorSystem, h: ReturnType<typeof harness>, clock: SimulatedClock) {
  await system.sendCommitted(PATH, req(clock))
  if (state === 'countdown') return
  if (state === 'deferred')
    return void (await system.sendCommitted(PATH, { type: 'update.defer', reason: 'x', at: clock.now() }))
  clock.increment(settings.countdownMs)
  await tick(system)
  if (state === 'gate') return
  h.pending.checkGate!.resolve({ at: clock.now(), live: 0 })
  await tick(system)
  if (state === 'preparing') return
  h.pending.install!.resolve({ at: clock.now(), version: '2.0.0', buildId: 'b2' })
  await tick(system)
  if (state === 'validating') return
  h.pending.validate!.resolve({ at: clock.now() })
  await tick(system)
  if (state === 'admission') return
  h.pending.admit!.resolve({ at: clock.now(), mode: 'warm_switch', reason: 'test' })
  await tick(system)
  if (state === 'prewarm') return
  h.pending.prewarm!.resolve({ at: clock.now(), runtimeInstanceId: 'c' })
  await tick(system)
  if (state === 'cutover') return
  h.pending.cutover!.resolve({ at: clock.now(), runtimeInstanceId: 'rt-2', gapMs: 3 })
  await tick(system)
  if (state === 'verifying') return
  clock.increment(settings.verifyDeadlineMs)
  await tick(system)
  if (state === 'rollingBack') return
  throw new Error(`no route to ${state}`)
}

// What each state resolves to after a restart (the `supervisor.boot` event).
const afterBoot: Record<string, { state: string; serving: Slot }> = {
  countdown: { state: 'countdown', serving: 'A' },
  deferred: { state: 'deferred', serving: 'A' },
  gate: { state: 'gate', serving: 'A' },
  preparing: { state: 'rollingBack', serving: 'A' },
  validating: { state: 'rollingBack', serving: 'A' },
  admission: { state: 'rollingBack', serving: 'A' },
  prewarm: { state: 'rollingBack', serving: 'A' },
  cutover: { state: 'rollingBack', serving: 'A' },
  verifying: { state: 'verifying', serving: 'B' },
  rollingBack: { state: 'rollingBack', serving: 'A' },
}

for (const [state, expect] of Object.entries(afterBoot)) {
  crash(`updateTransition - restart in ${state} resolves to ${expect.state}`, async () => {
    const clock = new SimulatedClock(1_000_000)
    const first = await open(dir, clock)
    await first.system.spawn(PATH, 'updateTransition', { durable: true, input: { serving: 'A', settings } })
    await driveTo(state, first.system, first.h, clock)
    assert.is(value(first.system), state)
    await first.system.flush()
    // a crash: the store is closed under the system without a final checkpoint
    await first.system.store!.close()
    const second = await open(dir, clock)
    assert.is(value(second.system), state, 'recovered in the same state')
    await second.system.sendCommitted(PATH, { type: 'supervisor.boot', version: 'v1', at: clock.now() })
    await tick(second.system)
    assert.is(value(second.system), expect.state)
    // and every path ends resolved
    const h = second.h
    if (expect.state === 'rollingBack') {
      assert.equal(h.pending.rollback!.input, { to: 'A', from: 'B' })
      h.pending.rollback!.resolve({ at: clock.now() })
      await tick(second.system)
      assert.is(value(second.system), 'idle')
      assert.is(snap(second.system).context.attempt.outcome, 'rolled_back')
      assert.is(snap(second.system).context.serving, 'A')
    } else if (expect.state === 'verifying') {
      assert.is(snap(second.system).context.serving, 'B')
      await second.system.sendCommitted(PATH, {
        type: 'runtime.good',
        runtimeInstanceId: 'rt-3',
        slot: 'B',
        at: clock.now(),
      })
      await tick(second.system)
      assert.is(snap(second.system).context.attempt.outcome, 'committed')
    } else {
      assert.is(snap(second.system).context.serving, expect.serving)
    }
    await second.system.close()
  })
}

crash('updateTransition - root update: promotion pending, restarting, committed on the new version', async () => {
  const clock = new SimulatedClock(1_000_000)
  const first = await open(dir, clock)
  const { system, h } = first
  await system.spawn(PATH, 'updateTransition', { durable: true, input: { serving: 'A', settings } })
  await system.sendCommitted(PATH, req(clock, { kind: 'root', version: 'r2' }))
  clock.increment(settings.countdownMs)
  await tick(system)
  h.pending.checkGate!.resolve({ at: clock.now(), live: 0 })
  await tick(system)
  h.pending.install!.resolve({ at: clock.now(), version: 'r2', buildId: 'rb' })
  await tick(system)
  h.pending.validate!.resolve({ at: clock.now() })
  await tick(system)
  assert.is(value(system), 'rootPromotionPending')
  await system.sendCommitted(PATH, { type: 'update.promote', at: clock.now() })
  assert.is(value(system), 'rootRestarting')
  await tick(system)
  assert.ok(h.calls.includes('restartRoot'))
  await system.flush()
  await system.store!.close()
  const second = await open(dir, clock)
  await second.system.sendCommitted(PATH, { type: 'supervisor.boot', version: 'r2', at: clock.now() })
  await tick(second.system)
  assert.is(value(second.system), 'idle')
  assert.is(snap(second.system).context.attempt.outcome, 'committed')
  assert.is(snap(second.system).context.serving, 'A', 'a root update leaves the hub slot alone')
  await second.system.close()
})

crash.run()

// ---------------------------------------------------------------------------------------------

const journal = suite('updateTransition - journal')
journal.before.each(() => {
  dir = tmp()
})
journal.after.each(() => rmSync(dir, { recursive: true, force: true }))

journal('updateTransition - a whole transition exports and replays with --verify', async () => {
  const clock = new SimulatedClock(1_000_000)
  const { system, h } = await open(dir, clock)
  await system.spawn(PATH, 'updateTransition', { durable: true, input: { serving: 'A', settings } })
  await system.sendCommitted(PATH, req(clock))
  await system.sendCommitted(PATH, { type: 'update.defer', reason: 'lunch', ms: 100, at: clock.now() })
  clock.increment(100)
  await tick(system)
  await toVerifying(system, h, clock)
  await system.sendCommitted(PATH, { type: 'runtime.good', runtimeInstanceId: 'rt-2', slot: 'B', at: clock.now() })
  await tick(system)
  await system.flush()
  let text = ''
  for await (const chunk of exportLog(system.store!, PATH, { snapshots: 'all', machine: updateTransition }))
    text += chunk
  const file = join(dir, 'update.aether.log')
  writeFileSync(file, text)
  const run = await replayFile(file, updateTransition, { verify: true })
  assert.is(run.code, 0, JSON.stringify(run.result?.divergence ?? run.error))
  assert.ok(run.result!.snapshotsChecked >= 10)
  assert.is(run.result!.final.value, 'idle')
  assert.is((run.result!.final.context as any).attempt.outcome, 'committed')
  await system.close()
})

journal.run()
