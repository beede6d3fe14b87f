/**
 * The inspector end to end: a hub started in-process with the inspector feature, Debian's
 * Chromium driven by playwright-core, and the page at /inspector. Screenshots go to test/.artifacts/.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { buildInspector } from '../../inspector/build.mjs'
import { trafficLight } from '../../machines/trafficLight.ts'
import { launchChromium } from '../helpers/browser.ts'
import { startInspectorHub, type TestHub } from '../helpers/inspectorHub.ts'

const ART = join(import.meta.dirname, '..', '.artifacts')
mkdirSync(ART, { recursive: true })

let h: TestHub
let browser: Browser

async function post(path: string, event: object, token?: string) {
  const r = await fetch(`${h.url}/api/actors/${path}/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(event),
  })
  return { status: r.status, body: await r.json() }
}

async function spawn(path: string, machine: string, durable = true) {
  const r = await fetch(`${h.url}/api/actors`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${h.token}` },
    body: JSON.stringify({ path, machine, durable }),
  })
  assert.ok(r.ok, await r.text()) // the hub answers 200 (its 201 is overwritten by sendJson)
}

async function openPage(query = ''): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } })
  page.on('pageerror', (e) => console.error('[page error]', e.message))
  await page.goto(`${h.url}/inspector${query}`)
  await page.waitForSelector('.conn.open')
  return page
}

const stateText = (page: Page) => page.textContent('[data-testid="state-value"]')
const contextOf = async (page: Page) => JSON.parse((await page.textContent('[data-testid="context"]')) ?? 'null')
/** Waits until the snapshot viewer shows `expected` as the context (views redraw on the next frame). */
async function expectContext(page: Page, expected: unknown) {
  const want = JSON.stringify(expected, null, 2)
  try {
    await page.waitForFunction((w) => document.querySelector('[data-testid="context"]')?.textContent === w, want, {
      timeout: 2000,
    })
  } catch {
    assert.equal(await contextOf(page), expected)
  }
}

const live = suite('inspector e2e - live actors')
let page: Page
live.before(async () => {
  await buildInspector({ quiet: true })
  // The light's own timers (green 3 s, yellow 1 s, red 2 s) would race the test's events on a slow
  // machine: a tick that lands just after the green timer moves yellow -> red, and the light is
  // yellow again (by timer) only after the pedestrian's 5 s wait has ended (a CI run failed so). Here
  // the light changes only when the test ticks it; its pending timer still shows.
  h = await startInspectorHub({
    machines: { trafficLight: trafficLight.provide({ delays: { green: 600_000, yellow: 600_000, red: 600_000 } }) },
  })
  browser = await launchChromium()
  await spawn('plant', 'counter')
  await spawn('plant/lamp', 'counter')
  await spawn('plant/crossing', 'trafficLight')
  await spawn('scratch', 'counter', false)
  page = await openPage()
})
live.after(async () => {
  await page.close()
})

live('inspector - the actor tree shows the actors the test spawned, searchable', async () => {
  for (const p of ['plant', 'plant/lamp', 'plant/crossing', 'scratch'])
    await page.waitForSelector(`.tree-row[data-path="${p}"]`)
  assert.match((await page.textContent('.tree-row[data-path="plant/crossing"]'))!, /trafficLight/)
  await page.fill('[data-testid="search"]', 'traffic')
  await page.waitForSelector('.tree-row[data-path="scratch"]', { state: 'detached' })
  const shown = await page.$$eval('.tree-row', (rows) => rows.map((r) => r.getAttribute('data-path')))
  assert.equal(shown, ['plant', 'plant/crossing'], 'a match keeps its ancestors')
  await page.fill('[data-testid="search"]', '')
  await page.waitForSelector('.tree-row[data-path="scratch"]')
})

