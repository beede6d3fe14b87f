/**
 * Path loss between two werift peers driven by the machines: all traffic crosses UDP relays on
 * 127.0.0.1 (candidates rewritten), the test kills the relays, and the recovery ladder must
 * bring messages back. Which rung recovered is recorded in the session's context and printed.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { exitWhenDone, fastLadder, linkValue, openPair, snap, until, type Pair } from '../../helpers/rtcPair.ts'
import { cliVerify, exportText, verifyAll } from '../../helpers/rtcReplay.ts'
import { RelayNet } from '../../helpers/udpRelay.ts'

const timings = fastLadder

async function relayedPair(t: typeof timings = timings): Promise<{ p: Pair; net: RelayNet }> {
  const net = await RelayNet.create()
  const p = await openPair({
    memberWerift: { rewriteCandidate: net.rewrite },
    hubWerift: { rewriteCandidate: net.rewrite },
    timings: t,
  })
  await p.member.openSession('hub', 'member-1.g0')
  await until(
    () => linkValue(p.memberSystem, 'hub/peer') === 'open' && linkValue(p.hubSystem, 'member-1/peer') === 'open',
    10_000,
    'both sides open',
  )
  assert.ok(net.forwarded > 0, 'traffic crosses the relays')
  return { p, net }
}

/** The link states the journal shows, in order (from the exported log's snapshot lines). */
async function journaledLinkStates(p: Pair): Promise<string[]> {
  const { text } = await exportText(p.memberSystem, 'hub/peer')
  const seen: string[] = []
  for (const line of text.trimEnd().split('\n').slice(1)) {
    const l = JSON.parse(line)
    if (!l.snapshot) continue
    const v = l.snapshot.value?.active?.link
    const s = typeof v === 'string' ? v : v ? `recovering.${v.recovering}` : String(v)
    if (seen[seen.length - 1] !== s) seen.push(s)
  }
  return seen
}

async function messagesFlowAgain(p: Pair, during: number[]): Promise<void> {
  const got: number[] = []
  p.hub.executor('member-1')!.onMessage((d: any) => typeof d?.k === 'number' && got.push(d.k))
  for (const k of during) p.member.sendMessage('hub', { k })
  p.member.sendMessage('hub', { k: 999 })
  await until(() => got.includes(999), 10_000, 'a message after the recovery')
  await until(() => got.length >= during.length + 1, 5000, 'messages sent during the outage')
  assert.equal(got.slice(-(during.length + 1)), [...during, 999], 'messages of the outage re-sent once, in order')
}

const Ladder = suite('recovery - the ladder')

Ladder('recovery - path loss with new paths available: the ICE restart rung recovers', async () => {
  // a generous rung deadline: this test is about which rung can recover, not how fast (the bench is)
  const { p, net } = await relayedPair({ ...timings, iceRestartMs: 8000 })
  try {
    const n0 = snap(p.memberSystem, 'hub/peer').context.recoveries.length
    const t0 = Date.now()
    net.breakAll()
    // messages sent into the dead path: unacknowledged, re-sent after the recovery
    await new Promise((r) => setTimeout(r, 200))
    for (const k of [1, 2, 3]) p.member.sendMessage('hub', { k })
    await until(
      () =>
        snap(p.memberSystem, 'hub/peer').context.recoveries.length > n0 &&
        linkValue(p.memberSystem, 'hub/peer') === 'open',
      15_000,
      'recovered',
    )
    const rec = snap(p.memberSystem, 'hub/peer').context.recoveries.at(-1)
    console.log(
      `  path loss -> delivering again in ${Date.now() - t0} ms; climbed ${rec.climbed.join(' -> ')}; recovered by ${rec.recoveredBy}`,
    )
    assert.is(rec.recoveredBy, 'ice-restart')
    assert.equal(rec.climbed, ['ice-restart'])
    assert.is(rec.toSession, 'member-1.g0', 'same session: no rebuild')
    const got: number[] = []
    p.hub.executor('member-1')!.onMessage((d: any) => typeof d?.k === 'number' && got.push(d.k))
    p.member.sendMessage('hub', { k: 999 })
    await until(() => got.includes(999), 5000, 'a message after the recovery')
    const hubIn = snap(p.hubSystem, 'member-1/peer').context
    assert.is(
      hubIn.inSeq,
      snap(p.memberSystem, 'hub/peer').context.outSeq,
      'the hub has every message the member sent (those of the outage re-sent)',
    )
    const states = await journaledLinkStates(p)
    assert.ok(states.includes('recovering.iceRestart'), `the rung is in the journal: ${states.join(', ')}`)
    await until(() => linkValue(p.hubSystem, 'member-1/peer') === 'open', 5000, 'the hub follows back to open')
    for (const sys of [p.memberSystem, p.hubSystem]) {
      const v = await verifyAll(sys)
      for (const [path, r] of Object.entries(v)) assert.ok(r.ok, `${path} replays`)
    }
  } finally {
    await p.close()
    net.close()
  }
})

