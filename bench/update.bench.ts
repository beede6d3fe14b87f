/**
 * update: how long no runtime accepts requests during an A/B update, by warm switch (a prewarmed
 * passive candidate is promoted) and by stop_and_switch (the old runtime stops, then the new one
 * starts cold; forced with a 1 MB memory budget). Two supervisors (child processes) run side by
 * side; updates alternate between them, each under a steady client (4 loops of GET /api/health).
 *
 * - update.gap.warm: median ms the supervisor's proxy held requests during a warm switch (goal
 *   <= 50, with 0 failed requests); baseline = the stop_and_switch gap; ratio = warm / stop.
 * - update.gap.stop: median gap of stop_and_switch; baseline = the warm gap; ratio = stop / warm.
 * - update.gap.warm.inspected: median warm gap of a third supervisor with the inspector attached
 *   (Chromium, the page on the supervisor's URL with the token, the transition selected: both
 *   feeds and the status socket open); baseline = the warm gap without a page; ratio goal <= 1.2.
 * Extra fields: failed requests, the slowest request the client saw, the per-round gaps.
 *
 *   npm run bench -- update [--json] [--quick]
 */
import { mkdtempSync, rmSync } from 'node:fs'
import type { Browser, Page } from 'playwright-core'
import { buildInspector } from '../inspector/build.mjs'
import { launchChromium } from '../test/helpers/browser.ts'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { LoadClient } from '../test/helpers/loadClient.ts'
import { buildVersion } from '../test/helpers/slotFixture.ts'
import {
  freePort,
  reapRuntimes,
  startSupervisor,
  until,
  type SupervisorHandle,
} from '../test/helpers/supervisorProcess.ts'
import { median, printTable, quick, report } from './lib.ts'

const rounds = quick ? 2 : 5
const dir = mkdtempSync(join(tmpdir(), 'aether-bench-update-'))
buildVersion(join(dir, 'img-1'), '1.0.0')
buildVersion(join(dir, 'img-2'), '2.0.0')

async function supervisor(name: string, extra: string[]): Promise<{ sup: SupervisorHandle; slots: string }> {
  const slots = join(dir, name, 'slots')
  buildVersion(join(slots, 'A'), '1.0.0')
  const sup = await startSupervisor({
    slots,
    data: join(dir, name, 'data'),
    port: await freePort(),
    slotPorts: [await freePort(), await freePort()],
    args: [
      '--countdown-ms',
      '50',
      '--min-interval-ms',
      '0',
      '--prewarm-settle-ms',
      '100',
      '--health-deadline-ms',
      '60000',
      ...extra,
    ],
  })
  await until(async () => (await sup.status()).phase === 'serving', 30_000, `${name} serving`)
  return { sup, slots }
}

async function update(sup: SupervisorHandle, round: number) {
  const load = new LoadClient(sup.url, 4, 5)
  load.start()
  await new Promise((r) => setTimeout(r, 200))
  const source = join(dir, round % 2 === 0 ? 'img-2' : 'img-1')
  const r = await sup.post('/api/supervisor/update', { source })
  if (r.status !== 202) throw new Error(`update refused: ${JSON.stringify(r.body)}`)
  const done = await until(
    async () => {
      const s = await sup.status()
      return s.transition.state === 'idle' && s.transition.attempt?.id === round + 1 && s.transition.attempt.outcome
        ? s
        : null
    },
    180_000,
    'the update to finish',
    20,
  )
  await new Promise((r) => setTimeout(r, 200))
  await load.stop()
  const a = done.transition.attempt
  if (a.outcome !== 'committed') throw new Error(`update ${round + 1} ended ${a.outcome}: ${a.reason}`)
  return {
    gap: a.gapMs as number,
    parts: done.runtime.lastCutover,
    mode: a.mode as string,
    failed: load.failed.length,
    requests: load.samples.length,
    slowest: load.maxLatency(),
  }
}

/** The inspector on a supervisor's URL, watching the transition (docs/supervisor.md). */
async function attachInspector(sup: SupervisorHandle): Promise<{ browser: Browser; page: Page }> {
  await buildInspector({ quiet: true })
  const browser = await launchChromium()
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } })
  await page.goto(`${sup.url}/inspector?token=${sup.token}#/${encodeURIComponent('@supervisor/supervisor.update')}`)
  await page.waitForSelector('.conn.open')
  await page.waitForSelector('.chart [data-state].active', { timeout: 30_000 })
  return { browser, page }
}

