/**
 * Apps Aether watches but does not host, end to end: a real XState v5 app (reporting with
 * @statelyai/inspect) and a real XState v4 app (serving @xstate/inspect), each installed from its
 * own lock file into a temp folder outside the repository and run as a child process against a hub
 * on a free port. Each appears in the inspector in Chromium with its state and events (screenshots
 * in test/.artifacts/), its recorded logs download and replay with `aether replay --verify` against
 * the same machine modules, a changed machine diverges, and the recordings outlive a hub restart.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { buildInspector } from '../../../inspector/build.mjs'
import { Hub } from '../../../runtime/Hub.ts'
import { InspectorServer } from '../../../runtime/inspector/InspectorServer.ts'
import { launchChromium } from '../../helpers/browser.ts'
import { aether } from '../../helpers/cli.ts'
import { AppProcess, installFixture, until } from '../../helpers/externalApps.ts'

const ART = join(import.meta.dirname, '..', '..', '.artifacts')
mkdirSync(ART, { recursive: true })
const TOKEN = 'external-e2e-token'

let v5dir = ''
let v4dir = ''
let data = ''
let work = ''
let hub: Hub
let browser: Browser
let page: Page
const apps: AppProcess[] = []

async function startHub(): Promise<Hub> {
  return Hub.start({ data, token: TOKEN, port: 0 }, [new InspectorServer()])
}

async function actorState(path: string): Promise<any> {
  const r = await fetch(`${hub.url}/api/external/actors/${path}`)
  return r.ok ? r.json() : undefined
}

/** Waits until the hub's recording of `path` is in `value` (and, when given, has `context`). */
function hubShows(path: string, value: unknown, context?: Record<string, unknown>) {
  return until(`${path} to be ${JSON.stringify(value)}`, async () => {
    const a = await actorState(path)
    if (!a?.snapshot || JSON.stringify(a.snapshot.value) !== JSON.stringify(value)) return undefined
    if (
      context &&
      Object.entries(context).some(([k, v]) => JSON.stringify(a.snapshot.context?.[k]) !== JSON.stringify(v))
    )
      return undefined
    return a
  })
}

async function getLog(path: string): Promise<string> {
  const r = await fetch(`${hub.url}/api/external/actors/${path}/log`)
  assert.is(r.status, 200, `the log of ${path}`)
  return r.text()
}

/** Downloads the selected actor's log with the inspector's Download button. */
async function download(file: string): Promise<string> {
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid="download"]')])
  const path = join(work, file)
  await dl.saveAs(path)
  return path
}

async function replay(log: string, machine: string, name: string) {
  return aether(['replay', log, '--machine', machine, '--export', name, '--verify'], { timeoutMs: 60_000 })
}

/** A copy of a fixture's machine module with one change in its logic. */
function changedMachine(dir: string, from: string, to: string): string {
  const src = readFileSync(join(dir, 'machine.mjs'), 'utf8')
  assert.ok(src.includes(from), `the fixture's machine has ${from}`)
  const file = join(dir, 'machine-changed.mjs')
  writeFileSync(file, src.replace(from, to))
  return file
}

async function select(path: string, lit: string) {
  await page.waitForSelector(`.tree-row[data-path="${path}"]`)
  await page.click(`.tree-row[data-path="${path}"]`)
  await page.waitForSelector(`[data-state="${lit}"].active`)
}

const test = suite('external apps e2e')

test.before(async () => {
  await buildInspector({ quiet: true })
  ;[v5dir, v4dir] = await Promise.all([installFixture('external-v5'), installFixture('external-v4')])
  data = mkdtempSync(join(tmpdir(), 'aether-external-hub-'))
  work = mkdtempSync(join(tmpdir(), 'aether-external-logs-'))
  hub = await startHub()
  browser = await launchChromium()
  page = await browser.newPage({ viewport: { width: 1440, height: 900 } })
  page.on('pageerror', (e) => console.error('[page error]', e.message))
})

test.after(async () => {
  for (const a of apps) await a.stop()
  await page?.close()
  await browser?.close()
  await hub?.close()
  for (const d of [v5dir, v4dir, data, work]) if (d) rmSync(d, { recursive: true, force: true })
})

