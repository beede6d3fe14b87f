/**
 * An incident bundle from a hub, a root and a browser member (Chromium's /member page, its peer
 * session recorded at the hub): exported by `aether incident export` from the hub and the root,
 * replayed with `--verify` (every actor ok), opened in the inspector in Chromium with the three
 * nodes on one timeline (screenshot in test/.artifacts/), and a tampered event named by replay.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Browser, Page } from 'playwright-core'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { buildInspector } from '../../inspector/build.mjs'
import { parseBundle } from '../../protocol/bundle.ts'
import { Hub } from '../../runtime/Hub.ts'
import { incidentFeature } from '../../runtime/incident/incidentFeature.ts'
import { inspectorFeature } from '../../runtime/inspector/InspectorServer.ts'
import { hubLinkFeature } from '../../runtime/link/linkFeature.ts'
import { reliabilityFeature } from '../../runtime/reliability/Reliability.ts'
import { rootFeature } from '../../runtime/root/rootFeature.ts'
import { replayBundleFile } from '../../runtime/commands/replayBundle.ts'
import { rtcFeature, type RtcFeature } from '../../runtime/rtc/rtcFeature.ts'
import { launchChromium } from '../helpers/browser.ts'
import { aether } from '../helpers/cli.ts'
import { NatsServer } from '../helpers/natsServer.ts'
import { exitWhenDone } from '../helpers/rtcPair.ts'
import { sleep, tmpDir, until } from '../helpers/tmp.ts'

const shots = fileURLToPath(new URL('../.artifacts/', import.meta.url))
const TOKEN = 'bundle-e2e'
const e2e = suite('incident bundle e2e - hub, root and browser member')

let nats: NatsServer
let root: Hub
let hub: Hub
let rtc: RtcFeature
let browser: Browser
let member: Page
const dir = tmpDir()
const file = join(dir, 'incident.bundle')

e2e.before(async () => {
  await buildInspector({ quiet: true })
  nats = await NatsServer.start()
  root = await Hub.start({ data: tmpDir(), port: 0, token: TOKEN, hostId: 'root' }, [
    reliabilityFeature({ role: 'root' }),
    inspectorFeature(),
    incidentFeature(),
    rootFeature({ nats: nats.url, rootId: 'root', sync: false }),
  ])
  // the hub's inspector links to the root's (AETHER_ROOT_URL, read when the link reports)
  process.env.AETHER_ROOT_URL = root.url
  hub = await Hub.start({ data: tmpDir(), port: 0, token: TOKEN, fsync: 'none' }, [
    reliabilityFeature(),
    hubLinkFeature({ nats: nats.url, hubId: 'hub-1', heartbeatMs: 200 }),
    (rtc = rtcFeature({ timings: { probeMs: 250, silenceProbes: 12 } })),
    inspectorFeature(),
    incidentFeature(),
  ])
  browser = await launchChromium([
    '--use-fake-device-for-media-stream',
    '--use-fake-ui-for-media-stream',
    '--allow-loopback-in-peer-connection',
  ])
})

e2e.after(async () => {
  await browser?.close()
  await hub?.close()
  await root?.close()
  await nats?.close()
  delete process.env.AETHER_ROOT_URL
  exitWhenDone()
})

e2e('bundle e2e - export from hub and root, replay every actor, open on one timeline', async () => {
  const from = Date.now()
  member = await browser.newPage()
  await member.goto(`${hub.url}/member?token=${TOKEN}&node=member-e2e&record=1`)
  await until(
    async () => (await member.evaluate(() => (globalThis as any).aether.link())) === 'open',
    15_000,
    'the member peer session open',
  )
  // path loss seen by the member (the hub's frames stop): the member, which leads recovery,
  // climbs to the ICE restart rung, and the session recovers once the frames flow again
  const handle = rtc.node!.executor('member-e2e')!.handle!
  const send = handle.send.bind(handle)
  handle.send = () => false
  const link = () => member.evaluate(() => (globalThis as any).aether.link() as string)
  try {
    await until(async () => (await link()).startsWith('recovering'), 10_000, 'the member recovering')
  } finally {
    handle.send = send
  }
  await until(async () => (await link()) === 'open', 15_000, 'the member open again')
  const recoveries = await member.evaluate(
    () => (globalThis as any).aether.state().actors['hub/peer'].context.recoveries as Array<{ recoveredBy: string }>,
  )
  assert.is(recoveries.at(-1)?.recoveredBy, 'ice-restart', JSON.stringify(recoveries))
  const post = await fetch(`${hub.url}/api/streams/orders`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ payloads: [{ order: 1 }, { order: 2 }] }),
  })
  assert.is(post.status, 201)
  // the root applied them, and the hub measured the root's clock from heartbeat acks
  await until(
    async () => {
      const r = await (await fetch(`${root.url}/api/streams`)).json()
      return r.streams.some((s: any) => s.stream === 'orders' && s.applied >= 2)
    },
    10_000,
    'the root applied the orders',
  )
  await sleep(600)
  const r = await aether([
    'incident',
    'export',
    '--from',
    String(from),
    '--to',
    'now',
    '--url',
    hub.url,
    '--url',
    root.url,
    '--token',
    TOKEN,
    '--out',
    file,
  ])
  assert.is(r.code, 0, r.stderr)
  const b = parseBundle(readFileSync(file, 'utf8'))
  const nodes = Object.fromEntries(b.manifest.nodes.map((n) => [n.id, n]))
  assert.equal(Object.keys(nodes).sort(), ['hub-1', 'member-e2e', 'root'])
  assert.is(nodes['hub-1'].offsetVia, 'reference')
  assert.is(nodes.root.offsetVia, 'link.heartbeat.ack', 'the root offset comes from the heartbeats')
  assert.ok(Math.abs(nodes.root.offsetMs) < 50, `one machine: a small offset (${nodes.root.offsetMs})`)
  const actors = b.logs.map((l) => `${l.node} ${l.header.actor}`)
  assert.ok(actors.includes('hub-1 member-e2e/peer'), actors.join(', '))
  assert.ok(
    b.logs.some((l) => l.node === 'member-e2e' && l.header.machine === 'peerSession'),
    `the browser's peer session: ${actors.join(', ')}`,
  )
  assert.ok(
    b.manifest.notes?.some((n) => n.node === 'root' && /applied hub-1\/orders #\d/.test(n.text)),
    'the root notes its applied records',
  )

  // replayed in this process (the CLI's own path, tested as a child process with the tampered
  // bundle below and in test/runtime/incident/): every actor verified
  const printed: string[] = []
  const log = console.log
  console.log = (s: string) => printed.push(s)
  let code: number
  try {
    code = await replayBundleFile(file, { verify: true, json: true })
  } finally {
    console.log = log
  }
  const out = JSON.parse(printed.join(''))
  assert.is(code, 0, JSON.stringify(out.actors.filter((x: any) => !x.ok)))
  assert.is(out.actors.length, b.logs.length)
  assert.ok(
    out.actors.every((x: any) => x.ok && x.snapshotsChecked > 0),
    'every actor verified',
  )

  // the inspector opens it: three nodes, one timeline
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } })
  await page.goto(`${hub.url}/inspector?token=${TOKEN}`)
  await page.setInputFiles('[data-testid=bundle-file]', file)
  await page.waitForSelector('[data-testid=bundle-lanes] .lane')
  const chips = await page.$$eval('[data-testid=bundle-nodes] .chip', (xs) =>
    xs.map((x) => x.getAttribute('data-node')),
  )
  assert.equal(chips.sort(), ['hub-1', 'member-e2e', 'root'])
  const laneNodes = await page.$$eval('[data-testid=bundle-lanes] .lane', (xs) =>
    xs.map((x) => x.getAttribute('data-lane')!.split(' ')[0]),
  )
  assert.equal([...new Set(laneNodes)].sort(), ['hub-1', 'member-e2e', 'root'])
  const stepsTimes = await page.evaluate(() => (window as any).__bundles.tl.steps.map((s: any) => s.t))
  assert.equal(
    stepsTimes,
    [...stepsTimes].sort((x: number, y: number) => x - y),
    'one ordered timeline',
  )
  mkdirSync(shots, { recursive: true })
  await page.screenshot({ path: join(shots, 'incident-bundle.png') })
  // chosen actors: the root's notes and the browser's peer session only, on the same clock
  await page.fill('[data-testid=bundle-filter]', 'root, hub_peer')
  const chosen = await page.$$eval('[data-testid=bundle-lanes] .lane', (xs) =>
    xs.map((x) => x.getAttribute('data-lane')),
  )
  assert.equal(chosen, ['root (notes)', 'member-e2e member-e2e/1/hub_peer'])
  await page.fill('[data-testid=bundle-filter]', '')
  // scrub back to the member's ICE restart: the cursor moves there, the lanes show their states then
  const k = await page.evaluate(() => {
    const b = (window as any).__bundles
    const i = b.tl.steps.findIndex((s: any) => s.node === 'member-e2e' && /recovering/.test(JSON.stringify(s.value)))
    b.seek(i)
    return i
  })
  assert.ok(k > 0, 'the recovery is on the timeline')
  assert.match((await page.textContent('[data-testid=bundle-pos]')) ?? '', new RegExp(`^${k + 1}/`))
  const states = await page.$$eval('[data-testid=lane-state]', (xs) => xs.map((x) => x.textContent))
  assert.ok(
    states.some((s) => /recovering/.test(s ?? '')),
    states.join(' | '),
  )
  await page.screenshot({ path: join(shots, 'incident-bundle-recovery.png') })
  await page.close()
})

e2e("root e2e - the hub's inspector links to the root's, which shows its inboxes per hub", async () => {
  const page = await browser.newPage({ viewport: { width: 1300, height: 800 } })
  await page.goto(`${hub.url}/inspector?token=${TOKEN}`)
  const href = await (await page.waitForSelector('[data-testid=root-link]')).getAttribute('href')
  assert.is(href, `${root.url}/inspector`)
  // "Incident ↓": this node's last 5 minutes as a bundle, opened at once
  await page.click('[data-testid=export-bundle]')
  await page.waitForSelector('[data-testid=bundle-lanes] .lane')
  const exported = await page.$$eval('[data-testid=bundle-nodes] .chip', (xs) =>
    xs.map((x) => x.getAttribute('data-node')),
  )
  assert.equal(exported, ['hub-1', 'member-e2e'])
  await page.goto(href!)
  await (await page.waitForSelector('[data-path="inboxes"]')).click()
  await page.waitForFunction(() => /"orders"/.test(document.querySelector('[data-testid=context]')?.textContent ?? ''))
  const ctx = JSON.parse((await page.textContent('[data-testid=context]')) ?? '{}')
  const orders = ctx.hubs['hub-1'].streams.orders
  assert.equal([orders.cursor, orders.applied, orders.duplicates, orders.gaps], [2, 2, 0, 0])
  assert.ok(orders.lastReceivedAt > 0)
  assert.is(ctx.hubs['hub-1'].authority, 'fresh')
  assert.match((await page.textContent('[data-testid=state-value]')) ?? '', /watching/)
  mkdirSync(shots, { recursive: true })
  await page.screenshot({ path: join(shots, 'root-inspector.png') })
  await page.close()
})

e2e('bundle e2e - tampering one event of the browser member makes replay name it and its seq', async () => {
  const lines = readFileSync(file, 'utf8').split('\n')
  const b = parseBundle(lines.join('\n'))
  const log = b.logs.find((l) => l.node === 'member-e2e')!
  // the first event after the start whose snapshot changed: rewrite its type
  const k = log.lines.findIndex((l) => 'event' in l && l.event.type === 'rtc.channel.open')
  assert.ok(k >= 0, 'the member log has a channel open event')
  const ev = log.lines[k] as { seq: number }
  const at = log.firstLine + k // 0-based index of that line in the file (header at firstLine - 1)
  assert.match(lines[at], /rtc\.channel\.open/)
  lines[at] = lines[at].replace('"rtc.channel.open"', '"rtc.channel.close"')
  const bad = join(dir, 'tampered.bundle')
  writeFileSync(bad, lines.join('\n'))
  const r = await aether(['replay', bad, '--verify'])
  assert.is(r.code, 1, r.stdout + r.stderr)
  assert.match(
    r.stdout,
    new RegExp(
      `FAIL +member-e2e +${log.header.actor.replace(/[/.]/g, '\\$&')} \\(peerSession\\): DIVERGED at seq ${ev.seq} `,
    ),
  )
  assert.is((r.stdout.match(/FAIL/g) ?? []).length, 1, 'only that actor fails')
})

e2e.run()
