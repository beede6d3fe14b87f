/**
 * Two Chromium pages edit one webspace: A over WebRTC (its peer session with the hub: channel
 * frames on `events`, webspace frames on `sync`), B over the hub WebSocket. Mid-edit the hub drops
 * A's peer connection: A's channels fail over to the WebSocket, come back to direct after the
 * session's ladder has recovered the link and a channel probe succeeds, and both documents
 * converge holding every edit; A's commands sent meanwhile reach the hub once each, in order.
 */
import { suite } from 'uvu'
import { exitWhenDone } from '../../helpers/rtcPair.ts'
import * as assert from 'uvu/assert'
import { chromium, type Browser, type Page } from 'playwright-core'
import { Hub } from '../../../runtime/Hub.ts'
import { hubFeatures } from '../../../runtime/hubFeatures.ts'
import type { ChannelFeature } from '../../../runtime/channel/channelFeature.ts'
import type { WebspaceFeature } from '../../../runtime/webspace/webspaceFeature.ts'
import type { RtcFeature } from '../../../runtime/rtc/rtcFeature.ts'
import { startEditing, stopEditing } from '../../helpers/memberPage.ts'
import { sleep, tmpDir, until } from '../../helpers/tmp.ts'

const pick = (o: any, keys: string[]) => Object.fromEntries(keys.map((k) => [k, o?.[k]]))
const TOKEN = 'e2e-token'

async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--allow-loopback-in-peer-connection',
    ],
  })
}

const e2e = suite('sync e2e - two Chromium pages, WebRTC and WebSocket')

