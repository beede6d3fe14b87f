/**
 * Two Chromium pages edit one webspace: A is attached to the root only (`/member/sync?ws=0&relay=
 * ROOT`: its channels and the Yjs document travel browser -> root `/relay` -> NATS -> hub and
 * back), B edits over the hub's WebSocket. A real nats-server on a free port, started and killed
 * by the test. Both documents and the hub's converge holding every edit once; A's commands over the
 * relay are delivered once each, in order; A's updates are acked by the hub (after LevelDB).
 */
import { mkdirSync } from 'node:fs'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { Page } from 'playwright-core'
import { Hub } from '../../../runtime/Hub.ts'
import { ChannelFeature } from '../../../runtime/channel/channelFeature.ts'
import { RelayLinkFeature } from '../../../runtime/channel/relayLinkFeature.ts'
import { SyncPageFeature } from '../../../runtime/channel/syncPageFeature.ts'
import { hubLinkFeature } from '../../../runtime/link/linkFeature.ts'
import { rootFeature } from '../../../runtime/root/rootFeature.ts'
import { WebspaceFeature } from '../../../runtime/webspace/webspaceFeature.ts'
import { launchChromium } from '../../helpers/browser.ts'
import { NatsServer } from '../../helpers/natsServer.ts'
import { startEditing, stopEditing } from '../../helpers/memberPage.ts'
import { sleep, tmpDir, until } from '../../helpers/tmp.ts'

const HUB_TOKEN = 'hub-token'
const ROOT_TOKEN = 'root-token'
const ARTIFACTS = new URL('../../.artifacts/', import.meta.url)

/**
 * A nats-server, a hub (webspaces, channels, the relay link, the /member/sync page) linked to it as
 * `h1`, a root on it whose /relay lets the hub's pages attach (--relay-origin), and Chromium.
 */
async function startRig() {
  const nats = await NatsServer.start()
  const webspaces = new WebspaceFeature()
  const channels = new ChannelFeature()
  const relayLink = new RelayLinkFeature(channels, webspaces)
  const hub = await Hub.start({ data: tmpDir(), token: HUB_TOKEN }, [
    hubLinkFeature({ nats: nats.url, hubId: 'h1', sync: false }),
    webspaces,
    channels,
    relayLink,
    new SyncPageFeature(),
  ])
  // the page comes from the hub; the root lets that origin attach to its /relay (--relay-origin)
  const root = await Hub.start({ data: tmpDir(), token: ROOT_TOKEN, hostId: 'root' }, [
    rootFeature({ nats: nats.url, rootId: 'root', sync: false, relayOrigins: [new URL(hub.url).origin] }),
  ])
  const browser = await launchChromium()
  const ctx = await browser.newContext()
  const open = async (member: string, q: string): Promise<Page> => {
    const page = await ctx.newPage()
    page.on('pageerror', (e) => console.error(`[page ${member}]`, e.message))
    await page.goto(`${hub.url}/member/sync?member=${member}&doc=shared&token=${HUB_TOKEN}${q}`)
    return page
  }
  const close = async () => {
    await browser.close()
    await hub.close()
    await root.close()
    await nats.close()
  }
  return { nats, hub, root, relayLink, webspaces, channels, open, close }
}

const e2e = suite('relay e2e - a Chromium page on the root, one on the hub')

