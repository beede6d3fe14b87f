import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import fc from 'fast-check'
import { createActor } from 'xstate'
import { SimulatedClock } from '../../actors/index.ts'
import { channelEvents, semanticChannel, type Delivery, type PathId } from '../../machines/semanticChannel.ts'
import type { ChannelFrame } from '../../protocol/channelFrame.ts'

const policy = { freezeMs: 1000, probeBackoffMs: 400, maxProbeBackoffMs: 1600, ackTimeoutMs: 300, maxAttempts: 4 }

/**
 * Two channel ends (a member and its hub) joined by fake paths on one simulated clock. A path
 * carries frames in order with `latency` ms; a cut path drops what is on it and what is sent to it.
 */
function pair(paths: PathId[] = ['direct', 'ws']) {
  const clock = new SimulatedClock(0)
  const alive: Record<string, boolean> = Object.fromEntries(paths.map((p) => [p, true]))
  const probeOk: Record<string, boolean> = Object.fromEntries(paths.map((p) => [p, true]))
  const log: string[] = []
  const delivered = { a: [] as Delivery[], b: [] as Delivery[] }
  const settled: Array<{ id: string; outcome: string }> = []
  const switches: string[] = []
  let a: any
  let b: any
  const make = (name: 'a' | 'b', other: () => any) =>
    createActor(
      semanticChannel.provide({
        actions: {
          transmit: (_: any, p: { path: PathId; frame: ChannelFrame }) => {
            log.push(`${name}>${p.path} ${p.frame.k} ${'id' in p.frame ? p.frame.id : ''}`)
            if (!alive[p.path]) return
            const gen = cut[p.path]
            clock.setTimeout(() => {
              if (alive[p.path] && cut[p.path] === gen) other().send(channelEvents.receive(p.frame, p.path))
            }, 5)
          },
          deliver: (_: any, d: Delivery) => void delivered[name].push(d),
          settled: (_: any, s: { id: string; outcome: string }) => void (name === 'a' && settled.push(s)),
          probe: (_: any, p: { path: PathId }) => {
            if (name !== 'a') return
            clock.setTimeout(() => a.send(channelEvents.probeResult(p.path, probeOk[p.path] && alive[p.path])), 10)
          },
          switched: (_: any, s: { from: PathId | null; to: PathId | null }) =>
            void (name === 'a' && switches.push(`${s.from}->${s.to}`)),
        } as any,
      }),
      { input: { member: 'm1', channel: 'command', paths, session: `s-${name}`, policy }, clock },
    ).start()
  const cut: Record<string, number> = Object.fromEntries(paths.map((p) => [p, 0]))
  a = make('a', () => b)
  b = make('b', () => a)
  for (const p of paths) {
    a.send(channelEvents.up(p))
    b.send(channelEvents.up(p))
  }
  return {
    a,
    b,
    clock,
    log,
    delivered,
    settled,
    switches,
    probeOk,
    /** The path dies: frames in flight on it are lost, both ends notice. */
    kill(p: PathId) {
      alive[p] = false
      cut[p]++
      a.send(channelEvents.down(p, 'cut'))
      b.send(channelEvents.down(p, 'cut'))
    },
    /** The path works again (both ends see it open; it stays frozen until a probe succeeds). */
    heal(p: PathId) {
      alive[p] = true
      a.send(channelEvents.up(p))
      b.send(channelEvents.up(p))
    },
    ctx: () => a.getSnapshot().context,
  }
}

const paths = suite('semanticChannel - one active path, failover, probes back')

