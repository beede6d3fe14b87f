/**
 * Runtime code comes with a slot image: `aether hub` started as a slot runtime (AETHER_SLOT, its
 * working directory the slot folder) loads the slot's `skills/` with provenance `slot` and installs
 * their features (routes checked against `needs.routes`); a feature whose routes differ from its
 * manifest fails the start, which is what fails a slot's validation under `aether supervisor`.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { HubProcess } from '../../helpers/hubProcess.ts'
import { AETHER_ENTRY, jsonApi, writeSkill } from '../../helpers/skillFixture.ts'
import { tmpDir } from '../../helpers/tmp.ts'

const TOKEN = 'slot-token'
const router = (path: string) => `import { defineApp } from '${AETHER_ENTRY}'
export default defineApp({
  features: [{ name: 'router', install(hub) { hub.server.route('GET', '${path}', () => ({ routed: true })) } }],
})
`

const s = suite('skills in a slot image')

s(
  'a slot skill with a feature: listed as slot, its route served; a route it does not declare fails the start',
  async () => {
    const slot = tmpDir('aether-slot-skills-')
    mkdirSync(join(slot, 'skills'))
    writeSkill(join(slot, 'skills'), {
      name: 'router',
      entry: router('/api/router'),
      needs: { routes: ['GET /api/router'] },
    })
    const data = tmpDir('aether-slot-data-')
    const hub = await HubProcess.start(['--data', data, '--token', TOKEN], { AETHER_SLOT: 'A' }, 30_000, 'hub', slot)
    try {
      const api = jsonApi(hub.url, TOKEN)
      const list = (await api('GET', '/api/skills')).body.skills
      assert.equal(
        list.map((x: any) => [x.name, x.provenance, x.state]),
        [['router', 'slot', 'loaded']],
      )
      assert.equal((await api('GET', '/api/router')).body, { routed: true })
      assert.match(hub.output, /skills {5}router 1\.0\.0 \(slot\)/)
      const r = await api('POST', '/api/skills', { action: 'remove', name: 'router' })
      assert.is(r.body.error, 'NEEDS_SUPERVISOR')
    } finally {
      await hub.kill('SIGKILL')
    }

    const bad = tmpDir('aether-slot-bad-')
    mkdirSync(join(bad, 'skills'))
    writeSkill(join(bad, 'skills'), {
      name: 'router',
      entry: router('/api/other'),
      needs: { routes: ['GET /api/router'] },
    })
    let failed = ''
    try {
      const h = await HubProcess.start(
        ['--data', tmpDir('aether-slot-data-'), '--token', TOKEN],
        { AETHER_SLOT: 'A' },
        30_000,
        'hub',
        bad,
      )
      await h.kill('SIGKILL')
    } catch (err) {
      failed = (err as Error).message
    }
    assert.match(failed, /the hub exited before listening/)
    assert.match(
      failed,
      /skill router: skill\.json field "needs\.routes" lists \[GET \/api\/router\] but its features added \[GET \/api\/other\]/,
    )
  },
)

s.run()
