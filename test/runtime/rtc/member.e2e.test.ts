/**
 * Debian Chromium opens the hub's /member page: a peer session with the hub's werift peer, the
 * camera (fake device) looped back by the hub and started and stopped 10 times while `events`
 * keeps delivering, screenshots saved (test/.artifacts/), and the hub's journals replay.
 */
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Hub } from '../../../runtime/Hub.ts'
import { rtcFeature, type RtcFeature } from '../../../runtime/rtc/rtcFeature.ts'
import { exitWhenDone, linkValue, snap, until } from '../../helpers/rtcPair.ts'
import { cliVerify, verifyAll } from '../../helpers/rtcReplay.ts'

const shots = fileURLToPath(new URL('../../.artifacts/', import.meta.url))

const E2E = suite('member page - Chromium against the hub')

let hub: Hub
let feature: RtcFeature
let browser: BrowserContext
let page: Page
let dirs: string[] = []

E2E.before(async () => {
  const data = mkdtempSync(join(tmpdir(), 'aether-rtc-hub-'))
  const profile = mkdtempSync(join(tmpdir(), 'aether-rtc-chromium-'))
  dirs = [data, profile]
  feature = rtcFeature({ timings: { probeMs: 250, silenceProbes: 12 } })
  hub = await Hub.start({ port: 0, data, token: 'e2e-token', fsync: 'none' }, [feature])
  // playwright refuses --user-data-dir in args: the persistent context takes the profile folder
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    viewport: { width: 900, height: 700 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      '--allow-loopback-in-peer-connection',
    ],
  })
  page = await browser.newPage()
})

E2E.after(async () => {
  await browser?.close()
  await hub?.close()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
  exitWhenDone()
})

