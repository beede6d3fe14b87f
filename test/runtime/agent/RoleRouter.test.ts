import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ActorSystem, SimulatedClock } from '../../../actors/index.ts'
import { LevelAnswerCache } from '../../../runtime/agent/AnswerCache.ts'
import { validateHarness } from '../../../runtime/agent/harness.ts'
import { Secrets } from '../../../runtime/agent/redact.ts'
import { RoleRouter } from '../../../runtime/agent/RoleRouter.ts'
import { LevelStore } from '../../../runtime/LevelStore.ts'
import { FakeProvider } from '../../helpers/fakeProviders.ts'

const KEY = 'sk-test-AETHER-SECRET-xyz'

interface Rig {
  a: FakeProvider
  b: FakeProvider
  order: string[]
  clock: SimulatedClock
  system: ActorSystem
  store: LevelStore
  dir: string
  logs: string[]
  sched: RoleRouter
}

async function rig(
  roles: Record<string, Array<{ provider: string; model: string; timeoutMs?: number }>>,
  breaker = { threshold: 2, cooldownMs: 1000 },
): Promise<Rig> {
  const a = await FakeProvider.start({ key: KEY })
  const b = await FakeProvider.start({ key: KEY })
  const order: string[] = []
  a.on('request', (i) => i.api !== 'models' && order.push(`a/${i.model}`))
  b.on('request', (i) => i.api !== 'models' && order.push(`b/${i.model}`))
  const harness = validateHarness({
    providers: {
      a: { kind: 'openai', baseUrl: `${a.url}/v1`, apiKeyEnv: 'A_KEY' },
      b: { kind: 'anthropic', baseUrl: b.url, apiKeyEnv: 'B_KEY' },
    },
    roles,
    breaker,
    timeoutMs: 2000,
  })
  const clock = new SimulatedClock()
  const system = await ActorSystem.open({ clock })
  const dir = mkdtempSync(join(tmpdir(), 'aether-sched-'))
  const store = await LevelStore.open(dir)
  const logs: string[] = []
  const sched = await RoleRouter.start({
    system,
    harness,
    secrets: Secrets.fromEnv(harness, { A_KEY: KEY, B_KEY: KEY }),
    cache: new LevelAnswerCache(store),
    log: (l) => logs.push(l),
  })
  const r = { a, b, order, clock, system, store, dir, logs, sched }
  open.add(r)
  return r
}

/** Rigs not torn down yet: a test that fails half-way leaves its servers here, closed after it. */
const open = new Set<Rig>()
async function closeLeftovers() {
  for (const r of [...open]) await teardown(r)
}

async function teardown(r: Rig) {
  if (!open.delete(r)) return
  await r.system.close()
  await r.store.close()
  await r.a.close()
  await r.b.close()
  rmSync(r.dir, { recursive: true, force: true })
}

const msg = (text: string) => [{ role: 'user' as const, content: `${text}\nReply with exactly: ANSWER` }]

const fallback = suite('RoleRouter - fallback order')
fallback.after.each(closeLeftovers)

fallback('error, then 429, then the third choice answers; attempts are in list order', async () => {
  const r = await rig({
    chat: [
      { provider: 'a', model: 'fail-1' },
      { provider: 'b', model: 'rate-1' },
      { provider: 'a', model: 'good' },
      { provider: 'b', model: 'never' },
    ],
  })
  const res = await r.sched.run({ requestId: 'req-1', role: 'chat', messages: msg('hi') })
  assert.ok(res.ok)
  assert.is(res.text, 'ANSWER')
  assert.is(res.provider, 'a')
  assert.is(res.model, 'good')
  assert.is(res.fallbacks, 2)
  assert.equal(
    res.attempts.map((x) => x.outcome),
    ['HTTP_ERROR', 'RATE_LIMITED', 'ok'],
  )
  assert.equal(r.order, ['a/fail-1', 'b/rate-1', 'a/good'])
  assert.is(r.logs.length, 2)
  await teardown(r)
})

fallback('a provider that hangs is abandoned at its timeout and the next answers', async () => {
  const r = await rig({
    planner: [
      { provider: 'b', model: 'hang', timeoutMs: 150 },
      { provider: 'a', model: 'good' },
    ],
  })
  const res = await r.sched.run({ requestId: 'req-2', role: 'planner', messages: msg('plan') })
  assert.ok(res.ok)
  assert.equal(
    res.attempts.map((x) => x.outcome),
    ['TIMEOUT', 'ok'],
  )
  assert.ok(res.attempts[0].ms >= 140, `timeout after ${res.attempts[0].ms} ms`)
  await teardown(r)
})

fallback('every choice failing is an outcome, not a throw, and names each failure without the key', async () => {
  const r = await rig({
    chat: [
      { provider: 'a', model: 'm401' },
      { provider: 'b', model: 'fail-x' },
    ],
  })
  r.a.script('m401', [{ status: 401, echoKey: true }])
  const res = await r.sched.run({ requestId: 'req-3', role: 'chat', messages: msg('x') })
  assert.not.ok(res.ok)
  assert.is(res.error!.code, 'ALL_PROVIDERS_FAILED')
  assert.match(res.error!.message, /a\/m401: a: HTTP 401: Incorrect API key provided: \[REDACTED:A_KEY\]/)
  assert.match(res.error!.message, /b\/fail-x: b: HTTP 500/)
  assert.not.match(JSON.stringify(res) + r.logs.join('\n'), KEY)
  const unknown = await r.sched.run({ requestId: 'req-4', role: 'nobody', messages: msg('x') })
  assert.is(unknown.error!.code, 'ROLE_UNMAPPED')
  await teardown(r)
})

