/**
 * Skills as artifacts, over the API as an operator drives them: install, refresh (content only),
 * update with a changed machine (the migration report shown before it runs), runtime code refused
 * in place, remove; provenance in GET /api/skills; installed skills come back after a restart.
 */
import { appendFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Hub } from '../../../runtime/Hub.ts'
import { jobsFeature } from '../../../runtime/jobs/jobsFeature.ts'
import { SkillsFeature } from '../../../runtime/skills/skillsFeature.ts'
import { WebspaceFeature } from '../../../runtime/webspace/webspaceFeature.ts'
import { AETHER_ENTRY, machineSkill, writeSkill, jsonApi } from '../../helpers/skillFixture.ts'
import { tmpDir, until } from '../../helpers/tmp.ts'

const TOKEN = 'skills-token'

async function startHub(data: string, sources: Array<{ dir: string; provenance: 'slot' | 'builtin' }> = []) {
  const webspaces = new WebspaceFeature()
  return Hub.start({ data, token: TOKEN, fsync: 'none' }, [webspaces, new SkillsFeature(webspaces, { sources })])
}

const api = (hub: Hub, method: string, path: string, body?: unknown) => jsonApi(hub.url, TOKEN)(method, path, body)

const skill = (hub: Hub, action: string, fields: Record<string, unknown>) =>
  api(hub, 'POST', '/api/skills', { action, ...fields })

const s = suite('skills - install, refresh, update, remove, with provenance')

s('install, content refresh, a changed machine with its migration report, runtime code refused, remove', async () => {
  const data = tmpDir('aether-skills-data-')
  const src = tmpDir('aether-skills-src-')
  const hub = await startHub(data)
  try {
    // install
    let dir = writeSkill(src, { name: 'greeter', entry: machineSkill('greeter'), needs: { machines: ['greeter'] } })
    const planned = await skill(hub, 'plan', { dir })
    assert.is(planned.status, 200)
    assert.is(planned.body.plan.class, 'install')
    assert.match(planned.body.plan.path, /register machines greeter/)
    assert.is(hub.system.machine('greeter'), undefined, 'a plan changes nothing the hub runs')
    let r = await skill(hub, 'install', { dir })
    assert.is(r.status, 201, JSON.stringify(r.body))
    assert.is(r.body.skill.provenance, 'workspace')
    const list = (await api(hub, 'GET', '/api/skills')).body.skills
    assert.equal(
      list.map((x: any) => [x.name, x.version, x.provenance, x.state, x.checksum.startsWith('sha256:')]),
      [['greeter', '1.0.0', 'workspace', 'loaded', true]],
    )
    // its machine is hosted like any other
    const made = await api(hub, 'POST', '/api/actors', { path: 'g-1', machine: 'greeter' })
    assert.is(made.status, 201, JSON.stringify(made.body))
    await api(hub, 'POST', '/api/actors/g-1/events', { type: 'go' })
    assert.is(hub.system.list().find((a) => a.path === 'g-1')?.value, 'busy')

    // the same folder again: nothing to do
    r = await skill(hub, 'refresh', { dir })
    assert.is(r.body.plan.class, 'unchanged')

    // content only: a new file and a new version, no machine changed
    writeFileSync(join(dir, 'README.md'), 'greets\n')
    dir = writeSkill(src, {
      name: 'greeter',
      version: '1.0.1',
      entry: machineSkill('greeter'),
      needs: { machines: ['greeter'] },
      files: { 'README.md': 'greets\n' },
    })
    r = await skill(hub, 'refresh', { dir })
    assert.is(r.status, 200, JSON.stringify(r.body))
    assert.is(r.body.plan.class, 'content')
    assert.match(r.body.plan.path, /refresh in place/)
    assert.is(r.body.skill.version, '1.0.1')

    // a new machine version that replays the stored actor identically: checked, then refreshed
    dir = writeSkill(src, {
      name: 'greeter',
      version: '1.1.0',
      entry: machineSkill('greeter', { extra: "\n    resting: { on: { wake: 'idle' } }," }),
      needs: { machines: ['greeter'] },
    })
    r = await skill(hub, 'plan', { dir })
    assert.is(r.body.plan.class, 'machine')
    assert.equal(r.body.plan.machines.changed, ['greeter'])
    assert.is(r.body.plan.migration.checked, 1)
    assert.equal(
      r.body.plan.migration.identical.map((a: any) => a.path),
      ['g-1'],
    )
    r = await skill(hub, 'refresh', { dir })
    assert.is(r.status, 200, JSON.stringify(r.body))
    assert.is(r.body.skill.version, '1.1.0')
    // the live actor runs the new code: it has the new state
    const hosted = hub.system.hosted('g-1')!
    assert.ok(hosted.machine.root.states.resting, 'g-1 hosted again on the new code')
    assert.is(hub.system.list().find((a) => a.path === 'g-1')?.value, 'busy')

    // a new version where "go" leads elsewhere: the stored actor diverges, refused with the report
    dir = writeSkill(src, {
      name: 'greeter',
      version: '2.0.0',
      entry: machineSkill('greeter', { target: 'elsewhere' }),
      needs: { machines: ['greeter'] },
    })
    r = await skill(hub, 'refresh', { dir })
    assert.is(r.status, 409)
    assert.is(r.body.error, 'MIGRATION_REFUSED')
    assert.is(r.body.plan.migration.diverged[0].path, 'g-1')
    assert.is(r.body.plan.migration.diverged[0].seq, 1)
    assert.is((await api(hub, 'GET', '/api/skills')).body.skills[0].version, '1.1.0', 'the previous version runs')
    // accepted: refreshed
    r = await skill(hub, 'refresh', { dir, accept: true })
    assert.is(r.status, 200, JSON.stringify(r.body))
    assert.is(r.body.skill.version, '2.0.0')

    // runtime code (a feature with a route): refused in place, naming the supervisor
    const featured = writeSkill(src, {
      name: 'router',
      entry: `import { defineApp } from '${AETHER_ENTRY}'
export default defineApp({ features: [{ name: 'router', install(hub) { hub.server.route('GET', '/api/router', () => ({})) } }] })
`,
      needs: { routes: ['GET /api/router'] },
    })
    r = await skill(hub, 'install', { dir: featured })
    assert.is(r.status, 409)
    assert.is(r.body.error, 'NEEDS_SUPERVISOR')
    assert.is(r.body.plan.class, 'runtime')
    assert.match(r.body.message, /aether supervisor/)

    // remove: refused while an actor of its machine lives, done after it stopped
    r = await skill(hub, 'remove', { name: 'greeter' })
    assert.is(r.status, 409)
    assert.is(r.body.error, 'SKILL_IN_USE')
    assert.match(r.body.message, /g-1/)
    await api(hub, 'POST', '/api/actors/g-1/stop')
    r = await skill(hub, 'remove', { name: 'greeter' })
    assert.is(r.status, 200, JSON.stringify(r.body))
    assert.equal((await api(hub, 'GET', '/api/skills')).body.skills, [])
    assert.is(hub.system.machine('greeter'), undefined)
    r = await skill(hub, 'remove', { name: 'greeter' })
    assert.is(r.body.error, 'UNKNOWN_SKILL')
  } finally {
    await hub.close()
  }
})

