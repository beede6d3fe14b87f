/**
 * A hub process (LevelDB, `aether hub`) killed with SIGKILL between a scenario's `requested` and
 * `effective`: the restarted hub resumes the switch (the prepare effect runs again) and ends with
 * exactly one effective scenario, the one the webspace shows.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { HubProcess } from '../../helpers/hubProcess.ts'
import { machineSkill, writeSkill, jsonApi } from '../../helpers/skillFixture.ts'
import { tmpDir, until } from '../../helpers/tmp.ts'

const TOKEN = 'crash-token'

const api = (url: string, method: string, path: string, body?: unknown) => jsonApi(url, TOKEN)(method, path, body)

const s = suite('scenario switch - a hub killed between requested and effective')

s('SIGKILL while the new scenario is being prepared: the restarted hub makes it effective, once', async () => {
  const data = tmpDir('aether-scenario-crash-')
  const src = tmpDir('aether-scenario-crash-src-')
  const args = ['--data', data, '--token', TOKEN]
  let hub = await HubProcess.start(args)
  try {
    const install = async (dir: string) => {
      const r = await api(hub.url, 'POST', '/api/skills', { action: 'install', dir })
      assert.is(r.status, 201, JSON.stringify(r.body))
    }
    await install(
      writeSkill(src, { name: 'greeter', entry: machineSkill('greeter'), needs: { machines: ['greeter'] } }),
    )
    // a skill whose own check takes 1.5 s: the switch sits in preparing long enough to be killed there
    await install(
      writeSkill(src, {
        name: 'slow',
        entry: machineSkill('slow', { check: 'export const check = () => new Promise((r) => setTimeout(r, 1500))' }),
        needs: { machines: ['slow'] },
      }),
    )
    await install(writeSkill(src, { name: 'kiosk', scenario: { skills: ['greeter'], ui: { title: 'Kiosk' } } }))
    await install(writeSkill(src, { name: 'night', scenario: { skills: ['slow'], ui: { title: 'Night' } } }))
    assert.is((await api(hub.url, 'POST', '/api/scenario', { scenario: 'kiosk' })).status, 200)

    // requested, not yet effective: kill
    void fetch(`${hub.url}/api/scenario`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ scenario: 'night' }),
    }).catch(() => {})
    await until(
      async () => {
        const st = (await api(hub.url, 'GET', '/api/scenario')).body
        return st.state === 'preparing' && st.requested?.name === 'night'
      },
      5000,
      'the switch to night in preparing',
    )
    const mid = (await api(hub.url, 'GET', '/api/scenario')).body
    assert.is(mid.effective.name, 'kiosk', 'kiosk is effective while night is requested')
    const busy = await api(hub.url, 'POST', '/api/scenario', { scenario: 'kiosk' })
    assert.is(busy.status, 409)
    assert.is(busy.body.error, 'SCENARIO_BUSY')
    await hub.kill('SIGKILL')

    hub = await HubProcess.start(args)
    let st: any
    await until(
      async () => {
        st = (await api(hub.url, 'GET', '/api/scenario')).body
        return st.state === 'settled'
      },
      15_000,
      'the switch settled after the restart',
    )
    assert.is(st.effective.name, 'night')
    assert.is(st.requested, null)
    assert.is(st.error, null)
    assert.equal(
      st.history.map((h: any) => [h.scenario, h.outcome]),
      [
        ['kiosk', 'effective'],
        ['night', 'effective'],
      ],
    )
    await until(
      async () => (await api(hub.url, 'GET', '/api/scenario')).body.shown === 'night',
      5000,
      'the webspace shows night',
    )
    const ws = (await api(hub.url, 'GET', '/api/webspaces/desktop?content=1')).body
    assert.is(ws.content.ui.current_scenario, 'night')
  } finally {
    await hub.kill('SIGKILL')
  }
})

s.run()
