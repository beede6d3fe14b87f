/**
 * The probe watchdog (runtime/rtc/ProbeWatchdog.ts) on its own: a leader and a follower joined by a
 * fake link that can be cut, with a fake transport acknowledgement (`delivered`). Idle pings go
 * quiet when the host can tell its transport's acknowledgement; busy and proving pings ask a pong;
 * a lost path is told silent within the documented bounds; an idle watchdog wakes rarely.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { ProbeWatchdog, type ProbeHost } from '../../../runtime/rtc/ProbeWatchdog.ts'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const PS = 'ps-1'
const timings = { probeMs: 40, idleProbeMs: 200, silenceProbes: 4 }
const watch = (n: number, mode: 'live' | 'prove' | 'off') =>
  ({ op: 'watch', peerSessionId: PS, watch: n, mode, ...timings }) as const

interface Frame {
  t: 'ping' | 'pong' | 'off'
  seq: number
  q?: 1
}

/** Two watchdogs on a link; `up` false drops every frame and the acknowledgement. */
function pair(opts: { acks: boolean }) {
  const link = { up: true, busy: false }
  const frames: { from: 'leader' | 'follower'; f: Frame }[] = []
  const verdicts: { side: string; type: string; at: number }[] = []
  const t0 = Date.now()
  let leader: ProbeWatchdog
  let follower: ProbeWatchdog
  const host = (side: 'leader' | 'follower'): ProbeHost => ({
    send: (_ps, f) => {
      frames.push({ from: side, f })
      if (!link.up) return true
      const to = side === 'leader' ? follower : leader
      setTimeout(
        () => (f.t === 'ping' ? to.onPing(PS, f.seq, f.q === 1) : f.t === 'pong' ? to.onPong(PS, f.seq) : to.onOff()),
        1,
      )
      return true
    },
    busy: () => link.busy,
    verdict: (e) => verdicts.push({ side, type: e.type, at: Date.now() - t0 }),
    ...(opts.acks ? { delivered: () => link.up } : {}),
  })
  leader = new ProbeWatchdog(true, host('leader'))
  follower = new ProbeWatchdog(false, host('follower'))
  return { link, frames, verdicts, leader, follower, t0 }
}

const t = suite('ProbeWatchdog')

t('idle with transport acknowledgements: quiet pings, no pongs, no verdict', async () => {
  const p = pair({ acks: true })
  p.leader.watch(watch(1, 'live'))
  p.follower.watch(watch(1, 'live'))
  await sleep(1300)
  const pings = p.frames.filter((x) => x.f.t === 'ping')
  assert.ok(pings.length >= 4 && pings.length <= 8, `about one ping per idleProbeMs (${pings.length})`)
  assert.ok(
    pings.slice(1).every((x) => x.f.q === 1),
    'idle pings after the first are quiet',
  )
  assert.equal(p.frames.filter((x) => x.f.t === 'pong').length, pings.filter((x) => x.f.q !== 1).length)
  assert.equal(p.verdicts, [])
  assert.equal(p.leader.stats.latePings, 0)
  p.leader.stop()
  p.follower.stop()
})

t('without transport acknowledgements every ping asks a pong', async () => {
  const p = pair({ acks: false })
  p.leader.watch(watch(1, 'live'))
  p.follower.watch(watch(1, 'live'))
  await sleep(700)
  const pings = p.frames.filter((x) => x.f.t === 'ping')
  assert.ok(pings.length >= 2)
  assert.ok(pings.every((x) => x.f.q === undefined))
  assert.ok(p.leader.stats.pongsReceived >= pings.length - 1)
  assert.equal(p.verdicts, [])
  p.leader.stop()
  p.follower.stop()
})