const warm = await supervisor('warm', [])
const stop = await supervisor('stop', ['--memory-budget-mb', '1'])
const inspected = await supervisor('inspected', [])
const insp = await attachInspector(inspected.sup)
const w: Awaited<ReturnType<typeof update>>[] = []
const s: Awaited<ReturnType<typeof update>>[] = []
const wi: Awaited<ReturnType<typeof update>>[] = []
let reconnected = 0
try {
  for (let i = 0; i < rounds; i++) {
    w.push(await update(warm.sup, i))
    s.push(await update(stop.sup, i))
    wi.push(await update(inspected.sup, i))
    // the page follows the cutover: its runtime feed reconnects by itself
    await insp.page.waitForSelector('.conn.open', { timeout: 30_000 })
    reconnected++
  }
} finally {
  await insp.browser.close()
  await warm.sup.stop()
  await stop.sup.stop()
  await inspected.sup.stop()
  reapRuntimes(warm.slots)
  reapRuntimes(stop.slots)
  reapRuntimes(inspected.slots)
  rmSync(dir, { recursive: true, force: true })
}
if (
  w.some((x) => x.mode !== 'warm_switch') ||
  wi.some((x) => x.mode !== 'warm_switch') ||
  s.some((x) => x.mode !== 'stop_and_switch')
)
  throw new Error(`unexpected modes: ${w.map((x) => x.mode)} / ${s.map((x) => x.mode)}`)
const gw = median(w.map((x) => x.gap))
const gs = median(s.map((x) => x.gap))
const gi = median(wi.map((x) => x.gap))
const failedI = wi.reduce((n, x) => n + x.failed, 0)
const failedW = w.reduce((n, x) => n + x.failed, 0)
const failedS = s.reduce((n, x) => n + x.failed, 0)
const r1 = (n: number) => Math.round(n * 10) / 10
report({
  figure: 'update.gap.warm',
  aether: gw,
  baseline: gs,
  ratio: gw / gs,
  unit: 'ms (warm gap; baseline stop_and_switch)',
  goal: '<= 50, 0 failed',
  pass: gw <= 50 && failedW === 0,
  failed: failedW,
  loadavg: loadavg().map((x) => r1(x)),
  requests: w.reduce((n, x) => n + x.requests, 0),
  slowestRequestMs: r1(Math.max(...w.map((x) => x.slowest))),
  gaps: w.map((x) => r1(x.gap)),
  parts: w.map((x) => x.parts),
})
report({
  figure: 'update.gap.stop',
  aether: gs,
  baseline: gw,
  ratio: gs / gw,
  unit: 'ms (stop_and_switch gap; baseline warm)',
  failed: failedS,
  requests: s.reduce((n, x) => n + x.requests, 0),
  slowestRequestMs: r1(Math.max(...s.map((x) => x.slowest))),
  gaps: s.map((x) => r1(x.gap)),
  parts: s.map((x) => x.parts),
})
report({
  figure: 'update.gap.warm.inspected',
  aether: gi,
  baseline: gw,
  ratio: gi / gw,
  unit: 'ms (warm gap with the inspector attached; baseline without)',
  goal: 'ratio <= 1.2, 0 failed',
  pass: gi / gw <= 1.2 && failedI === 0,
  failed: failedI,
  reconnected,
  slowestRequestMs: r1(Math.max(...wi.map((x) => x.slowest))),
  gaps: wi.map((x) => r1(x.gap)),
  parts: wi.map((x) => x.parts),
})
printTable(`update (${rounds} rounds each, alternating)`)
if (!process.argv.includes('--json')) {
  console.log(
    `failed requests: warm ${failedW}, stop ${failedS}, inspected ${failedI}; inspected gaps ${wi.map((x) => r1(x.gap)).join(', ')}; warm gaps ${w.map((x) => r1(x.gap)).join(', ')}; stop gaps ${s.map((x) => r1(x.gap)).join(', ')}; load average ${loadavg().map(r1).join(' ')}`,
  )
}
