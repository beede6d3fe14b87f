import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import {
  byPriority,
  byTenant,
  Coalescer,
  gate,
  jobsStateFrom,
  replyError,
  type CoalesceTimers,
  type Reply,
} from '../../inspector/src/jobsModel.ts'

const queue = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  paused: false,
  depth: 0,
  delayed: 0,
  byPriority: {},
  byTenant: {},
  running: 0,
  dead: 0,
  completed: 0,
  stopped: 0,
  paused_jobs: 0,
  ...extra,
})
const okList = (jobs: unknown[], next: string | null = null): Reply => ({ status: 200, body: { jobs, next } })

const state = suite('jobsModel - state from the hub replies')

state('jobsModel - a 404 on /api/queues means the hub has no jobs feature, whatever the other replies', () => {
  const nf: Reply = { status: 404, body: { error: 'NOT_FOUND', message: 'nothing at /api/queues' } }
  const s = jobsStateFrom(nf, nf, nf, 1)
  assert.is(s.kind, 'absent')
  assert.match((s as any).message, /no jobs feature/)
})

state('jobsModel - 401/403 on reads is "needs a token", other failures name the request and the hub message', () => {
  const denied = jobsStateFrom(
    { status: 401, body: { error: 'UNAUTHORIZED', message: 'this action needs a token' } },
    okList([]),
    okList([]),
    1,
  )
  assert.is(denied.kind, 'denied')
  assert.match((denied as any).message, /401 UNAUTHORIZED: this action needs a token/)
  const down = jobsStateFrom({ status: 0, body: 'Failed to fetch' }, okList([]), okList([]), 1)
  assert.equal(down, { kind: 'error', message: 'GET /api/queues failed: the hub did not answer (Failed to fetch)' })
  const dead = jobsStateFrom(
    { status: 200, body: { queues: [] } },
    okList([]),
    { status: 500, body: { error: 'INTERNAL', message: 'internal error; see the hub log' } },
    1,
  )
  assert.equal(dead, {
    kind: 'error',
    message: 'GET /api/jobs (dead letters) failed: 500 INTERNAL: internal error; see the hub log',
  })
  const alien = jobsStateFrom({ status: 200, body: { hello: 1 } }, okList([]), okList([]), 1)
  assert.is(alien.kind, 'error')
})

state('jobsModel - ok: the default queue first then by name; lists and "more" from the pages', () => {
  const s = jobsStateFrom(
    {
      status: 200,
      body: {
        queues: [queue('zeta'), queue('batch'), queue('default')],
        workers: [{ id: 'local', capacity: 4, held: 1, alive: true }],
      },
    },
    okList([{ id: 'j1' }], 'j1'),
    okList([]),
    42,
  )
  assert.is(s.kind, 'ok')
  if (s.kind !== 'ok') return
  assert.equal(
    s.queues.map((q) => q.name),
    ['default', 'batch', 'zeta'],
  )
  assert.equal(s.workers, [{ id: 'local', capacity: 4, held: 1, alive: true }])
  assert.equal(
    s.running.map((j) => j.id),
    ['j1'],
  )
  assert.equal(s.more, { running: true, dead: false })
  assert.is(s.at, 42)
})

state("jobsModel - replyError keeps the hub's code and message, or says what it got", () => {
  assert.is(
    replyError({ status: 409, body: { error: 'BAD_STATE', message: 'cannot retry job "x": it is RUNNING' } }),
    '409 BAD_STATE: cannot retry job "x": it is RUNNING',
  )
  assert.is(replyError({ status: 502, body: 'Bad Gateway' }), '502: Bad Gateway')
  assert.is(replyError({ status: 500, body: null }), '500: no message')
})

state.run()

const counts = suite('jobsModel - breakdowns')

counts('jobsModel - priorities highest first (20 runs first), zeros dropped; tenants by count then name', () => {
  assert.equal(byPriority({ 2: 1, 20: 3, 9: 2, 5: 0 }), [
    ['20', 3],
    ['9', 2],
    ['2', 1],
  ])
  assert.equal(byTenant({ globex: 1, acme: 2, initech: 2, none: 0 }), [
    ['acme', 2],
    ['initech', 2],
    ['globex', 1],
  ])
})

