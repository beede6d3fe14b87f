import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import fc from 'fast-check'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { inspect } from 'node:util'
import { HarnessError, loadHarness, parseHarness, validateHarness } from '../../../runtime/agent/harness.ts'
import { Secrets } from '../../../runtime/agent/redact.ts'

const good = () => ({
  providers: {
    local: { kind: 'openai', baseUrl: 'http://127.0.0.1:4000/v1/', apiKeyEnv: 'LOCAL_KEY' },
    claude: {
      kind: 'anthropic',
      baseUrl: 'https://api.anthropic.com',
      apiKeyEnv: 'ANTHROPIC_API_KEY',
      timeoutMs: 20000,
    },
  },
  roles: {
    chat: [
      { provider: 'local', model: 'llama' },
      { provider: 'claude', model: 'claude-sonnet-4-5' },
    ],
    vision: [{ provider: 'claude', model: 'claude-sonnet-4-5' }],
    planner: [{ provider: 'claude', model: 'claude-sonnet-4-5', timeoutMs: 5000 }],
    browser: [{ provider: 'local', model: 'qwen' }],
    triage: [{ provider: 'local', model: 'tiny' }],
  },
  breaker: { threshold: 2, cooldownMs: 1000 },
})

const load = suite('harness - validation')

load('a valid harness loads with defaults; user roles are kept; base URLs lose trailing slashes', () => {
  const h = validateHarness(good())
  assert.equal(Object.keys(h.roles), ['chat', 'vision', 'planner', 'browser', 'triage'])
  assert.is(h.providers.local.baseUrl, 'http://127.0.0.1:4000/v1')
  assert.equal(h.breaker, { threshold: 2, cooldownMs: 1000 })
  assert.is(h.timeoutMs, 60000)
  assert.is(h.roles.planner[0].timeoutMs, 5000)
})

load('errors name the field', () => {
  const cases: Array<[(d: any) => void, string, RegExp]> = [
    [(d) => delete d.providers, 'providers', /at least one provider/],
    [(d) => (d.providers.local.kind = 'gemini'), 'providers.local.kind', /"openai".*"anthropic"/],
    [(d) => (d.providers.local.baseUrl = 'ftp://x'), 'providers.local.baseUrl', /http\(s\) URL/],
    [(d) => (d.providers.local.baseUrl = 'http://user:pw@host/v1'), 'providers.local.baseUrl', /credentials/],
    [(d) => (d.providers.local.apiKeyEnv = 'not a var'), 'providers.local.apiKeyEnv', /environment variable/],
    [(d) => (d.providers.local.apiKey = 'sk-live-123'), 'providers.local.apiKey', /environment variable/],
    [(d) => (d.roles.chat[1].provider = 'nobody'), 'roles.chat[1].provider', /local, claude/],
    [(d) => (d.roles.chat[0].model = ''), 'roles.chat[0].model', /model name/],
    [(d) => (d.roles.vision = []), 'roles.vision', /non-empty array/],
    [(d) => (d.roles['Bad Role'] = [{ provider: 'local', model: 'x' }]), 'roles.Bad Role', /role name/],
    [(d) => (d.breaker.threshold = 0), 'breaker.threshold', /integer/],
    [(d) => (d.timeoutMs = 'soon'), 'timeoutMs', /integer/],
    [(d) => (d.extra = true), 'extra', /unknown field/],
  ]
  for (const [mutate, field, msg] of cases) {
    const d = good()
    mutate(d)
    try {
      validateHarness(d)
      assert.unreachable(`expected an error at ${field}`)
    } catch (err) {
      assert.instance(err, HarnessError)
      assert.is((err as HarnessError).field, field)
      assert.match((err as Error).message, msg)
    }
  }
})

load('a key put in the file is refused without echoing it', () => {
  const d: any = good()
  d.providers.claude.apiKey = 'sk-test-AETHER-SECRET-xyz'
  try {
    validateHarness(d)
    assert.unreachable()
  } catch (err) {
    assert.not.match((err as Error).message, 'sk-test-AETHER-SECRET-xyz')
  }
})

load('files: bad JSON and unreadable files are HarnessErrors naming the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'aether-harness-'))
  try {
    const f = join(dir, 'h.json')
    writeFileSync(f, '{"providers": ')
    assert.throws(
      () => loadHarness(f),
      (e: Error) => e instanceof HarnessError && e.message.startsWith(f) && /not valid JSON/.test(e.message),
    )
    assert.throws(
      () => loadHarness(join(dir, 'missing.json')),
      (e: Error) => e instanceof HarnessError && /ENOENT/.test(e.message),
    )
    writeFileSync(f, JSON.stringify({ ...good(), roles: { chat: [{ provider: 'x', model: 'm' }] } }))
    assert.throws(
      () => loadHarness(f),
      (e: Error) => e instanceof HarnessError && e.message.startsWith(`${f}: roles.chat[0].provider:`),
    )
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

load('fuzz: any JSON is a harness or a HarnessError', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.jsonValue(),
        fc.record({ providers: fc.jsonValue(), roles: fc.jsonValue() }),
        fc
          .constant(good())
          .chain((g) =>
            fc.record({ providers: fc.constant(g.providers), roles: fc.dictionary(fc.string(), fc.jsonValue()) }),
          ),
      ),
      (doc) => {
        try {
          validateHarness(doc)
        } catch (err) {
          assert.instance(err, HarnessError)
        }
      },
    ),
    { numRuns: 1000 },
  )
  assert.throws(
    () => parseHarness('[1,'),
    (e: Error) => e instanceof HarnessError,
  )
})

const secrets = suite('harness - secrets')

secrets('keys come from the named variables; missing ones are listed; redaction replaces them', () => {
  const h = validateHarness(good())
  const s = Secrets.fromEnv(h, { LOCAL_KEY: 'sk-test-AETHER-SECRET-xyz' })
  assert.is(s.key('local'), 'sk-test-AETHER-SECRET-xyz')
  assert.equal(s.missing, [{ provider: 'claude', env: 'ANTHROPIC_API_KEY' }])
  assert.is(s.redact('bad key sk-test-AETHER-SECRET-xyz!'), 'bad key [REDACTED:LOCAL_KEY]!')
  assert.equal(s.redactJson({ a: ['x sk-test-AETHER-SECRET-xyz'] }), { a: ['x [REDACTED:LOCAL_KEY]'] })
  assert.not.match(JSON.stringify({ s }), 'sk-test')
  assert.not.match(inspect(s), 'sk-test')
})

load.run()
secrets.run()
