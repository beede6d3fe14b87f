/**
 * A hub (child process, `aether hub --harness ...`) killed with SIGKILL mid-task resumes the
 * session without a second paid provider call, and no key reaches the journal or the logs.
 *
 * Two crash points, both deterministic:
 * - while the provider holds the request (the test kills the hub when the request arrives): the
 *   call was never answered, so the resumed hub asks again with the same request id, and the
 *   provider answers (and bills) once;
 * - after the answer is cached but before the session journaled it (a failpoint makes the hub
 *   SIGKILL itself there): the resumed hub's retry is answered from the LevelDB cache, no call.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AgentClient, closedPort } from '../../helpers/agentClient.ts'
import { benchEnv, TEST_KEY, writeHarness } from '../../helpers/agentHarness.ts'
import { FakeProvider, type RequestInfo } from '../../helpers/fakeProviders.ts'
import { HubProcess, runCli } from '../../helpers/hubProcess.ts'
import { scanForSecret } from '../../helpers/secretScan.ts'
import { LevelStore } from '../../../runtime/LevelStore.ts'

const crash = suite('agent - SIGKILL mid-task')
let primary: FakeProvider
let backup: FakeProvider
let dir = ''
let hubArgs: string[] = []
const outputs: string[] = []
const hubs: HubProcess[] = []

crash.before(async () => {
  primary = await FakeProvider.start({ key: TEST_KEY })
  backup = await FakeProvider.start({ key: TEST_KEY })
  dir = mkdtempSync(join(tmpdir(), 'aether-agent-crash-'))
  const harness = writeHarness(join(dir, 'harness.json'), {
    providers: {
      primary: { kind: 'openai', baseUrl: `${primary.url}/v1`, apiKeyEnv: 'AETHER_TEST_PRIMARY_KEY' },
      backup: { kind: 'anthropic', baseUrl: backup.url, apiKeyEnv: 'AETHER_TEST_BACKUP_KEY' },
    },
    // The first choice answers 401 quoting the key it got: the redaction must catch it.
    roles: {
      chat: [
        { provider: 'primary', model: 'badkey-chat' },
        { provider: 'backup', model: 'crash-model' },
      ],
    },
    breaker: { threshold: 100, cooldownMs: 1000 },
  })
  hubArgs = [
    '--data',
    join(dir, 'data'),
    '--token',
    'tok-crash',
    '--harness',
    harness,
    '--nats',
    `nats://127.0.0.1:${await closedPort()}`,
    '--redis',
    `redis://127.0.0.1:${await closedPort()}`,
  ]
})

crash.after(async () => {
  for (const h of hubs) await h.kill('SIGKILL')
  await primary.close()
  await backup.close()
  rmSync(dir, { recursive: true, force: true })
})

async function startHub(extraEnv: Record<string, string> = {}): Promise<HubProcess> {
  const h = await HubProcess.start(hubArgs, { ...benchEnv, ...extraEnv })
  hubs.push(h)
  return h
}

function nextRequest(p: FakeProvider, model: string): Promise<RequestInfo> {
  return new Promise((resolve) => {
    const on = (i: RequestInfo) => {
      if (i.model !== model) return
      p.off('request', on)
      resolve(i)
    }
    p.on('request', on)
  })
}

async function outcome(hubUrl: string, sessionId: string, taskId: string): Promise<any> {
  const c = AgentClient.connect(hubUrl, 'tok-crash', { session: sessionId, after: 0 })
  const ready = await c.next('session.ready', 5000)
  let o = ready.outcomes.find((x: any) => x.taskId === taskId)
  if (!o) o = await c.next('task.result', 10_000, (f) => f.taskId === taskId)
  await c.close()
  return { o, ready }
}

let sessionId = ''

crash('killed while the provider holds the request: resumed, answered once', async () => {
  backup.script('crash-model', [{ delayMs: 20_000 }])
  const hub1 = await startHub()
  const c = AgentClient.connect(hub1.url, 'tok-crash')
  const ready = await c.next('session.ready')
  sessionId = ready.sessionId
  const arrived = nextRequest(backup, 'crash-model')
  c.send({ type: 'task', taskId: 'A1', role: 'chat', prompt: 'First.\nReply with exactly: CRASH-A' })
  await c.next('task.accepted')
  const req = await arrived
  await hub1.kill('SIGKILL')
  assert.is((await hub1.exited).signal, 'SIGKILL')
  await c.waitClosed()
  const hub2 = await startHub()
  const { o } = await outcome(hub2.url, sessionId, 'A1')
  assert.is(o.ok, true)
  assert.is(o.text, 'CRASH-A')
  assert.is(o.requestId, req.requestId, 'the retry used the original request id')
  assert.is(backup.answered.get(req.requestId), 1, 'answered (paid) once')
  assert.is(backup.calls.get(req.requestId), 2, 'the first call was cut by the crash before any answer')
  await hub2.kill('SIGTERM')
})

crash(
  'killed after the answer was cached, before the session journaled it: answered from the cache, no second call',
  async () => {
    const hub3 = await startHub({ AETHER_FAILPOINTS: 'agent.answer-cached' })
    const c = AgentClient.connect(hub3.url, 'tok-crash', { session: sessionId, after: 1 })
    await c.next('session.ready')
    const answered = new Promise<RequestInfo>((r) => backup.once('answered', r))
    c.send({ type: 'task', taskId: 'B1', role: 'chat', prompt: 'Second.\nReply with exactly: CRASH-B' })
    const req = await answered
    assert.is((await hub3.exited).signal, 'SIGKILL', 'the failpoint killed the hub')
    await c.waitClosed()
    const hub4 = await startHub()
    const { o } = await outcome(hub4.url, sessionId, 'B1')
    assert.is(o.ok, true)
    assert.is(o.text, 'CRASH-B')
    assert.is(o.cached, true, 'answered from the request-id cache')
    assert.is(o.requestId, req.requestId)
    assert.is(backup.calls.get(req.requestId), 1, 'one call in all')
    assert.is(backup.answered.get(req.requestId), 1)
    const s = await (await fetch(`${hub4.url}/api/agent/sessions/${sessionId}`)).json()
    assert.equal(
      s.outcomes.map((x: any) => x.taskId),
      ['A1', 'B1'],
      'nothing lost, nothing twice',
    )
    assert.equal(
      s.history.map((h: any) => h.content).filter((_: string, i: number) => i % 2),
      ['CRASH-A', 'CRASH-B'],
      'the conversation survived both crashes',
    )
    await hub4.kill('SIGTERM')
    assert.is((await hub4.exited).code, 0)
  },
)

crash('the session journal exports and replays with --verify', async () => {
  const log = join(dir, 'session.log')
  const exp = await runCli([
    'log',
    'export',
    `agent-session.${sessionId}`,
    '--data',
    join(dir, 'data'),
    '--snapshots',
    'all',
    '--out',
    log,
  ])
  assert.is(exp.code, 0, exp.stderr)
  const rep = await runCli(['replay', log, '--machine', 'machines/agentSession.ts', '--verify'])
  assert.is(rep.code, 0, rep.stdout + rep.stderr)
  outputs.push(exp.stdout, exp.stderr, rep.stdout, rep.stderr, readFileSync(log, 'utf8'))
})

crash('no key in the data folder (raw bytes and decoded entries) or in any captured log', async () => {
  const logs = hubs.map((h) => h.output).join('\n') + outputs.join('\n')
  assert.not.ok(logs.includes(TEST_KEY), 'a key in the hub output')
  assert.ok(logs.includes('[REDACTED:AETHER_TEST_PRIMARY_KEY]'), 'the 401 quoting the key was logged, redacted')
  const scan = await scanForSecret(join(dir, 'data'), TEST_KEY)
  assert.equal(scan.hits, [])
  assert.ok(scan.files > 3 && scan.entries > 10, `scanned ${scan.files} files, ${scan.entries} entries`)
  // The scan is not vacuous: the journal holds the redacted 401 that quoted the key.
  const store = await LevelStore.open(join(dir, 'data'))
  let redacted = 0
  for await (const [, v] of store.db.iterator())
    if (String(v).includes('[REDACTED:AETHER_TEST_PRIMARY_KEY]')) redacted++
  await store.close()
  assert.ok(redacted > 0)
})

crash.run()
