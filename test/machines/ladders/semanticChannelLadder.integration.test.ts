/**
 * Model-based ladder test of `semanticChannel` (issue 21.4) against its real executors: the hub's
 * ChannelFeature (durable, so its end is journaled) and a member's MemberChannels over two real
 * WebSocket paths (`direct` and `ws`) to an in-process hub. Faults: the direct socket dropped
 * (cut), the direct path silently losing frames (blackhole: ack timeouts, failed probes), then
 * healed (a probe brings the channel back). Both ends are counted with actors/coverage.ts (the
 * hub's from its journal, the member's from XState's inspection). Invariant: nothing acknowledged
 * lost: every command the hub acked was delivered once, in order.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import WebSocket from 'ws'
import { semanticChannel } from '../../../machines/semanticChannel.ts'
import { MemberChannels, WebSocketPath } from '../../../runtime/browser/memberChannels.ts'
import { ChannelFeature } from '../../../runtime/channel/channelFeature.ts'
import { Hub } from '../../../runtime/Hub.ts'
import { LadderCoverage } from '../../helpers/ladders.ts'
import { sleep, tmpDir, until } from '../../helpers/tmp.ts'

const TOKEN = 'ladder-token'
const policy = { freezeMs: 300, probeBackoffMs: 200, maxProbeBackoffMs: 800, ackTimeoutMs: 400, maxAttempts: 50 }
const coverage = new LadderCoverage(semanticChannel, 'semanticChannel')

const test = suite('semanticChannel ladder under faults (hub ChannelFeature, member over real sockets)')

test('socket dropped, silent loss, heal: failover and back; every acked command delivered once, in order', async () => {
  const feature = new ChannelFeature({ durable: true })
  const hub = await Hub.start({ data: tmpDir('ladder-chan'), token: TOKEN }, [feature])
  const path = (id: string) =>
    new WebSocketPath({ url: hub.url, member: 'm1', token: TOKEN, id, WebSocket, heartbeatMs: 100, deadAfterMs: 600 })
  const direct = path('direct')
  const ws = path('ws')
  const ch = new MemberChannels({ member: 'm1', paths: [direct, ws], policy, channels: ['command'] })
  const stop = coverage.listenActor(ch.actors.get('command')!, 'm1/command')
  const switches: string[] = []
  ch.onSwitch((_c, from, to) => switches.push(`${from}->${to}`))
  try {
    await until(() => ch.active('command') === 'direct', 5000, 'direct active')
    ch.subscribe('command', 'news')
    ch.publish('command', { hello: 1 })
    const acks: Promise<void>[] = []
    const send = async (from: number, to: number) => {
      for (let i = from; i <= to; i++) {
        acks.push(ch.command('command', { n: i }))
        if (i % 10 === 0) await sleep(5)
      }
    }
    await send(1, 30)
    direct.cut() // the socket dropped
    await send(31, 60)
    await until(() => ch.active('command') === 'direct', 10_000, 'back to direct after the cut')
    direct.blackhole = true // frames lost without a close: ack timeouts, failed probes
    await send(61, 90)
    await until(() => ch.active('command') === 'ws', 10_000, 'failover on silence')
    await sleep(1200) // probes over the silent path fail and back off
    direct.blackhole = false
    await until(() => ch.active('command') === 'direct', 10_000, 'back to direct after the heal')
    await send(91, 100)
    await Promise.all(acks)
    ch.actors.get('command')!.send({ type: 'channel.unsubscribe', topic: 'news' })
    const got = feature.delivered('m1').map((d: any) => d.payload.n)
    assert.equal(
      got,
      Array.from({ length: 100 }, (_, i) => i + 1),
    )
    assert.ok(switches.some((x) => x.endsWith('->ws')) && switches.at(-1)!.endsWith('->direct'), switches.join(' '))
    stop()
    for (const a of hub.system.list()) if (a.path.startsWith('member:m1:')) await coverage.addActor(hub.system, a.path)
  } finally {
    ch.close()
    await hub.close()
  }
})

test('ladder coverage >= 90%: both ends under the faults, then graph paths through the hosted actor', async () => {
  const r = coverage.rec.result()
  console.log(
    `executor: ${coverage.line()}; states ${r.summary.statesCovered}/${r.summary.states} (the link and probe ladders are eventless: states count)`,
  )
  const { hosted, unreachable } = await coverage.runPathsHosted([
    {
      member: 'm1',
      channel: 'command',
      paths: ['direct', 'ws'],
      session: 's',
      policy,
    },
  ])
  console.log(`+ hosted paths (${hosted.join(', ') || 'none'}): ${coverage.line()}`)
  assert.equal(unreachable, [])
  assert.ok(coverage.report().pct >= 90, coverage.line())
  assert.is(coverage.rec.result().summary.statesCovered, r.summary.states, 'every state of the ladders entered')
})

test.run()
