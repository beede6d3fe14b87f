import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { UsageError } from '../../runtime/args.ts'
import { Config, configDoc, hubToken, resolveSetting, setting, SETTINGS, settingFlags } from '../../runtime/config.ts'

const usage = (fn: () => unknown, message: string | RegExp) => {
  try {
    fn()
  } catch (err) {
    assert.instance(err, UsageError)
    assert.match((err as Error).message, message)
    return
  }
  assert.unreachable('expected a usage error')
}

const precedence = suite('config - flag, then environment, then default')

precedence('a flag wins over the environment, the environment over the default', () => {
  const env = { AETHER_PORT: '7171' }
  assert.equal(resolveSetting('port', '7272', env), { name: 'port', value: 7272, source: 'flag' })
  assert.equal(resolveSetting('port', undefined, env), { name: 'port', value: 7171, source: 'env' })
  assert.equal(resolveSetting('port', undefined, {}), { name: 'port', value: 7070, source: 'default' })
})

precedence('an empty variable counts as unset', () => {
  assert.equal(resolveSetting('fsync', undefined, { AETHER_FSYNC: '' }).source, 'default')
})

precedence('typed values: lists, enums, booleans, "all", budgets', () => {
  assert.equal(setting('allow-host', 'a.example, b.example', {}), ['a.example', 'b.example'])
  assert.equal(setting('allow-host', undefined, { AETHER_ALLOW_HOSTS: 'c.example' }), ['c.example'])
  assert.equal(setting('allow-host', undefined, {}), [])
  assert.is(setting('fsync', 'always', {}), 'always')
  assert.is(setting('classa-sync', undefined, { AETHER_CLASSA_SYNC: '0' }), false)
  assert.is(setting('retain', undefined, {}), Number.POSITIVE_INFINITY)
  assert.is(setting('retain', '3', {}), 3)
  assert.equal(setting('traffic-budgets', undefined, { AETHER_TRAFFIC_BUDGETS: 'route.frame:500' }), {
    'route.frame': 500,
  })
})

precedence('Config.load resolves the settings of one command and says where each came from', () => {
  const c = Config.load({ port: '0', fsync: 'none' }, { AETHER_DATA: '/tmp/x', AETHER_MODE: 'bogus' }, 'hub')
  assert.is(c.get('port'), 0)
  assert.is(c.source('port'), 'flag')
  assert.is(c.get('data'), '/tmp/x')
  assert.is(c.source('data'), 'env')
  assert.is(c.source('host'), 'default')
  // AETHER_MODE is the slot runtime's, not the hub's: not read, not checked
  assert.is(c.source('mode'), undefined)
  const lines = c.format().split('\n')
  assert.match(lines[0], /^setting\s+value\s+from\s+flag \/ environment$/)
  assert.ok(lines.some((l) => /^port\s+0\s+flag\s+--port AETHER_PORT$/.test(l)))
  assert.ok(lines.some((l) => /^data\s+\/tmp\/x\s+env\s+--data AETHER_DATA$/.test(l)))
})

precedence('a secret is printed as (set), never its value', () => {
  const c = Config.load({ token: 's3cret' }, {}, 'hub')
  assert.is(c.get('token'), 's3cret')
  assert.not.match(c.format(), 's3cret')
  assert.match(c.format(), /^token\s+\(set\)\s+flag/m)
})

const errors = suite('config - bad values are usage errors naming the setting')

errors('a port that is not a number, from a flag or from the environment', () => {
  usage(() => setting('port', 'abc', {}), '--port must be a port number (0-65535), got "abc"')
  usage(() => setting('port', undefined, { AETHER_PORT: '99999' }), 'AETHER_PORT (setting port) must be a port number')
})