e2e(
  'A edits through the root relay over NATS while B edits over the hub: convergence with every edit once, commands once and in order',
  async () => {
    const { root, relayLink, webspaces, channels, open, close } = await startRig()
    try {
      const a = await open('A', `&ws=0&relay=${encodeURIComponent(root.url)}&hub=h1&rtoken=${ROOT_TOKEN}`)
      const b = await open('B', '')
      const state = (p: Page) =>
        p.evaluate(() => {
          const m = (window as any).aetherMember
          return {
            active: m.active(),
            text: m.text() as string,
            switches: m.switches as string[],
            acked: m.acked.length as number,
            synced: m.client.synced as boolean,
            sent: m.client.sent as number,
            updatesAcked: m.client.acked as number,
            attachment: m.link.attachment as string,
            relay: m.relay?.counters ?? null,
            heals: m.link.heals,
          }
        })
      await until(
        async () => {
          const s = await state(a)
          return (
            s.active.sync === 'relay' && s.active.command === 'relay' && s.active.attachedTo === 'relay' && s.synced
          )
        },
        15_000,
        'A synced over the relay',
      ).catch(async (e) => {
        console.log('A', JSON.stringify(await state(a)))
        throw e
      })
      await until(async () => (await state(b)).synced, 10_000, 'B synced over the hub WebSocket')
      assert.is((await state(b)).active.sync, 'ws')
      const attachment = (await state(a)).attachment

      // both pages edit every 15 ms for 3 s; A also sends a command with each edit
      await startEditing(a, 'A')
      await startEditing(b, 'B')
      await sleep(3000)
      await stopEditing(a)
      await stopEditing(b)
      const edits = async (p: Page) => (await p.evaluate(() => (window as any).edits)) as string[]
      const [ea, eb] = [await edits(a), await edits(b)]
      assert.ok(ea.length >= 20 && eb.length >= 20, `edits: A ${ea.length}, B ${eb.length}`)
      const all = [...ea, ...eb]
      const hubText = () => String(webspaces.host.view('shared')?.t ?? '')
      await until(
        async () => {
          const [ta, tb] = [(await state(a)).text, (await state(b)).text]
          return ta === tb && tb === hubText() && all.every((e) => ta.includes(e))
        },
        15_000,
        'convergence',
      ).catch(async (e) => {
        const [sa, sb] = [await state(a), await state(b)]
        const miss = (t: string) => all.filter((x) => !t.includes(x))
        console.log(
          'missing in A',
          miss(sa.text).length,
          'in B',
          miss(sb.text).length,
          'on hub',
          miss(hubText()).length,
        )
        console.log('A', JSON.stringify({ ...sa, text: sa.text.length }), '\nhub', JSON.stringify(relayLink.counters))
        throw e
      })
      const text = (await state(a)).text
      for (const e of all) assert.is(text.split(e).length - 1, 1, `edit ${e} exactly once`)

      // A stayed on the relay the whole time, on one attachment, and the hub acked every update it sent
      const sa = await state(a)
      assert.is(sa.attachment, attachment, 'one attachment')
      assert.ok(
        sa.switches.every((x) => /-> relay/.test(x)),
        sa.switches.join(' | '),
      )
      await until(
        async () => {
          const s = await state(a)
          return s.updatesAcked === s.sent
        },
        10_000,
        'every update of A acked by the hub',
      )
      assert.ok(sa.sent >= ea.length, `updates sent ${sa.sent} for ${ea.length} edits`)
      assert.ok(relayLink.counters.syncIn >= ea.length, `relayed sync frames at the hub: ${relayLink.counters.syncIn}`)
      const r = await (await fetch(`${root.url}/api/relay`)).json()
      assert.ok(r.counters.syncToHub >= ea.length && r.counters.syncToMember >= eb.length, JSON.stringify(r.counters))
      assert.is(r.counters.badFrames, 0)

      // commands over the relay: every one acked, delivered once each and in order
      const sent = (await a.evaluate(() => (window as any).cmds)) as number
      await until(async () => (await state(a)).acked === sent, 10_000, 'all commands acked')
      assert.equal(
        channels.delivered('A').map((d: any) => d.payload.n),
        Array.from({ length: sent }, (_, i) => i + 1),
      )
      console.log(
        `  ${all.length} edits (A ${ea.length} over the relay, B ${eb.length}), ${sent} commands; relay sync frames to hub ${r.counters.syncToHub}, to member ${r.counters.syncToMember}; A's link heals ${JSON.stringify(sa.heals)}`,
      )
      mkdirSync(ARTIFACTS, { recursive: true })
      await a.screenshot({ path: new URL('relay-e2e-A.png', ARTIFACTS).pathname })
      await b.screenshot({ path: new URL('relay-e2e-B.png', ARTIFACTS).pathname })
    } finally {
      await close()
    }
  },
)