live('inspector - selecting an actor draws its chart with the active state lit', async () => {
  await page.click('.tree-row[data-path="plant/crossing"]')
  await page.waitForSelector('[data-state="trafficLight.light.green"].active')
  await page.waitForSelector('[data-state="trafficLight.pedestrian.idle"].active')
  assert.not.ok(await page.$('[data-state="trafficLight.light.red"].active'))
  const labels = await page.$$eval('.edge text', (ts) => ts.map((t) => t.textContent))
  assert.ok(labels.includes('after red [limitReached]'), 'guards are in the labels')
  assert.ok(labels.includes('pedestrian.request'))
  assert.ok(await page.$('.timer[data-timer-owner="trafficLight.light.green"]'), 'the pending delay shows on its state')
  // one event in each region: the lit states move, the transitions taken are highlighted
  const req = await post('plant/crossing', { type: 'pedestrian.request' }, h.token)
  assert.equal([req.status, req.body.value], [200, { light: 'green', pedestrian: 'waiting' }])
  const tick = await post('plant/crossing', { type: 'tick' }, h.token)
  assert.equal([tick.status, tick.body.value], [200, { light: 'yellow', pedestrian: 'waiting' }])
  await page.waitForSelector('[data-state="trafficLight.light.yellow"].active')
  await page.waitForSelector('[data-state="trafficLight.pedestrian.waiting"].active')
  await page.waitForSelector('.edge.last[data-event="tick"]')
  await page.waitForSelector('.timer[data-timer-owner="trafficLight.pedestrian.waiting"]')
  await page.screenshot({ path: join(ART, 'inspector-traffic-light.png') })
  await page.click('.tree-row[data-path="plant/lamp"]')
  await page.waitForSelector('[data-state="counter.open"].active')
})

live('inspector - an event sent through the hub moves the lit state within a second', async () => {
  const t0 = Date.now()
  const r = await post('plant/lamp', { type: 'lock' }, h.token)
  assert.is(r.status, 200)
  await page.waitForSelector('[data-state="counter.locked"].active', { timeout: 1000 })
  const ms = Date.now() - t0
  assert.ok(ms < 1000, `lit within ${ms} ms`)
  assert.ok(await page.$('.edge.last[data-event="lock"]'), 'the last transition is highlighted')
  assert.not.ok(await page.$('[data-state="counter.open"].active'))
})

live('inspector - scrubbing back shows the earlier state and context', async () => {
  await post('plant/lamp', { type: 'unlock' }, h.token)
  await post('plant/lamp', { type: 'inc', by: 5 }, h.token)
  await post('plant/lamp', { type: 'inc', by: 2 }, h.token)
  await page.waitForFunction(() => document.querySelector('[data-testid="context"]')?.textContent?.includes('7'))
  await expectContext(page, { count: 7 })
  await page.click('[data-testid="prev"]')
  await page.waitForFunction(() => document.querySelector('[data-testid="travel-pos"]')?.textContent?.startsWith('#3'))
  await expectContext(page, { count: 5 })
  assert.match((await page.textContent('[data-testid="diff"]'))!, /context\.count/)
  await page.click('[data-testid="prev"]')
  await page.click('[data-testid="prev"]')
  await page.waitForFunction(() => document.querySelector('[data-testid="travel-pos"]')?.textContent?.startsWith('#1'))
  assert.is(await stateText(page), 'locked')
  await expectContext(page, { count: 0 })
  await page.waitForSelector('[data-state="counter.locked"].active')
  // the slider reaches the start, before any event
  await page.$eval('[data-testid="slider"]', (el: HTMLInputElement) => {
    el.value = '0'
    el.dispatchEvent(new Event('input'))
  })
  await page.waitForFunction(() => document.querySelector('[data-testid="travel-pos"]')?.textContent?.startsWith('#0'))
  assert.is(await stateText(page), 'open')
  await page.screenshot({ path: join(ART, 'inspector-scrubbed.png') })
  // while scrubbed, a live event does not move the view; "Live" returns to now
  await post('plant/lamp', { type: 'inc' }, h.token)
  await page.waitForTimeout(200)
  await expectContext(page, { count: 0 })
  await page.click('[data-testid="live"]')
  await page.waitForFunction(() => document.querySelector('[data-testid="context"]')?.textContent?.includes('8'))
  assert.is(await stateText(page), 'open')
})

