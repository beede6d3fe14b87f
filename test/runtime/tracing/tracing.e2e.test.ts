/**
 * Tracing and secrets, the way a user runs them: an `aether hub` (steps over JetStream, a harness
 * with provider keys, the hub token from a file) and an `aether worker`, both child processes
 * exporting spans to an OTLP/HTTP collector of the test's own on 127.0.0.1.
 *
 * - One job whose step ran on the worker is one trace: the hub's job span, its step span (child),
 *   the worker's span of the step (child of the hub's step span, from the JetStream headers).
 * - Then the jobs, the agent and the inspector are exercised, both processes stopped, and
 *   everything the run wrote (data folder files and decoded entries, stdout and stderr, exported
 *   spans, the inspector's and API's answers) is scanned for the secrets: zero hits.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { spawn, type ChildProcess } from 'node:child_process'
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import WebSocket from 'ws'
import { AgentClient } from '../../helpers/agentClient.ts'
import { TEST_KEY, writeHarness } from '../../helpers/agentHarness.ts'
import { launchChromium } from '../../helpers/browser.ts'
import { bin, root } from '../../helpers/cli.ts'
import { FakeProvider } from '../../helpers/fakeProviders.ts'
import { HubProcess } from '../../helpers/hubProcess.ts'
import { NatsServer } from '../../helpers/natsServer.ts'
import { type CollectedSpan, OtlpCollector } from '../../helpers/otlpCollector.ts'
import { scanDataForSecrets, scanTexts } from '../../helpers/secretScan.ts'
import { LevelStore } from '../../../runtime/LevelStore.ts'

const HUB_TOKEN = 'tok-AETHER-HUB-SECRET-5d1c9e'
const OTLP_KEY = 'otlp-AETHER-COLLECTOR-SECRET-77ab'
const SECRETS = [TEST_KEY, HUB_TOKEN, OTLP_KEY]
const CONSUMER = 5 // OTLP SpanKind

const t = suite('tracing - one trace across hub and aether worker; no secret in anything the run wrote')
let dir = ''
let collector: OtlpCollector
let nats: NatsServer
let provider: FakeProvider
let hub: HubProcess
let worker: { child: ChildProcess; output: string; exited: Promise<unknown> }
/** Every answer of the hub's API and inspector the test read. */
const answers: string[] = []
let jobId = ''
let traceId = ''

function startWorker(env: Record<string, string>): Promise<typeof worker> {
  const child = spawn(process.execPath, [bin, 'worker', '--nats', nats.url, '--id', 'w1', '--concurrency', '4'], {
    cwd: root,
    env: { ...process.env, FORCE_COLOR: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const w = { child, output: '', exited: new Promise((r) => child.once('exit', r)) }
  child.stdout!.on('data', (d) => (w.output += d))
  child.stderr!.on('data', (d) => (w.output += d))
  return new Promise((resolve, reject) => {
    const end = Date.now() + 60_000 // a loaded machine starts processes slowly
    const poll = setInterval(() => {
      if (w.output.includes('aether worker w1 on')) {
        clearInterval(poll)
        resolve(w)
      } else if (child.exitCode !== null || Date.now() > end) {
        clearInterval(poll)
        child.kill('SIGKILL')
        reject(new Error(`the worker did not start:\n${w.output}`))
      }
    }, 20)
  })
}

async function api(path: string, init: RequestInit = {}): Promise<any> {
  const res = await fetch(`${hub.url}${path}`, init)
  const text = await res.text()
  answers.push(text)
  assert.ok(res.ok, `${path}: ${res.status} ${text}`)
  return res.headers.get('content-type')?.startsWith('application/json') ? JSON.parse(text) : text
}

t.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'aether-tracing-'))
  collector = await OtlpCollector.start()
  nats = await NatsServer.start()
  provider = await FakeProvider.start({ key: TEST_KEY })
  const harness = writeHarness(join(dir, 'harness.json'), {
    providers: { primary: { kind: 'openai', baseUrl: `${provider.url}/v1`, apiKeyEnv: 'AETHER_TEST_PRIMARY_KEY' } },
    // the first choice answers 401 quoting the key it got: redaction must catch it everywhere
    roles: {
      chat: [
        { provider: 'primary', model: 'badkey-chat' },
        { provider: 'primary', model: 'trace-chat' },
      ],
    },
    breaker: { threshold: 100, cooldownMs: 1000 },
  })
  writeFileSync(join(dir, 'token'), `${HUB_TOKEN}\n`)
  const otel = {
    OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint,
    OTEL_EXPORTER_OTLP_HEADERS: `x-collector-key=${OTLP_KEY}`,
    AETHER_OTEL_DELAY_MS: '50',
  }
  hub = await HubProcess.start(
    ['--data', join(dir, 'data'), '--token-file', join(dir, 'token'), '--harness', harness],
    { ...otel, AETHER_JOBS_NATS: nats.url, AETHER_TEST_PRIMARY_KEY: TEST_KEY },
    60_000,
  )
  worker = await startWorker(otel)
})