const breaker = suite('RoleRouter - circuit breaker')
breaker.after.each(closeLeftovers)

breaker(
  'after threshold failures the provider is skipped without a call; after the cooldown one trial closes it',
  async () => {
    const r = await rig(
      {
        chat: [
          { provider: 'a', model: 'flaky' },
          { provider: 'b', model: 'good' },
        ],
      },
      { threshold: 2, cooldownMs: 1000 },
    )
    r.a.script('flaky', [{ status: 503 }, { status: 503 }])
    for (const id of ['t1', 't2']) {
      const res = await r.sched.run({ requestId: id, role: 'chat', messages: msg(id) })
      assert.is(res.provider, 'b')
    }
    assert.is(r.sched.breakerState('a').value, 'open')
    const before = r.a.total
    const t3 = await r.sched.run({ requestId: 't3', role: 'chat', messages: msg('t3') })
    assert.is(r.a.total, before, 'no call to an open provider')
    assert.equal(
      t3.attempts.map((x) => x.outcome),
      ['skipped', 'ok'],
    )
    assert.is(t3.fallbacks, 1)
    r.clock.increment(1000)
    assert.is(r.sched.breakerState('a').value, 'halfOpen')
    const t4 = await r.sched.run({ requestId: 't4', role: 'chat', messages: msg('t4') })
    assert.is(t4.provider, 'a', 'the trial call answered')
    assert.is(r.sched.breakerState('a').value, 'closed')
    await teardown(r)
  },
)

breaker('a failed trial re-opens the breaker; concurrent callers do not pile onto a half-open provider', async () => {
  const r = await rig(
    {
      chat: [
        { provider: 'a', model: 'slow-flaky' },
        { provider: 'b', model: 'good' },
      ],
    },
    { threshold: 1, cooldownMs: 1000 },
  )
  r.a.script('slow-flaky', [{ status: 500 }, { delayMs: 100 }])
  await r.sched.run({ requestId: 'u1', role: 'chat', messages: msg('u1') })
  assert.is(r.sched.breakerState('a').value, 'open')
  r.clock.increment(1000)
  // Two tasks at once: only the first may try the half-open provider.
  const [x, y] = await Promise.all([
    r.sched.run({ requestId: 'u2', role: 'chat', messages: msg('u2') }),
    r.sched.run({ requestId: 'u3', role: 'chat', messages: msg('u3') }),
  ])
  // Which of the two reaches the breaker first is up to their answer-cache lookups (LevelDB reads
  // that may finish in either order); exactly one of them gets the trial.
  const [trial, other] = x.provider === 'a' ? [x, y] : [y, x]
  assert.is(trial.provider, 'a', 'one of them made the trial call')
  assert.equal(
    other.attempts.map((q) => q.outcome),
    ['skipped', 'ok'],
    'the other skipped the half-open provider',
  )
  assert.is(r.sched.breakerState('a').value, 'closed')
  r.a.script('slow-flaky', [{ status: 500 }])
  await r.sched.run({ requestId: 'u4', role: 'chat', messages: msg('u4') })
  r.clock.increment(1000)
  r.a.script('slow-flaky', [{ status: 500 }])
  const t = await r.sched.run({ requestId: 'u5', role: 'chat', messages: msg('u5') })
  assert.equal(
    t.attempts.map((q) => q.outcome),
    ['HTTP_ERROR', 'ok'],
  )
  assert.is(r.sched.breakerState('a').value, 'open')
  assert.is(r.sched.breakerState('a').opened, 3)
  await teardown(r)
})

const cache = suite('RoleRouter - answer cache (Class B)')
cache.after.each(closeLeftovers)

cache('a retried request id is answered from LevelDB, not by a second call, also after a reopen', async () => {
  const r = await rig({
    chat: [
      { provider: 'a', model: 'fail-first' },
      { provider: 'b', model: 'good' },
    ],
  })
  const first = await r.sched.run({ requestId: 'sess/task@7', role: 'chat', messages: msg('x') })
  assert.ok(first.ok)
  assert.not.ok(first.cached)
  const again = await r.sched.run({ requestId: 'sess/task@7', role: 'chat', messages: msg('x') })
  assert.ok(again.cached)
  assert.is(again.text, first.text)
  assert.is(again.fallbacks, 1, 'the cached answer remembers its fallbacks')
  assert.is(r.b.calls.get('sess/task@7'), 1)
  // A new process: reopen the store, new router.
  await r.store.close()
  const store2 = await LevelStore.open(r.dir)
  const harness = validateHarness({
    providers: { b: { kind: 'anthropic', baseUrl: r.b.url, apiKeyEnv: 'B_KEY' } },
    roles: { chat: [{ provider: 'b', model: 'good' }] },
  })
  const sys2 = await ActorSystem.open()
  const s2 = await RoleRouter.start({
    system: sys2,
    harness,
    secrets: Secrets.fromEnv(harness, { B_KEY: KEY }),
    cache: new LevelAnswerCache(store2),
  })
  const third = await s2.run({ requestId: 'sess/task@7', role: 'chat', messages: msg('x') })
  assert.ok(third.cached)
  assert.is(r.b.calls.get('sess/task@7'), 1)
  await sys2.close()
  await store2.close()
  r.store = await LevelStore.open(r.dir)
  await teardown(r)
})

fallback.run()
breaker.run()
cache.run()
