/**
 * Services bound before recovery, on a real hub: `aether hub --app` (a child process, LevelDB) with
 * a job step mid-attempt, a webspace with updates, an agent session whose task the provider holds
 * and an app's actor whose effect waits on a service of the app's own feature is killed with
 * SIGKILL and started again on its data folder. The restarted hub installs its features
 * (which provide their services) before it recovers its actors, so every effect that recovery
 * restarts finds its service on the first lookup: the registry's counters (`GET /api/services`,
 * `/metrics`) show lookups of each service and 0 misses; the job completes without a failed
 * attempt, the webspace has its content, the agent session is back with its task answered once,
 * the app's effect is answered.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AgentClient } from '../helpers/agentClient.ts'
import { benchEnv, TEST_KEY, writeHarness } from '../helpers/agentHarness.ts'
import { FakeProvider, type RequestInfo } from '../helpers/fakeProviders.ts'
import { HubProcess } from '../helpers/hubProcess.ts'
import { sleep } from '../helpers/tmp.ts'
import { connectPeer } from '../helpers/webspacePeer.ts'

const TOKEN = 'tok-recovery'
const recovery = suite('recovery - services bound before recovery (SIGKILL of a hub process)')

let provider: FakeProvider
let dir = ''
const hubs: HubProcess[] = []

recovery.before(async () => {
  provider = await FakeProvider.start({ key: TEST_KEY })
  dir = mkdtempSync(join(tmpdir(), 'aether-recovery-'))
})

recovery.after(async () => {
  for (const h of hubs) await h.kill('SIGKILL')
  await provider.close()
  rmSync(dir, { recursive: true, force: true })
})

async function startHub(extraEnv: Record<string, string> = {}): Promise<HubProcess> {
  const harness = writeHarness(join(dir, 'harness.json'), {
    providers: { p: { kind: 'openai', baseUrl: `${provider.url}/v1`, apiKeyEnv: 'AETHER_TEST_PRIMARY_KEY' } },
    roles: { chat: [{ provider: 'p', model: 'held-model' }] },
    breaker: { threshold: 100, cooldownMs: 1000 },
  })
  // no NATS, no Redis: the embedded default
  const env = { ...benchEnv, NATS_URL: '', REDIS_URL: '', AETHER_JOBS_NATS: '', AETHER_HARNESS: '', ...extraEnv }
  const args = [
    '--data',
    join(dir, 'data'),
    '--token',
    TOKEN,
    '--harness',
    harness,
    '--app',
    'test/fixtures/bellApp.ts',
  ]
  const h = await HubProcess.start(args, env, 20_000)
  hubs.push(h)
  return h
}

async function api(url: string, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(url + path, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await res.text()
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`)
  return JSON.parse(text)
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(25)
  }
}

function nextRequest(model: string): Promise<RequestInfo> {
  return new Promise((resolve) => {
    const on = (i: RequestInfo) => {
      if (i.model !== model) return
      provider.off('request', on)
      resolve(i)
    }
    provider.on('request', on)
  })
}

recovery(
  'a job step, a webspace, an agent task and an app effect in flight: each finds its service on the first try',
  async () => {
    const hub1 = await startHub({ BELL_HOLD: '1' }) // the app's bell never answers in this process
    // a job whose only step is mid-attempt when the hub dies
    const job = await api(hub1.url, 'POST', '/api/jobs', { type: 'sleep', input: { ms: 1500 } })
    await until('the job to run', async () =>
      (await api(hub1.url, 'GET', `/api/jobs/${job.id}`)).status === 'RUNNING' ? true : undefined,
    )
    // a webspace with acknowledged updates
    await api(hub1.url, 'POST', '/api/webspaces', { name: 'notes' })
    const peer = await connectPeer(hub1.url, 'notes', TOKEN)
    peer.client.doc.getText('t').insert(0, 'written before the crash')
    await until('the edit to be acknowledged', async () => (peer.client.acked >= peer.client.sent ? true : undefined))
    // an agent session whose task the provider holds
    provider.script('held-model', [{ delayMs: 20_000 }])
    const c = AgentClient.connect(hub1.url, TOKEN)
    const sessionId = (await c.next('session.ready')).sessionId
    const arrived = nextRequest('held-model')
    c.send({ type: 'task', taskId: 'T1', role: 'chat', prompt: 'Reply with exactly: BACK' })
    await c.next('task.accepted')
    const req = await arrived
    // an app's actor whose effect is in flight
    await api(hub1.url, 'POST', '/api/actors', { path: 'door', machine: 'doorbell' })
    await api(hub1.url, 'POST', '/api/actors/door/events', { type: 'press' })
    const before = await api(hub1.url, 'GET', `/api/jobs/${job.id}`)
    assert.is(before.status, 'RUNNING', 'the step is still mid-attempt at the kill')

    await hub1.kill('SIGKILL')
    assert.is((await hub1.exited).signal, 'SIGKILL')
    peer.destroy()
    await c.waitClosed()

    const hub2 = await startHub()
    const done = await until('the job to complete', async () => {
      const v = await api(hub2.url, 'GET', `/api/jobs/${job.id}`)
      return v.status === 'COMPLETED' || v.status === 'FAILED' ? v : undefined
    })
    assert.is(done.status, 'COMPLETED')
    assert.equal(done.output, { slept: 1500 })
    assert.is(done.attempts, before.attempts, 'the step recovery restarted succeeded: no failed attempt')
    assert.not.ok(done.lastError, 'no attempt failed')

    const ws = await until('the webspace to be synced', async () => {
      const w = await api(hub2.url, 'GET', '/api/webspaces/notes?content=1')
      return JSON.stringify(w.value).includes('synced') ? w : undefined
    })
    assert.is(ws.content.t, 'written before the crash')

    const c2 = AgentClient.connect(hub2.url, TOKEN, { session: sessionId, after: 0 })
    const ready = await c2.next('session.ready', 5000)
    assert.is(ready.sessionId, sessionId, 'the session is back')
    const o = ready.outcomes.find((x: any) => x.taskId === 'T1') ?? (await c2.next('task.result', 10_000))
    await c2.close()
    assert.is(o.ok, true)
    assert.is(o.text, 'BACK')
    assert.is(o.requestId, req.requestId, 'the restarted task kept its idempotency key')
    assert.is(provider.answered.get(req.requestId), 1, 'answered once')

    const door = await until('the app effect to be answered', async () => {
      const d = await api(hub2.url, 'GET', '/api/actors/door')
      return d.value === 'rung' ? d : undefined
    })
    assert.is(door.context.answer, 'rang door/0.doorbell.ringing@1', 'restarted with the key of the press (seq 1)')

    const services = await api(hub2.url, 'GET', '/api/services')
    assert.is(services.misses, 0, `no effect missed its service: ${JSON.stringify(services)}`)
    for (const name of ['jobs.host', 'webspace.host', 'agent.runtime', 'app.bell'])
      assert.ok(services.services[name]?.lookups > 0, `${name} was looked up: ${JSON.stringify(services.services)}`)
    const metrics = await (await fetch(`${hub2.url}/metrics`)).text()
    assert.match(metrics, /aether_service_misses_total\{service="jobs.host"\} 0\n/)
    assert.not.match(metrics, /aether_service_misses_total\{[^}]*\} [1-9]/)
    await hub2.kill('SIGTERM')
    assert.is((await hub2.exited).code, 0)
  },
)

recovery.run()
