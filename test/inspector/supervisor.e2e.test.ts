/**
 * The supervisor in the inspector, in Chromium: `aether supervisor` with two slots, the page opened
 * on the supervisor's URL shows the active runtime's actors and the supervisor's `updateTransition`
 * (labelled by node); an update runs and the chart lights countdown, the switch (cutover) and the
 * commit; the page reconnects to the new runtime by itself, keeps what it had, and shows the new
 * runtime instance and slot. Then a rollback (a version that never marks itself good) the same way.
 * A state may last a few milliseconds (a warm cutover): each screenshot is taken at the journal
 * entry that entered the state (time travel, the same chart), then the page goes back to live.
 * Screenshots in test/.artifacts/inspector-supervisor-*.png.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { buildInspector } from '../../inspector/build.mjs'
import { launchChromium } from '../helpers/browser.ts'
import { buildVersion } from '../helpers/slotFixture.ts'
import {
  freePort,
  reapRuntimes,
  startSupervisor,
  updateResolved,
  type SupervisorHandle,
} from '../helpers/supervisorProcess.ts'

const ART = join(import.meta.dirname, '..', '.artifacts')
const UPDATE = '@supervisor/supervisor.update'

const E2E = suite('inspector e2e - the supervisor')
let dir: string
let sup: SupervisorHandle
let browser: Browser
let page: Page

E2E.before(async () => {
  mkdirSync(ART, { recursive: true })
  await buildInspector({ quiet: true })
  dir = mkdtempSync(join(tmpdir(), 'aether-insp-sup-'))
  buildVersion(join(dir, 'slots', 'A'), '1.0.0')
  buildVersion(join(dir, 'v2'), '2.0.0')
  buildVersion(join(dir, 'mute'), '2.2.0-mute', 'never-good')
  sup = await startSupervisor({
    slots: join(dir, 'slots'),
    data: join(dir, 'data'),
    port: await freePort(),
    slotPorts: [await freePort(), await freePort()],
    args: ['--countdown-ms', '10000', '--min-interval-ms', '0', '--verify-deadline-ms', '1500'],
  })
  browser = await launchChromium()
})

E2E.after(async () => {
  await browser?.close()
  await sup?.stop()
  reapRuntimes(join(dir, 'slots'))
  rmSync(dir, { recursive: true, force: true })
})

const chip = (name: string) => page.getAttribute('[data-testid="supervisor-status"]', `data-${name}`)
const lit = () =>
  page.$$eval('.chart [data-state].active', (gs) => gs.map((g) => g.getAttribute('data-state')!.split('.').pop()))
/** Screenshots the chart lighting `state`, at the journal entry that entered it. */
async function shot(state: string, name: string) {
  const seq = await page.waitForFunction(
    ([p, s]) =>
      (window as any).__inspector.model.actors.get(p)?.entries.findLast((e: any) => e.snapshot?.value === s)?.seq,
    [UPDATE, state],
    { timeout: 60_000 },
  )
  await page.evaluate(
    (q) => {
      const app = (window as any).__inspector
      app.cursorSeq = q
      app.invalidate(true)
    },
    await seq.jsonValue(),
  )
  await page.waitForFunction(
    (s) =>
      [...document.querySelectorAll('.chart [data-state].active')].some(
        (g) => g.getAttribute('data-state') === `updateTransition.${s}`,
      ),
    state,
  )
  await page.screenshot({ path: join(ART, `inspector-supervisor-${name}.png`) })
  assert.ok((await lit()).includes(state), `${state} lit: ${await lit()}`)
  await page.evaluate(() => (window as any).__inspector.step('live'))
}

