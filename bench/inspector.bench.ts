/**
 * The inspector under load, in Debian's headless Chromium with the real inspector page.
 *
 * - `inspector.feed`: events/s the page receives and renders (model updated, views redrawn every
 *   frame, one actor selected so its chart and timeline redraw), while the hub offers
 *   `--rate` events/s (default 25,000) to 16 memory actors for 10 s. aether = events rendered per
 *   second over the window; baseline = events offered per second. Goal: >= 20,000/s over the 10 s
 *   window with no event dropped to the page (so the page kept up: its queue on the hub never
 *   overflowed) and the page's peak JS heap (CDP `Performance.getMetrics`) <= 256 MB. The slowest
 *   single second, the page's main-thread busy share and the machine's load are reported too.
 * - `inspector.overhead`: the hub's durable events/s (32 durable counters, `sendCommitted` in
 *   windows of 2,000, group commit, fsync batch) with one inspector page attached (a fresh page per
 *   trial, the lamp-style counter selected) vs none, 9 rounds alternating the order; the ratio is
 *   the median of the rounds' own ratios. Goal: >= 0.8.
 *
 * `npm run bench -- inspector [--json] [--quick] [--rate=N] [--only=feed|overhead]`
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { buildInspector } from '../inspector/build.mjs'
import { CHROMIUM_ARGS, launchChromium } from '../test/helpers/browser.ts'
import { startInspectorHub } from '../test/helpers/inspectorHub.ts'
import { gc, json, median, printTable, quick, report } from './lib.ts'

// flags take `--name=value` (scripts/bench.mjs passes only arguments that start with "-")
const flag = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)
const arg = (name: string, dflt: number) => {
  const v = Number(flag(name) ?? dflt)
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name}= must be a positive number`)
  return v
}
const RATE = arg('rate', 25_000)
const SECONDS = quick ? 4 : 10
const only = flag('only')
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

await buildInspector({ quiet: true })
const browser = await launchChromium(['--enable-precise-memory-info'])

async function openInspector(url: string, select?: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } })
  await page.goto(`${url}/inspector${select ? `#/${encodeURIComponent(select)}` : ''}`)
  await page.waitForSelector('.conn.open')
  return page
}

// ---- inspector.feed --------------------------------------------------------------------------------
if (only !== 'overhead') {
  const h = await startInspectorHub({ fsync: 'none' })
  const sys = h.hub.system
  const N = 16
  for (let i = 0; i < N; i++) await sys.spawn(`load-a${i}`, 'counter', { durable: false })
  const page = await openInspector(h.url, 'load-a0')
  await page.waitForSelector('[data-state="counter.open"].active')
  const cdp = await page.context().newCDPSession(page)
  await cdp.send('Performance.enable')
  const metric = async (name: string) => (await cdp.send('Performance.getMetrics')).metrics.find((x: any) => x.name === name)!.value
  const heap = async () => (await metric('JSHeapUsedSize')) / 1048576
  // page-side counters and clock: a late sample still yields a true rate
  const stats = () => page.evaluate(() => ({ t: performance.now(), received: (window as any).__inspector.model.received, rendered: (window as any).__inspector.rendered, dropped: (window as any).__inspector.model.dropped }))

  // the generator: RATE events/s in 5 ms slices, round-robin over the actors
  let offered = 0
  let running = true
  const t0 = performance.now()
  const gen = (async () => {
    let k = 0
    while (running) {
      const due = Math.floor(((performance.now() - t0) / 1000) * RATE)
      while (offered < due) {
        sys.send(`load-a${k++ % N}`, { type: 'inc' })
        offered++
      }
      await sleep(5)
    }
  })()
  await sleep(1000) // warm-up
  const perSecond: number[] = []
  let heapPeak = await heap()
  const first = await stats()
  const busy0 = await metric('TaskDuration')
  let s0 = first
  const o0 = offered
  const start = performance.now()
  for (let s = 0; s < SECONDS; s++) {
    await sleep(Math.max(0, (s + 1) * 1000 - (performance.now() - start)))
    const s1 = await stats()
    perSecond.push(Math.round(((s1.rendered - s0.rendered) * 1000) / (s1.t - s0.t)))
    s0 = s1
    heapPeak = Math.max(heapPeak, await heap())
  }
  const elapsed = (performance.now() - start) / 1000
  const pageBusy = ((await metric('TaskDuration')) - busy0) / elapsed
  const offeredRate = (offered - o0) / elapsed
  running = false
  await gen
  const fin = s0
  const renderedRate = ((fin.rendered - first.rendered) * 1000) / (fin.t - first.t)
  const slowest = Math.min(...perSecond)
  report({
    figure: 'inspector.feed',
    aether: renderedRate,
    baseline: offeredRate,
    ratio: renderedRate / offeredRate,
    unit: 'events/s rendered (baseline: offered)',
    goal: '>= 20000 over 10 s, none dropped, heap <= 256 MB',
    pass: renderedRate >= 20_000 && fin.dropped === 0 && heapPeak <= 256,
    slowestSecond: slowest,
    perSecond,
    heapPeakMB: Math.round(heapPeak * 10) / 10,
    droppedToPage: fin.dropped,
    pageMainThreadBusy: Math.round(pageBusy * 100) / 100,
    seconds: SECONDS,
    loadavg1m: Math.round(loadavg()[0] * 10) / 10,
  })
  await page.close()
  await h.stop()
}

// ---- inspector.overhead ------------------------------------------------------------------------------
if (only !== 'feed') {
  const h = await startInspectorHub({ fsync: 'batch' })
  const sys = h.hub.system
  const K = 32
  for (let i = 0; i < K; i++) await sys.spawn(`d${i}`, 'counter', { durable: true })
  let attachedSent = 0
  const TRIAL_MS = quick ? 1000 : 1500
  const WINDOW = 2000
  let k = 0
  const trial = async (): Promise<number> => {
    const t0 = performance.now()
    let n = 0
    while (performance.now() - t0 < TRIAL_MS) {
      const ps: Promise<number>[] = []
      for (let i = 0; i < WINDOW; i++) ps.push(sys.sendCommitted(`d${k++ % K}`, { type: 'inc' }))
      await Promise.all(ps)
      n += WINDOW
    }
    return n / ((performance.now() - t0) / 1000)
  }
  await trial() // warm-up
  // The attached inspector is a plain Chromium process opened on the page, not driven by
  // playwright: playwright's driver would run in this process and receive every WebSocket frame
  // of the page over CDP, billing the hub for the harness rather than for the inspector.
  const withInspector = async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aether-bench-chromium-'))
    const child = spawn('/usr/bin/chromium', [...CHROMIUM_ARGS, `--user-data-dir=${dir}`, '--window-size=1440,900', `${h.url}/inspector#/d0`], { stdio: 'ignore', detached: true })
    const sent0 = h.inspector.counters.eventsSent
    try {
      const deadline = Date.now() + 20_000
      while (h.inspector.counters.clients === 0) {
        if (Date.now() > deadline) throw new Error('the inspector page did not connect within 20 s')
        await sleep(20)
      }
      await sleep(500) // snapshot, definition, first drawing
      const r = await trial()
      return r
    } finally {
      // the browser and its helpers form one process group that we started
      try {
        process.kill(-child.pid!, 'SIGKILL')
      } catch {}
      await new Promise((res) => (child.exitCode !== null || child.signalCode !== null ? res(null) : child.once('exit', res)))
      while (h.inspector.counters.clients > 0) await sleep(10)
      rmSync(dir, { recursive: true, force: true })
      attachedSent += h.inspector.counters.eventsSent - sent0
      await sleep(200)
    }
  }
  const without = async () => {
    const r = await trial()
    await sleep(200)
    return r
  }
  // Rounds alternate which trial goes first, and the figure is the median of each round's own
  // ratio: on a shared, loaded machine a round's two trials see similar load, rounds do not.
  const rounds = quick ? 3 : 9
  const as: number[] = []
  const bs: number[] = []
  const ratios: number[] = []
  for (let r = 0; r < rounds; r++) {
    gc()
    let a: number
    let b: number
    if (r % 2 === 0) {
      b = await without()
      a = await withInspector()
    } else {
      a = await withInspector()
      b = await without()
    }
    as.push(a)
    bs.push(b)
    ratios.push(a / b)
  }
  const ratio = median(ratios)
  report({
    figure: 'inspector.overhead',
    aether: median(as),
    baseline: median(bs),
    ratio,
    unit: 'durable events/s (with inspector / without)',
    goal: '>= 0.8',
    pass: ratio >= 0.8,
    with: as.map(Math.round),
    without: bs.map(Math.round),
    roundRatios: ratios.map((x) => Math.round(x * 100) / 100),
    eventsSentToInspector: attachedSent,
    droppedToInspector: h.inspector.counters.dropped,
    loadavg1m: Math.round(loadavg()[0] * 10) / 10,
  })
  await h.stop()
}

await browser.close()
printTable('inspector')
if (!json) console.log('\n(inspector.feed: rendered by the real inspector page in headless Chromium; overhead: paired rounds, medians)')