t.after(async () => {
  hub?.child.kill('SIGKILL')
  worker?.child.kill('SIGKILL')
  await collector?.close()
  await provider?.close()
  await nats?.close()
  rmSync(dir, { recursive: true, force: true })
})

t('a job whose step ran on an aether worker is one trace with spans from both processes', async () => {
  const auth = { authorization: `Bearer ${HUB_TOKEN}`, 'content-type': 'application/json' }
  const sub = await api('/api/jobs', {
    method: 'POST',
    headers: auth,
    body: JSON.stringify({ type: 'echo', input: { n: 1 } }),
  })
  jobId = sub.id
  for (let i = 0; (await api(`/api/jobs/${jobId}`)).status !== 'COMPLETED'; i++) {
    assert.ok(i < 200, 'the job completed')
    await new Promise((r) => setTimeout(r, 25))
  }
  const ofJob = (s: CollectedSpan) => s.attributes['aether.job.id'] === jobId
  const spans = await collector.until(
    (all) =>
      all.filter(ofJob).some((s) => s.service === 'aether-worker') &&
      all.some((s) => ofJob(s) && s.name === 'job echo'),
  )
  const mine = spans.filter(ofJob)
  const job = mine.find((s) => s.name === 'job echo')!
  const hubStep = mine.find((s) => s.service === 'aether-hub' && s.name === 'step echo/echo')!
  const workerStep = mine.find((s) => s.service === 'aether-worker')!
  assert.ok(hubStep, 'the hub spans the step it dispatched')
  assert.is(job.service, 'aether-hub')
  assert.is(job.parentSpanId, '', 'the job span is the root')
  traceId = job.traceId
  assert.match(traceId, /^[0-9a-f]{32}$/)
  for (const s of mine) assert.is(s.traceId, traceId, `${s.service} ${s.name} is in the job's trace`)
  assert.is(hubStep.parentSpanId, job.spanId, "the hub's step span is the job span's child")
  assert.is(workerStep.name, 'step echo/echo')
  assert.is(workerStep.parentSpanId, hubStep.spanId, "the worker's span is the hub step span's child")
  assert.is(workerStep.kind, CONSUMER)
  assert.is(workerStep.attributes['aether.worker'], 'w1')
  assert.is(job.attributes['aether.job.status'], 'COMPLETED')

  // the inspector's read-only link from the actor to its trace
  const traces = await api(`/api/traces?actor=${jobId}`)
  assert.is(traces.enabled, true)
  assert.equal(
    traces.traces.map((r: any) => r.traceId),
    [traceId],
  )
  // and the journal does not carry it: replay reads exactly what it read before
  const log = await api(`/api/actors/${jobId}/log`)
  assert.ok(log.includes('"format":"aether.log/1"'))
  assert.not.ok(log.includes(traceId), 'no trace id in the journal')
  assert.not.ok(log.includes(hubStep.spanId), 'no span id in the journal')
})

