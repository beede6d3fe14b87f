/**
 * Quiet timelines in Chromium: a browser member's peer session with the hub sits idle while its
 * liveness probe ticks; the inspector shows the probe's ticks and pongs folded, one row per kind
 * with a count and a rate, unfolds one on click, and shows every event with "hide periodic" off.
 * The acceptance speaks of a minute idle at the default probe (250 ms: 240 ticks); the hub's probe
 * here ticks every 25 ms, so the same 240 ticks take 6 s. Screenshot in test/.artifacts/.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { buildInspector } from '../../inspector/build.mjs'
import { Hub } from '../../runtime/Hub.ts'
import { InspectorServer } from '../../runtime/inspector/InspectorServer.ts'
import { rtcFeature } from '../../runtime/rtc/rtcFeature.ts'
import { launchChromium } from '../helpers/browser.ts'
import { linkValue, snap, until } from '../helpers/rtcPair.ts'

const ART = join(import.meta.dirname, '..', '.artifacts')
const TICK = 'xstate.after.probe.peerSession.active.probe.ticking'
const PEER = 'member-q/peer'

const E2E = suite('inspector e2e - quiet timelines')
let hub: Hub
let browser: Browser
let dir: string

E2E.before(async () => {
  mkdirSync(ART, { recursive: true })
  await buildInspector({ quiet: true })
  dir = mkdtempSync(join(tmpdir(), 'aether-quiet-'))
  hub = await Hub.start({ port: 0, data: dir, token: 'q-token', fsync: 'none' }, [
    new InspectorServer(),
    rtcFeature({ timings: { probeMs: 25, silenceProbes: 40 } }),
  ])
  browser = await launchChromium(['--allow-loopback-in-peer-connection'])
})

E2E.after(async () => {
  await browser?.close()
  await hub?.close()
  rmSync(dir, { recursive: true, force: true })
})

E2E('quiet timelines - an idle peer session shows its probe folded, one row per kind', async () => {
  const member = await browser.newPage()
  await member.goto(`${hub.url}/member?token=q-token&node=member-q`)
  await until(() => linkValue(hub.system, PEER) === 'open', 15_000, 'the peer session open')
  const sentAtOpen = snap(hub.system, PEER).context.probe.sent
  await until(() => snap(hub.system, PEER).context.probe.sent >= sentAtOpen + 240, 30_000, '240 probe ticks')

  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } })
  page.on('pageerror', (e) => console.error('[page error]', e.message))
  await page.goto(`${hub.url}/inspector#/${encodeURIComponent(PEER)}`)
  await page.waitForSelector('.conn.open')
  assert.ok(await page.isChecked('[data-testid="hide-periodic"]'), '"hide periodic" is on by default')
  await page.waitForSelector(`[data-testid="fold-row"][data-type="${TICK}"]`, { timeout: 10_000 })
  const folds = () =>
    page.$$eval('[data-testid="fold-row"]', (rows) =>
      rows.map((r) => ({
        type: r.getAttribute('data-type'),
        count: Number(r.querySelector('[data-testid="fold-count"]')!.textContent!.split('×')[0]),
        text: r.querySelector('[data-testid="fold-count"]')!.textContent,
        top: r.getBoundingClientRect().top,
      })),
    )
  // the idle run is the newest: its two folds head the timeline, one per kind
  const rows = await folds()
  const head = rows.slice(0, 2).map((r) => r.type)
  assert.equal(head.sort(), ['peer.pong', TICK].sort(), JSON.stringify(rows))
  for (const r of rows.slice(0, 2)) {
    assert.ok(r.count >= 240, `a fold holds the idle minute's ${r.type}: ${r.text}`)
    assert.match(r.text!, /\/s$/, 'with a rate')
  }
  const plain = await page.$$eval('.tl-row:not(.fold)', (els) =>
    els.map((e) => e.querySelector('.tl-type')?.getAttribute('title')),
  )
  assert.not.ok(plain.includes('peer.pong'), 'no pong shown unfolded')
  await page.screenshot({ path: join(ART, 'inspector-quiet-timeline.png') })

  // the model and the journal keep every event
  const kept = await page.evaluate(
    ([p, t]) => (window as any).__inspector.model.actors.get(p).entries.filter((e: any) => e.event?.type === t).length,
    [PEER, TICK],
  )
  assert.ok(kept >= 240, `the model keeps every tick (${kept})`)
  const log = await (await fetch(`${hub.url}/api/actors/member-q/peer/log`)).text()
  assert.ok(log.split(TICK).length - 1 >= 240, 'the download keeps every tick')

  // the all-actors timeline folds too (each machine's declaration loaded for it)
  await page.click('[data-testid="tab-all"]')
  await page.waitForSelector(`[data-testid="fold-row"][data-type="peer.pong"] .tl-path`)
  assert.is(await page.textContent(`[data-testid="fold-row"][data-type="peer.pong"] .tl-path`), PEER)
  await page.click('.tabs button[data-mode="actor"]')

  // a click unfolds one kind; "hide periodic" off shows every event
  await page.click(`[data-testid="fold-row"][data-type="peer.pong"]`)
  await page.waitForSelector('.tl-row.nested')
  await page.screenshot({ path: join(ART, 'inspector-quiet-timeline-open.png') })
  await page.uncheck('[data-testid="hide-periodic"]')
  await page.waitForFunction(() => !document.querySelector('[data-testid="fold-row"]'))
  const types = await page.$$eval('.tl-row .tl-type', (els) => els.map((e) => e.getAttribute('title')))
  assert.ok(types.filter((t) => t === 'peer.pong').length > 5, 'every pong has its row')
  await page.close()
  await member.close()
})

E2E.run()