paths('the best path is active; on loss the next takes over; a probe brings direct back after the freeze', () => {
  const t = pair()
  assert.is(t.ctx().active, 'direct')
  assert.equal(t.a.getSnapshot().value, { link: 'active', probe: 'idle' })
  t.kill('direct')
  assert.is(t.ctx().active, 'ws')
  assert.is(t.ctx().failovers, 1)
  assert.equal(t.switches, ['null->direct', 'direct->ws'])
  // direct comes back at once, but it is frozen: not used before a probe succeeds
  t.heal('direct')
  assert.is(t.ctx().active, 'ws')
  assert.equal(t.a.getSnapshot().value, { link: 'active', probe: 'waiting' })
  t.clock.increment(999)
  assert.is(t.ctx().active, 'ws')
  t.clock.increment(1)
  assert.equal(t.a.getSnapshot().value, { link: 'active', probe: 'probing' })
  t.clock.increment(10)
  assert.is(t.ctx().active, 'direct')
  assert.equal(t.switches.at(-1), 'ws->direct')
  assert.equal(t.a.getSnapshot().value, { link: 'active', probe: 'idle' })
})

paths('failed probes back off, doubling up to the cap', () => {
  const t = pair()
  t.kill('direct')
  const starts: number[] = []
  let was = ''
  for (let ms = 0; ms < 9000; ms += 10) {
    t.clock.increment(10)
    const now = t.a.getSnapshot().value.probe
    if (now === 'probing' && was !== 'probing') starts.push(t.clock.now())
    was = now
  }
  // first probe after the freeze window; each fails (10 ms to answer), then 400, 800, 1600, 1600 ...
  const gaps = starts.slice(1).map((s, i) => s - starts[i] - 10)
  assert.is(starts[0], 1000)
  assert.equal(gaps.slice(0, 5), [400, 800, 1600, 1600, 1600])
  assert.is(t.ctx().active, 'ws')
})

paths('with every path down the channel is connecting; commands wait and go out when a path comes', () => {
  const t = pair()
  t.kill('direct')
  t.kill('ws')
  assert.equal(t.a.getSnapshot().value.link, 'connecting')
  t.a.send(channelEvents.command('c1', { n: 1 }))
  assert.is(t.ctx().pending[0].state, 'queued')
  t.heal('ws')
  // ws is frozen too (it failed): it comes back through a probe
  t.clock.increment(1000 + 10)
  assert.is(t.ctx().active, 'ws')
  t.clock.increment(20)
  assert.equal(
    t.delivered.b.map((d: any) => d.id),
    ['c1'],
  )
  // three ack timeouts passed while no path existed (counted), the fourth attempt went out on ws
  assert.equal(t.settled, [{ id: 'c1', outcome: 'acked', attempts: 4 }])
})

const cmds = suite('semanticChannel - commands exactly once, in order, across failover')

cmds('commands sent while the direct path dies are delivered once each, in order, acked by id', () => {
  const t = pair()
  for (let i = 1; i <= 10; i++) t.a.send(channelEvents.command(`c${i}`, i))
  t.clock.increment(2) // in flight on direct
  t.kill('direct')
  for (let i = 11; i <= 20; i++) t.a.send(channelEvents.command(`c${i}`, i))
  t.clock.increment(100)
  const ids = t.delivered.b.map((d: any) => d.id)
  assert.equal(
    ids,
    Array.from({ length: 20 }, (_, i) => `c${i + 1}`),
  )
  assert.is(t.settled.length, 20)
  assert.ok(t.settled.every((s) => s.outcome === 'acked'))
  assert.is(t.ctx().pending.length, 0)
})