t('the agent answers through the harness key (its 401 quoting the key is redacted)', async () => {
  const c = AgentClient.connect(hub.url, HUB_TOKEN)
  const ready = await c.next('session.ready')
  c.send({ type: 'task', taskId: 'T1', role: 'chat', prompt: 'Reply with exactly: TRACED' })
  const r = await c.next('task.result', 10_000, (f) => f.taskId === 'T1')
  answers.push(JSON.stringify(ready), JSON.stringify(r))
  assert.is(r.text, 'TRACED')
  await c.close()
  const s = await api(`/api/agent/sessions/${ready.sessionId}`)
  assert.is(s.outcomes[0].fallbacks, 1, 'the first choice answered 401 (quoting the key), the second answered')
})

t('the inspector and the API, read the way the inspector reads them', async () => {
  for (const p of [
    '/inspector',
    '/api/inspector',
    '/api/health',
    '/api/actors',
    `/api/actors/${jobId}`,
    `/api/actors/${jobId}/history`,
    '/api/jobs',
    '/api/agent',
    '/api/traces',
    '/api/reliability',
    '/metrics',
  ])
    await api(p)
  // the live feed: hello, the state of every actor, then events
  const ws = new WebSocket(`${hub.url.replace(/^http/, 'ws')}/inspector/feed?token=${HUB_TOKEN}`)
  const frames: string[] = []
  ws.on('message', (d) => frames.push(String(d)))
  await new Promise((r) => ws.once('open', r))
  await api('/api/jobs', {
    method: 'POST',
    headers: { authorization: `Bearer ${HUB_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'echo', input: { n: 2 } }),
  })
  const end = Date.now() + 5000
  while (!frames.some((f) => f.includes('COMPLETED')) && Date.now() < end) await new Promise((r) => setTimeout(r, 25))
  ws.close()
  assert.ok(frames.length > 2, 'the feed answered')
  answers.push(...frames)
})

t("the inspector page shows the trace of the job's events", async () => {
  const browser = await launchChromium()
  try {
    const page = await browser.newPage()
    await page.goto(`${hub.url}/inspector?token=${HUB_TOKEN}`)
    await page.click(`.tree-row[data-path="${jobId}"]`)
    const shown = await page.waitForSelector('[data-testid="trace-id"]', { timeout: 10_000 })
    assert.is(await shown.textContent(), traceId)
    await page.screenshot({ path: join(dir, 'inspector-trace.png') })
    if (process.env.AETHER_SCREENSHOTS) copyFileSync(join(dir, 'inspector-trace.png'), process.env.AETHER_SCREENSHOTS)
    answers.push(await page.content())
  } finally {
    await browser.close()
  }
})

t('no secret in the data folder, the output, the exported spans or any answer', async () => {
  // SIGTERM: both processes close and export their last spans
  process.kill(worker.child.pid!, 'SIGTERM')
  await worker.exited
  await hub.kill('SIGTERM')
  assert.is((await hub.exited).code, 0, hub.output)
  const hits = scanTexts(
    { 'hub output': hub.output, 'worker output': worker.output, 'exported spans': collector.bodies, answers },
    SECRETS,
  )
  assert.equal(hits, [])
  const data = await scanDataForSecrets(join(dir, 'data'), SECRETS)
  assert.equal(data.hits, [])
  // not vacuous: there was something to scan, and the collector key did reach the collector
  assert.ok(data.files > 3 && data.entries > 10, `scanned ${data.files} files, ${data.entries} entries`)
  assert.ok(collector.bodies.length > 0 && answers.length > 15)
  assert.ok(collector.headers.some((h) => h['x-collector-key'] === OTLP_KEY))
  assert.match(hub.output, /token\s+\(set\)/)
  // the journal holds the 401 that quoted the key, redacted
  const store = await LevelStore.open(join(dir, 'data'))
  let redacted = 0
  for await (const [, v] of store.db.iterator())
    if (String(v).includes('[REDACTED:AETHER_TEST_PRIMARY_KEY]')) redacted++
  await store.close()
  assert.ok(redacted > 0, 'the redacted 401 is in the journal')
})

t.run()