live('inspector - timelines per actor and across actors, with sender, filterable', async () => {
  assert.match((await page.textContent('[data-testid="timeline"]'))!, /from http/)
  await page.click('[data-testid="tab-all"]')
  await page.fill('[data-testid="tl-filter"]', 'unlock')
  await page.waitForFunction(() => document.querySelectorAll('#timeline .tl-row').length === 1)
  const row = (await page.textContent('#timeline .tl-row'))!
  assert.match(row, /plant\/lamp/)
  assert.match(row, /unlock/)
  assert.match(row, /from http/)
  await page.fill('[data-testid="tl-filter"]', '')
  await page.click('.tabs button[data-mode="actor"]')
})

live('inspector - pause freezes the live view, resume catches up; events/s is counted', async () => {
  await page.click('#pause')
  const before = await contextOf(page)
  for (let i = 0; i < 20; i++) await post('plant/lamp', { type: 'inc' }, h.token)
  await page.waitForTimeout(300)
  assert.equal(await contextOf(page), before, 'paused: unchanged')
  assert.match((await page.textContent('#pause-info'))!, /\d+ new/)
  const rate = Number((await page.textContent('[data-testid="rate"]'))!.replace('k', ''))
  assert.ok(rate > 0, `events/s shown (${rate})`)
  await page.click('#pause')
  await page.waitForFunction(
    (n) => document.querySelector('[data-testid="context"]')?.textContent?.includes(String(n)),
    before.count + 20,
  )
})

live.run()

const logs = suite('inspector e2e - log files')
logs.before(async () => {
  page = await openPage()
})
logs.after(async () => {
  await page.close()
})

