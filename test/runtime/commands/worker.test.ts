import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../../..', import.meta.url))
const aether = (...args: string[]) =>
  spawnSync(process.execPath, ['bin/aether.mjs', ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, NATS_URL: '' },
  })

const Cli = suite('worker command - flags')
Cli('--help lists the flags; usage errors exit 2 and name the flag', () => {
  const help = aether('worker', '--help')
  assert.is(help.status, 0)
  for (const f of ['--nats', '--module', '--concurrency', '--stream']) assert.ok(help.stdout.includes(f), f)
  const none = aether('worker')
  assert.is(none.status, 2)
  assert.match(none.stderr, /--nats URL is required/)
  const bad = aether('worker', '--nats', 'nats://127.0.0.1:1', '--concurrency', '0')
  assert.is(bad.status, 2)
  assert.match(bad.stderr, /--concurrency/)
  const mod = aether('worker', '--nats', 'nats://127.0.0.1:1', '--module', 'no/such/file.ts')
  assert.is(mod.status, 2)
  assert.match(mod.stderr, /--module: no such file/)
  assert.ok(aether('--help').stdout.includes('worker'))
})

Cli.run()
