/**
 * `aether skill` as an operator types it, against a hub: checksum, plan (class and path shown before
 * anything runs), install, list with provenance, refresh with a changed machine (the migration
 * report printed), a refusal (exit 1), remove.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Hub } from '../../../runtime/Hub.ts'
import { SkillsFeature } from '../../../runtime/skills/skillsFeature.ts'
import { WebspaceFeature } from '../../../runtime/webspace/webspaceFeature.ts'
import { aether } from '../../helpers/cli.ts'
import { machineSkill, writeSkill } from '../../helpers/skillFixture.ts'
import { tmpDir } from '../../helpers/tmp.ts'

const TOKEN = 'cli-token'
const s = suite('aether skill - the operator command')

s('checksum, plan, install, list, refresh with a migration report, remove', async () => {
  const src = tmpDir('aether-skill-cli-')
  const webspaces = new WebspaceFeature()
  const hub = await Hub.start({ data: tmpDir('aether-skill-cli-data-'), token: TOKEN, fsync: 'none' }, [
    webspaces,
    new SkillsFeature(webspaces),
  ])
  const run = (...args: string[]) => aether(['skill', ...args, '--url', hub.url, '--token', TOKEN])
  try {
    let dir = writeSkill(src, { name: 'greeter', entry: machineSkill('greeter'), needs: { machines: ['greeter'] } })
    const sum = await aether(['skill', 'checksum', dir])
    assert.is(sum.code, 0)
    assert.match(sum.stdout, /^sha256:[0-9a-f]{64}\n$/)
    let r = await run('plan', dir)
    assert.is(r.code, 0, r.stderr)
    assert.match(r.stdout, /greeter: not installed -> 1\.0\.0 sha256:/)
    assert.match(r.stdout, /class {2}install/)
    r = await run('install', dir)
    assert.is(r.code, 0, r.stderr)
    assert.match(r.stdout, /done: greeter 1\.0\.0 \(workspace\)/)
    r = await aether(['skill', 'list', '--url', hub.url])
    assert.match(r.stdout, /greeter\s+1\.0\.0\s+workspace\s+loaded\s+sha256:/)
    await hub.system.spawn('g-1', 'greeter', { durable: true })
    await hub.system.sendCommitted('g-1', { type: 'go' })
    dir = writeSkill(src, {
      name: 'greeter',
      version: '2.0.0',
      entry: machineSkill('greeter', { target: 'elsewhere' }),
      needs: { machines: ['greeter'] },
    })
    r = await run('refresh', dir)
    assert.is(r.code, 1)
    assert.match(r.stderr, /409 MIGRATION_REFUSED/)
    assert.match(r.stdout, /class {2}machine/)
    assert.match(r.stdout, /migration: 1 actor\(s\) checked: 0 identical, 1 diverge/)
    assert.match(r.stdout, /diverges g-1 at seq 1/)
    r = await run('refresh', dir, '--accept')
    assert.is(r.code, 0, r.stderr)
    assert.match(r.stdout, /done: greeter 2\.0\.0/)
    await hub.system.stop('g-1')
    r = await run('remove', 'greeter')
    assert.is(r.code, 0, r.stderr)
    assert.match(r.stdout, /removed greeter/)
  } finally {
    await hub.close()
  }
})

s.run()