logs('inspector - a log file loaded through the file picker scrubs, and the hub is unchanged', async () => {
  const r = await fetch(`${h.url}/api/actors/plant/lamp/log?snapshots=all`)
  const text = await r.text()
  const file = join(ART, 'lamp.aether.log')
  writeFileSync(file, text)
  const hubBefore = await (await fetch(`${h.url}/api/actors/plant/lamp`)).json()
  await page.setInputFiles('[data-testid="log-file"]', file)
  await page.waitForSelector('.tree-row[data-path="log:lamp.aether.log"].selected')
  // the view starts at the log's first recorded state: after #1 (lock)
  await page.waitForSelector('[data-state="counter.locked"].active')
  assert.match((await page.textContent('[data-testid="travel-pos"]'))!, /^#1/)
  assert.ok(await page.$('.edge.last[data-event="lock"]'))
  await expectContext(page, { count: 0 })
  for (let i = 0; i < 2; i++) await page.click('[data-testid="next"]')
  await page.waitForSelector('[data-state="counter.open"].active')
  await expectContext(page, { count: 5 })
  await page.click('[data-testid="next"]')
  await expectContext(page, { count: 7 })
  await page.click('[data-testid="prev"]')
  await expectContext(page, { count: 5 })
  // the log's start, before its first event, carries no snapshot: the page says so
  await page.$eval('[data-testid="slider"]', (el: HTMLInputElement) => {
    el.value = '0'
    el.dispatchEvent(new Event('input'))
  })
  await page.waitForFunction(() => document.querySelector('[data-testid="travel-pos"]')?.textContent?.startsWith('#0'))
  assert.match((await page.textContent('#snapshot'))!, /no snapshot at this seq/)
  await page.click('[data-testid="next"]')
  await page.click('[data-testid="next"]')
  await page.click('[data-testid="next"]')
  await page.screenshot({ path: join(ART, 'inspector-log.png') })
  assert.match((await page.textContent('#actions'))!, /read-only/)
  const hubAfter = await (await fetch(`${h.url}/api/actors/plant/lamp`)).json()
  assert.equal(hubAfter, hubBefore, 'loading and scrubbing a log changes nothing on the hub')
})

logs('inspector - a log with checkpoints only says what it can show; a broken one names its line', async () => {
  const text = await (await fetch(`${h.url}/api/actors/plant/lamp/log?snapshots=stored`)).text()
  const file = join(ART, 'lamp-stored.aether.log')
  writeFileSync(file, text)
  await page.setInputFiles('[data-testid="log-file"]', file)
  await page.waitForSelector('.tree-row[data-path="log:lamp-stored.aether.log"].selected')
  assert.match((await page.textContent('#actor-head'))!, /have no snapshot line/)
  // the log ends with the actor's final state; its first event has no snapshot line
  await page.$eval('[data-testid="slider"]', (el: HTMLInputElement) => {
    el.value = '1'
    el.dispatchEvent(new Event('input'))
  })
  await page.waitForFunction(() => document.querySelector('[data-testid="travel-pos"]')?.textContent?.startsWith('#1'))
  assert.match((await page.textContent('#snapshot'))!, /no snapshot at this seq/)
  const bad = join(ART, 'broken.aether.log')
  writeFileSync(bad, text.split('\n').slice(0, 2).join('\n') + '\n{"seq": "x"}\n')
  await page.setInputFiles('[data-testid="log-file"]', bad)
  const err = await page.waitForSelector('[data-testid="toast-err"]')
  assert.match((await err.textContent())!, /line 3/)
})

logs.run()

const ops = suite('inspector e2e - operator actions')
ops.after(async () => {
  await browser.close()
  await h.stop()
})

async function setToken(p: Page, token: string) {
  await p.click('[data-testid="token-btn"]')
  await p.fill('[data-testid="token-input"]', token)
  await p.click('[data-testid="token-save"]')
}

ops('inspector - an event sent from the UI with the token works after a confirmation', async () => {
  const p = await openPage()
  await setToken(p, h.token)
  await p.waitForSelector('[data-testid="access"].operator')
  await p.click('.tree-row[data-path="plant/lamp"]')
  await p.waitForSelector('[data-state="counter.open"].active')
  const before = h.hub.system.hosted('plant/lamp')!.actor.getSnapshot().context.count
  await p.fill('[data-testid="payload"]', '{"by": 10}')
  await p.click('.event-btn[data-event="inc"]')
  await p.waitForSelector('[data-testid="confirm"]')
  await p.screenshot({ path: join(ART, 'inspector-confirm.png') })
  await p.click('[data-testid="confirm"]')
  await p.waitForSelector('[data-testid="toast-ok"]')
  assert.is(h.hub.system.hosted('plant/lamp')!.actor.getSnapshot().context.count, before + 10)
  await p.waitForFunction(
    (n) => document.querySelector('[data-testid="context"]')?.textContent?.includes(String(n)),
    before + 10,
  )
  // only events the current state accepts are offered
  const offered = await p.$$eval('.event-btn', (bs) => bs.map((b) => b.getAttribute('data-event')))
  assert.equal(offered, ['inc', 'lock', 'reset'])
  await p.close()
})

ops('inspector - without the token it is read-only and a send is refused (401), nothing changes', async () => {
  const p = await openPage()
  await p.click('.tree-row[data-path="plant/lamp"]')
  await p.waitForSelector('[data-testid="readonly"]')
  await p.waitForSelector('.event-btn[data-event="lock"]')
  assert.ok(
    await p.$eval('.event-btn[data-event="lock"]', (b: HTMLButtonElement) => b.disabled),
    'buttons are disabled without a token',
  )
  const seq = h.hub.system.hosted('plant/lamp')!.appliedSeq
  const status = await p.evaluate(
    async () =>
      (
        await fetch('/api/actors/plant/lamp/events', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{"type":"lock"}',
        })
      ).status,
  )
  assert.is(status, 401)
  // a wrong token: the hub refuses it, the page says so, the actor does not move
  await setToken(p, 'not-the-token')
  await p.waitForSelector('[data-testid="access"].rejected')
  await p.click('.event-btn[data-event="lock"]')
  await p.click('[data-testid="confirm"]')
  const err = await p.waitForSelector('[data-testid="toast-err"]')
  assert.match((await err.textContent())!, /401/)
  await p.screenshot({ path: join(ART, 'inspector-refused.png') })
  assert.is(h.hub.system.hosted('plant/lamp')!.appliedSeq, seq)
  assert.is(h.hub.system.hosted('plant/lamp')!.actor.getSnapshot().value, 'open')
  assert.is(await stateText(p), 'open')
  await p.close()
})

ops.run()
