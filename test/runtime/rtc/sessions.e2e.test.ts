/**
 * Sessions end (issue 20): Debian Chromium opens the hub's /member page, starts its camera and
 * the hub's loopback, and closes: within the grace plus 5 s the hub's peer session is `closed`,
 * its subflows ended, the member says why, and no actor's journal moves any more. A page that
 * reloads within the grace resumes the same session (same `peerSessionId`, its rung recorded).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Hub } from '../../../runtime/Hub.ts'
import { rtcFeature } from '../../../runtime/rtc/rtcFeature.ts'
import { launchChromium } from '../../helpers/browser.ts'
import { exitWhenDone, linkValue, snap, until } from '../../helpers/rtcPair.ts'
import { verifyAll } from '../../helpers/rtcReplay.ts'

const GRACE = 2000
const Sessions = suite('rtc sessions - the end of a member')

let hub: Hub
let browser: Browser
let dirs: string[] = []

Sessions.before(async () => {
  const data = mkdtempSync(join(tmpdir(), 'aether-rtc-end-'))
  dirs = [data]
  hub = await Hub.start({ port: 0, data, token: 'e2e-token', fsync: 'none' }, [
    rtcFeature({ graceMs: GRACE, timings: { probeMs: 250, silenceProbes: 12 } }),
  ])
  browser = await launchChromium([
    '--use-fake-device-for-media-stream',
    '--use-fake-ui-for-media-stream',
    '--allow-loopback-in-peer-connection',
  ])
})

Sessions.after(async () => {
  await browser?.close()
  await hub?.close()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
  exitWhenDone()
})

async function pageUntil(fn: () => Promise<boolean>, ms: number, what: string) {
  const t0 = Date.now()
  while (!(await fn())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** Opens the member page as `node` with its camera live and the hub looping it back. */
async function memberWithCamera(node: string): Promise<Page> {
  const sys = hub.system
  const page = await browser.newPage()
  await page.goto(`${hub.url}/member?token=e2e-token&node=${node}`)
  await until(() => linkValue(sys, `${node}/peer`) === 'open', 15_000, 'the hub side open')
  await page.evaluate(() => (globalThis as any).aether.startMedia('camera'))
  const cam = () => page.evaluate(() => (globalThis as any).aether.subflowState('camera'))
  await pageUntil(async () => (await cam()) === 'live', 10_000, 'camera live')
  await page.evaluate(() => (globalThis as any).aether.loopback(true))
  await until(() => String(snap(sys, `${node}/peer/loopback-camera`)?.value) === 'live', 10_000, 'loopback live')
  return page
}

Sessions('rtc sessions - a page that closes has its session closed within the grace plus 5 s', async () => {
  const sys = hub.system
  const page = await memberWithCamera('leaver')
  const t0 = Date.now()
  await page.close()
  await until(() => snap(sys, 'leaver/peer')?.value === 'closed', GRACE + 5000, 'the hub session closed')
  const took = Date.now() - t0
  assert.ok(took >= GRACE, `closed after the grace, not before (${took} ms)`)
  const member = snap(sys, 'leaver')
  assert.is(member.value, 'gone')
  assert.match(member.context.reason, /not back within the grace of 2000 ms \(the signaling socket closed\)/)
  assert.match(snap(sys, 'leaver/peer').context.closedReason, /member leaver: not back within the grace/)
  await until(() => snap(sys, 'leaver/peer/loopback-camera')?.value === 'ended', 1000, 'the loopback subflow ended')
  const api = await (await fetch(`${hub.url}/api/rtc`)).json()
  assert.is(api.sessions.find((s: any) => s.path === 'leaver/peer').link, 'closed')
  // nothing moves any more: no probe, no timer, no event
  const seqs = () => ['leaver', 'leaver/peer', 'leaver/peer/loopback-camera'].map((p) => sys.hosted(p)!.nextSeq)
  const before = seqs()
  await new Promise((r) => setTimeout(r, 1500))
  assert.equal(seqs(), before, 'the actors journal nothing after the session closed')
  // the journals replay exactly
  const r = await verifyAll(sys)
  for (const p of ['leaver', 'leaver/peer', 'leaver/peer/loopback-camera'])
    assert.ok(r[p]?.ok, `${p} replays exactly: ${JSON.stringify(r[p])}`)
})

Sessions('rtc sessions - a page that reloads within the grace resumes the same session', async () => {
  const sys = hub.system
  const page = await memberWithCamera('reloader')
  const hubPeer = () => snap(sys, 'reloader/peer')
  const id = hubPeer().context.peerSessionId
  assert.is(await page.evaluate(() => (globalThis as any).aether.state().actors['hub/peer'].context.peerSessionId), id)
  await page.reload()
  // the new page resumes: same session, its renegotiate rung recorded on both sides
  await pageUntil(
    async () => await page.evaluate(() => (globalThis as any).aether?.link() === 'open'),
    10_000,
    'the page open again',
  )
  await until(
    () => linkValue(sys, 'reloader/peer') === 'open' && hubPeer().context.recoveries.length > 0,
    10_000,
    'the hub resumed',
  )
  const ctx = hubPeer().context
  assert.is(ctx.peerSessionId, id, 'the same peerSessionId')
  assert.is(ctx.rebuilds, 0)
  assert.equal(ctx.recoveries.at(-1).climbed, ['renegotiate'])
  const mine = await page.evaluate(() => (globalThis as any).aether.state().actors['hub/peer'].context)
  assert.is(mine.peerSessionId, id)
  assert.equal([mine.recoveries.at(-1).climbed, mine.recoveries.at(-1).recoveredBy], [['renegotiate'], 'renegotiate'])
  assert.is(snap(sys, 'reloader').value, 'connected')
  assert.is(snap(sys, 'reloader').context.resumes, 1)
  const api = await (await fetch(`${hub.url}/api/rtc`)).json()
  const s = api.sessions.find((x: any) => x.path === 'reloader/peer')
  assert.equal([s.peerSessionId, s.link, s.lastRecovery.climbed], [id, 'open', ['renegotiate']])
  // past the grace it is still there, and it carries messages
  await new Promise((r) => setTimeout(r, GRACE + 500))
  assert.is(linkValue(sys, 'reloader/peer'), 'open')
  await page.evaluate(() => (globalThis as any).aether.send({ after: 'reload' }))
  await until(() => hubPeer().context.inSeq > 0, 5000, 'a message after the reload')
  // and a camera again
  await page.evaluate(() => (globalThis as any).aether.startMedia('camera'))
  const cam = () => page.evaluate(() => (globalThis as any).aether.subflowState('camera'))
  await pageUntil(async () => (await cam()) === 'live', 10_000, 'camera live after the reload')
  await page.close()
})

Sessions.run()
