// memberRollout with XState's pure transition(): no actors run, effect results are fed as the
// done events the host would journal. Covers: canary first then the rest, a member rolling back
// halts the rollout, a refusal halts, cancel mid-wave stops the next wave, cancel at the gate,
// the health gate halting, the wave deadline, and progress of other requests being ignored.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { initialTransition, transition, type SnapshotFrom } from 'xstate'
import { memberRollout, type WaveOutput } from '../../machines/memberRollout.ts'

type Snap = SnapshotFrom<typeof memberRollout>
type Action = { type: string; params?: unknown }

const input = { id: 'r1', source: '/img/1.1.0', version: '1.1.0', members: ['m1', 'm2', 'm3'], at: 1000 }

function start(over: Partial<typeof input> & { canary?: number } = {}) {
  const [s, actions] = initialTransition(memberRollout, { ...input, ...over })
  return { s, actions: actions as Action[] }
}

function step(s: Snap, event: any): { s: Snap; actions: Action[] } {
  const [next, actions] = transition(memberRollout, s, event)
  return { s: next, actions: actions as Action[] }
}

/** The input of the effect the last step spawned (`xstate.spawnChild` with the invoke's id). */
function spawned(actions: Action[], id: string): any {
  const a = actions.find((x) => x.type === 'xstate.spawnChild' && (x.params as any)?.id === id)
  return (a?.params as any)?.input
}

const done = (id: string, output: unknown) => ({ type: `xstate.done.actor.${id}`, output })

function replies(members: string[], at: number, over: Record<string, Partial<WaveOutput['replies'][string]>> = {}) {
  const out: WaveOutput = { at, replies: {} }
  for (const m of members) out.replies[m] = { requestId: `k/${m}`, ok: true, attempt: 1, state: 'planned', ...over[m] }
  return done('requestWave', out)
}

const progress = (member: string, result: string, at: number, requestId = `k/${member}`) => ({
  type: 'member.progress',
  member,
  requestId,
  result,
  at,
})

const test = suite('memberRollout')

test('memberRollout - the canary wave first, then the rest after the health gate', () => {
  let { s, actions } = start()
  assert.is(s.value, 'requesting')
  assert.equal(s.context.waves, [['m1'], ['m2', 'm3']])
  assert.equal(spawned(actions, 'requestWave').members, ['m1'])
  ;({ s } = step(s, replies(['m1'], 1010)))
  assert.is(s.value, 'watching')
  assert.is(s.context.members.m1.status, 'requested')
  assert.is(s.context.members.m2.status, 'waiting')
  ;({ s } = step(s, progress('m1', 'pending', 1020)))
  assert.is(s.value, 'watching')
  ;({ s, actions } = step(s, progress('m1', 'committed', 1030)))
  assert.is(s.value, 'gate')
  assert.equal(spawned(actions, 'healthGate').members, ['m1'])
  ;({ s, actions } = step(s, done('healthGate', { at: 1040, healthy: true })))
  assert.is(s.value, 'requesting')
  assert.equal(spawned(actions, 'requestWave').members, ['m2', 'm3'])
  ;({ s } = step(s, replies(['m2', 'm3'], 1050)))
  ;({ s } = step(s, progress('m2', 'committed', 1060)))
  assert.is(s.value, 'watching')
  ;({ s } = step(s, progress('m3', 'committed', 1070)))
  assert.is(s.value, 'completed')
  assert.is(s.status, 'done')
  assert.is(s.context.outcome, 'completed')
  assert.is(s.context.now, 1070)
})

test('memberRollout - a member that rolls back halts the rollout: no further wave', () => {
  let { s } = start()
  ;({ s } = step(s, replies(['m1'], 1010)))
  const r = step(s, { ...progress('m1', 'rolled_back', 1030), reason: 'validation failed: exit 3' })
  assert.is(r.s.value, 'halted')
  assert.is(r.s.context.outcome, 'halted')
  assert.match(r.s.context.reason!, /wave 1 of 2: m1 rolled_back \(validation failed: exit 3\)/)
  assert.ok(!spawned(r.actions, 'requestWave'))
  assert.is(r.s.context.members.m2.status, 'waiting')
})

