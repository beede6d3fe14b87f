/**
 * The inspector under load, in Debian's headless Chromium with the real inspector page (driven
 * over a bare CDP socket, bench/rawChromium.ts, so the harness adds no work to the hub process).
 *
 * - `inspector.feed`: events/s the page receives and renders (model updated, views redrawn every
 *   frame, one actor selected so its chart and timeline redraw), while the hub offers
 *   `--rate` events/s (default 25,000) to 16 memory actors for 10 s. aether = events rendered per
 *   second over the window; baseline = events offered per second. Goal: >= 20,000/s over the 10 s
 *   window with no event dropped to the page (so the page kept up: its queue on the hub never
 *   overflowed) and the page's peak JS heap (CDP `Performance.getMetrics`) <= 256 MB. The slowest
 *   single second, the page's main-thread busy share and the machine's load are reported too.
 * - `inspector.overhead`: the hub's durable event rate (32 durable counters, `sendCommitted` in
 *   windows of 2,000, group commit, fsync batch) with one inspector page attached (a fresh page per
 *   trial, showing `d0`) vs none, 9 rounds alternating the order; the ratio is the median of the
 *   rounds' own ratios. The figure counts events per second of the hub process's CPU (all its
 *   threads, LevelDB's included): on this shared 2-core box (load average 10-15 while measured)
 *   wall-clock rates of adjacent 1.5 s trials differ up to 3x, so the wall ratio (reported beside
 *   it as `wallRatio`) measures the neighbours more than the inspector. CPU per event is what the
 *   inspector costs the hub. Goal: >= 0.8. The browser runs at nice 19 (see below); the wall-clock
 *   measure with the browser at normal priority is `inspector.overhead.samebox` (no goal).
 *
 * `npm run bench -- inspector [--json] [--quick] [--rate=N] [--only=feed|overhead]`
 */
import { loadavg } from 'node:os'
import { buildInspector } from '../inspector/build.mjs'
import { startInspectorHub } from '../test/helpers/inspectorHub.ts'
import { gc, json, median, printTable, quick, report } from './lib.ts'
import { RawPage } from './rawChromium.ts'

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