async function spawnCounter(path: string) {
  const r = await fetch(`${sup.url}/api/actors`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${sup.token}` },
    body: JSON.stringify({ path, machine: 'counter', durable: true }),
  })
  assert.ok(r.ok, await r.text())
  for (let i = 0; i < 3; i++) {
    const e = await fetch(`${sup.url}/api/actors/${path}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${sup.token}` },
      body: JSON.stringify({ type: 'inc' }),
    })
    assert.ok(e.ok, await e.text())
  }
}

const entriesOf = (path: string) =>
  page.evaluate((p) => (window as any).__inspector.model.actors.get(p)?.entries.length ?? 0, path)

/** Runs an update to `source` from the page's point of view; returns the final status. */
async function runUpdate(source: string, outcome: 'committed' | 'rolled_back', names: string[]) {
  const before = await sup.status()
  const r = await sup.post('/api/supervisor/update', { source })
  assert.is(r.status, 202, JSON.stringify(r.body))
  await shot('countdown', `${names[0]}-countdown`)
  // in the countdown (10 s) the operator is offered cancel, defer and promote (the token is set)
  await page.waitForSelector('[data-testid="actions"] [data-event="update.promote"]:not([disabled])')
  const offered = await page.$$eval('[data-testid="actions"] [data-event]', (bs) =>
    bs.map((b) => b.getAttribute('data-event')),
  )
  assert.equal(offered.sort(), ['update.cancel', 'update.defer', 'update.promote'])
  // the operator ends the countdown early: promote, confirmed, sent with the token
  await page.click('[data-testid="actions"] [data-event="update.promote"]')
  await page.click('[data-testid="confirm"]')
  await page.waitForSelector('[data-testid="toast-ok"]')
  const s = await sup.status()
  assert.is.not(s.transition.state, 'countdown', 'promoted out of the countdown')
  await page.evaluate(() => document.querySelector('#toasts')!.replaceChildren())
  await shot('cutover', `${names[0]}-switch`)
  if (outcome === 'rolled_back') await shot('rollingBack', `${names[0]}-rolling-back`)
  const done = await updateResolved(sup)
  assert.is(done.transition.attempt.outcome, outcome, done.transition.attempt.reason)
  assert.is.not(done.active.runtimeInstanceId, before.active.runtimeInstanceId, 'a new runtime serves')
  // the page: still connected (to the new runtime), showing its instance and slot, idle lit
  await page.waitForFunction((id) => {
    const c = document.querySelector('[data-testid="supervisor-status"]') as HTMLElement | null
    return c?.dataset.instance === id && c?.dataset.state === 'idle'
  }, done.active.runtimeInstanceId)
  await page.waitForSelector('.conn.open')
  await page.waitForSelector('[data-testid="node-hub"]')
  assert.match((await page.textContent('[data-testid="node-hub"]'))!, done.active.runtimeInstanceId)
  assert.is(await chip('slot'), done.active.slot)
  await shot('idle', `${names[0]}-${names[1]}`)
  const last = await page.evaluate(
    (p) => (window as any).__inspector.model.actors.get(p).entries.at(-1).event?.type,
    UPDATE,
  )
  assert.is(last, outcome === 'committed' ? 'runtime.good' : 'xstate.done.actor.0.updateTransition.rollingBack')
  // no operator action outside the states that take them
  assert.is(await page.$('[data-testid="actions"] [data-event]'), null)
  return done
}

E2E(
  'supervisor in the inspector - the runtime and the supervisor side by side; an update committed, then one rolled back',
  async () => {
    await spawnCounter('c1')
    page = await browser.newPage({ viewport: { width: 1440, height: 900 } })
    page.on('pageerror', (e) => console.error('[page error]', e.message))
    await page.goto(`${sup.url}/inspector?token=${sup.token}#/${encodeURIComponent(UPDATE)}`)
    await page.waitForSelector('.conn.open')
    // both nodes in the tree, labelled: the supervisor's transition and the runtime's actors
    await page.waitForSelector(`.tree-row[data-path="${UPDATE}"]`)
    await page.waitForSelector('.tree-row[data-path="c1"]')
    const first = await sup.status()
    assert.match((await page.textContent('[data-testid="node-supervisor"]'))!, /Supervisor/)
    assert.match((await page.textContent('[data-testid="node-hub"]'))!, first.active.runtimeInstanceId)
    assert.is(await chip('instance'), first.active.runtimeInstanceId)
    assert.is(await chip('slot'), 'A')
    await shot('idle', 'start')
    // the runtime's counter with its history loaded (select it, then back to the transition)
    await page.click('.tree-row[data-path="c1"]')
    await page.waitForFunction(() => (window as any).__inspector.model.actors.get('c1')?.history === 'loaded')
    const c1Before = await entriesOf('c1')
    assert.is(c1Before, 4, 'start and three events')
    await page.click(`.tree-row[data-path="${UPDATE}"]`)
    const timelineBefore = await page.evaluate(() => (window as any).__inspector.model.timeline.length)

    const committed = await runUpdate(join(dir, 'v2'), 'committed', ['update', 'commit'])
    assert.is(committed.active.slot, 'B')
    assert.is(committed.active.version, '2.0.0')
    // it kept what it had: the runtime's actor and the timeline rows from before the cutover
    await page.waitForSelector('.tree-row[data-path="c1"]')
    assert.match(
      (await page.textContent('#conn-text'))!,
      /connected to hub-B/,
      'the feed reconnected to the new runtime',
    )
    assert.is(await entriesOf('c1'), c1Before, "the counter's history is kept, not reloaded")
    const after = await page.evaluate(() => (window as any).__inspector.model.timeline.length)
    assert.ok(after >= timelineBefore, `timeline kept (${timelineBefore} -> ${after})`)

    const rolledBack = await runUpdate(join(dir, 'mute'), 'rolled_back', ['rollback', 'rolled-back'])
    assert.is(rolledBack.active.slot, 'B', 'the previous slot serves again')
    assert.is(rolledBack.active.version, '2.0.0')

    // the Reliability view: the supervisor's section (ready, its runtime) beside the runtime's own
    await page.click('[data-testid="view-reliability"]')
    await page.waitForSelector('[data-testid="rel-supervisor"][data-status="ready"]')
    await page.waitForSelector('[data-testid="rel-hub"]')
    assert.match(
      (await page.textContent('[data-testid="rel-supervisor"] .rel-row[data-node="runtime"]'))!,
      rolledBack.active.runtimeInstanceId,
    )
    await page.screenshot({ path: join(ART, 'inspector-supervisor-reliability.png') })
    await page.click('[data-testid="rel-supervisor"] .rel-row[data-node="update"]')
    await page.waitForSelector('#actors-view:not([hidden])')
    assert.is(await page.textContent('[data-testid="actor-path"]'), UPDATE)
    await page.close()
  },
)

E2E.run()