s('installed skills come back after a restart; slot and built-in skills show their provenance', async () => {
  const data = tmpDir('aether-skills-data-')
  const src = tmpDir('aether-skills-src-')
  const slot = tmpDir('aether-skills-slot-')
  const builtin = tmpDir('aether-skills-builtin-')
  writeSkill(slot, { name: 'clock', entry: machineSkill('clock'), needs: { machines: ['clock'] } })
  writeSkill(builtin, { name: 'notes', files: { 'notes.txt': 'hello\n' }, needs: { yjs: ['data/notes'] } })
  const sources = [
    { dir: slot, provenance: 'slot' as const },
    { dir: builtin, provenance: 'builtin' as const },
  ]
  let hub = await startHub(data, sources)
  try {
    const dir = writeSkill(src, { name: 'greeter', entry: machineSkill('greeter'), needs: { machines: ['greeter'] } })
    assert.is((await skill(hub, 'install', { dir })).status, 201)
    await api(hub, 'POST', '/api/actors', { path: 'g-1', machine: 'greeter' })
    await api(hub, 'POST', '/api/actors/g-1/events', { type: 'go' })
  } finally {
    await hub.close()
  }
  hub = await startHub(data, sources)
  try {
    const list = (await api(hub, 'GET', '/api/skills')).body.skills
    assert.equal(
      list.map((x: any) => [x.name, x.provenance, x.state]),
      [
        ['clock', 'slot', 'loaded'],
        ['greeter', 'workspace', 'loaded'],
        ['notes', 'builtin', 'loaded'],
      ],
    )
    assert.is(hub.system.list().find((a) => a.path === 'g-1')?.value, 'busy', 'its actor recovered with it')
    const r = await skill(hub, 'remove', { name: 'clock' })
    assert.is(r.body.error, 'NEEDS_SUPERVISOR')
  } finally {
    await hub.close()
  }
  // an installed copy changed on disk is refused at start (listed as failed, nothing registered)
  appendFileSync(
    join(
      data,
      'skills',
      'greeter',
      (await import('node:fs')).readdirSync(join(data, 'skills', 'greeter'))[0],
      'index.ts',
    ),
    '\n// edited\n',
  )
  hub = await startHub(data)
  try {
    const list = (await api(hub, 'GET', '/api/skills')).body.skills
    assert.is(list[0].name, 'greeter')
    assert.is(list[0].state, 'failed')
    assert.match(list[0].error, /checksum/)
    assert.is(hub.system.machine('greeter'), undefined)
  } finally {
    await hub.close()
  }
})

