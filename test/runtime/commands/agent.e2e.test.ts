/**
 * `aether agent`: the 20-task benchmark against the local provider servers (20/20 with
 * fallbacks), `check`, `--help`, and usage errors. Runs the real CLI as a child process.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { benchEnv, benchHarness, TEST_KEY, writeHarness } from '../../helpers/agentHarness.ts'
import { FakeProvider } from '../../helpers/fakeProviders.ts'
import { runCli } from '../../helpers/hubProcess.ts'

let primary: FakeProvider
let backup: FakeProvider
let dir = ''
let file = ''

const bench = suite('aether agent - bench and check')
bench.before(async () => {
  primary = await FakeProvider.start({ key: TEST_KEY })
  backup = await FakeProvider.start({ key: TEST_KEY })
  dir = mkdtempSync(join(tmpdir(), 'aether-agent-cli-'))
  file = writeHarness(join(dir, 'harness.json'), benchHarness(primary.url, backup.url))
})
bench.after(async () => {
  await primary.close()
  await backup.close()
  rmSync(dir, { recursive: true, force: true })
})

bench('the 20-task benchmark passes 20/20 against the local providers, with fallbacks', async () => {
  const r = await runCli(['agent', 'bench', '--harness', file, '--json'], benchEnv)
  assert.is(r.code, 0, r.stderr)
  const s = JSON.parse(r.stdout)
  assert.is(s.tasks, 20)
  assert.is(s.passed, 20)
  const roles = new Set(s.rows.map((x: any) => x.role))
  assert.equal([...roles].sort(), ['browser', 'chat', 'planner', 'vision'])
  // vision's first choice answers 500, planner's 429, browser's hangs past its 200 ms timeout.
  for (const row of s.rows) {
    if (row.role === 'chat') assert.equal([row.provider, row.fallbacks], ['primary', 0])
    else assert.is(row.fallbacks, 1, row.id)
  }
  assert.is(s.fallbacks, 14)
  const outcomes = s.rows.flatMap((x: any) => x.attempts.map((a: any) => a.outcome))
  assert.ok(
    outcomes.includes('RATE_LIMITED') &&
      outcomes.includes('TIMEOUT') &&
      outcomes.includes('HTTP_ERROR') &&
      outcomes.includes('skipped'),
    'the breakers opened after 3 failures',
  )
  assert.ok(s.latencyMs.p50 > 0)
  assert.not.ok((r.stdout + r.stderr).includes(TEST_KEY))
})

bench('the table form reports success, fallbacks and latency', async () => {
  const r = await runCli(['agent', 'bench', '--harness', file], benchEnv)
  assert.is(r.code, 0, r.stderr)
  assert.match(r.stdout, /success 20\/20, fallbacks 14 \(in 14 tasks\), latency p50 [\d.]+ ms/)
  assert.match(r.stdout, /vision-01\s+vision\s+backup\/claude-vision\s+1/)
  assert.match(r.stderr, /falling back/)
  assert.not.ok((r.stdout + r.stderr).includes(TEST_KEY))
})

bench('a failing provider set fails the run (exit 1) and says which tasks failed', async () => {
  const r = await runCli(['agent', 'bench', '--harness', file, '--json'], {
    AETHER_TEST_PRIMARY_KEY: 'wrong-key',
    AETHER_TEST_BACKUP_KEY: 'wrong-key',
  })
  assert.is(r.code, 1)
  const s = JSON.parse(r.stdout)
  assert.is(s.passed, 0)
  assert.match(s.rows[0].error, /every provider of role "chat" failed/)
  assert.not.ok(r.stdout.includes('wrong-key'), 'even a wrong key is redacted')
})

bench('check validates the file and lists missing key variables; a bad file exits 2 naming the field', async () => {
  const ok = await runCli(['agent', 'check', '--harness', file], benchEnv)
  assert.is(ok.code, 0)
  assert.match(ok.stdout, /valid/)
  assert.match(ok.stdout, /chat\s+primary\/local-chat -> backup\/claude-chat/)
  const missing = await runCli(['agent', 'check', '--harness', file, '--json'], {
    AETHER_TEST_PRIMARY_KEY: TEST_KEY,
    AETHER_TEST_BACKUP_KEY: '',
  })
  assert.is(missing.code, 1)
  assert.equal(JSON.parse(missing.stdout).missingKeys, [{ provider: 'backup', env: 'AETHER_TEST_BACKUP_KEY' }])
  const bad = writeHarness(join(dir, 'bad.json'), {
    ...benchHarness(primary.url, backup.url),
    roles: { chat: [{ provider: 'ghost', model: 'm' }] },
  })
  const r = await runCli(['agent', 'check', '--harness', bad])
  assert.is(r.code, 2)
  assert.match(r.stderr, /roles\.chat\[0\]\.provider: must name a provider defined in "providers"/)
})

const help = suite('aether agent - help and usage')

help('--help documents the subcommands and the harness file', async () => {
  const r = await runCli(['agent', '--help'])
  assert.is(r.code, 0)
  assert.match(r.stdout, /usage: aether agent bench\|check/)
  assert.match(r.stdout, /run the 20 scripted tasks/)
  assert.match(r.stdout, /apiKeyEnv/)
  const main = await runCli(['--help'])
  assert.match(main.stdout, /agent\s+model role harness/)
  const hub = await runCli(['hub', '--help'])
  assert.match(hub.stdout, /--harness FILE/)
})

help('usage errors exit 2', async () => {
  assert.is((await runCli(['agent'])).code, 2)
  assert.is((await runCli(['agent', 'launch'])).code, 2)
  assert.is((await runCli(['agent', 'bench', '--harness', join(tmpdir(), 'no-such-harness.json')])).code, 2)
})

bench.run()
help.run()
