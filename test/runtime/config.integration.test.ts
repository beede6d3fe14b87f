// Runs `aether hub --print-config` as a user does (bin/aether.mjs in a child process).
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { aether } from '../helpers/cli.ts'

const print = suite('aether hub --print-config')

print('prints each setting with its value and where it came from, and exits 0', async () => {
  const r = await aether(['hub', '--print-config', '--port', '7123', '--token', 'hidden-value'], {
    env: { AETHER_FSYNC: 'none', AETHER_PORT: '7999', AETHER_HOST: '' },
  })
  assert.is(r.code, 0, r.stderr)
  const row = (name: string) => r.stdout.split('\n').find((l) => l.startsWith(`${name} `)) ?? ''
  assert.match(row('port'), /^port\s+7123\s+flag\s/)
  assert.match(row('fsync'), /^fsync\s+none\s+env\s/)
  assert.match(row('host'), /^host\s+127\.0\.0\.1\s+default\s/)
  assert.match(row('token'), /^token\s+\(set\)\s+flag\s/)
  assert.not.match(r.stdout, 'hidden-value')
})

print('a bad value is a usage error naming the setting, exit 2', async () => {
  const r = await aether(['hub', '--print-config'], { env: { AETHER_FSYNC: 'sometimes' } })
  assert.is(r.code, 2)
  assert.match(r.stderr, 'AETHER_FSYNC (setting fsync) must be one of always, batch, none, got "sometimes"')
})

print.run()
