// The hub's view of its members: freshness from each member's own heartbeat, out-of-order
// snapshots ignored, selectors, and the cohort state derived from members and rollouts.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Members, type RolloutView } from '../../../runtime/members/Members.ts'
import { memberSnapshot } from '../../helpers/memberSnapshot.ts'

const snap = memberSnapshot

const running = (over: Partial<RolloutView> = {}): RolloutView => ({
  id: 'r1',
  done: false,
  outcome: null,
  startedAt: 1,
  waiting: [],
  ...over,
})

const test = suite('Members')

test('Members - fresh within 3 heartbeats, then stale; pending while a request is unanswered', () => {
  const m = new Members('h1')
  m.take(snap('a'), 1000)
  const e = m.entry('a')
  assert.is(m.freshness(e, 3999), 'fresh')
  assert.is(m.freshness(e, 4001), 'stale')
  e.inFlight = 1
  assert.is(m.freshness(e, 4001), 'pending')
  assert.is(m.freshness(m.entry('never-seen'), 0), 'stale')
})

test('Members - an older snapshot of the same boot is ignored; a new boot is taken', () => {
  const m = new Members('h1')
  assert.ok(m.take(snap('a', { seq: 5 }), 0))
  assert.not.ok(m.take(snap('a', { seq: 4, version: 'old' }), 1))
  assert.is(m.entry('a').snapshot!.seq, 5)
  assert.is(m.counters.outOfOrder, 1)
  assert.ok(m.take(snap('a', { seq: 1, boot: 'c' }), 2))
})

test('Members - selectors: names, version, prefix', () => {
  const m = new Members('h1')
  m.take(snap('edge-1'), 0)
  m.take(snap('edge-2', { version: '2.0.0' }), 0)
  m.take(snap('lab-1'), 0)
  assert.equal(m.select({ members: ['lab-1'] }), ['lab-1'])
  assert.equal(m.select({ version: '1.0.0' }), ['edge-1', 'lab-1'])
  assert.equal(m.select({ prefix: 'edge' }), ['edge-1', 'edge-2'])
  assert.equal(m.select({}), ['edge-1', 'edge-2', 'lab-1'])
})

test('Members - cohort: nominal, transitioning, pressure, degraded', () => {
  const m = new Members('h1')
  m.take(snap('a'), 0)
  m.take(snap('b'), 0)
  assert.is(m.cohort([], 10).state, 'nominal')
  assert.is(m.cohort([running()], 10).state, 'transitioning')
  assert.is(m.cohort([running({ waiting: ['a'] })], 10).state, 'pressure')
  assert.is(m.cohort([running({ done: true, outcome: 'halted' })], 10).state, 'degraded')
  assert.is(m.cohort([running({ done: true, outcome: 'completed' })], 10).state, 'nominal')
  const stale = m.cohort([], 10_000)
  assert.is(stale.state, 'degraded')
  assert.is(stale.reason, 'stale: a, b')
  const node = m.node([], 10)
  assert.is(node.status, 'ready')
  assert.equal(
    node.children!.map((c) => c.id),
    ['members/a', 'members/b'],
  )
  assert.is(m.node([], 10_000).status, 'degraded')
})

test.run()
