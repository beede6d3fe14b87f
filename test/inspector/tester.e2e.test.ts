/**
 * The tester's views in the inspector (issue 21), in Chromium: the coverage heatmap on the
 * statechart (GET /api/coverage over the hub's journals) and a fork from the time-travel cursor
 * (GET /api/fork). Screenshots in test/.artifacts/ (copies, looked at, in docs/img/: copy them by hand when the views change).
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { buildInspector } from '../../inspector/build.mjs'
import { trafficLight } from '../../machines/trafficLight.ts'
import { launchChromium } from '../helpers/browser.ts'
import { startInspectorHub, type TestHub } from '../helpers/inspectorHub.ts'

const ART = join(import.meta.dirname, '..', '.artifacts')
mkdirSync(ART, { recursive: true })

let h: TestHub
let browser: Browser
let page: Page

async function call(path: string, body: object) {
  const r = await fetch(`${h.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${h.token}` },
    body: JSON.stringify(body),
  })
  assert.ok(r.ok, await r.text())
}

const e2e = suite('inspector e2e - coverage heatmap and fork from the cursor')
e2e.before(async () => {
  await buildInspector({ quiet: true })
  // the light changes only when the test sends an event (its timers are 10 min away)
  h = await startInspectorHub({
    machines: { trafficLight: trafficLight.provide({ delays: { green: 600_000, yellow: 600_000, red: 600_000 } }) },
  })
  browser = await launchChromium()
  for (const p of ['x1', 'x2']) await call('/api/actors', { path: p, machine: 'trafficLight' })
  for (const type of ['tick', 'tick', 'emergency', 'resume', 'tick']) await call('/api/actors/x1/events', { type })
  await call('/api/actors/x2/events', { type: 'tick' })
  page = await browser.newPage({ viewport: { width: 1440, height: 900 } })
  page.on('pageerror', (e) => console.error('[page error]', e.message))
  await page.goto(`${h.url}/inspector`)
  await page.waitForSelector('.conn.open')
})
e2e.after(async () => {
  await page?.close()
  await browser?.close()
  await h?.stop()
})

e2e('coverage: the toggle paints the counts of the hub journals on the chart, untaken transitions marked', async () => {
  await page.click('.tree-row[data-path="x1"]')
  await page.waitForSelector('g.state[data-state="trafficLight.light.green"]')
  await page.click('[data-testid="coverage-toggle"]')
  await page.waitForSelector('svg.chart.coverage .coverage-layer')
  const count = (sel: string) => page.getAttribute(sel, 'data-count')
  assert.is(await count('g.state[data-state="trafficLight.light.flashing"]'), '1')
  assert.is(await count('g.state[data-state="trafficLight.light.off"]'), '0')
  // green --tick--> yellow: once in x1 (its last tick is red -> green), once in x2
  const greenTick = 'g.edge[data-edge^="trafficLight.light.green#"][data-event="tick"]'
  assert.is(await count(greenTick), '2')
  assert.ok(await page.$(`${greenTick}.cov-taken`))
  const ped = 'g.edge[data-event="pedestrian.request"]'
  assert.is(await count(ped), '0')
  assert.ok(await page.$(`${ped}.cov-none`), 'an untaken transition is marked')
  const legend = (await page.textContent('[data-testid="coverage-legend"]'))!
  assert.match(legend, /2 of 2 actors, 6 events/, legend)
  const shot = join(ART, 'inspector-coverage.png')
  await page.screenshot({ path: shot })
  // off: the chart is as before
  await page.click('[data-testid="coverage-toggle"]')
  await page.waitForSelector('.coverage-layer', { state: 'detached' })
  assert.is(await page.$('.cov-none'), null)
})

e2e('fork from the cursor: both paths on the chart, the fork drawn apart, where they rejoin', async () => {
  await page.click('.tree-row[data-path="x1"]')
  await page.click('#first')
  for (let i = 0; i < 3; i++) await page.click('[data-testid="next"]')
  await page.waitForFunction(() => document.querySelector('[data-testid="travel-pos"]')?.textContent?.includes('#3'))
  await page.click('[data-testid="fork-here"]')
  assert.match((await page.textContent('[data-testid="fork-title"]'))!, /x1 at #3/)
  // a bad event is the hub's typed refusal, shown as is
  await page.fill('[data-testid="fork-event"]', '{"kind":1}')
  await page.click('[data-testid="fork-run"]')
  await page.waitForSelector('[data-testid="fork-error"]')
  assert.match((await page.textContent('[data-testid="fork-error"]'))!, /"type"/)
  // emergency dropped: the light stays red, where the original comes back at #4 (resume -> red)
  await page.selectOption('[data-testid="fork-kind"]', 'drop')
  await page.click('[data-testid="fork-run"]')
  await page.waitForSelector('svg.chart.forked .fork-layer', { state: 'attached' })
  assert.match((await page.textContent('[data-testid="fork-verdict"]'))!, /rejoins the original at #4 \(light\.red/)
  const has = (id: string, cls: string) => page.$(`g.state[data-state="trafficLight.light.${id}"].${cls}`)
  assert.ok(await has('flashing', 'fork-orig'), 'the original path: flashing')
  assert.ok(await has('red', 'fork-path'), 'the fork stayed red')
  assert.ok(await has('red', 'fork-rejoin'), 'where they rejoin')
  assert.is(
    await page.$('g.state[data-state="trafficLight.pedestrian.idle"].fork-path'),
    null,
    'the same in both: unmarked',
  )
  const rows = await page.$$eval('.fork-rows tr', (trs) => trs.slice(1).map((tr) => tr.textContent))
  assert.equal(rows.length, 3)
  assert.match(rows[0]!, /#3droppedemergency/)
  const shot = join(ART, 'inspector-fork.png')
  await page.screenshot({ path: shot })
  // a fork that does not rejoin: the emergency replaced by a tick (red -> green, resume ignored)
  await page.selectOption('[data-testid="fork-kind"]', 'event')
  await page.fill('[data-testid="fork-event"]', '{"type":"tick"}')
  await page.click('[data-testid="fork-run"]')
  await page.waitForFunction(() =>
    /does not rejoin/.test(document.querySelector('[data-testid="fork-verdict"]')?.textContent ?? ''),
  )
  await page.waitForSelector('svg.chart.forked .fork-layer', { state: 'attached' })
  assert.is(await page.$('.fork-rejoin'), null)
  assert.ok(await has('green', 'fork-path'))
  // closing takes the marks away
  await page.click('.fork-panel >> text=Close')
  await page.waitForSelector('.fork-layer', { state: 'detached' })
  assert.is(await page.$('.fork-path'), null)
})

e2e.run()
