/**
 * The tester's views in the inspector (issue 21), in Chromium: the coverage heatmap on the
 * statechart (GET /api/coverage over the hub's journals) and a fork from the time-travel cursor
 * (GET /api/fork). Screenshots in test/.artifacts/ (copies in docs/img/).
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
  await page.screenshot({ path: join(import.meta.dirname, '..', '..', 'docs', 'img', 'inspector-coverage.png') })
  // off: the chart is as before
  await page.click('[data-testid="coverage-toggle"]')
  await page.waitForSelector('.coverage-layer', { state: 'detached' })
  assert.is(await page.$('.cov-none'), null)
})

e2e.run()
