/**
 * Quiet timelines in Chromium: a hub actor whose machine declares a periodic timer in
 * `meta.periodic` ticks while otherwise idle; the inspector shows its ticks folded into one row
 * with a count and a rate, in both timeline tabs, unfolds it on click, and shows every tick with
 * "hide periodic" off; the model and the journal download keep every tick. (A peer session no
 * longer journals its probe: its watchdog reports verdicts only, so an idle one is quiet by itself.)
 * The acceptance speaks of a minute idle at a 250 ms period (240 ticks); here the tick is 25 ms, so
 * the same 240 ticks take 6 s. Screenshots in test/.artifacts/.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { setup } from 'xstate'
import { buildInspector } from '../../inspector/build.mjs'
import { launchChromium } from '../helpers/browser.ts'
import { startInspectorHub, type TestHub } from '../helpers/inspectorHub.ts'

const ART = join(import.meta.dirname, '..', '.artifacts')
const TICK = 'xstate.after.25.ticker.idle'
const PATH = 'ticker-1'

/** Ticks every 25 ms (declared periodic); `poke` is an ordinary event. */
const ticker = setup({}).createMachine({
  id: 'ticker',
  meta: { periodic: [TICK] },
  initial: 'idle',
  states: { idle: { after: { 25: { target: 'idle', reenter: true } }, on: { poke: 'idle' } } },
})

const E2E = suite('inspector e2e - quiet timelines')
let h: TestHub
let browser: Browser

E2E.before(async () => {
  mkdirSync(ART, { recursive: true })
  await buildInspector({ quiet: true })
  h = await startInspectorHub({ machines: { ticker } as any })
  browser = await launchChromium()
})

E2E.after(async () => {
  await browser?.close()
  await h?.stop()
})

E2E('quiet timelines - an idle actor shows its periodic ticks folded, one row per kind', async () => {
  const r = await fetch(`${h.url}/api/actors`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${h.token}` },
    body: JSON.stringify({ path: PATH, machine: 'ticker', durable: true }),
  })
  assert.ok(r.ok, await r.text())
  const seq = () => h.hub.system.list().find((a) => a.path === PATH)?.seq ?? 0
  for (const end = Date.now() + 30_000; seq() < 240; ) {
    if (Date.now() > end) throw new Error(`only ${seq()} ticks in 30 s`)
    await new Promise((res) => setTimeout(res, 50))
  }
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } })
  page.on('pageerror', (e) => console.error('[page error]', e.message))
  await page.goto(`${h.url}/inspector#/${PATH}`)
  await page.waitForSelector('.conn.open')
  assert.ok(await page.isChecked('[data-testid="hide-periodic"]'), '"hide periodic" is on by default')
  await page.waitForSelector(`[data-testid="fold-row"][data-type="${TICK}"]`, { timeout: 10_000 })
  // the fold row appears with the first ticks the feed brings; the actor's earlier history (the
  // journal) arrives after it: wait for the fold to hold it
  await page.waitForFunction(
    (t) => {
      const c = document.querySelector(`[data-testid="fold-row"][data-type="${t}"] [data-testid="fold-count"]`)
      return Number(c?.textContent?.split('×')[0]) >= 240
    },
    TICK,
    { timeout: 10_000 },
  )
  const rows = await page.$$eval('[data-testid="fold-row"]', (els) =>
    els.map((e) => ({
      type: e.getAttribute('data-type'),
      text: e.querySelector('[data-testid="fold-count"]')!.textContent!,
    })),
  )
  assert.is(rows.length, 1, JSON.stringify(rows))
  assert.ok(Number(rows[0].text.split('×')[0]) >= 240, rows[0].text)
  assert.match(rows[0].text, /\/s$/, 'with a rate')
  const plain = await page.$$eval('.tl-row:not(.fold) .tl-type', (els) => els.map((e) => e.getAttribute('title')))
  assert.not.ok(plain.includes(TICK), 'no tick shown unfolded')
  await page.screenshot({ path: join(ART, 'inspector-quiet-timeline.png') })
  const kept = await page.evaluate(
    ([p, t]) => (window as any).__inspector.model.actors.get(p).entries.filter((e: any) => e.event?.type === t).length,
    [PATH, TICK],
  )
  assert.ok(kept >= 240, `the model keeps every tick (${kept})`)
  const log = await (await fetch(`${h.url}/api/actors/${PATH}/log`)).text()
  assert.ok(log.split(TICK).length - 1 >= 240, 'the download keeps every tick')

  // the all-actors timeline folds too
  await page.click('[data-testid="tab-all"]')
  await page.waitForSelector(`[data-testid="fold-row"][data-type="${TICK}"] .tl-path`)
  await page.click('.tabs button[data-mode="actor"]')

  // a click unfolds; "hide periodic" off shows every tick
  await page.click(`[data-testid="fold-row"][data-type="${TICK}"]`)
  await page.waitForSelector('.tl-row.nested')
  await page.uncheck('[data-testid="hide-periodic"]')
  await page.waitForFunction(() => !document.querySelector('[data-testid="fold-row"]'))
  const types = await page.$$eval('.tl-row .tl-type', (els) => els.map((e) => e.getAttribute('title')))
  assert.ok(types.filter((t) => t === TICK).length > 5, 'every tick has its row')
  await page.close()
})

E2E.run()