errors('an unknown enum member, a bad list entry, a bad budget', () => {
  usage(() => setting('fsync', 'sometimes', {}), '--fsync must be one of always, batch, none, got "sometimes"')
  usage(() => setting('role', undefined, { AETHER_ROLE: 'boss' }), 'AETHER_ROLE (setting role) must be one of')
  usage(() => setting('allow-host', 'ok.example,bad name', {}), '--allow-host has "bad name", which is not a host name')
  usage(() => setting('traffic-budgets', undefined, { AETHER_TRAFFIC_BUDGETS: 'nope:1' }), 'AETHER_TRAFFIC_BUDGETS')
  usage(() => setting('snapshot-every', '0', {}), '--snapshot-every must be an integer >= 1')
  usage(() => setting('retain', 'some', {}), '--retain must be a number >= 1 or "all"')
})

errors('Config.load finds a bad environment value before anything starts', () => {
  usage(() => Config.load({}, { AETHER_LINK_HEARTBEAT_MS: 'soon' }, 'hub'), 'AETHER_LINK_HEARTBEAT_MS')
})

const table = suite('config - the table')

table('names, flags and variables are unique; every default parses back to itself', () => {
  const flags = new Set<string>()
  const envs = new Set<string>()
  for (const [name, s] of Object.entries(SETTINGS)) {
    const row = s as { flag?: string; env?: string; doc: string }
    assert.ok(row.doc.length > 0, `${name} has a doc`)
    if (row.flag) {
      assert.not.ok(flags.has(row.flag), `flag --${row.flag} is used once`)
      flags.add(row.flag)
    }
    if (row.env) {
      assert.not.ok(envs.has(row.env), `${row.env} is used once`)
      envs.add(row.env)
    }
  }
  assert.equal(Object.keys(settingFlags('hub')).sort(), [...flags].sort())
})

table('docs/config.md is the table (regenerate: node scripts/docs.mjs)', () => {
  const doc = readFileSync(new URL('../../docs/config.md', import.meta.url), 'utf8')
  assert.fixture(doc, configDoc())
  for (const name of Object.keys(SETTINGS)) assert.ok(doc.includes(`\n| ${name} `), `${name} has a row`)
})

const secrets = suite('config - secrets from the environment or files')

secrets('the hub token from --token-file / AETHER_TOKEN_FILE: its first line; never both ways at once', () => {
  const dir = mkdtempSync(join(tmpdir(), 'aether-token-'))
  try {
    const file = join(dir, 'token')
    writeFileSync(file, '  s3cret-token \nsecond line\n')
    assert.is(hubToken(Config.load({}, { AETHER_TOKEN_FILE: file }, 'hub')), 's3cret-token')
    assert.is(hubToken(Config.load({ 'token-file': file }, {}, 'hub')), 's3cret-token')
    assert.is(hubToken(Config.load({ token: 'T' }, {}, 'hub')), 'T')
    assert.is(hubToken(Config.load({}, {}, 'hub')), undefined)
    usage(() => hubToken(Config.load({ token: 'T' }, { AETHER_TOKEN_FILE: file }, 'hub')), /not both/)
    usage(() => hubToken(Config.load({ 'token-file': join(dir, 'none') }, {}, 'hub')), /cannot read it \(ENOENT\)/)
    writeFileSync(file, '\n')
    usage(() => hubToken(Config.load({ 'token-file': file }, {}, 'hub')), /first line is empty/)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

secrets('the collector headers are a secret: parsed, printed as (set), a bad value not quoted', () => {
  const env = { OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=k%3D1,tenant=acme' }
  assert.equal(setting('otel-headers', undefined, env), { 'x-api-key': 'k=1', tenant: 'acme' })
  assert.match(Config.load({}, env, 'worker').format(), /^otel-headers\s+\(set\)\s+env/m)
  try {
    setting('otel-headers', undefined, { OTEL_EXPORTER_OTLP_HEADERS: 'sk-LEAKED-KEY' })
    assert.unreachable('a bad value is a usage error')
  } catch (err) {
    assert.instance(err, UsageError)
    assert.not.ok((err as Error).message.includes('sk-LEAKED-KEY'), (err as Error).message)
  }
  assert.is(setting('otel-sample', undefined, { AETHER_OTEL_SAMPLE: '0.25' }), 0.25)
  usage(() => setting('otel-sample', undefined, { AETHER_OTEL_SAMPLE: '2' }), /from 0 to 1/)
})

precedence.run()
errors.run()
table.run()
secrets.run()
