/**
 * The Reliability view in Chromium: `aether hub --nats` pointed at a port where nothing listens
 * shows DEGRADED nodes in the readiness tree and the "allowed now" rows of the degraded matrix;
 * a click on a tree node opens the actor behind it; then a nats-server starts on that port and an
 * `aether root` joins, and the same page (no reload) turns READY. Screenshots in test/.artifacts/.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { buildInspector } from '../../inspector/build.mjs'
import { launchChromium } from '../helpers/browser.ts'
import { type AetherProc, startHubProc, startRoot } from '../helpers/linkProcs.ts'
import { freePort, NatsServer } from '../helpers/natsServer.ts'
import { tmpDir } from '../helpers/tmp.ts'

const ART = join(import.meta.dirname, '..', '.artifacts')
const E2E = suite('inspector e2e - reliability')
let browser: Browser
let hub: AetherProc
let root: AetherProc | undefined
let nats: NatsServer | undefined
let page: Page

E2E.before(async () => {
  mkdirSync(ART, { recursive: true })
  await buildInspector({ quiet: true })
  browser = await launchChromium()
})

E2E.after(async () => {
  await browser?.close()
  await hub?.stop()
  await root?.stop()
  await nats?.close()
})

const hubStatus = () => page.getAttribute('[data-testid="rel-hub"]', 'data-status')
const rowStatus = (id: string) =>
  page.getAttribute(`[data-testid="rel-hub"] .rel-row[data-node="${id}"]`, 'data-status')

E2E('reliability view - NATS unreachable: DEGRADED and what is allowed now; NATS back: READY, live', async () => {
  const port = await freePort()
  const url = `nats://127.0.0.1:${port}`
  hub = await startHubProc(url, tmpDir('aether-rel-hub-'), 'hub-rel')
  page = await browser.newPage({ viewport: { width: 1440, height: 900 } })
  page.on('pageerror', (e) => console.error('[page error]', e.message))
  await page.goto(`${hub.url}/inspector?view=reliability`)
  await page.waitForSelector('[data-testid="rel-hub"][data-status="degraded"]')
  assert.is(await rowStatus('root-link'), 'degraded')
  assert.is(await rowStatus('transport'), 'degraded')
  assert.match(
    (await page.textContent('[data-testid="rel-hub"] .rel-row[data-node="transport"]'))!,
    /DEGRADED.*CONNECTION_REFUSED/,
  )
  // the degraded matrix: local work goes on, what needs the root is not allowed now
  const allowed = (cap: string) =>
    page.getAttribute(`[data-testid="rel-hub"] [data-testid="rel-matrix"] tr[data-capability="${cap}"]`, 'data-allowed')
  assert.is(await allowed('local sessions'), 'true')
  assert.is(await allowed('root control commands'), 'false')
  assert.match((await page.textContent('[data-testid="rel-matrix"]'))!, /control authority missing/)
  await page.screenshot({ path: join(ART, 'inspector-reliability-degraded.png') })

  // a tree node opens the actor behind it (once the row knows its actor: a row drawn before the
  // report named it is no link yet, and a click on it opens nothing)
  await page.click('[data-testid="rel-hub"] .rel-row[data-node="stream:lifecycle"][data-actor]')
  await page.waitForSelector('[data-testid="actor-path"]')
  assert.is(await page.textContent('[data-testid="actor-path"]'), 'link/stream-lifecycle')
  assert.ok(await page.isVisible('#actors-view'))
  await page.click('[data-testid="view-reliability"]')
  await page.waitForSelector('[data-testid="rel-hub"]')

  // NATS and a root come: the same page turns ready (no reload)
  await page.evaluate(() => ((window as any).__sameDocument = true))
  nats = await NatsServer.start(port)
  root = await startRoot(url, tmpDir('aether-rel-root-'))
  await page.waitForSelector('[data-testid="rel-hub"][data-status="ready"]', { timeout: 30_000 })
  assert.is(await rowStatus('transport'), 'ready')
  assert.is(await allowed('root control commands'), 'true')
  assert.ok(await page.evaluate(() => (window as any).__sameDocument), 'not reloaded')
  await page.screenshot({ path: join(ART, 'inspector-reliability-ready.png') })
  assert.is(await hubStatus(), 'ready')
})

E2E.run()