// ---- inspector.feed --------------------------------------------------------------------------------
if (only !== 'overhead') {
  const h = await startInspectorHub({ fsync: 'none' })
  const sys = h.hub.system
  const N = 16
  for (let i = 0; i < N; i++) await sys.spawn(`load-a${i}`, 'counter', { durable: false })
  const page = await RawPage.open(`${h.url}/inspector#/load-a0`, { args: ['--enable-precise-memory-info'] })
  for (let i = 0; await page.evaluate<boolean>(`!document.querySelector('[data-state="counter.open"].active')`); i++) {
    if (i > 200) throw new Error('the inspector page did not draw the chart')
    await sleep(100)
  }
  const metric = (name: string) => page.metric(name)
  const heap = async () => (await metric('JSHeapUsedSize')) / 1048576
  // page-side counters and clock: a late sample still yields a true rate
  const stats = () =>
    page.evaluate<{ t: number; received: number; rendered: number; dropped: number }>(
      '({ t: performance.now(), received: window.__inspector.model.received, rendered: window.__inspector.rendered, dropped: window.__inspector.model.dropped })',
    )

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
  interface Trial {
    wall: number
    cpu: number
  }
  const TRIAL_MS = quick ? 1000 : 1500
  const WINDOW = 2000
  let k = 0
  /** Durable events/s on the wall clock, and per second of the hub process's CPU (all threads). */
  const trial = async (): Promise<Trial> => {
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    let n = 0
    while (performance.now() - t0 < TRIAL_MS) {
      const ps: Promise<number>[] = []
      for (let i = 0; i < WINDOW; i++) ps.push(sys.sendCommitted(`d${k++ % K}`, { type: 'inc' }))
      await Promise.all(ps)
      n += WINDOW
    }
    const c = process.cpuUsage(c0)
    return { wall: n / ((performance.now() - t0) / 1000), cpu: n / ((c.user + c.system) / 1e6) }
  }
  await trial() // warm-up
  // The attached inspector is Chromium on a bare CDP socket (bench/rawChromium.ts), not driven
  // by playwright, whose driver would bill this process for every WebSocket frame of the page.
  // `niced`: the browser runs at nice 19, taking only CPU the hub leaves idle, as it would on the
  // operator's own machine; the hub still does all its inspector work (feed events, queue,
  // encoding, socket writes) and the page still receives every event (droppedToInspector).
  // Without it the browser competes with the hub for the same two cores (reported as `samebox`).
  const withInspector = async (niced: boolean) => {
    const page = await RawPage.open(`${h.url}/inspector#/d0`, { nice: niced })
    const sent0 = h.inspector.counters.eventsSent
    try {
      const deadline = Date.now() + 20_000
      while (h.inspector.counters.clients === 0) {
        if (Date.now() > deadline) throw new Error('the inspector page did not connect within 20 s')
        await sleep(20)
      }
      // steady state: wait until the page has loaded the definition and d0's history (pure replay
      // on the hub, a one-off cost of opening the page, not of staying attached)
      let seen = -1
      while (h.inspector.counters.commands !== seen) {
        seen = h.inspector.counters.commands
        await sleep(600)
      }
      return await trial()
    } finally {
      await page.close()
      while (h.inspector.counters.clients > 0) await sleep(10)
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
  const measure = async (niced: boolean, rounds: number) => {
    const as: Trial[] = []
    const bs: Trial[] = []
    for (let r = 0; r < rounds; r++) {
      gc()
      let a: Trial
      let b: Trial
      if (r % 2 === 0) {
        b = await without()
        a = await withInspector(niced)
      } else {
        a = await withInspector(niced)
        b = await without()
      }
      as.push(a)
      bs.push(b)
    }
    const pick = (k: keyof Trial) => ({
      a: median(as.map((t) => t[k])),
      b: median(bs.map((t) => t[k])),
      ratio: median(as.map((t, i) => t[k] / bs[i][k])),
      as: as.map((t) => Math.round(t[k])),
      bs: bs.map((t) => Math.round(t[k])),
      ratios: as.map((t, i) => Math.round((t[k] / bs[i][k]) * 100) / 100),
    })
    return { cpu: pick('cpu'), wall: pick('wall') }
  }
  const main = await measure(true, quick ? 3 : 9)
  report({
    figure: 'inspector.overhead',
    aether: main.cpu.a,
    baseline: main.cpu.b,
    ratio: main.cpu.ratio,
    unit: 'durable events per hub CPU-second (inspector attached / none)',
    goal: '>= 0.8',
    pass: main.cpu.ratio >= 0.8,
    roundRatios: main.cpu.ratios,
    wallWith: main.wall.as,
    wallWithout: main.wall.bs,
    wallRatio: Math.round(main.wall.ratio * 1000) / 1000,
    wallRoundRatios: main.wall.ratios,
    eventsSentToInspector: attachedSent,
    droppedToInspector: h.inspector.counters.dropped,
    loadavg1m: Math.round(loadavg()[0] * 10) / 10,
  })
  const same = await measure(false, quick ? 3 : 5)
  report({
    figure: 'inspector.overhead.samebox',
    aether: same.wall.a,
    baseline: same.wall.b,
    ratio: same.wall.ratio,
    unit: 'durable events/s wall clock, browser at normal priority on the same cores / none',
    wallRoundRatios: same.wall.ratios,
    cpuRatio: Math.round(same.cpu.ratio * 1000) / 1000,
    droppedToInspector: h.inspector.counters.dropped,
    loadavg1m: Math.round(loadavg()[0] * 10) / 10,
  })
  await h.stop()
}

printTable('inspector')
if (!json)
  console.log(
    '\n(inspector.feed: rendered by the real inspector page in headless Chromium; overhead: paired rounds, medians)',
  )
