import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import WebSocket from 'ws'
import { Hub } from '../../../runtime/Hub.ts'
import { ChannelFeature } from '../../../runtime/channel/channelFeature.ts'
import { MemberChannels, WebSocketPath } from '../../../runtime/browser/memberChannels.ts'
import { sleep, tmpDir, until } from '../../helpers/tmp.ts'

const TOKEN = 'chan-token'
const policy = { freezeMs: 300, probeBackoffMs: 200, maxProbeBackoffMs: 800, ackTimeoutMs: 400, maxAttempts: 50 }

async function setup() {
  const feature = new ChannelFeature()
  const hub = await Hub.start({ data: tmpDir(), token: TOKEN }, [feature])
  const direct = new WebSocketPath({
    url: hub.url,
    member: 'm1',
    token: TOKEN,
    id: 'direct',
    WebSocket,
    heartbeatMs: 100,
    deadAfterMs: 1000,
  })
  const ws = new WebSocketPath({
    url: hub.url,
    member: 'm1',
    token: TOKEN,
    id: 'ws',
    WebSocket,
    heartbeatMs: 100,
    deadAfterMs: 1000,
  })
  const ch = new MemberChannels({ member: 'm1', paths: [direct, ws], policy, channels: ['command'] })
  await until(() => ch.active('command') === 'direct', 5000, 'direct active')
  return { hub, feature, direct, ws, ch }
}

const failover = suite('channels - failover between real sockets')

for (const mode of ['cut', 'silent'] as const) {
  failover(
    `commands during a failover (${mode} loss) are delivered once each, in order; the channel returns to direct after a probe`,
    async () => {
      const { hub, feature, direct, ch } = await setup()
      const switches: string[] = []
      ch.onSwitch((_c, from, to) => switches.push(`${from}->${to}`))
      try {
        const acks: Promise<void>[] = []
        for (let i = 1; i <= 300; i++) {
          acks.push(ch.command('command', { n: i }))
          if (i === 100) {
            if (mode === 'cut') direct.cut()
            else direct.blackhole = true
          }
          if (i % 20 === 0) await sleep(5)
        }
        await Promise.all(acks)
        const got = feature.delivered('m1').map((d: any) => d.payload.n)
        assert.is(got.length, 300)
        assert.equal(
          got,
          Array.from({ length: 300 }, (_, i) => i + 1),
        )
        assert.ok(
          switches.some((x) => x.endsWith('->ws')),
          switches.join(' '),
        )
        direct.blackhole = false
        await until(() => ch.active('command') === 'direct', 5000, 'back to direct')
        assert.ok(switches.at(-1)!.endsWith('->direct'), switches.join(' '))
        // the hub's end saw the same and answered duplicates without delivering them again
        const info = feature.channelInfo('m1', 'command')!
        assert.is(info.delivered, 300)
      } finally {
        ch.close()
        await hub.close()
      }
    },
  )
}

const edge = suite('channels - the /chan edge')

edge('bad frames are refused and counted; the token is required', async () => {
  const feature = new ChannelFeature()
  const hub = await Hub.start({ data: tmpDir(), token: TOKEN }, [feature])
  try {
    const code = (url: string, send?: string) =>
      new Promise<number>((r) => {
        const w = new WebSocket(url)
        w.on('open', () => send !== undefined && w.send(send))
        w.on('close', (c) => r(c))
        w.on('error', () => {})
      })
    const base = hub.url.replace('http', 'ws') + '/chan?member=m2&path=ws'
    assert.is(await code(base + '&token=nope'), 4401)
    assert.is(await code(base.replace('m2', 'bad member') + `&token=${TOKEN}`), 4400)
    for (const bad of [
      'not json',
      '{"v":2}',
      '{"v":1,"ch":"command","k":"cmd","id":"x","s":"s","seq":0}',
      '{"v":1,"ch":"nope","k":"evt","id":"x"}',
    ]) {
      assert.is(await code(base + `&token=${TOKEN}`, bad), 1007, bad)
    }
    assert.is(feature.counters.badFrames, 4)
    assert.equal(feature.delivered('m2'), [])
  } finally {
    await hub.close()
  }
})

failover.run()
edge.run()