Ladder(
  'recovery - path loss the old session cannot escape: ice-restart -> renegotiate -> rebuild, each rung journaled',
  async () => {
    const { p, net } = await relayedPair()
    try {
      // a camera subflow is live when the path goes: it degrades with the peer and comes back on the rebuilt one
      const cam = await p.member.addSubflow('hub', 'camera', { kind: 'camera' })
      p.member.dispatch(cam, { type: 'media.start' })
      await until(() => String(snap(p.memberSystem, cam).value) === 'live', 5000, 'camera live')
      const n0 = snap(p.memberSystem, 'hub/peer').context.recoveries.length
      const t0 = Date.now()
      net.breakAll()
      net.blockSession('member-1.g0')
      await new Promise((r) => setTimeout(r, 200))
      const during = [11, 12, 13]
      for (const k of during) p.member.sendMessage('hub', { k })
      await until(
        () =>
          snap(p.memberSystem, 'hub/peer').context.recoveries.length > n0 &&
          linkValue(p.memberSystem, 'hub/peer') === 'open',
        20_000,
        'recovered',
      )
      const c = snap(p.memberSystem, 'hub/peer').context
      const rec = c.recoveries.at(-1)
      console.log(
        `  path loss -> delivering again in ${Date.now() - t0} ms; climbed ${rec.climbed.join(' -> ')}; recovered by ${rec.recoveredBy}`,
      )
      assert.equal(rec.climbed, ['ice-restart', 'renegotiate', 'rebuild'])
      assert.is(rec.recoveredBy, 'rebuild')
      assert.is(c.peerSessionId, 'member-1.g1', 'a new peerSessionId')
      assert.match(rec.reason, /probe silent/)
      await until(
        () =>
          linkValue(p.hubSystem, 'member-1/peer') === 'open' &&
          snap(p.hubSystem, 'member-1/peer').context.peerSessionId === 'member-1.g1',
        5000,
        'the hub adopted the new session',
      )
      await messagesFlowAgain(p, [])
      await until(
        () => String(snap(p.memberSystem, cam).value) === 'live',
        5000,
        'the camera live again on the rebuilt peer',
      )
      const camCounters = snap(p.memberSystem, cam).context.counters
      assert.ok(
        camCounters.degraded >= 1 && camCounters.recovered >= 1,
        `the camera degraded and recovered by itself (${JSON.stringify(camCounters)})`,
      )
      assert.is(camCounters.starts, 1, 'nobody restarted it')
      assert.equal(
        snap(p.memberSystem, 'hub/peer').context.negotiatedShape.camera,
        'sendrecv',
        'the rebuilt peer publishes the camera',
      )
      const hubIn = snap(p.hubSystem, 'member-1/peer').context
      assert.is(
        hubIn.inSeq,
        snap(p.memberSystem, 'hub/peer').context.outSeq,
        'every message arrived, those of the outage re-sent on the new peer',
      )
      assert.ok(hubIn.recoveryReason === null && hubIn.recoveries.at(-1).recoveredBy === 'follow')

      const states = await journaledLinkStates(p)
      const i = states.indexOf('recovering.iceRestart')
      assert.ok(i > 0, `journal: ${states.join(', ')}`)
      assert.equal(
        states.slice(i, i + 4),
        ['recovering.iceRestart', 'recovering.renegotiate', 'recovering.rebuild', 'open'],
        'each rung is in the journal, in order',
      )
      // and the supersede with its reason was journaled on the hub
      const { text } = await exportText(p.hubSystem, 'member-1/peer')
      assert.match(text, /"type":"rtc.supersede","peerSessionId":"member-1.g0"[^\n]*"newPeerSessionId":"member-1.g1"/)
      for (const sys of [p.memberSystem, p.hubSystem]) {
        const v = await verifyAll(sys)
        for (const [path, r] of Object.entries(v)) assert.ok(r.ok, `${path} replays`)
      }
      const cli = await cliVerify(p.memberSystem, 'hub/peer')
      assert.is(cli.code, 0, cli.out)
    } finally {
      await p.close()
      net.close()
    }
  },
)

Ladder.after(() => exitWhenDone())
Ladder.run()