t('a busy session pings every probeMs from the poke on, asking pongs', async () => {
  const p = pair({ acks: true })
  p.leader.watch(watch(1, 'live'))
  p.follower.watch(watch(1, 'live'))
  await sleep(300)
  p.link.busy = true
  p.leader.poke()
  const n0 = p.frames.length
  await sleep(400)
  const pings = p.frames.slice(n0).filter((x) => x.f.t === 'ping')
  assert.ok(pings.length >= 6, `pings at probeMs once busy (${pings.length})`)
  assert.ok(
    pings.every((x) => x.f.q === undefined),
    'busy pings ask a pong',
  )
  p.leader.stop()
  p.follower.stop()
})

for (const acks of [true, false])
  t(`an idle session's lost path is told silent on both sides in time (acks: ${acks})`, async () => {
    const p = pair({ acks })
    p.leader.watch(watch(1, 'live'))
    p.follower.watch(watch(1, 'live'))
    await sleep(500)
    p.link.up = false
    const cut = Date.now() - p.t0
    await sleep(1400)
    const leader = p.verdicts.find((v) => v.side === 'leader')
    const follower = p.verdicts.find((v) => v.side === 'follower')
    assert.equal(leader?.type, 'probe.silent')
    assert.equal(follower?.type, 'probe.silent')
    // leader: the next idle ping, then silenceProbes + 1 pings at probeMs (timers' slack added)
    const { probeMs, idleProbeMs, silenceProbes } = timings
    assert.ok(leader!.at - cut <= idleProbeMs + (silenceProbes + 2) * probeMs + 150, `leader ${leader!.at - cut} ms`)
    assert.ok(
      follower!.at - cut <= 2 * idleProbeMs + (silenceProbes + 1) * probeMs + 150,
      `follower ${follower!.at - cut}`,
    )
    assert.equal(p.verdicts.length, 2, 'one verdict per watch and side')
    p.leader.stop()
    p.follower.stop()
  })

t('prove: the first pong after the watch began is the verdict, once', async () => {
  const p = pair({ acks: true })
  p.leader.watch(watch(2, 'prove'))
  p.follower.watch(watch(2, 'prove'))
  await sleep(240)
  assert.equal(
    p.verdicts.map((v) => `${v.side} ${v.type}`),
    ['follower probe.answered', 'leader probe.answered'],
  )
  assert.ok(
    p.frames.filter((x) => x.f.t === 'ping').every((x) => x.f.q === undefined),
    'proving pings ask pongs',
  )
  p.leader.stop()
  p.follower.stop()
})

t('a follower whose session failed (watch off) answers no ping: the open leader is told silent', async () => {
  const p = pair({ acks: true })
  p.leader.watch(watch(1, 'live'))
  p.follower.watch(watch(1, 'live'))
  await sleep(600)
  const t1 = Date.now() - p.t0
  p.follower.watch(watch(2, 'off'))
  await sleep(1200)
  const v = p.verdicts.find((x) => x.side === 'leader')
  assert.equal(v?.type, 'probe.silent', 'the leader, its transport acknowledging all, is told silent')
  assert.ok(v!.at - t1 <= 1100, `within an idle ping and the silence (${v!.at - t1} ms)`)
  assert.ok(p.frames.some((x) => x.f.t === 'off'))
  p.leader.stop()
  p.follower.stop()
})

t('an idle follower wakes about once per silence window, not every probeMs', async () => {
  const p = pair({ acks: true })
  let wakes = 0
  const real = globalThis.setTimeout
  p.leader.watch(watch(1, 'live'))
  ;(globalThis as any).setTimeout = (fn: () => void, ms: number) => {
    if (ms >= timings.probeMs) wakes++
    return real(fn, ms)
  }
  try {
    p.follower.watch(watch(1, 'live'))
    await sleep(1000)
  } finally {
    globalThis.setTimeout = real
  }
  // the leader's idle pings (~5, each looked at once more) and the follower's few looks; a tick
  // every probeMs would be 2 x 25
  assert.ok(wakes <= 20, `${wakes} timers armed in 1000 ms`)
  p.leader.stop()
  p.follower.stop()
})

t.run()