counts.run()

const gates = suite('jobsModel - what the token allows')

gates('jobsModel - no token: both disabled, saying where to set one', () => {
  for (const a of ['retry', 'queue'] as const) {
    const g = gate(a, '', 'read-only')
    assert.is(g.enabled, false)
    assert.match(g.why, /no token.*“Token”/)
  }
})

gates('jobsModel - a token the hub refused: retry still tries (a tenant token), queue pause does not', () => {
  const r = gate('retry', 't', 'read-only')
  assert.is(r.enabled, true)
  assert.match(r.why, /tenant token/)
  assert.equal(gate('queue', 't', 'read-only'), {
    enabled: false,
    why: 'Pausing a queue needs the hub token; the hub did not accept this one.',
  })
  assert.equal(gate('queue', 't', 'operator'), { enabled: true, why: '' })
  assert.equal(
    gate('retry', 't', 'unknown'),
    { enabled: true, why: '' },
    'while the hub checks the token the buttons work; the hub decides',
  )
})

gates.run()

/** Timers the test advances by hand. */
function simTimers() {
  let now = 0
  let next = 1
  const due = new Map<number, { at: number; fn: () => void }>()
  const t: CoalesceTimers & { advance(ms: number): Promise<void>; pending(): number } = {
    now: () => now,
    setTimeout: (fn, ms) => (due.set(next, { at: now + ms, fn }), next++),
    clearTimeout: (h) => void due.delete(h as number),
    async advance(ms) {
      const end = now + ms
      for (;;) {
        const [id, d] = [...due].sort((a, b) => a[1].at - b[1].at)[0] ?? []
        if (id === undefined || d!.at > end) break
        due.delete(id)
        now = d!.at
        d!.fn()
        for (let i = 0; i < 5; i++) await Promise.resolve()
      }
      now = end
    },
    pending: () => due.size,
  }
  return t
}

const co = suite('jobsModel - Coalescer')

co('jobsModel - a burst of pokes is one run now and one after the gap', async () => {
  const t = simTimers()
  const starts: number[] = []
  const c = new Coalescer(() => void starts.push(t.now()), 400, t)
  c.poke()
  await t.advance(0)
  assert.equal(starts, [0], 'the first poke after quiet runs at once')
  for (let i = 0; i < 50; i++) {
    c.poke()
    await t.advance(5)
  }
  await t.advance(1000)
  assert.equal(starts, [0, 400], '50 pokes in 250 ms: one trailing run, a full gap after the first')
  assert.is(t.pending(), 0)
})

co('jobsModel - never two runs at once: a poke during a slow run makes exactly one more after it', async () => {
  const t = simTimers()
  let release!: () => void
  let active = 0
  let most = 0
  const starts: number[] = []
  const c = new Coalescer(
    async () => {
      starts.push(t.now())
      active++
      most = Math.max(most, active)
      if (starts.length === 1) await new Promise<void>((r) => (release = r))
      active--
    },
    400,
    t,
  )
  c.poke()
  await t.advance(0)
  c.poke()
  c.poke()
  await t.advance(2000)
  assert.equal(starts, [0], 'the slow run holds the next one')
  release()
  await new Promise((r) => setImmediate(r)) // the run's promise settles
  await t.advance(0)
  assert.equal(starts, [0, 2000])
  assert.is(most, 1)
})

co('jobsModel - cancel drops the pending run; a failed run does not stop the next', async () => {
  const t = simTimers()
  let n = 0
  const c = new Coalescer(
    () => {
      n++
      throw new Error('network down')
    },
    400,
    t,
  )
  c.poke()
  await t.advance(0)
  c.poke()
  c.cancel()
  await t.advance(1000)
  assert.is(n, 1)
  c.poke()
  await t.advance(0)
  assert.is(n, 2)
})

co.run()