e2e(
  'A on [ws, relay]: its hub WebSocket goes silent mid-edit, sync moves to the relay, comes back to ws by a probe; every edit once',
  async () => {
    const { root, relayLink, webspaces, open, close } = await startRig()
    try {
      const a = await open('A', `&relay=${encodeURIComponent(root.url)}&hub=h1&rtoken=${ROOT_TOKEN}`)
      const b = await open('B', '')
      const state = (p: Page) =>
        p.evaluate(() => {
          const m = (window as any).aetherMember
          return {
            active: m.active(),
            text: m.text() as string,
            switches: m.switches as string[],
            synced: m.client.synced as boolean,
            relayUp: m.channels.actors.get('sync').getSnapshot().context.up.relay as boolean,
          }
        })
      await until(
        async () => {
          const s = await state(a)
          return s.active.attachedTo === 'ws' && s.synced && s.relayUp
        },
        15_000,
        'A synced over ws, relay up',
      )
      await until(async () => (await state(b)).synced, 10_000, 'B synced')
      await Promise.all(
        [a, b].map((p, i) =>
          p.evaluate(
            (who) => {
              const m = (window as any).aetherMember
              const w = window as any
              w.edits = []
              let k = 0
              w.editTimer = setInterval(() => {
                const id = `<${who}${k++}>`
                m.edit(id)
                w.edits.push(id)
              }, 15)
            },
            i === 0 ? 'A' : 'B',
          ),
        ),
      )
      await sleep(300)
      // A's hub WebSocket (the channel path) goes silent and is cut
      await a.evaluate(() => {
        const ws = (window as any).aetherMember.channels.paths.get('ws')
        ws.blackhole = true
        ws.cut()
      })
      await until(async () => (await state(a)).active.attachedTo === 'relay', 10_000, 'A on the relay')
      await sleep(1000)
      await a.evaluate(() => void ((window as any).aetherMember.channels.paths.get('ws').blackhole = false))
      await until(
        async () => (await state(a)).switches.some((x) => x.startsWith('sync: relay -> ws')),
        10_000,
        'A back on ws',
      ).catch(async (e) => {
        console.log('A', JSON.stringify((await state(a)).switches))
        throw e
      })
      await sleep(300)
      for (const p of [a, b]) await stopEditing(p)
      const all = [
        ...((await a.evaluate(() => (window as any).edits)) as string[]),
        ...((await b.evaluate(() => (window as any).edits)) as string[]),
      ]
      const hubText = () => String(webspaces.host.view('shared')?.t ?? '')
      await until(
        async () => {
          const [ta, tb] = [(await state(a)).text, (await state(b)).text]
          return ta === tb && tb === hubText() && all.every((e) => ta.includes(e))
        },
        15_000,
        'convergence',
      )
      const text = (await state(a)).text
      for (const e of all) assert.is(text.split(e).length - 1, 1, `edit ${e} exactly once`)
      const sw = (await state(a)).switches
      assert.ok(
        sw.some((x) => x.startsWith('sync: ws -> relay')),
        sw.join(' | '),
      )
      assert.ok(relayLink.counters.syncIn > 0, 'sync frames went over the relay')
      console.log(
        `  ${all.length} edits; A's switches: ${sw.join(' | ')}; relay sync frames in at the hub ${relayLink.counters.syncIn}`,
      )
      mkdirSync(ARTIFACTS, { recursive: true })
      await a.screenshot({ path: new URL('relay-e2e-switch-A.png', ARTIFACTS).pathname })
    } finally {
      await close()
    }
  },
)

e2e.run()