s(
  'the edge: a bad body, no token, a bad manifest and a checksum mismatch are refused with the field named',
  async () => {
    const data = tmpDir('aether-skills-data-')
    const src = tmpDir('aether-skills-src-')
    const hub = await startHub(data)
    try {
      let res = await fetch(`${hub.url}/api/skills`, { method: 'POST', body: '{}' })
      assert.is(res.status, 401)
      let r = await skill(hub, 'explode', { dir: src })
      assert.is(r.body.error, 'BAD_BODY')
      r = await skill(hub, 'install', { dir: join(src, 'none') })
      assert.is(r.body.error, 'NO_MANIFEST')
      const tampered = writeSkill(src, {
        name: 'tampered',
        entry: machineSkill('tampered'),
        needs: { machines: ['tampered'] },
        checksum: `sha256:${'0'.repeat(64)}`,
      })
      r = await skill(hub, 'install', { dir: tampered })
      assert.is(r.status, 400)
      assert.is(r.body.error, 'CHECKSUM_MISMATCH')
      assert.match(r.body.message, /field "checksum"/)
      const lying = writeSkill(src, { name: 'lying', entry: machineSkill('lying'), needs: { machines: ['other'] } })
      r = await skill(hub, 'install', { dir: lying })
      assert.is(r.body.error, 'NEEDS_MISMATCH')
      assert.match(r.body.message, /needs\.machines/)
      const clash = writeSkill(src, { name: 'clash', entry: machineSkill('counter'), needs: { machines: ['counter'] } })
      r = await skill(hub, 'install', { dir: clash })
      assert.is(r.body.error, 'NAME_TAKEN')
      writeFileSync(join(src, 'lying', 'skill.json'), '{"name": "Bad Name"}')
      r = await skill(hub, 'install', { dir: lying })
      assert.is(r.body.error, 'BAD_MANIFEST')
      assert.match(r.body.message, /field "name"/)
      res = await fetch(`${hub.url}/api/skills`)
      assert.equal(((await res.json()) as any).skills, [])
      // counted, and nothing left in the data folder
      const metrics = await (await fetch(`${hub.url}/metrics`)).text()
      assert.match(metrics, /aether_skills_refused_total\{code="CHECKSUM_MISMATCH"\} 1/)
      assert.match(metrics, /aether_skills_refused_total\{code="NEEDS_MISMATCH"\} 1/)
      assert.equal(
        readdirSync(join(data, 'skills')).filter((d) => d !== 'installed.json'),
        [],
      )
      // a dev skill pins no checksum: installed with provenance dev, and every install loads it again
      const dev = writeSkill(src, {
        name: 'wip',
        entry: machineSkill('wip'),
        needs: { machines: ['wip'] },
        checksum: 'dev',
      })
      r = await skill(hub, 'install', { dir: dev })
      assert.is(r.status, 201, JSON.stringify(r.body))
      assert.is(r.body.skill.provenance, 'dev')
      assert.is(r.body.skill.checksum, 'dev')
      r = await skill(hub, 'install', { dir: dev })
      assert.is(r.body.plan.class, 'content')
    } finally {
      await hub.close()
    }
  },
)

s('a skill with a job type: its jobs run on the hub, and the type goes with the skill', async () => {
  const src = tmpDir('aether-skills-src-')
  const webspaces = new WebspaceFeature()
  const hub = await Hub.start({ data: tmpDir('aether-skills-data-'), token: TOKEN, fsync: 'none' }, [
    jobsFeature({}),
    webspaces,
    new SkillsFeature(webspaces),
  ])
  try {
    const dir = writeSkill(src, {
      name: 'shouter',
      entry: `import { defineApp, defineJobType } from '${AETHER_ENTRY}'
export default defineApp({
  jobTypes: [defineJobType('shout', [{ name: 'up', run: async ({ input }) => String(input.text).toUpperCase() }])],
})
`,
      needs: { jobTypes: ['shout'] },
    })
    const r = await skill(hub, 'install', { dir })
    assert.is(r.status, 201, JSON.stringify(r.body))
    assert.equal(r.body.skill.machines, ['job:shout'])
    const job = await api(hub, 'POST', '/api/jobs', { type: 'shout', input: { text: 'hi' } })
    assert.is(job.status, 201, JSON.stringify(job.body))
    let got: any
    await until(
      async () => (got = (await api(hub, 'GET', `/api/jobs/${job.body.id}`)).body).status === 'COMPLETED',
      10_000,
      'the job completed',
    )
    assert.is(got.output, 'HI')
    // a finished job does not hold the skill
    assert.is((await skill(hub, 'remove', { name: 'shouter' })).status, 200)
    const after = await api(hub, 'POST', '/api/jobs', { type: 'shout', input: { text: 'hi' } })
    assert.is(after.status, 400)
  } finally {
    await hub.close()
  }
})

s.run()