test('a v5 app reporting with @statelyai/inspect appears in the inspector with its state and events', async () => {
  const app = AppProcess.start(v5dir, [
    'app.mjs',
    `${hub.url.replace(/^http/, 'ws')}/inspector/ingest?app=shop&token=${TOKEN}`,
  ])
  apps.push(app)
  await app.waitFor(/started/)
  await hubShows('shop/1/checkout', 'cart', { customer: 'ada', items: 0 })
  let n = 0
  await app.command('{"type":"item.add","qty":2}', /sent/, ++n)
  await app.command('{"type":"item.add","qty":1}', /sent/, ++n)
  await app.command('{"type":"checkout.start"}', /sent/, ++n)
  // the invoked quote resolves in the app: 3 items at 3
  await hubShows('shop/1/checkout', { payment: 'awaiting' }, { items: 3, total: 9 })
  await app.command('{"type":"payment.pay"}', /sent/, ++n)
  // the delayed transition fires in the app after 100 ms
  await hubShows('shop/1/checkout', 'shipping')

  await page.goto(`${hub.url}/inspector?token=${TOKEN}`)
  await page.waitForSelector('.conn.open')
  await page.waitForSelector('.tree-section.external[data-run="shop/1"]')
  assert.match((await page.textContent('.tree-section.external[data-run="shop/1"]'))!, /App shop · run 1/)
  await page.waitForSelector('.tree-row[data-path="shop/1/checkout/courier"]')
  await select('shop/1/checkout', 'checkout.shipping')
  assert.is(await page.textContent('[data-testid="state-value"]'), 'shipping')
  assert.is(await page.textContent('[data-testid="actor-node"]'), 'app shop')
  assert.match((await page.textContent('[data-testid="external-readonly"]'))!, /does not host/)
  assert.is(await page.$$eval('#actions .event-btn', (b) => b.length), 0, 'no event buttons: read-only')
  const labels = await page.$$eval('.edge text', (ts) => ts.map((t) => t.textContent))
  assert.ok(labels.includes('checkout.start [hasItems]'), `the chart shows the app's guard (${labels.join(', ')})`)
  const timeline = (await page.textContent('[data-testid="timeline"]'))!
  for (const t of ['item.add', 'checkout.start', 'payment.pay', 'after confirmDelay (payment.confirming)'])
    assert.ok(timeline.includes(t), `the timeline shows ${t}`)
  await page.screenshot({ path: join(ART, 'external-v5.png') })

  // the child reports to its parent; the parent finishes
  await app.command('{"to":"courier","type":"pickup"}', /sent/, ++n)
  await hubShows('shop/1/checkout', 'shipping', { delivered: true })
  await app.command('{"type":"order.close"}', /sent/, ++n)
  await hubShows('shop/1/checkout', 'closed')
  await page.waitForSelector('[data-state="checkout.closed"].active')

  // time travel: the first state is the cart, empty
  await page.click('#first')
  await page.waitForFunction(() => document.querySelector('[data-testid="travel-pos"]')?.textContent?.startsWith('#0'))
  assert.is(await page.textContent('[data-testid="state-value"]'), 'cart')
  await page.waitForSelector('[data-state="checkout.cart"].active')
  await page.click('[data-testid="live"]')
})

test('the v5 recording downloads from the inspector and replays with --verify; a changed machine diverges', async () => {
  const log = await download('checkout.aether.log')
  const text = readFileSync(log, 'utf8')
  const header = JSON.parse(text.split('\n')[0])
  assert.equal([header.actor, header.machine, header.input], ['shop/1/checkout', 'checkout', { customer: 'ada' }])
  const ok = await replay(log, join(v5dir, 'machine.mjs'), 'checkout')
  assert.is(ok.code, 0, ok.stdout + ok.stderr)
  // the app's 5 sends, the quote's and the courier's completions, the delay and the courier's report
  assert.match(ok.stdout, /verified 9 events of shop\/1\/checkout \(checkout\): 9 snapshots match, the final state/)
  assert.match(ok.stdout, /final state: "closed"/)

  const courierLog = join(work, 'courier.aether.log')
  writeFileSync(courierLog, await getLog('shop/1/checkout/courier'))
  const child = await replay(courierLog, join(v5dir, 'machine.mjs'), 'courier')
  assert.is(child.code, 0, child.stdout + child.stderr)

  const changed = changedMachine(v5dir, 'context.items + event.qty', 'context.items + event.qty * 2')
  const bad = await replay(log, changed, 'checkout')
  assert.is(bad.code, 1, bad.stdout + bad.stderr)
  assert.match(bad.stdout, /DIVERGED at seq 1/)
  assert.match(bad.stdout, /context\.items: expected 2, replayed 4/)
})

