/**
 * The inspector's skills panel in Chromium: skills of every provenance (workspace, slot, builtin)
 * with their versions, a scenario marked as such, one that failed to load, and the scenario switch's
 * effective scenario and last error. Screenshot: test/.artifacts/inspector-skills.png.
 */
import { appendFileSync, mkdirSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { buildInspector } from '../../inspector/build.mjs'
import { SkillsFeature } from '../../runtime/skills/skillsFeature.ts'
import { WebspaceFeature } from '../../runtime/webspace/webspaceFeature.ts'
import { launchChromium } from '../helpers/browser.ts'
import { startInspectorHub } from '../helpers/inspectorHub.ts'
import { machineSkill, writeSkill } from '../helpers/skillFixture.ts'
import { tmpDir } from '../helpers/tmp.ts'

const ART = join(import.meta.dirname, '..', '.artifacts')
mkdirSync(ART, { recursive: true })

const s = suite('inspector - skills panel')

s('lists skills with provenance and the scenario switch state', async () => {
  await buildInspector({ quiet: true })
  const src = tmpDir('aether-insp-skills-')
  const slot = tmpDir('aether-insp-slot-')
  const builtin = tmpDir('aether-insp-builtin-')
  writeSkill(slot, { name: 'camera', entry: machineSkill('camera'), needs: { machines: ['camera'] } })
  writeSkill(builtin, { name: 'notes', files: { 'notes.txt': 'hi\n' }, needs: { yjs: ['data/notes'] } })
  const webspaces = new WebspaceFeature()
  const sources = [
    { dir: slot, provenance: 'slot' as const },
    { dir: builtin, provenance: 'builtin' as const },
  ]
  const h = await startInspectorHub({}, {}, [webspaces, new SkillsFeature(webspaces, { sources })])
  const browser = await launchChromium()
  try {
    const post = async (path: string, body: unknown) => {
      const r = await fetch(h.url + path, {
        method: 'POST',
        headers: { authorization: `Bearer ${h.token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
      return { status: r.status, body: (await r.json()) as any }
    }
    const install = async (dir: string) =>
      assert.is((await post('/api/skills', { action: 'install', dir })).status, 201)
    await install(
      writeSkill(src, {
        name: 'greeter',
        version: '1.4.2',
        entry: machineSkill('greeter'),
        needs: { machines: ['greeter'], yjs: ['data/greeter'] },
      }),
    )
    await install(writeSkill(src, { name: 'kiosk', version: '2.0.0', scenario: { skills: ['greeter'] } }))
    await install(writeSkill(src, { name: 'lobby', scenario: { skills: ['greeter'] } }))
    assert.is((await post('/api/scenario', { scenario: 'kiosk' })).status, 200)
    const data = h.hub.dataDir
    const copy = join(data, 'skills', 'greeter', readdirSync(join(data, 'skills', 'greeter'))[0])
    appendFileSync(join(copy, 'index.ts'), '\n// edited on disk\n')
    assert.is((await post('/api/scenario', { scenario: 'lobby' })).status, 409)

    const page = await browser.newPage({ viewport: { width: 1280, height: 760 } })
    await page.goto(`${h.url}/inspector/`)
    await page.waitForSelector('[data-testid="skill-greeter"]')
    const rows = await page.$$eval('.skills-list li', (els) => els.map((e) => e.textContent))
    assert.equal(rows, [
      'camera1.0.0slot',
      'greeter1.4.2workspace',
      'kiosk2.0.0workspacescenario',
      'lobby1.0.0workspacescenario',
      'notes1.0.0builtin',
    ])
    assert.is(await page.textContent('[data-testid="scenario-effective"]'), 'kiosk')
    assert.match((await page.textContent('[data-testid="scenario"]')) ?? '', /last error: lobby: skill greeter/)
    // the switch itself is an actor: its statechart, lit in settled, with its context
    await page.click('text=scenario:desktop')
    await page.waitForSelector('#chart-wrap svg')
    await page.waitForTimeout(300)
    await page.screenshot({ path: join(ART, 'inspector-skills.png') })
  } finally {
    await browser.close()
    await h.stop()
  }
})

s.run()