e2e(
  'direct path cut mid-edit: failover, return to direct after a probe, convergence, commands once and in order',
  async () => {
    const features = hubFeatures()
    const hub = await Hub.start({ data: tmpDir(), token: TOKEN }, features)
    const webspaces = features.find((f) => f.name === 'webspaces') as WebspaceFeature
    const channels = features.find((f) => f.name === 'channels') as ChannelFeature
    const rtc = features.find((f) => f.name === 'rtc') as RtcFeature
    const browser = await launch()
    try {
      const ctx = await browser.newContext()
      const open = async (member: string, direct: boolean): Promise<Page> => {
        const page = await ctx.newPage()
        page.on('pageerror', (e) => console.error(`[page ${member}]`, e.message))
        await page.goto(`${hub.url}/member/sync?member=${member}&doc=shared&token=${TOKEN}${direct ? '&direct=1' : ''}`)
        return page
      }
      const a = await open('A', true)
      const b = await open('B', false)
      const state = (p: Page) =>
        p.evaluate(() => {
          const m = (window as any).aetherMember
          return {
            active: m.active(),
            text: m.text(),
            switches: m.switches as string[],
            acked: m.acked.length as number,
            synced: m.client.synced as boolean,
          }
        })
      await until(
        async () => {
          const s = await state(a)
          return (
            s.active.sync === 'direct' && s.active.command === 'direct' && s.active.attachedTo === 'direct' && s.synced
          )
        },
        10_000,
        'A on the direct path',
      ).catch(async (e) => {
        console.log(JSON.stringify(await state(a)), JSON.stringify(await state(b)))
        const pl = features.find((f) => f.name === 'peerLink') as any
        const ex = rtc.node?.executor('A')
        console.log('hub', JSON.stringify({ peerLink: pl.counters, linkUp: ex?.linkUp, stats: ex?.stats }))
        console.log('A', JSON.stringify(await a.evaluate(() => (window as any).aetherMember.direct?.syncCounters)))
        throw e
      })
      await until(async () => (await state(b)).synced, 10_000, 'B synced over the WebSocket')
      assert.is((await state(b)).active.sync, 'ws')

      // both pages edit; A also sends a command every 15 ms
      await startEditing(a, 'A')
      await startEditing(b, 'B')
      await sleep(400)
      // the cut: the hub drops A's peer connection (werift), while A is on it (on a loaded machine a
      // false alarm of the session's probe can have A recovering at this moment: then wait)
      let switchesBeforeCut = 0
      await until(
        async () => {
          const s = await state(a)
          if (s.active.sync !== 'direct') return false
          switchesBeforeCut = s.switches.length
          const exec = rtc.node?.executor('A')
          if (!exec?.linkUp || !exec.handle) return false
          exec.handle.close()
          return true
        },
        8000,
        'A on the direct path, and the hub cut it',
      ).catch(async (e) => {
        console.log('A', JSON.stringify((await state(a)).switches))
        throw e
      })
      // the switch log, not the momentary state: a poll can miss a short stay on ws
      await until(
        async () =>
          (await state(a)).switches.slice(switchesBeforeCut).some((x) => /^sync: (direct|null) -> ws/.test(x)),
        8000,
        'A failed over to the WebSocket',
      ).catch(async (e) => {
        console.log('A', JSON.stringify((await state(a)).switches))
        throw e
      })
      await sleep(300)
      // back: both channels returned to direct by a probe (from the switch log: a poll of the
      // momentary state can miss a stay that a later false alarm ends). The session's ladder
      // brings the link back: against a hub peer that is gone, its ICE restart and renegotiation
      // rungs time out (2 s each) before the rebuild makes a new peer, so this waits up to 20 s
      // (DirectPath re-dialed at once; how long recovery takes is the rtc bench's concern)
      const back = (sw: string[], ch: string) =>
        sw.slice(switchesBeforeCut).some((x) => x.startsWith(`${ch}: ws -> direct`) && x.includes('probe'))
      await until(
        async () => {
          const s = await state(a)
          return back(s.switches, 'sync') && back(s.switches, 'command')
        },
        20_000,
        'A back on direct after a probe',
      ).catch(async (e) => {
        // the switches and paths, not the document's text (which filled the printout before)
        const st = (await state(a)) as { switches: string[]; active: unknown }
        console.log('A switches', JSON.stringify(st.switches), 'active', JSON.stringify(st.active))
        // both ends of the session: the member's machine (rung climbed, rebuilds, failure) and the hub's
        const session = (s: any) =>
          s && {
            value: s.value,
            ...pick(s.context, ['peerSessionId', 'rung', 'climbed', 'rebuilds', 'failure', 'recoveries']),
          }
        console.log(
          'A session',
          JSON.stringify(
            await a
              .evaluate(() => {
                const m = (window as any).aetherMember.peer
                const snap = [...m.actors.values()][0]?.getSnapshot()
                return { value: snap?.value, context: snap?.context, exec: m.exec.stats, log: m.log.slice(-20) }
              })
              .then((x: any) => ({ ...session(x), exec: x.exec, log: x.log })),
          ),
        )
        const node = rtc.node!
        const hubSession = node.system.hosted(node.peerPath('A'))?.actor?.getSnapshot()
        console.log(
          'hub session',
          JSON.stringify(session(hubSession)),
          'exec',
          JSON.stringify(node.executor('A')?.stats),
        )
        // the hub session's journal, an event a line (type, session, negotiation, purpose)
        const log = await fetch(`${hub.url}/api/actors/${node.peerPath('A')}/log?snapshots=stored`, {
          headers: { authorization: `Bearer ${TOKEN}` },
        }).then((r) => r.text())
        for (const line of log.split('\n').filter(Boolean)) {
          const r = JSON.parse(line)
          const ev = r.event ?? r
          console.log(
            ' ',
            r.seq ?? '',
            ev.type,
            ev.peerSessionId ?? '',
            ev.negotiationId ?? '',
            ev.purpose ?? ev.op ?? ev.reason ?? ev.message ?? '',
          )
        }
        throw e
      })
      await sleep(300)
      await stopEditing(a)
      await stopEditing(b)
      const edits = async (p: Page) => (await p.evaluate(() => (window as any).edits)) as string[]
      const all = [...(await edits(a)), ...(await edits(b))]
      await until(
        async () => {
          const [ta, tb] = [(await state(a)).text, (await state(b)).text]
          return ta === tb && all.every((e) => ta.includes(e))
        },
        10_000,
        'convergence',
      ).catch(async (e) => {
        const [sa, sb] = [await state(a), await state(b)]
        const hubText = String(webspaces.host.view('shared')!.t ?? '')
        const miss = (t: string) => all.filter((x) => !t.includes(x))
        const extra = (p: Page) =>
          p.evaluate(() => {
            const m = (window as any).aetherMember
            return {
              current: m.link.current,
              attachment: m.link.attachment,
              synced: m.client.synced,
              sent: m.client.sent,
              acked: m.client.acked,
              direct: m.direct?.syncCounters,
              link: m.peer?.exec.linkUp,
              length: m.text().length,
            }
          })
        const direct = features.find((f) => f.name === 'peerLink') as any
        console.log(
          'hub',
          JSON.stringify({
            length: hubText.length,
            direct: direct.counters,
            webspaces: webspaces.host.counters,
            status: webspaces.host.status('shared'),
          }),
        )
        console.log(
          'missing in A',
          miss(sa.text).slice(0, 10),
          miss(sa.text).length,
          '\nmissing in B',
          miss(sb.text).slice(0, 10),
          miss(sb.text).length,
          '\nmissing on hub',
          miss(hubText).slice(0, 10),
          miss(hubText).length,
        )
        console.log('A', JSON.stringify(await extra(a)), sa.switches, '\nB', JSON.stringify(await extra(b)))
        throw e
      })
      const text = (await state(a)).text
      for (const e of all) assert.is(text.split(e).length - 1, 1, `edit ${e} exactly once`)
      assert.is(webspaces.host.view('shared')!.t, text, 'the hub holds the same text')

      // commands: every one acked, delivered to the hub once each and in order
      const sent = (await a.evaluate(() => (window as any).cmds)) as number
      await until(async () => (await state(a)).acked === sent, 10_000, 'all commands acked')
      const delivered = channels.delivered('A').map((d: any) => d.payload.n)
      assert.equal(
        delivered,
        Array.from({ length: sent }, (_, i) => i + 1),
      )
      const sw = (await state(a)).switches
      // failover: straight to ws, or (when ws was frozen by a false alarm of its own heartbeat on
      // this loaded machine) through "no path" until a probe of ws succeeded
      const away = sw.findIndex((s) => s.startsWith('sync: direct -> ws') || s.startsWith('sync: direct -> null'))
      assert.ok(away >= 0, sw.join('\n'))
      assert.ok(
        sw.slice(away).some((s) => /^sync: (direct|null) -> ws/.test(s)),
        sw.join('\n'),
      )
      assert.ok(
        sw.some((s) => s.startsWith('sync: ws -> direct') && s.includes('probe')),
        sw.join('\n'),
      )
      console.log(`  ${all.length} edits, ${sent} commands; A's switches:\n    ${sw.join('\n    ')}`)
      await a.screenshot({ path: '/tmp/aether-sync-e2e-A.png' })
      await b.screenshot({ path: '/tmp/aether-sync-e2e-B.png' })
    } finally {
      await browser.close()
      await hub.close()
    }
  },
)

// werift leaves UDP sockets open after a peer closes (a known leftover, see the closing notes): the
// process ends once the suite is done, passed or failed, instead of waiting for the runner's limit
e2e.after(() => exitWhenDone())

e2e.run()
