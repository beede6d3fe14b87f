/**
 * The agent feature in a real hub (in process): handshakes that never wait on NATS, Redis or a
 * hanging provider; degraded capabilities reported and updated; tasks routed with fallback;
 * resume by id; bad frames refused; a clean hub restart keeps the conversation.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { Hub } from '../../../runtime/Hub.ts'
import { agentFeature } from '../../../runtime/agent/agentFeature.ts'
import { validateHarness } from '../../../runtime/agent/harness.ts'
import { AgentClient, closedPort } from '../../helpers/agentClient.ts'
import { FakeProvider } from '../../helpers/fakeProviders.ts'
import { TEST_KEY } from '../../helpers/agentHarness.ts'
import { scanForSecret } from '../../helpers/secretScan.ts'

interface Env {
  ok: FakeProvider
  hang: FakeProvider
  dir: string
  hub: Hub
  natsPort: number
  redisPort: number
  logs: string[]
}

let env: Env
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]
const WRONG_KEY = 'sk-test-AETHER-SECRET-wrong'
let feed: string[] = []

async function startHub(e: Pick<Env, 'ok' | 'hang' | 'dir' | 'natsPort' | 'redisPort' | 'logs'>): Promise<Hub> {
  const harness = validateHarness({
    providers: {
      ok: { kind: 'openai', baseUrl: `${e.ok.url}/v1`, apiKeyEnv: 'OK_KEY' },
      hang: { kind: 'anthropic', baseUrl: e.hang.url, apiKeyEnv: 'HANG_KEY' },
      // Its key is wrong: the server answers 401 quoting it, which must never be shown.
      wrongkey: { kind: 'openai', baseUrl: `${e.ok.url}/v1`, apiKeyEnv: 'WRONG_KEY' },
    },
    roles: {
      chat: [
        { provider: 'hang', model: 'claude', timeoutMs: 300 },
        { provider: 'ok', model: 'local' },
      ],
      planner: [{ provider: 'ok', model: 'slow-planner' }],
      vision: [{ provider: 'ok', model: 'vision' }],
      browser: [{ provider: 'ok', model: 'browser' }],
    },
    breaker: { threshold: 100, cooldownMs: 1000 },
  })
  return Hub.start({ port: 0, data: e.dir, token: 'tok-agent' }, [
    agentFeature({
      harness,
      nats: `nats://127.0.0.1:${e.natsPort}`,
      redis: `redis://127.0.0.1:${e.redisPort}`,
      env: { OK_KEY: TEST_KEY, HANG_KEY: TEST_KEY, WRONG_KEY },
      timing: { probeTimeoutMs: 1500, baseBackoffMs: 200, maxBackoffMs: 1000 },
      log: (l) => e.logs.push(l),
    }),
  ])
}

async function setup() {
  const ok = await FakeProvider.start({ key: TEST_KEY })
  const hang = await FakeProvider.start({ key: TEST_KEY, hangAll: true })
  const dir = mkdtempSync(join(tmpdir(), 'aether-agent-'))
  const e = { ok, hang, dir, natsPort: await closedPort(), redisPort: await closedPort(), logs: [] as string[] }
  env = { ...e, hub: await startHub(e) }
  feed = []
  env.hub.system.feed.listen((ev) => feed.push(JSON.stringify(ev)))
}

async function teardown() {
  await env.hub.close()
  await env.ok.close()
  await env.hang.close()
  rmSync(env.dir, { recursive: true, force: true })
}

const handshake = suite('agentFeature - handshake never waits on integrations')
handshake.before(setup)
handshake.after(teardown)

handshake(
  'sessions open within 200 ms with NATS and Redis on closed ports and a hanging provider; degraded is reported',
  async () => {
    const times: number[] = []
    const server: number[] = []
    const clients: AgentClient[] = []
    for (let i = 0; i < 10; i++) {
      const c = AgentClient.connect(env.hub.url, env.hub.token)
      const ready = await c.next('session.ready', 2000)
      times.push(performance.now() - c.openedAt)
      server.push(ready.handshakeMs)
      clients.push(c)
      if (i === 0) {
        assert.ok(ready.degraded.includes('nats'), JSON.stringify(ready))
        assert.ok(ready.degraded.includes('redis'))
        assert.ok(ready.degraded.includes('provider:hang'), 'the hanging provider is not ready')
        assert.ok(['connecting', 'degraded', 'retrying'].includes(ready.capabilities.nats))
        assert.is(ready.capabilities['provider:hang'], 'connecting', 'its probe is still hanging: nobody waited for it')
        assert.match(ready.sessionId, /^[A-Za-z0-9_-]{16}$/)
        assert.is(ready.resumed, false)
        assert.equal(ready.roles, ['chat', 'planner', 'vision', 'browser'])
        assert.ok(ready.handshakeMs < 200)
      }
    }
    // The hub's part of each handshake (upgrade to ready frame) stays within 200 ms. Seen from the
    // client, the same process also runs the providers and the client; on a loaded machine (load
    // 13 on 2 cores while this was written) a single round trip was seen at 216 ms with 1.9 ms in
    // the hub, so the client-side bound is on the median, and every handshake must stay far below
    // the 1500 ms probe timeout (which a handshake that waited on a probe would exceed).
    const what = `handshakes took ${times.map((t) => t.toFixed(1)).join(', ')} ms (in the hub: ${server.join(', ')} ms)`
    assert.ok(Math.max(...server) < 200, what)
    assert.ok(median(times) < 200, what)
    assert.ok(Math.max(...times) < 1000, what)
    // The capabilities follow the integrations: the hanging provider's probe times out.
    const c = clients[0]
    const upd = await c.next(
      'capabilities',
      4000,
      (f) => f.capabilities['provider:hang'] === 'degraded' && f.capabilities['provider:ok'] === 'ready',
    )
    assert.ok(upd.degraded.includes('provider:hang'))
    assert.not.ok(upd.degraded.includes('provider:ok'))
    const status = await (await fetch(`${env.hub.url}/api/agent`)).json()
    assert.is(status.capabilities.nats === 'ready', false)
    assert.is(status.sessions.length, 10)
    assert.not.match(JSON.stringify(status), TEST_KEY)
    // The provider with a wrong key is degraded by a 401 that quoted the key: shown redacted.
    const wk = await c
      .next('capabilities', 4000, (f) => f.capabilities['provider:wrongkey'] === 'degraded')
      .catch(() => null)
    const st2 = await (await fetch(`${env.hub.url}/api/agent`)).json()
    assert.ok(wk || st2.capabilities['provider:wrongkey'] !== 'ready')
    assert.match(st2.integrations['provider:wrongkey'].lastError, /Incorrect API key provided: \[REDACTED:WRONG_KEY\]/)
    assert.equal(st2.integrations.nats.target, `nats://127.0.0.1:${env.natsPort}`)
    assert.match(st2.integrations.nats.lastError, /ECONNREFUSED/)
    const seen = JSON.stringify(st2) + feed.join('\n')
    assert.not.ok(seen.includes(WRONG_KEY) || seen.includes(TEST_KEY), 'no key in the API or the inspection feed')
    assert.ok(
      feed.some((l) => l.includes('[REDACTED:WRONG_KEY]')),
      'the inspection feed carried the redacted error',
    )
    for (const x of clients) await x.close()
    // With no socket left the agent stops listening to the feed (only the test's listener remains).
    const deadline = Date.now() + 2000
    while (env.hub.system.feed.listenerCount !== 1) {
      assert.ok(Date.now() < deadline, 'the agent feature stopped listening to the feed')
      await new Promise((r) => setTimeout(r, 20))
    }
  },
)

handshake('a task falls back past the hanging provider; the outcome names who answered', async () => {
  const c = AgentClient.connect(env.hub.url, env.hub.token)
  await c.next('session.ready')
  c.send({ type: 'task', taskId: 'q1', role: 'chat', prompt: 'Hello?\nReply with exactly: HI-THERE' })
  assert.is((await c.next('task.accepted')).taskId, 'q1')
  const r = await c.next('task.result', 5000)
  assert.is(r.ok, true)
  assert.is(r.text, 'HI-THERE')
  assert.is(r.provider, 'ok')
  assert.is(r.fallbacks, 1)
  assert.is(r.cached, false)
  assert.match(r.requestId, /^agent-session\.[A-Za-z0-9_-]+\/task@\d+$/)
  assert.is(env.ok.calls.get(r.requestId), 1)
  await c.close()
})

const sessions = suite('agentFeature - sessions')
sessions.before(setup)
sessions.after(teardown)

sessions('resume by id: missed outcomes and the conversation come back; a resent task is not run again', async () => {
  const a = AgentClient.connect(env.hub.url, env.hub.token)
  const ready = await a.next('session.ready')
  const id = ready.sessionId
  a.send({ type: 'task', taskId: 'p1', role: 'planner', prompt: 'Plan it.\nReply with exactly: PLAN-A' })
  await a.next('task.accepted')
  await a.close() // gone while the (slow) planner works
  const deadline = Date.now() + 5000
  while (!(await (await fetch(`${env.hub.url}/api/agent/sessions/${id}`)).json()).outcomes.length) {
    assert.ok(Date.now() < deadline, 'the task finished without a socket')
    await new Promise((r) => setTimeout(r, 50))
  }
  const b = AgentClient.connect(env.hub.url, env.hub.token, { session: id, after: 0 })
  const back = await b.next('session.ready')
  assert.is(back.resumed, true)
  assert.is(back.sessionId, id)
  assert.equal(
    back.outcomes.map((o: any) => [o.n, o.taskId, o.text]),
    [[1, 'p1', 'PLAN-A']],
  )
  assert.equal(
    back.history.map((h: any) => h.content),
    ['Plan it.\nReply with exactly: PLAN-A', 'PLAN-A'],
  )
  const calls = env.ok.total
  b.send({ type: 'task', taskId: 'p1', role: 'planner', prompt: 'Plan it.\nReply with exactly: PLAN-A' })
  const again = await b.next('task.result')
  assert.is(again.n, 1)
  assert.is(env.ok.total, calls, 'no second call for a resent task id')
  // A second socket on the same session supersedes the first.
  const c = AgentClient.connect(env.hub.url, env.hub.token, { session: id, after: 1 })
  const cr = await c.next('session.ready')
  assert.equal(cr.outcomes, [])
  assert.is((await b.waitClosed()).code, 4409)
  await c.close()
})

sessions('bad frames get a typed error naming the field, are counted, and change nothing', async () => {
  const c = AgentClient.connect(env.hub.url, env.hub.token)
  const { sessionId } = await c.next('session.ready')
  const before = (await (await fetch(`${env.hub.url}/api/agent`)).json()).stats.badFrames
  const bad: Array<[unknown, string | undefined]> = [
    ['{not json', undefined],
    [{ type: 'task', role: 'chat' }, 'prompt'],
    [{ type: 'task', role: 'nobody', prompt: 'x' }, 'role'],
    [{ type: 'task', role: 'chat', prompt: 'x', images: ['javascript:alert(1)'] }, 'images[0]'],
    [{ type: 'launch' }, 'type'],
  ]
  for (const [frame, field] of bad) {
    c.send(frame)
    const e = await c.next('error')
    assert.is(e.code, 'BAD_FRAME')
    assert.is(e.field, field)
  }
  const after = (await (await fetch(`${env.hub.url}/api/agent`)).json()).stats.badFrames
  assert.is(after - before, bad.length)
  const s = await (await fetch(`${env.hub.url}/api/agent/sessions/${sessionId}`)).json()
  assert.equal([s.outcomes, s.queued, s.running], [[], [], null])
  c.send({ type: 'ping' })
  await c.next('pong')
  await c.close()
})

sessions('no token: refused; unknown or ended sessions: refused with a reason', async () => {
  const anon = AgentClient.connect(env.hub.url, null)
  assert.is((await anon.next('error')).code, 'UNAUTHORIZED')
  assert.is((await anon.waitClosed()).code, 4401)
  const wrong = AgentClient.connect(env.hub.url, 'nope')
  assert.is((await wrong.waitClosed()).code, 4401)
  const ghost = AgentClient.connect(env.hub.url, env.hub.token, { session: 'doesnotexist123' })
  assert.is((await ghost.next('error')).code, 'UNKNOWN_SESSION')
  assert.is((await ghost.waitClosed()).code, 4404)
  const c = AgentClient.connect(env.hub.url, env.hub.token)
  const { sessionId } = await c.next('session.ready')
  c.send({ type: 'session.close' })
  assert.is((await c.next('session.closed')).sessionId, sessionId)
  assert.is((await c.waitClosed()).code, 1000)
  const late = AgentClient.connect(env.hub.url, env.hub.token, { session: sessionId })
  assert.is((await late.waitClosed()).code, 4404)
  // Ended sessions are stopped (not recovered by the next start); the journal is kept.
  const until = Date.now() + 3000
  while ((await env.hub.store.getMeta(`agent-session.${sessionId}`))?.status !== 'stopped') {
    assert.ok(Date.now() < until, 'the ended session was stopped')
    await new Promise((r) => setTimeout(r, 20))
  }
  assert.is(env.hub.system.hosted(`agent-session.${sessionId}`), undefined)
})

sessions('a hub restart restores the conversation; the session resumes by id', async () => {
  const c = AgentClient.connect(env.hub.url, env.hub.token)
  const { sessionId } = await c.next('session.ready')
  c.send({
    type: 'task',
    taskId: 'v1',
    role: 'vision',
    prompt: 'What is it?\nReply with exactly: RED',
    images: ['data:image/png;base64,AAAA'],
  })
  assert.is((await c.next('task.result', 5000)).text, 'RED')
  await c.close()
  await env.hub.close()
  env.hub = await startHub(env)
  const r = AgentClient.connect(env.hub.url, env.hub.token, { session: sessionId })
  const ready = await r.next('session.ready')
  assert.is(ready.resumed, true)
  assert.equal(
    ready.history.map((h: any) => h.content),
    ['What is it?\nReply with exactly: RED', 'RED'],
  )
  r.send({ type: 'task', taskId: 'v2', role: 'browser', prompt: 'Title?\nReply with exactly: TITLE' })
  const res = await r.next('task.result', 5000)
  assert.is(res.n, 2)
  assert.is(res.text, 'TITLE')
  await r.close()
  const all = env.logs.join('\n') + feed.join('\n')
  assert.not.ok(all.includes(TEST_KEY) || all.includes(WRONG_KEY), 'no key in the logs or the inspection feed')
  await env.hub.close()
  const scan = await scanForSecret(env.dir, 'sk-test-AETHER-SECRET')
  assert.equal(scan.hits, [])
  env.hub = await startHub(env)
})

handshake.run()
sessions.run()
