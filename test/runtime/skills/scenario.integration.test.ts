/**
 * The transactional scenario switch over the API: success (one commit into the webspace), a failure
 * in a skill's load and a write outside the scenario's subtrees (each leaves the previous scenario
 * effective and names why), and the webspace's installed items and effective scenario across a
 * reload and a restore.
 */
import { appendFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { LogReplayer } from '../../../actors/index.ts'
import { scenarioSwitch } from '../../../machines/scenarioSwitch.ts'
import { LogReader, parseLogHeader } from '../../../protocol/log.ts'
import { Hub } from '../../../runtime/Hub.ts'
import { SkillsFeature } from '../../../runtime/skills/skillsFeature.ts'
import { WebspaceFeature } from '../../../runtime/webspace/webspaceFeature.ts'
import { connectPeer } from '../../helpers/webspacePeer.ts'
import { machineSkill, writeSkill, jsonApi } from '../../helpers/skillFixture.ts'
import { tmpDir, until } from '../../helpers/tmp.ts'

const TOKEN = 'scenario-token'

const api = (hub: Hub, method: string, path: string, body?: unknown) => jsonApi(hub.url, TOKEN)(method, path, body)

/** A hub with skill greeter (owns data/greeter) and scenarios kiosk, lobby (both run greeter). */
async function setup() {
  const data = tmpDir('aether-scenario-data-')
  const src = tmpDir('aether-scenario-src-')
  const webspaces = new WebspaceFeature()
  const skills = new SkillsFeature(webspaces)
  const hub = await Hub.start({ data, token: TOKEN, fsync: 'none' }, [webspaces, skills])
  const install = async (dir: string) => {
    const r = await api(hub, 'POST', '/api/skills', { action: 'install', dir })
    assert.is(r.status, 201, JSON.stringify(r.body))
  }
  await install(
    writeSkill(src, {
      name: 'greeter',
      entry: machineSkill('greeter'),
      needs: { machines: ['greeter'], yjs: ['data/greeter'] },
    }),
  )
  for (const name of ['kiosk', 'lobby'])
    await install(
      writeSkill(src, {
        name,
        scenario: { skills: ['greeter'], ui: { title: name }, data: { greeter: { greeting: `hello from ${name}` } } },
      }),
    )
  return { hub, data, src, skills, webspaces, install }
}

const set = (hub: Hub, scenario: string) => api(hub, 'POST', '/api/scenario', { scenario })

const s = suite('scenario switch - requested, effective, error')

s(
  'a switch commits once; a failing skill load and a write outside its subtrees leave the previous effective',
  async () => {
    const { hub, data, src, webspaces, install } = await setup()
    try {
      let r = await set(hub, 'kiosk')
      assert.is(r.status, 200, JSON.stringify(r.body))
      assert.is(r.body.outcome, 'effective')
      assert.is(r.body.effective.name, 'kiosk')
      assert.equal(
        r.body.effective.skills.map((x: any) => [x.name, x.provenance]),
        [
          ['kiosk', 'workspace'],
          ['greeter', 'workspace'],
        ],
      )
      assert.is(r.body.requested, null)
      assert.is(r.body.error, null)
      assert.is(webspaces.host.entry('desktop', 'ui', 'current_scenario'), 'kiosk')
      assert.equal(webspaces.host.entry('desktop', 'data', 'greeter'), { greeting: 'hello from kiosk' })
      // the hub's registry subtree lists the skills with their provenance
      await until(() => webspaces.host.keys('desktop', 'registry').length === 3, 5000, 'the registry projected')
      assert.equal(webspaces.host.keys('desktop', 'registry').sort(), ['greeter', 'kiosk', 'lobby'])
      assert.equal(webspaces.host.entry('desktop', 'registry', 'kiosk'), {
        version: '1.0.0',
        provenance: 'workspace',
        checksum: r.body.effective.checksum,
        kind: 'scenario',
      })

      // a skill whose installed copy changed on disk: its load fails, kiosk stays effective
      const copy = join(data, 'skills', 'greeter', readdirSync(join(data, 'skills', 'greeter'))[0])
      appendFileSync(join(copy, 'index.ts'), '\n// tampered\n')
      r = await set(hub, 'lobby')
      assert.is(r.status, 409)
      assert.is(r.body.outcome, 'failed')
      assert.is(r.body.effective.name, 'kiosk')
      assert.is(r.body.error.scenario, 'lobby')
      assert.is(r.body.error.step, 'prepare')
      assert.is(r.body.error.code, 'CHECKSUM_MISMATCH')
      assert.match(r.body.error.message, /skill greeter: its copy .* has checksum/)
      assert.is(webspaces.host.entry('desktop', 'ui', 'current_scenario'), 'kiosk', 'nothing was written')
      // installed again (the same source): lobby now switches
      const again = await api(hub, 'POST', '/api/skills', {
        action: 'install',
        dir: join(src, 'greeter'),
      })
      assert.is(again.status, 200, JSON.stringify(again.body))

      // a scenario that writes another skill's data: refused as not its owner, kiosk stays
      await install(
        writeSkill(src, {
          name: 'greedy',
          scenario: { skills: ['greeter'], data: { other: { wipe: true } } },
        }),
      )
      assert.ok(webspaces.host.entry('desktop', 'registry', 'greedy'), 'an install updates the registry')
      r = await set(hub, 'greedy')
      assert.is(r.status, 409)
      assert.is(r.body.effective.name, 'kiosk')
      assert.match(r.body.error.message, /scenario greedy may not write data\/other/)
      assert.is(r.body.error.code, 'NOT_OWNER')
      assert.is(webspaces.host.entry('desktop', 'data', 'other'), undefined)
      assert.is((await api(hub, 'POST', '/api/skills', { action: 'remove', name: 'greedy' })).status, 200)
      assert.is(webspaces.host.entry('desktop', 'registry', 'greedy'), undefined, 'a removal updates the registry')

      r = await set(hub, 'lobby')
      assert.is(r.status, 200, JSON.stringify(r.body))
      assert.is(r.body.effective.name, 'lobby')
      assert.equal(
        r.body.history.map((h: any) => [h.scenario, h.outcome]),
        [
          ['kiosk', 'effective'],
          ['lobby', 'failed'],
          ['greedy', 'failed'],
          ['lobby', 'effective'],
        ],
      )
      // the switch's journal replays exactly through the pure machine (no effect runs)
      const log = (await (await fetch(`${hub.url}/api/actors/scenario:desktop/log`)).text()).trimEnd().split('\n')
      const replayer = new LogReplayer(scenarioSwitch, { verify: true })
      replayer.start(parseLogHeader(log[0], 1))
      const reader = new LogReader()
      for (let i = 1; i < log.length; i++) replayer.line(reader.line(log[i], i + 1), i + 1)
      const replayed = replayer.result()
      assert.ok(replayed.ok, JSON.stringify(replayed.divergence ?? replayed.unverified))
      assert.is((replayed.final.context as any).effective.name, 'lobby')
      // a skill the effective scenario runs is not removed under it
      const rm = await api(hub, 'POST', '/api/skills', { action: 'remove', name: 'greeter' })
      assert.is(rm.body.error, 'SKILL_IN_USE')
      // the edge
      assert.is((await api(hub, 'POST', '/api/scenario', { scenario: 'Bad!' })).body.error, 'BAD_BODY')
      assert.is((await fetch(`${hub.url}/api/scenario`, { method: 'POST', body: '{}' })).status, 401)
      assert.is((await set(hub, 'nothing')).body.error.message, 'no scenario "nothing" is installed')
    } finally {
      await hub.close()
    }
  },
)

s('installed items and the effective scenario survive a reload, a restore and a reconnect', async () => {
  const { hub, webspaces } = await setup()
  try {
    assert.is((await set(hub, 'kiosk')).status, 200)
    // a user installs and opens an item on the desktop (a Yjs client over /yws)
    const peer = await connectPeer(hub.url, 'desktop', TOKEN)
    peer.client.doc.getMap('installed').set('notes', { title: 'Notes', open: true })
    await until(() => !!webspaces.host.entry('desktop', 'installed', 'notes'), 5000, 'the item on the hub')
    await webspaces.host.flush('desktop')
    const backup = await api(hub, 'POST', '/api/webspaces/desktop/backup')
    assert.is(backup.status, 200, JSON.stringify(backup.body))

    // switching keeps the users' items
    assert.is((await set(hub, 'lobby')).status, 200)
    assert.equal(webspaces.host.entry('desktop', 'installed', 'notes'), { title: 'Notes', open: true })

    // reload: the document is rebuilt from LevelDB
    assert.is((await api(hub, 'POST', '/api/webspaces/desktop/reload')).status, 200)
    assert.equal(webspaces.host.entry('desktop', 'installed', 'notes'), { title: 'Notes', open: true })
    assert.is(webspaces.host.entry('desktop', 'ui', 'current_scenario'), 'lobby')

    // restore of the backup taken under kiosk: the items come back, the effective scenario is lobby
    const restored = await api(hub, 'POST', '/api/webspaces/desktop/restore', { file: backup.body.lastBackup.file })
    assert.is(restored.status, 200, JSON.stringify(restored.body))
    assert.equal(webspaces.host.entry('desktop', 'installed', 'notes'), { title: 'Notes', open: true })
    let st: any
    await until(
      async () => {
        st = (await api(hub, 'GET', '/api/scenario')).body
        return st.state === 'settled' && st.shown === 'lobby'
      },
      5000,
      'the effective scenario projected again',
    )
    assert.is(st.effective.name, 'lobby')
    assert.is(st.shown, 'lobby')
    assert.is(st.state, 'settled')

    // a client that reconnects sees both
    peer.destroy()
    const back = await connectPeer(hub.url, 'desktop', TOKEN)
    try {
      assert.equal(back.client.doc.getMap('installed').get('notes'), { title: 'Notes', open: true })
      assert.is(back.client.doc.getMap('ui').get('current_scenario'), 'lobby')
    } finally {
      back.destroy()
    }
  } finally {
    await hub.close()
  }
})

s.run()