test('memberRollout - a refused request halts the rollout', () => {
  let { s } = start({ canary: 2 })
  ;({ s } = step(
    s,
    replies(['m1', 'm2'], 1010, { m2: { ok: false, code: 'BUSY', message: 'an update is in countdown' } }),
  ))
  assert.is(s.value, 'halted')
  assert.is(s.context.members.m2.status, 'refused')
  assert.match(s.context.reason!, /m2 refused \(BUSY: an update is in countdown\)/)
})

test('memberRollout - a member missing from the replies is unreachable and halts', () => {
  let { s } = start()
  ;({ s } = step(s, done('requestWave', { at: 1010, replies: {} })))
  assert.is(s.value, 'halted')
  assert.is(s.context.members.m1.status, 'unreachable')
})

test('memberRollout - cancel mid-wave lets the wave finish and stops the next wave', () => {
  let { s } = start()
  ;({ s } = step(s, replies(['m1'], 1010)))
  ;({ s } = step(s, { type: 'rollout.cancel', reason: 'ops freeze', at: 1015 }))
  assert.is(s.value, 'watching')
  assert.equal(s.context.cancel, { reason: 'ops freeze', at: 1015 })
  const r = step(s, progress('m1', 'committed', 1030))
  assert.is(r.s.value, 'cancelled')
  assert.is(r.s.context.reason, 'cancelled by operator: ops freeze')
  assert.ok(!spawned(r.actions, 'healthGate'))
  assert.is(r.s.context.members.m2.status, 'waiting')
})

test('memberRollout - cancel without a reason is refused; during the gate it ends at once', () => {
  let { s } = start()
  ;({ s } = step(s, replies(['m1'], 1010)))
  assert.is(step(s, { type: 'rollout.cancel', reason: ' ', at: 1015 }).s.context.cancel, null)
  ;({ s } = step(s, progress('m1', 'committed', 1030)))
  assert.is(s.value, 'gate')
  ;({ s } = step(s, { type: 'rollout.cancel', reason: 'stop', at: 1035 }))
  assert.is(s.value, 'cancelled')
})

test('memberRollout - an unhealthy gate halts before the next wave', () => {
  let { s } = start()
  ;({ s } = step(s, replies(['m1'], 1010)))
  ;({ s } = step(s, progress('m1', 'committed', 1030)))
  ;({ s } = step(s, done('healthGate', { at: 1040, healthy: false, reason: 'm1 is stale' })))
  assert.is(s.value, 'halted')
  assert.is(s.context.reason, 'health gate before wave 2: m1 is stale')
})

test('memberRollout - the wave deadline halts a wave that does not finish', () => {
  let { s } = start({ settings: { waveDeadlineMs: 500 } } as any)
  ;({ s } = step(s, replies(['m1'], 1010)))
  ;({ s } = step(s, { type: 'xstate.after.waveDeadline.memberRollout.watching' }))
  assert.is(s.value, 'halted')
  assert.is(s.context.now, 1510)
  assert.match(s.context.reason!, /wave deadline/)
})

test('memberRollout - progress of another request or another wave is ignored', () => {
  let { s } = start()
  ;({ s } = step(s, replies(['m1'], 1010)))
  ;({ s } = step(s, progress('m1', 'rolled_back', 1020, 'old/m1')))
  assert.is(s.value, 'watching')
  ;({ s } = step(s, progress('m2', 'committed', 1020, 'k/m2')))
  assert.is(s.context.members.m2.status, 'waiting')
})

test('memberRollout - a failed effect halts with its message', () => {
  let { s } = start()
  ;({ s } = step(s, { type: 'xstate.error.actor.requestWave', error: { message: 'NATS not connected' } }))
  assert.is(s.value, 'halted')
  assert.is(s.context.reason, 'wave 1: NATS not connected')
})

test.run()
