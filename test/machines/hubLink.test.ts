import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createActor, fromCallback } from 'xstate'
import { SimulatedClock } from '../../actors/index.ts'
import { hubLink } from '../../machines/index.ts'

function start(input = {}) {
  const clock = new SimulatedClock(0)
  const m = hubLink.provide({ actors: { heartbeats: fromCallback(() => () => {}) as any } })
  const a = createActor(m, {
    input: { hubId: 'h', agingMs: 300, staleMs: 1000, ...input },
    clock: clock as any,
  }).start()
  const ack = () => a.send({ type: 'link.heartbeat.ack', at: clock.now(), rootId: 'r' })
  return { a, clock, ack, v: () => a.getSnapshot().value as { connection: string; authority: string } }
}

const Authority = suite('hubLink - control authority freshness')

Authority('missing until the root answers, then fresh, aging, stale by the thresholds', () => {
  const { clock, ack, v } = start()
  assert.is(v().authority, 'missing')
  clock.increment(5000)
  assert.is(v().authority, 'missing', 'the transport alone never makes authority')
  ack()
  assert.is(v().authority, 'fresh')
  clock.increment(299)
  assert.is(v().authority, 'fresh')
  clock.increment(1)
  assert.is(v().authority, 'aging')
  clock.increment(699)
  assert.is(v().authority, 'aging')
  clock.increment(1)
  assert.is(v().authority, 'stale')
  ack()
  assert.is(v().authority, 'fresh')
})

Authority('each answer restarts the clock; every answer is counted', () => {
  const { a, clock, ack, v } = start()
  for (let i = 0; i < 20; i++) {
    ack()
    clock.increment(250)
    assert.is(v().authority, 'fresh')
  }
  assert.is(a.getSnapshot().context.acks, 20)
})

const Connection = suite('hubLink - connection states')

Connection('connected, degraded after missed heartbeats, reconnecting on transport loss', () => {
  const { a, clock, ack, v } = start({ missedToDegrade: 2 })
  a.send({ type: 'link.connected' })
  assert.is(v().connection, 'connected')
  a.send({ type: 'link.heartbeat.missed', at: clock.now() })
  assert.is(v().connection, 'connected')
  a.send({ type: 'link.heartbeat.missed', at: clock.now() })
  assert.is(v().connection, 'degraded')
  ack()
  assert.is(v().connection, 'connected')
  a.send({ type: 'link.disconnected' })
  assert.is(v().connection, 'reconnecting')
  a.send({ type: 'link.connected' })
  assert.is(v().connection, 'connected')
  assert.is(a.getSnapshot().context.reconnects, 1)
})

Authority.run()
Connection.run()