cmds('a lost ack makes a retransmit; the receiver acks the duplicate and does not deliver it twice', () => {
  const t = pair(['ws'])
  // drop the ack of c1 by delivering c1 by hand and never carrying the answer
  t.b.send(channelEvents.receive({ v: 1, ch: 'command', k: 'cmd', id: 'x1', s: 's-z', seq: 1, p: 1 }, 'ws'))
  t.b.send(channelEvents.receive({ v: 1, ch: 'command', k: 'cmd', id: 'x1', s: 's-z', seq: 1, p: 1 }, 'ws'))
  assert.is(t.delivered.b.filter((d: any) => d.id === 'x1').length, 1)
  assert.is(t.b.getSnapshot().context.duplicates, 1)
  // out of order: 3 waits for 2
  t.b.send(channelEvents.receive({ v: 1, ch: 'command', k: 'cmd', id: 'x3', s: 's-z', seq: 3 }, 'ws'))
  assert.equal(
    t.delivered.b.map((d: any) => d.id),
    ['x1'],
  )
  t.b.send(channelEvents.receive({ v: 1, ch: 'command', k: 'cmd', id: 'x2', s: 's-z', seq: 2 }, 'ws'))
  assert.equal(
    t.delivered.b.map((d: any) => d.id),
    ['x1', 'x2', 'x3'],
  )
  // a new sender session starts over at seq 1
  t.b.send(channelEvents.receive({ v: 1, ch: 'command', k: 'cmd', id: 'y1', s: 's-new', seq: 1 }, 'ws'))
  assert.equal(t.delivered.b.map((d: any) => d.id).at(-1), 'y1')
})

cmds(
  'pending lifecycle: a command without any path times out attempt by attempt, then fails with the ones after it',
  () => {
    const t = pair(['ws'])
    t.kill('ws')
    t.a.send(channelEvents.command('c1'))
    t.a.send(channelEvents.command('c2'))
    t.clock.increment(300)
    assert.is(t.ctx().pending[0].attempts, 2)
    t.clock.increment(300 * 3)
    assert.equal(
      t.settled.map((s) => `${s.id}:${s.outcome}`),
      ['c1:failed', 'c2:failed'],
    )
    assert.is(t.ctx().failed, 2)
  },
)

cmds('property: any schedule of path cuts and heals delivers every command once and in order', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.tuple(
          fc.constantFrom('kill', 'heal', 'send', 'wait'),
          fc.constantFrom('direct', 'ws'),
          fc.integer({ min: 1, max: 400 }),
        ),
        { minLength: 5, maxLength: 60 },
      ),
      (steps) => {
        const t = pair()
        let n = 0
        for (const [op, p, ms] of steps) {
          if (op === 'kill') t.kill(p)
          else if (op === 'heal') t.heal(p)
          else if (op === 'send') t.a.send(channelEvents.command(`c${++n}`, n))
          else t.clock.increment(ms)
        }
        t.heal('direct')
        t.heal('ws')
        t.clock.increment(20_000)
        const ids = t.delivered.b.map((d: any) => d.id)
        const acked = t.settled.filter((s) => s.outcome === 'acked').map((s) => s.id)
        const failed = t.settled.filter((s) => s.outcome === 'failed').map((s) => s.id)
        // delivered in order, each once; everything delivered is acked or was failed by the sender
        assert.equal(ids, [...new Set(ids)])
        assert.equal(
          ids,
          [...ids].sort((x, y) => Number(x.slice(1)) - Number(y.slice(1))),
        )
        for (const id of acked) assert.ok(ids.includes(id), `${id} acked but not delivered`)
        assert.is(acked.length + failed.length, n)
        return true
      },
    ),
    { numRuns: 150, seed: 42 },
  )
})

const misc = suite('semanticChannel - events, subscriptions')

misc('events are delivered once per id; subscriptions are replayed on the new path', () => {
  const t = pair()
  t.a.send(channelEvents.subscribe('room/1'))
  t.a.send(channelEvents.publish('e1', 'hi'))
  t.clock.increment(10)
  t.b.send(channelEvents.receive({ v: 1, ch: 'command', k: 'evt', id: 'e1', p: 'hi' }, 'ws'))
  assert.equal(t.delivered.b.filter((d) => d.kind === 'event').length, 1)
  assert.is(t.b.getSnapshot().context.duplicates, 1)
  t.kill('direct')
  t.clock.increment(10)
  assert.ok(t.log.includes('a>ws sub '), t.log.join('\n'))
  assert.equal(t.delivered.b.filter((d) => d.kind === 'subscribe').length, 2)
})

paths.run()
cmds.run()
misc.run()