test('a v4 app serving @xstate/inspect is attached with `aether inspect` and shown the same way', async () => {
  const app = AppProcess.start(v4dir, ['app.mjs'])
  apps.push(app)
  const port = (await app.waitFor(/port (\d+)/))[1]
  let n = 0
  // before the hub attaches: the recording of this service starts from the state it is in then
  await app.command('{"service":"elevator","event":{"type":"call","floor":2}}', /done/, ++n)
  const cli = await aether(['inspect', `ws://127.0.0.1:${port}`, '--hub', hub.url, '--token', TOKEN, '--app', 'lifts'])
  assert.is(cli.code, 0, cli.stdout + cli.stderr)
  assert.match(cli.stdout, /attached to ws:\/\/127\.0\.0\.1:\d+ as lifts run 1/)
  await hubShows('lifts/1/elevator', 'idle', { floor: 2, trips: 1 })
  await until('the door', () => actorState('lifts/1/elevator/door'))

  // a service started while attached is recorded from its start
  await app.command('{"start":"annex"}', /done/, ++n)
  await hubShows('lifts/1/annex', 'idle', { floor: 0 })
  await app.command('{"service":"annex","event":{"type":"call","floor":3}}', /done/, ++n)
  await app.command('{"service":"annex","event":{"type":"call","floor":0}}', /done/, ++n)
  await hubShows('lifts/1/annex', 'idle', { floor: 3, trips: 1 })
  await app.command('{"service":"annex","child":"door","event":{"type":"open"}}', /done/, ++n)
  await app.command('{"service":"annex","child":"door","event":{"type":"close"}}', /done/, ++n)
  await app.command('{"service":"elevator","event":{"type":"call","floor":4}}', /done/, ++n)
  // the elevator's own door too: a log with no event after its start has nothing to verify
  await app.command('{"service":"elevator","child":"door","event":{"type":"open"}}', /done/, ++n)
  await app.command('{"service":"elevator","child":"door","event":{"type":"close"}}', /done/, ++n)
  await hubShows('lifts/1/annex', 'idle', { doorCycles: 1 })
  await hubShows('lifts/1/elevator', 'idle', { floor: 4, trips: 2 })

  await page.goto(`${hub.url}/inspector?token=${TOKEN}`)
  await page.waitForSelector('.tree-section.external[data-run="lifts/1"]')
  await select('lifts/1/annex', 'elevator.idle')
  assert.is(await page.textContent('[data-testid="actor-node"]'), 'app lifts')
  const labels = await page.$$eval('.edge text', (ts) => ts.map((t) => t.textContent))
  assert.ok(labels.includes('call [elsewhere]'), `the v4 guard is drawn (${labels.join(', ')})`)
  assert.ok(labels.includes('after 100ms'), `the v4 delay is drawn (${labels.join(', ')})`)
  const timeline = (await page.textContent('[data-testid="timeline"]'))!
  for (const t of ['call', 'door.closed', 'after 100ms (arrived)'])
    assert.ok(timeline.includes(t), `the timeline shows ${t}`)
  await page.screenshot({ path: join(ART, 'external-v4.png') })

  const log = await download('annex.aether.log')
  const header = JSON.parse(readFileSync(log, 'utf8').split('\n')[0])
  assert.equal([header.actor, header.machine], ['lifts/1/annex', 'elevator'])
  assert.match(header.machineHash, /^[0-9a-f]{64}$/, 'a v4 definition gives the machine hash')
  const ok = await replay(log, join(v4dir, 'machine.mjs'), 'elevator')
  assert.is(ok.code, 0, ok.stdout + ok.stderr)
  assert.not.match(ok.stderr, /machineHash differs/)
  assert.match(ok.stdout, /final state: "idle"/)
  for (const [path, name] of [
    ['lifts/1/elevator', 'elevator'],
    ['lifts/1/elevator/door', 'door'],
    ['lifts/1/annex/door', 'door'],
  ]) {
    const file = join(work, `${path.replace(/\//g, '_')}.aether.log`)
    writeFileSync(file, await getLog(path))
    const r = await replay(file, join(v4dir, 'machine.mjs'), name)
    assert.is(r.code, 0, `${path}: ${r.stdout}${r.stderr}`)
  }
  const changed = changedMachine(v4dir, 'c.trips + 1', 'c.trips + 2')
  const bad = await replay(log, changed, 'elevator')
  assert.is(bad.code, 1, bad.stdout + bad.stderr)
  assert.match(bad.stdout, /context\.trips: expected 1, replayed 2/)
})

test('the apps end, their actors stop, and the recordings outlive a hub restart', async () => {
  const before = await getLog('shop/1/checkout')
  const v4before = await getLog('lifts/1/annex')
  for (const a of apps.splice(0)) assert.is(await a.stop(), 0, a.out)
  await until('both runs to end', async () => {
    const r = await (await fetch(`${hub.url}/api/external`)).json()
    return r.live.length === 0 ? r : undefined
  })
  const annex = await actorState('lifts/1/annex')
  assert.is(annex.status, 'stopped')
  await hub.close()
  hub = await startHub()
  const runs = (await (await fetch(`${hub.url}/api/external`)).json()).runs
  assert.equal(
    runs.map((r: any) => `${r.app}/${r.run} ${r.source}`),
    ['lifts/1 xstate-inspect', 'shop/1 statelyai-inspect'],
  )
  assert.is(await getLog('shop/1/checkout'), before)
  assert.is(await getLog('lifts/1/annex'), v4before)
  await page.goto(`${hub.url}/inspector?token=${TOKEN}`)
  await select('shop/1/checkout', 'checkout.closed')
  assert.is(await page.textContent('[data-testid="state-value"]'), 'closed')
  // time travel reads the recording from the hub
  await page.click('#first')
  await page.waitForFunction(() => document.querySelector('[data-testid="travel-pos"]')?.textContent?.startsWith('#0'))
  assert.is(await page.textContent('[data-testid="state-value"]'), 'cart')
  // a new connection of the same app is its next run
  const again = AppProcess.start(v5dir, [
    'app.mjs',
    `${hub.url.replace(/^http/, 'ws')}/inspector/ingest?app=shop&token=${TOKEN}`,
  ])
  apps.push(again)
  await hubShows('shop/2/checkout', 'cart')
})

test.run()
