/**
 * Agent sessions and the role harness.
 *
 * - handshake (degraded): connect to `/ws/agent` until `session.ready`, while NATS and Redis point
 *   at closed ports and a provider hangs; baseline: a bare WebSocket endpoint on the same server
 *   that sends one frame on connect. Goal: aether <= 200 ms.
 * - handshake degraded vs healthy: the same handshake against a hub whose integrations are all up
 *   (the local nats-server and Redis, a healthy provider) as the baseline: the ratio shows what
 *   degraded infrastructure costs a handshake (nothing but noise; both are one journal commit).
 * - resume handshake: `?session=ID` on an existing session; baseline: the bare endpoint.
 * - 20-task benchmark: success count (goal 20 of 20) and fallbacks, against the local provider
 *   servers with scripted 500s, 429s and hangs.
 * - one task through the role router (breaker check, LevelDB answer cache with a synced put) versus
 *   the same call by a direct fetch: the harness's overhead per call.
 * - a retried request id answered from the cache versus a paid call.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { ActorSystem } from '../actors/index.ts'
import { Hub } from '../runtime/Hub.ts'
import { LevelStore } from '../runtime/LevelStore.ts'
import { LevelAnswerCache } from '../runtime/agent/AnswerCache.ts'
import { RoleRouter } from '../runtime/agent/RoleRouter.ts'
import { agentFeature } from '../runtime/agent/agentFeature.ts'
import { runBench } from '../runtime/agent/benchTasks.ts'
import { validateHarness } from '../runtime/agent/harness.ts'
import { Secrets } from '../runtime/agent/redact.ts'
import { AgentClient, closedPort } from '../test/helpers/agentClient.ts'
import { benchEnv, benchHarness, TEST_KEY } from '../test/helpers/agentHarness.ts'
import { FakeProvider } from '../test/helpers/fakeProviders.ts'
import { json, paired, printTable, quick, report } from './lib.ts'

const ROUNDS = quick ? 5 : 15

async function hubWith(dir: string, o: { nats: string; redis: string; provider: FakeProvider }): Promise<Hub> {
  const harness = validateHarness({
    providers: { p: { kind: 'openai', baseUrl: `${o.provider.url}/v1`, apiKeyEnv: 'P_KEY' } },
    roles: { chat: [{ provider: 'p', model: 'm' }] },
  })
  const hub = await Hub.start({ port: 0, data: dir, token: 'bench' }, [
    agentFeature({ harness, nats: o.nats, redis: o.redis, env: { P_KEY: TEST_KEY }, log: () => {} }),
  ])
  hub.server.ws('/ws/bare', (ws) => ws.send('{"type":"hello"}'))
  return hub
}

async function handshake(url: string, query: Record<string, string> = {}): Promise<number> {
  const c = AgentClient.connect(url, 'bench', query)
  await c.next('session.ready', 5000)
  const ms = performance.now() - c.openedAt
  await c.close()
  return ms
}

async function bare(url: string): Promise<number> {
  const { WebSocket } = await import('ws')
  const t0 = performance.now()
  const ws = new WebSocket(url.replace(/^http/, 'ws') + '/ws/bare')
  await new Promise((r) => ws.once('message', r))
  const ms = performance.now() - t0
  ws.close()
  await new Promise((r) => ws.once('close', r))
  return ms
}

const dirs: string[] = []
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'aether-agent-bench-'))
  dirs.push(d)
  return d
}

const healthy = await FakeProvider.start({ key: TEST_KEY })
const hanging = await FakeProvider.start({ key: TEST_KEY, hangAll: true })
const down = await hubWith(tmp(), {
  nats: `nats://127.0.0.1:${await closedPort()}`,
  redis: `redis://127.0.0.1:${await closedPort()}`,
  provider: hanging,
})
const up = await hubWith(tmp(), { nats: 'nats://127.0.0.1:4222', redis: 'redis://127.0.0.1:6379', provider: healthy })
// Let the healthy hub's probes finish, so "up" really is up.
const deadline = Date.now() + 5000
while ((await (await fetch(`${up.url}/api/agent`)).json()).degraded.length > 0 && Date.now() < deadline)
  await new Promise((r) => setTimeout(r, 50))
const upState = (await (await fetch(`${up.url}/api/agent`)).json()).capabilities
const downState = (await (await fetch(`${down.url}/api/agent`)).json()).capabilities

for (let i = 0; i < 3; i++) {
  await handshake(down.url)
  await bare(down.url)
}
const h = await paired(
  ROUNDS,
  () => handshake(down.url),
  () => bare(down.url),
)
report({
  figure: 'handshake, NATS+Redis down, provider hanging',
  aether: h.a,
  baseline: h.b,
  ratio: h.a / h.b,
  unit: 'ms (baseline: bare WebSocket)',
  goal: 'aether <= 200',
  pass: Math.max(...h.as) <= 200,
  max: Math.max(...h.as),
  degraded: downState,
})

const hu = await paired(
  ROUNDS,
  () => handshake(down.url),
  () => handshake(up.url),
)
report({
  figure: 'handshake degraded vs all integrations up',
  aether: hu.a,
  baseline: hu.b,
  ratio: hu.a / hu.b,
  unit: 'ms (baseline: healthy hub)',
  goal: 'aether <= 200',
  pass: Math.max(...hu.as) <= 200,
  max: Math.max(...hu.as),
  up: upState,
})

const c = AgentClient.connect(down.url, 'bench')
const { sessionId } = await c.next('session.ready')
await c.close()
const r = await paired(
  ROUNDS,
  () => handshake(down.url, { session: sessionId }),
  () => bare(down.url),
)
report({
  figure: 'resume handshake (?session=ID), degraded',
  aether: r.a,
  baseline: r.b,
  ratio: r.a / r.b,
  unit: 'ms (baseline: bare WebSocket)',
  goal: 'aether <= 200',
  pass: Math.max(...r.as) <= 200,
  max: Math.max(...r.as),
})

await down.close()
await up.close()
await hanging.close()

// The 20-task benchmark against the local provider servers (the bench command's own code path).
const backup = await FakeProvider.start({ key: TEST_KEY })
const harness = validateHarness(benchHarness(healthy.url, backup.url))
const secrets = Secrets.fromEnv(harness, benchEnv)
const summary = await runBench({ harness, secrets })
report({
  figure: '20-task benchmark: tasks passed',
  aether: summary.passed,
  baseline: null,
  ratio: null,
  unit: `of ${summary.tasks}`,
  goal: '= 20',
  pass: summary.passed === 20 && summary.tasks === 20,
  fallbacks: summary.fallbacks,
  tasksWithFallback: summary.tasksWithFallback,
})

// Per-call latency: the role router (breaker check, answer cache in LevelDB with a synced put, as in
// the hub) against the same call made directly with fetch, alternating.
const store = await LevelStore.open(tmp())
const system = await ActorSystem.open()
const sched = await RoleRouter.start({ system, harness, secrets, cache: new LevelAnswerCache(store) })
let n = 0
const body = (id: string) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_KEY}`, 'idempotency-key': id },
  body: JSON.stringify({ model: 'local-chat', messages: [{ role: 'user', content: 'Reply with exactly: X' }] }),
})
const timed = async (f: () => Promise<unknown>) => {
  const t0 = performance.now()
  await f()
  return performance.now() - t0
}
const lat = await paired(
  ROUNDS * 4,
  () =>
    timed(() =>
      sched.run({
        requestId: `lat-${n++}`,
        role: 'chat',
        messages: [{ role: 'user', content: 'Reply with exactly: X' }],
      }),
    ),
  () => timed(async () => (await fetch(`${healthy.url}/v1/chat/completions`, body(`direct-${n++}`))).json()),
)
report({
  figure: 'one task through the role router vs direct fetch',
  aether: lat.a,
  baseline: lat.b,
  ratio: lat.a / lat.b,
  unit: 'ms (baseline: direct fetch)',
  goal: '',
  benchP50: summary.latencyMs.p50,
  benchP95: summary.latencyMs.p95,
})
const hit = await paired(
  ROUNDS * 4,
  () => timed(() => sched.run({ requestId: 'lat-0', role: 'chat', messages: [] })),
  () => timed(async () => (await fetch(`${healthy.url}/v1/chat/completions`, body(`direct-${n++}`))).json()),
)
report({
  figure: 'a retried request id answered from the cache vs a paid call',
  aether: hit.a,
  baseline: hit.b,
  ratio: hit.a / hit.b,
  unit: 'ms (baseline: direct fetch)',
  goal: 'ratio < 1',
  pass: hit.a < hit.b,
  providerCallsForRetries: healthy.calls.get('lat-0'),
})
await system.close()
await store.close()
await healthy.close()
await backup.close()
for (const d of dirs) rmSync(d, { recursive: true, force: true })
printTable('agent sessions and the role harness')
if (!json)
  console.log(
    `\ncapabilities while down: ${JSON.stringify(downState)}\ncapabilities while up:   ${JSON.stringify(upState)}`,
  )
