/**
 * Browser to member direct media, administered by the hub's mediaRoute actor: Debian Chromium
 * opens `/member/route` and needs `clock`; member nodes (child processes with an RtcNode and
 * werift) advertise it. The page peers directly with the member (signaling through the hub) and
 * its frames, stamped by the member, arrive on that peer session while the hub relays nothing;
 * the member's direct path is cut and the route degrades to the hub relay within 1 s, and says
 * so; the member is killed and the route fails over to another member, direct. The route actor's
 * journal replays with `aether replay --verify`.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Browser, Page } from 'playwright-core'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { spawnSync } from 'node:child_process'
import { exportLog } from '../../../actors/index.ts'
import { mediaRoute, type MediaRouteContext } from '../../../machines/mediaRoute.ts'
import { Hub } from '../../../runtime/Hub.ts'
import { mediaRouteFeature, type RouteHost } from '../../../runtime/rtc/mediaRouteFeature.ts'
import { rtcFeature } from '../../../runtime/rtc/rtcFeature.ts'
import { inspectorFeature } from '../../../runtime/inspector/InspectorServer.ts'
import { buildInspector } from '../../../inspector/build.mjs'
import { launchChromium } from '../../helpers/browser.ts'

const root = fileURLToPath(new URL('../../..', import.meta.url))
const shots = fileURLToPath(new URL('../../.artifacts/', import.meta.url))
const TOKEN = 'route-token'
const ROUTE = 'route:page-1:clock'

const E2E = suite('media route - Chromium, the hub and member nodes')

let hub: Hub
let host: RouteHost
let browser: Browser
let page: Page
let data = ''
const members = new Map<string, ChildProcess>()

function startMember(nodeId: string): Promise<ChildProcess> {
  const child = fork(join(root, 'examples/mediaMember.ts'), [hub.url, TOKEN, nodeId, 'clock'], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  })
  members.set(nodeId, child)
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d) => String(d).includes('READY') && resolve(child))
    child.on('exit', (code) => reject(new Error(`member ${nodeId} exited with ${code} before it was ready`)))
  })
}

async function until(fn: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const t0 = Date.now()
  while (!(await fn())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

const pageState = (): Promise<any> => page.evaluate(() => (globalThis as any).aetherRoute.state())
const pageFrames = (): Promise<any[]> => page.evaluate(() => (globalThis as any).aetherRoute.frames)
const route = () => hub.system.hosted(ROUTE)!.actor.getSnapshot()
const ctx = () => route().context as MediaRouteContext

E2E.before(async () => {
  data = mkdtempSync(join(tmpdir(), 'aether-route-hub-'))
  const feature = mediaRouteFeature({ route: { connectMs: 15_000, retryMs: 60_000 } })
  await buildInspector({ quiet: true })
  hub = await Hub.start({ port: 0, data, token: TOKEN, fsync: 'none' }, [inspectorFeature(), rtcFeature(), feature])
  host = feature.host!
  browser = await launchChromium(['--allow-loopback-in-peer-connection'])
  page = await browser.newPage({ viewport: { width: 800, height: 420 } })
})

E2E.after(async () => {
  await browser?.close()
  for (const c of members.values()) c.kill('SIGKILL')
  await hub?.close()
  rmSync(data, { recursive: true, force: true })
})

E2E('media route - direct from the member, degraded to the hub relay within 1 s, failover, replay', async () => {
  mkdirSync(shots, { recursive: true })
  await startMember('cam-1')
  await page.goto(`${hub.url}/member/route?token=${TOKEN}&node=page-1&need=clock`)

  // 1. direct: the page peers with cam-1 and its frames come from cam-1 on that peer session
  await until(
    async () => ((await pageState()).counts['cam-1/direct'] ?? 0) >= 10,
    20_000,
    'ten frames from cam-1 on the direct session',
  ).catch(async (e) => {
    console.log('page', JSON.stringify(await pageState()), 'route', JSON.stringify(route().value), ctx().failures)
    throw e
  })
  // the page's report travels on its own socket: the hub takes it a moment later
  await until(() => JSON.stringify(route().value) === '{"direct":"live"}', 5_000, 'the route live at the hub')
  assert.is(ctx().attempt!.target, 'cam-1')
  assert.is(ctx().degradation.active, 'none')
  const direct = (await pageFrames()).filter((f) => f.via === 'direct')
  assert.ok(direct.length >= 10)
  for (const f of direct) {
    assert.is(f.member, 'cam-1', 'stamped by the member')
    assert.is(f.from, 'cam-1', 'arrived on the peer session with the member')
    assert.is(f.sentPath, 'direct')
  }
  assert.is(host.stats.relayed[ROUTE] ?? 0, 0, 'the hub relayed nothing: the frames did not pass through it')
  assert.ok(host.stats.signalsForwarded >= 2, 'signaling went through the hub')
  const api = (await (await fetch(`${hub.url}/api/rtc`)).json()) as any
  const shown = api.routes.find((r: any) => r.path === ROUTE)
  assert.equal(shown.state, { direct: 'live' })
  assert.is(shown.attempt.target, 'cam-1')
  assert.is(shown.need.need, 'clock')
  assert.ok(shown.monitoring.signals.length >= 3)
  // (no screenshot here: a screenshot is a burst of work in the page right before the cut; the
  // failed-over route below is direct too, and is shot)

  // 2. the member's direct path is cut: the route degrades to the hub relay within 1 s
  const cutAt = Date.now()
  members.get('cam-1')!.send({ cmd: 'cut' })
  await until(
    async () => ((await pageState()).counts['cam-1/hub'] ?? 0) >= 1,
    5_000,
    'a frame from cam-1 through the hub',
  )
  const firstRelayed = (await pageFrames()).find((f) => f.via === 'hub')!
  const degradeMs = firstRelayed.at - cutAt
  assert.ok(degradeMs < 1000, `relayed frames ${degradeMs} ms after the cut`)
  assert.is(firstRelayed.member, 'cam-1')
  assert.is(firstRelayed.sentPath, 'relay')
  assert.is(ctx().attempt!.path, 'relay')
  assert.is(ctx().degradation.active, 'relay')
  assert.match(ctx().degradation.reason!, /direct is not possible/)
  assert.is(ctx().previous!.path, 'direct')
  assert.ok(ctx().observed!.failure.length > 0)
  const st = await pageState()
  assert.is(st.route.path, 'relay')
  assert.match(st.route.reason, /direct is not possible/, 'the page is told why')
  await until(() => (host.stats.relayed[ROUTE] ?? 0) >= 5, 5_000, 'frames relayed by the hub')
  await new Promise((r) => setTimeout(r, 200))
  await page.screenshot({ path: join(shots, 'route-relayed.png') })
  // the route as the inspector draws it
  const insp = await browser.newPage({ viewport: { width: 1440, height: 900 } })
  await insp.goto(`${hub.url}/inspector?token=${TOKEN}#${ROUTE}`)
  await insp.waitForSelector('.conn.open')
  await insp
    .waitForFunction(
      () =>
        /relayed/.test(document.querySelector('[data-testid="state-value"]')?.textContent ?? '') &&
        !/Loading the machine definition/.test(document.body.textContent ?? ''),
      undefined,
      { timeout: 20_000 },
    )
    .catch(async (e) => {
      await insp.screenshot({ path: join(shots, 'route-inspector-fail.png') })
      throw e
    })
  assert.match((await insp.textContent('[data-testid="chart"]')) ?? '', /relayed/, 'the machine is drawn')
  await insp.screenshot({ path: join(shots, 'route-inspector.png') })
  await insp.close()
  console.log(`  degraded to the hub relay ${degradeMs} ms after the cut (${ctx().observed!.failure})`)

  // 3. the member leaves: the route fails over to another member, direct
  await startMember('cam-2')
  assert.is(ctx().attempt!.target, 'cam-1', 'a relayed route stays until the retry or a failure')
  members.get('cam-1')!.kill('SIGKILL')
  await until(
    async () => ((await pageState()).counts['cam-2/direct'] ?? 0) >= 5,
    20_000,
    'frames from cam-2 on a direct session',
  ).catch(async (e) => {
    const c = ctx()
    console.log('page', JSON.stringify(await pageState()), 'route', JSON.stringify(route().value))
    console.log('attempt', JSON.stringify(c.attempt), 'failures', JSON.stringify(c.failures), host.stats)
    throw e
  })
  await until(() => JSON.stringify(route().value) === '{"direct":"live"}', 5_000, 'the failed-over route live')
  assert.is(ctx().attempt!.target, 'cam-2')
  assert.is(ctx().previous!.target, 'cam-1')
  assert.match(ctx().attempt!.cause, /lost: cam-1/)
  assert.ok(ctx().switches >= 3, `switches ${ctx().switches}`)
  await page.screenshot({ path: join(shots, 'route-failover.png') })

  // 4. the page goes: the route is released; its journal replays with --verify
  await page.close()
  await until(() => route().status === 'done', 5_000, 'the route released')
  await hub.system.flush()
  let text = ''
  for await (const chunk of exportLog(hub.system.store!, ROUTE, { snapshots: 'all', machine: mediaRoute }))
    text += chunk
  const file = join(data, 'route.aether.log')
  writeFileSync(file, text)
  const cli = spawnSync(
    process.execPath,
    [join(root, 'bin/aether.mjs'), 'replay', file, '--machine', join(root, 'machines/mediaRoute.ts'), '--verify'],
    { encoding: 'utf8', cwd: root },
  )
  assert.is(cli.status, 0, cli.stdout + cli.stderr)
})

E2E.run()