const pageLink = () => page.evaluate(() => (globalThis as any).aether.link())
const pageSub = (name: string) => page.evaluate((n) => (globalThis as any).aether.subflowState(n), name)
async function pageUntil(fn: () => Promise<boolean>, ms: number, what: string) {
  const t0 = Date.now()
  while (!(await fn())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

E2E('member page - without the token the socket is refused', async () => {
  const res = await fetch(`${hub.url}/member`)
  assert.is(res.status, 200)
  assert.match(await res.text(), /aether-member/)
  await page.goto(`${hub.url}/api/health`) // same origin, no member app
  const code = await page.evaluate(async (url) => {
    return await new Promise<number>((resolve) => {
      const ws = new WebSocket(url)
      ws.onclose = (e) => resolve(e.code)
    })
  }, hub.url.replace('http', 'ws') + '/ws')
  assert.is(code, 4401)
})

E2E(
  'member page - peer session with the hub; camera loopback started and stopped 10 times while events keeps delivering',
  async () => {
    mkdirSync(shots, { recursive: true })
    await page.goto(`${hub.url}/member?token=e2e-token&node=member-e2e`)
    const sys = hub.system
    await until(() => linkValue(sys, 'member-e2e/peer') === 'open', 15_000, 'the hub side open')
    await pageUntil(async () => (await pageLink()) === 'open', 10_000, 'the page side open')
    // events: a message from the page every 30 ms for the whole run
    await page.evaluate(() => {
      const a = (globalThis as any).aether
      let n = 0
      ;(globalThis as any).__pump = setInterval(() => a.send({ n: ((globalThis as any).__n = ++n) }), 30)
    })
    const hubExec = feature.node!.executor('member-e2e')!
    let framesSeen = 0
    for (let i = 0; i < 10; i++) {
      await page.evaluate(() => (globalThis as any).aether.startMedia('camera'))
      await pageUntil(async () => (await pageSub('camera')) === 'live', 10_000, `camera live (${i})`)
      await page.evaluate(() => (globalThis as any).aether.loopback(true))
      await until(
        () => String(snap(sys, 'member-e2e/peer/loopback-camera')?.value) === 'live',
        10_000,
        `hub loopback live (${i})`,
      )
      // the looped-back video plays in the page
      const before = await page.evaluate(
        () =>
          (document.getElementById('loop-video') as HTMLVideoElement).getVideoPlaybackQuality?.().totalVideoFrames ?? 0,
      )
      await pageUntil(
        async () =>
          (await page.evaluate(
            () =>
              (document.getElementById('loop-video') as HTMLVideoElement).getVideoPlaybackQuality?.()
                .totalVideoFrames ?? 0,
          )) >
          before + 3,
        10_000,
        `looped-back frames (${i})`,
      ).catch(async (e) => {
        const stats = await page.evaluate(async () => {
          const a = (globalThis as any).aether
          const pc = a.exec.handle
          const v = document.getElementById('loop-video') as HTMLVideoElement
          const t = pc.remoteTrack('camera')
          return {
            ready: v.readyState,
            paused: v.paused,
            muted: t?.muted,
            state: t?.readyState,
            frames: v.getVideoPlaybackQuality().totalVideoFrames,
          }
        })
        console.log(
          JSON.stringify(stats),
          hubExec.handle?.remoteTrack('camera') ? 'hub has remote track' : 'hub has NO remote track',
        )
        throw e
      })
      framesSeen++
      if (i === 0 || i === 9) await page.screenshot({ path: join(shots, `member-loopback-${i + 1}.png`) })
      await page.evaluate(() => (globalThis as any).aether.loopback(false))
      await until(
        () => String(snap(sys, 'member-e2e/peer/loopback-camera')?.value) === 'stopped',
        10_000,
        `hub loopback stopped (${i})`,
      )
      await page.evaluate(() => (globalThis as any).aether.stopMedia('camera'))
      await pageUntil(async () => (await pageSub('camera')) === 'stopped', 10_000, `camera stopped (${i})`)
    }
    const sent = await page.evaluate(() => {
      clearInterval((globalThis as any).__pump)
      return (globalThis as any).__n as number
    })
    const got = () =>
      feature.received
        .get('member-e2e')!
        .filter((d: any) => typeof d?.n === 'number')
        .map((d: any) => d.n)
    await until(() => got().length >= sent, 10_000, 'every events message at the hub').catch(async (e) => {
      const st: any = await page.evaluate(() => (globalThis as any).aether.state())
      console.log(
        'sent',
        sent,
        'got',
        got().length,
        got().slice(0, 5),
        'hub inSeq',
        snap(sys, 'member-e2e/peer').context.inSeq,
        'hub counters',
        JSON.stringify(snap(sys, 'member-e2e/peer').context.counters),
        'page',
        JSON.stringify(st.actors['hub/peer'].context),
      )
      throw e
    })
    assert.equal(
      got(),
      Array.from({ length: sent }, (_, k) => k + 1),
      'every message once, in order',
    )
    assert.ok(sent > 50, `events delivered during the toggles (${sent})`)
    await new Promise((r) => setTimeout(r, 400)) // let the page's status line catch up
    await page.screenshot({ path: join(shots, 'member-end.png') })

    const st: any = await page.evaluate(() => (globalThis as any).aether.state())
    assert.equal(st.exec.closes, { events: 0, sync: 0 }, 'page: events/sync never closed')
    assert.equal(hubExec.stats.closes, { events: 0, sync: 0 }, 'hub: events/sync never closed')
    const hubPeer = snap(sys, 'member-e2e/peer').context
    assert.is(hubPeer.generation, 0, 'never rebuilt')
    assert.is(framesSeen, 10)
    assert.is(snap(sys, 'member-e2e/peer/loopback-camera').context.counters.starts, 10)
    assert.ok(
      hubPeer.counters.negotiations >= 21,
      `renegotiations for camera on/off (${hubPeer.counters.negotiations})`,
    )

    const v = await verifyAll(sys)
    // (the member actor `member-e2e` itself takes no event from outside: nothing to replay)
    assert.not.ok('member-e2e' in v)
    for (const path of ['member-e2e/peer', 'member-e2e/peer/loopback-camera'])
      assert.ok(v[path]?.ok, `${path} replays (${JSON.stringify(v[path])})`)
    const cli = await cliVerify(sys, 'member-e2e/peer')
    assert.is(cli.code, 0, cli.out)
    // the same log over HTTP, with snapshots
    const res = await fetch(`${hub.url}/api/actors/member-e2e/peer/log?snapshots=all`)
    assert.is(res.status, 200)
    assert.match(await res.text(), /"type":"rtc.offer"/)
  },
)

E2E.run()
