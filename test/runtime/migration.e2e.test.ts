/**
 * Migration impact as a developer meets it: an app's machine changes between two runs of a hub.
 * `aether migrate check` reports it; `aether hub` refuses to start and says which actors and why;
 * `--migration accept` starts, and `GET /api/migration` shows the report.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { Browser } from 'playwright-core'
import { launchChromium } from '../helpers/browser.ts'
import { HubProcess, runCli } from '../helpers/hubProcess.ts'
import { tmpDir } from '../helpers/tmp.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))
const entry = join(root, 'index.ts')
const xstate = join(root, 'node_modules/xstate/dist/xstate.esm.js')

/** The app's door machine, as two commits of it: v2 drops `locked` and opens by 2. */
const app = (v: 1 | 2) => `import { defineApp } from '${entry}'
import { assign, setup } from '${xstate}'
const door = setup({
  actions: { count: assign({ opened: ({ context }) => context.opened + ${v === 1 ? 1 : 2} }) },
}).createMachine({
  id: 'door',
  context: { opened: 0 },
  initial: 'closed',
  states: {
    closed: { on: { open: { target: 'open', actions: 'count' }${v === 1 ? ", lock: 'locked'" : ''} } },
    open: { on: { close: 'closed' } },${v === 1 ? "\n    locked: { on: { unlock: 'closed' } }," : ''}
  },
})
export default defineApp({ machines: { door } })
`

const m = suite('aether hub --app - a changed machine is checked against stored actors before the hub serves')

m('migrate check reports; the hub refuses by default naming the actors; --migration accept starts', async () => {
  const dir = tmpDir('aether-migrate-')
  const project = join(dir, 'project')
  mkdirSync(project)
  writeFileSync(join(project, 'package.json'), '{"type":"module"}')
  const file = join(project, 'app.ts')
  const data = join(dir, 'data')
  writeFileSync(file, app(1))
  let hub = await HubProcess.start(['--app', file, '--data', data, '--token', 'T'])
  const post = (path: string, body: unknown) =>
    fetch(`${hub.url}${path}`, { method: 'POST', headers: { authorization: 'Bearer T' }, body: JSON.stringify(body) })
  for (const path of ['front', 'back']) assert.is((await post('/api/actors', { path, machine: 'door' })).status, 201)
  for (const type of ['open', 'close', 'open']) await post('/api/actors/front/events', { type })
  await post('/api/actors/back/events', { type: 'lock' })
  await hub.kill('SIGTERM')

  // the same code: nothing to report, the hub starts
  const same = await runCli(['migrate', 'check', '--app', file, '--data', data])
  assert.is(same.code, 0, same.stdout + same.stderr)
  assert.match(same.stdout, /0 actor\(s\) of changed machines checked/)

  writeFileSync(file, app(2))
  const check = await runCli(['migrate', 'check', '--app', file, '--data', data, '--json'])
  assert.is(check.code, 1, check.stdout + check.stderr)
  const report = JSON.parse(check.stdout)
  assert.is(report.checked, 2)
  assert.equal(
    report.diverged.map((a: any) => a.path),
    ['front'],
  )
  assert.equal(report.stranded, [{ path: 'back', machine: 'door', state: 'locked' }])

  const refused = await runCli(['hub', '--app', file, '--data', data, '--port', '0'])
  assert.is(refused.code, 1)
  assert.match(refused.stdout, /diverges {2}front \(door\) at seq \d+/)
  assert.match(refused.stdout, /stranded {2}back \(door\) is in state "locked"/)
  assert.match(refused.stderr, /refusing to start: .* --migration accept/)

  hub = await HubProcess.start(['--app', file, '--data', data, '--token', 'T', '--migration', 'accept'])
  let browser: Browser | undefined
  try {
    const shown = (await (await fetch(`${hub.url}/api/migration`)).json()) as any
    assert.is(shown.checked, 2)
    assert.is(shown.stranded[0].path, 'back')
    assert.match(hub.output, /--migration accept: starting anyway/)
    // the inspector shows it
    browser = await launchChromium()
    const page = await browser.newPage()
    await page.goto(`${hub.url}/inspector`)
    await page.waitForSelector('[data-testid="migration"]:not([hidden])')
    assert.match(
      (await page.textContent('[data-testid="migration"]'))!,
      /migration: 2 checked, 0 identical, 1 diverged, 1 stranded, 0 timers/,
    )
    assert.match((await page.getAttribute('[data-testid="migration"]', 'title'))!, /back: in state "locked"/)
  } finally {
    await browser?.close()
    await hub.kill('SIGTERM')
  }
})

m.run()
