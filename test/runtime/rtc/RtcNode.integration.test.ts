/**
 * werift <-> werift in Node, both sides driven by the machines and hosted as journaled actors:
 * channels open; media toggles (camera transceiver on/off with renegotiation, hub loopback on/off)
 * never close `events`/`sync` nor lose a message; an upload across the toggles completes with a
 * matching checksum; every actor's journal replays with --verify.
 */
import fc from 'fast-check'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { countRtp } from '../../../runtime/rtc/werift.ts'
import { linkValue, openPair, snap, until, type Pair } from '../../helpers/rtcPair.ts'
import { cliVerify, verifyAll } from '../../helpers/rtcReplay.ts'
import { exitWhenDone, prng } from '../../helpers/rtcPair.ts'

const st = (p: Pair, side: 'member' | 'hub', path: string) =>
  String(snap(side === 'member' ? p.memberSystem : p.hubSystem, path)?.value)

async function connected(p: Pair): Promise<void> {
  await p.member.openSession('hub', `${p.memberId}.g0`)
  await until(
    () => linkValue(p.memberSystem, 'hub/peer') === 'open' && linkValue(p.hubSystem, `${p.memberId}/peer`) === 'open',
    10_000,
    'both sides open',
  )
}

const Open = suite('RtcNode - opening a session')

Open(
  'RtcNode - the first offer and answer are made while the spawns commit and taken by the machines; journals replay',
  async () => {
    const p = await openPair()
    try {
      const up = Promise.all([p.member.whenUp('hub'), p.hub.whenUp('member-1')])
      await p.member.openSession('hub', 'member-1.g0')
      await up
      assert.is(linkValue(p.memberSystem, 'hub/peer'), 'open')
      assert.is(linkValue(p.hubSystem, 'member-1/peer'), 'open')
      assert.equal(
        p.member.executor('hub')!.stats.prepared,
        { taken: 1, unused: 0 },
        'the member offered what it made during its spawn',
      )
      assert.equal(
        p.hub.executor('member-1')!.stats.prepared,
        { taken: 1, unused: 0 },
        'the hub answered with what it made during its spawn',
      )
      const m = snap(p.memberSystem, 'hub/peer').context
      assert.is(m.counters.negotiations, 1)
      assert.is(m.counters.offersMade, 1)
      // the descriptions carry the candidates: nothing had to trickle for the first negotiation
      assert.is(p.carried['rtc.ice'] ?? 0, 0)
      await p.memberSystem.flush()
      await p.hubSystem.flush()
      for (const sys of [p.memberSystem, p.hubSystem]) {
        const v = await verifyAll(sys)
        for (const [path, r] of Object.entries(v)) assert.ok(r.ok, `${path} replays: ${JSON.stringify(r.divergence)}`)
      }
    } finally {
      await p.close()
    }
  },
)

const Media = suite('RtcNode - media toggles keep the peer')

Media(
  'RtcNode - 100 camera and loopback toggles: 0 channel closes, 0 lost messages, upload checksum matches, journals replay',
  async () => {
    const p = await openPair({ uploadRate: 24_000, timings: { probeMs: 250, silenceProbes: 12 } })
    let stopPump = () => {}
    try {
      await connected(p)
      const memberExec = p.member.executor('hub')!
      const hubExec = p.hub.executor('member-1')!

      // messages both ways on `events`, all through the machines (journaled, acknowledged)
      const gotAtHub: number[] = []
      const gotAtMember: number[] = []
      hubExec.onMessage((d: any) => typeof d?.n === 'number' && gotAtHub.push(d.n))
      memberExec.onMessage((d: any) => typeof d?.n === 'number' && gotAtMember.push(d.n))
      let sent = 0
      let sending = true
      stopPump = () => (sending = false)
      const pump = (async () => {
        while (sending) {
          sent++
          p.member.sendMessage('hub', { n: sent })
          p.hub.sendMessage('member-1', { n: sent })
          await new Promise((r) => setTimeout(r, 10))
        }
      })()

      // an upload that runs across the toggles
      const size = 1024 * 1024 + 123
      const bytes = new Uint8Array(size)
      for (let i = 0; i < size; i++) bytes[i] = (i * 2654435761) >>> 24
      const sha = await memberExec.prepareUpload('up1', bytes)
      const up = await p.member.addSubflow('hub', 'file-up1', {
        kind: 'file',
        role: 'send',
        uploadId: 'up1',
        size,
        sha256: sha,
      })
      p.member.dispatch(up, { type: 'media.start' })

      const cam = await p.member.addSubflow('hub', 'camera', { kind: 'camera' })
      let rtp = 0
      let unsub = () => {}
      const ackedAt: number[] = []
      const dump = () => {
        const m = snap(p.memberSystem, 'hub/peer'),
          h = snap(p.hubSystem, 'member-1/peer')
        console.log(
          JSON.stringify({
            mv: m.value,
            hv: h.value,
            mneg: m.context.neg,
            mpend: m.context.pending,
            hneg: h.context.neg,
            mc: m.context.counters,
            hc: h.context.counters,
            cam: snap(p.memberSystem, cam).value,
            me: memberExec.stats,
            he: hubExec.stats,
            hs: p.hub.stats,
            ms: p.member.stats,
            inc: p.hubSystem.incidents.slice(-3),
            minc: p.memberSystem.incidents.slice(-3),
          }),
        )
      }
      for (let i = 0; i < 100; i++) {
        p.member.dispatch(cam, { type: 'media.start' })
        await until(() => st(p, 'member', cam) === 'live', 5000, `camera live (toggle ${i})`).catch(
          (e) => (dump(), Promise.reject(e)),
        )
        p.member.sendMessage('hub', { control: 'subflow', name: 'loopback', op: 'start' })
        await until(
          () => st(p, 'hub', 'member-1/peer/loopback-camera') === 'live',
          5000,
          `loopback live (toggle ${i})`,
        ).catch((e) => {
          console.log(
            snap(p.hubSystem, 'member-1/peer/loopback-camera'),
            snap(p.hubSystem, 'member-1/peer').context.counters,
            snap(p.hubSystem, 'member-1/peer').context.inSeq,
            snap(p.memberSystem, 'hub/peer').context.outSeq,
            snap(p.memberSystem, 'hub/peer').context.unacked.length,
            p.hub.stats,
            p.hubSystem.list(),
          )
          throw e
        })
        if (i === 0) {
          await until(() => !!memberExec.handle?.remoteTrack('camera'), 3000, 'the looped-back track at the member')
          unsub = countRtp(memberExec.handle!.remoteTrack('camera'), () => rtp++)
        }
        if (i % 10 === 0) await until(() => rtp > 0, 3000, 'looped-back RTP at the member')
        p.member.sendMessage('hub', { control: 'subflow', name: 'loopback', op: 'stop' })
        await until(
          () => st(p, 'hub', 'member-1/peer/loopback-camera') === 'stopped',
          5000,
          `loopback stopped (toggle ${i})`,
        ).catch((e) => {
          console.log(
            snap(p.hubSystem, 'member-1/peer/loopback-camera'),
            snap(p.hubSystem, 'member-1/peer').context.counters,
            snap(p.hubSystem, 'member-1/peer').context.inSeq,
            snap(p.memberSystem, 'hub/peer').context.outSeq,
            snap(p.memberSystem, 'hub/peer').context.unacked.length,
            p.hub.stats,
          )
          throw e
        })
        p.member.dispatch(cam, { type: 'media.stop' })
        await until(() => st(p, 'member', cam) === 'stopped', 5000, `camera stopped (toggle ${i})`)
        ackedAt.push(snap(p.memberSystem, up).context.acked)
      }
      unsub()
      sending = false
      await pump
      // the upload was in progress across (at least half of) the toggles
      assert.ok(
        ackedAt[99] < size,
        `the upload ran across all 100 toggles (acked ${ackedAt[99]} of ${size} at the last)`,
      )
      assert.ok(ackedAt[99] > ackedAt[0], 'upload progressed during the toggles')
      memberExec.opts.uploadRate = undefined // lift the pacing: finish now
      await until(
        () => st(p, 'member', up) === 'complete' && st(p, 'hub', 'member-1/peer/file-up1') === 'complete',
        20_000,
        'upload complete',
      ).catch((e) => {
        console.log(
          snap(p.memberSystem, up).value,
          snap(p.memberSystem, up).context,
          snap(p.hubSystem, 'member-1/peer/file-up1')?.value,
          snap(p.hubSystem, 'member-1/peer/file-up1')?.context,
          hubExec.receivedUpload('up1')?.offset,
        )
        throw e
      })
      const received = hubExec.receivedUpload('up1')!
      assert.is(received.bytes.length, size)
      assert.ok(Buffer.from(received.bytes).equals(Buffer.from(bytes)), 'received bytes equal the sent bytes')
      assert.is(snap(p.hubSystem, 'member-1/peer/file-up1').context.sha256, sha)

      await until(() => gotAtHub.length >= sent && gotAtMember.length >= sent, 5000, 'all messages delivered')
      assert.equal(
        gotAtHub,
        Array.from({ length: sent }, (_, i) => i + 1),
        'member -> hub: every message once, in order',
      )
      assert.equal(
        gotAtMember,
        Array.from({ length: sent }, (_, i) => i + 1),
        'hub -> member: every message once, in order',
      )
      assert.ok(sent > 100, `messages flowed during the toggles (${sent})`)

      for (const e of [memberExec, hubExec])
        assert.equal(e.stats.closes, { events: 0, sync: 0 }, 'no close of events/sync')
      for (const [sys, path] of [
        [p.memberSystem, 'hub/peer'],
        [p.hubSystem, 'member-1/peer'],
      ] as const) {
        const c = snap(sys, path).context
        assert.is(c.counters.channelCloses, 0)
        assert.is(c.peerSessionId, 'member-1.g0', 'the peer was never rebuilt')
        assert.is(linkValue(sys, path), 'open')
      }
      assert.ok(rtp > 0, 'looped-back media reached the member')
      const mc = snap(p.memberSystem, 'hub/peer').context.counters
      assert.ok(mc.negotiations >= 200, `a renegotiation per camera start and stop (${mc.negotiations})`)
      assert.is(snap(p.memberSystem, cam).context.counters.starts, 100)

      // journaled: every actor of both sides replays with --verify; the CLI agrees for the peers
      for (const sys of [p.memberSystem, p.hubSystem]) {
        const v = await verifyAll(sys)
        for (const [path, r] of Object.entries(v)) assert.ok(r.ok, `${path} replays: ${JSON.stringify(r.divergence)}`)
      }
      const cli = await cliVerify(p.hubSystem, 'member-1/peer')
      assert.is(cli.code, 0, cli.out)
      assert.match(cli.out, /verified \d+ events/)
    } finally {
      stopPump()
      await p.close()
    }
  },
)

Open.run()
Media.run()

const Subflows = suite('RtcNode - subflows')

Subflows(
  'RtcNode - microphone, camera and screen together; a device that goes away degrades and recovers its subflow without touching the peer',
  async () => {
    const p = await openPair()
    try {
      await connected(p)
      const paths: string[] = []
      for (const kind of ['microphone', 'camera', 'screen'] as const)
        paths.push(await p.member.addSubflow('hub', kind, { kind }))
      for (const path of paths) p.member.dispatch(path, { type: 'media.start' })
      await until(() => paths.every((x) => st(p, 'member', x) === 'live'), 5000, 'all three live')
      assert.equal(snap(p.memberSystem, 'hub/peer').context.negotiatedShape, {
        microphone: 'sendrecv',
        camera: 'sendrecv',
        screen: 'sendrecv',
      })
      const peer0 = snap(p.memberSystem, 'hub/peer').context
      // pause/resume: replaceTrack only, no renegotiation
      p.member.dispatch(paths[1], { type: 'media.pause' })
      await until(() => st(p, 'member', paths[1]) === 'paused', 2000, 'camera paused')
      p.member.dispatch(paths[1], { type: 'media.resume' })
      await until(() => st(p, 'member', paths[1]) === 'live', 2000, 'camera resumed')
      // the devices go away
      ;(p.member.opts.media as any).endAll()
      await until(
        () =>
          paths.every((x) => st(p, 'member', x) === 'live' && snap(p.memberSystem, x).context.counters.recovered >= 1),
        5000,
        'all three re-acquired and live',
      )
      const peer1 = snap(p.memberSystem, 'hub/peer').context
      assert.is(
        peer1.counters.negotiations,
        peer0.counters.negotiations,
        'no renegotiation: the media shape did not change',
      )
      assert.is(peer1.peerSessionId, peer0.peerSessionId)
      for (const x of paths) assert.is(snap(p.memberSystem, x).context.counters.degraded, 1)
      assert.equal(p.member.executor('hub')!.stats.closes, { events: 0, sync: 0 })
      for (const path of paths) p.member.dispatch(path, { type: 'media.stop' })
      await until(() => paths.every((x) => st(p, 'member', x) === 'stopped'), 5000, 'all stopped')
      assert.equal(snap(p.memberSystem, 'hub/peer').context.negotiatedShape, {
        microphone: 'inactive',
        camera: 'inactive',
        screen: 'inactive',
      })
    } finally {
      await p.close()
    }
  },
)

const Glare = suite('RtcNode - glare')

Glare(
  'RtcNode - both sides negotiate at once, 50 seeded rounds: always converges, no error state, one offer wins',
  async () => {
    const rnd = prng(0x6e6f)
    const p = await openPair({ delay: () => Math.floor(rnd() * 12) })
    try {
      await connected(p)
      const m = () => snap(p.memberSystem, 'hub/peer').context
      const h = () => snap(p.hubSystem, 'member-1/peer').context
      const sig = (sys: typeof p.memberSystem, path: string) => snap(sys, path).value.active.signaling
      let glares = 0
      for (let round = 0; round < 50; round++) {
        const m0 = { ...m().counters }
        const h0 = { ...h().counters }
        const hubDelay = Math.floor(rnd() * 4)
        p.member.dispatch('hub/peer', { type: 'peer.negotiate', purpose: 'renegotiate' })
        if (hubDelay) await new Promise((r) => setTimeout(r, hubDelay))
        p.hub.dispatch('member-1/peer', { type: 'peer.negotiate', purpose: 'renegotiate' })
        await until(
          () =>
            sig(p.memberSystem, 'hub/peer') === 'stable' &&
            sig(p.hubSystem, 'member-1/peer') === 'stable' &&
            m().pending === null &&
            h().pending === null &&
            m().neg === null &&
            h().neg === null &&
            m().counters.offersMade > m0.offersMade &&
            h().counters.offersMade > h0.offersMade,
          8000,
          `round ${round} converges`,
        )
        const mc = m().counters
        const hc = h().counters
        assert.is(mc.negotiationErrors + hc.negotiationErrors, 0, 'no negotiation error')
        assert.is(mc.negotiationTimeouts + hc.negotiationTimeouts, 0, 'no negotiation timed out')
        const rolled = mc.glareRolledBack - m0.glareRolledBack
        const ignored = hc.glareIgnored - h0.glareIgnored
        if (rolled > 0 || ignored > 0) {
          glares++
          // one offer won: the hub's. The member gave way (rolled back) and the hub ignored the member's colliding offer.
          assert.ok(
            rolled >= 1 && ignored >= 1,
            `round ${round}: the member rolled back (${rolled}) and the hub ignored its offer (${ignored})`,
          )
        }
        // both offers were carried out in the end (the polite side's request ran after)
        assert.is(
          mc.negotiations - m0.negotiations,
          hc.negotiations - h0.negotiations,
          'both sides completed the same negotiations',
        )
        assert.is(m().remoteDescId, h().remoteDescId, 'both sides agree on the last description')
        for (const [sys, path] of [
          [p.memberSystem, 'hub/peer'],
          [p.hubSystem, 'member-1/peer'],
        ] as const)
          assert.is(linkValue(sys, path), 'open')
      }
      assert.ok(glares >= 10, `seeded timing produced real glare (${glares} of 50 rounds)`)
      for (const e of [p.member.executor('hub')!, p.hub.executor('member-1')!])
        assert.equal(e.stats.closes, { events: 0, sync: 0 })
      for (const sys of [p.memberSystem, p.hubSystem]) {
        const v = await verifyAll(sys)
        for (const [path, r] of Object.entries(v)) assert.ok(r.ok, `${path} replays`)
      }
    } finally {
      await p.close()
    }
  },
)

const Stale = suite('RtcNode - superseded signaling')

Stale(
  'RtcNode - answers and candidates of superseded negotiations and sessions, replayed at the session, are ignored',
  async () => {
    const p = await openPair()
    const toMember: string[] = []
    const toHub: string[] = []
    p.intercept = (to, frame) => {
      ;(to === 'hub' ? toHub : toMember).push(frame)
      return false
    }
    try {
      await connected(p)
      // a few renegotiations, then a full rebuild: everything so far is stale or superseded
      for (let i = 0; i < 3; i++) {
        const n = snap(p.memberSystem, 'hub/peer').context.counters.negotiations
        p.member.dispatch('hub/peer', { type: 'peer.negotiate', purpose: 'renegotiate' })
        await until(
          () =>
            snap(p.memberSystem, 'hub/peer').context.counters.negotiations > n &&
            snap(p.memberSystem, 'hub/peer').value.active.signaling === 'stable',
          5000,
          'renegotiated',
        )
      }
      p.member.dispatch('hub/peer', { type: 'peer.rebuild', reason: 'test: supersede everything so far' })
      await until(
        () =>
          snap(p.memberSystem, 'hub/peer').context.peerSessionId === 'member-1.g1' &&
          linkValue(p.memberSystem, 'hub/peer') === 'open' &&
          linkValue(p.hubSystem, 'member-1/peer') === 'open',
        10_000,
        'rebuilt and open',
      )
      const n0 = snap(p.memberSystem, 'hub/peer').context.counters.negotiations
      p.member.dispatch('hub/peer', { type: 'peer.negotiate', purpose: 'renegotiate' })
      await until(
        () =>
          snap(p.memberSystem, 'hub/peer').context.counters.negotiations > n0 &&
          snap(p.memberSystem, 'hub/peer').value.active.signaling === 'stable',
        5000,
        'renegotiated after the rebuild',
      )
      p.intercept = undefined
      await new Promise((r) => setTimeout(r, 100))

      const oldToMember = toMember.filter((f) => {
        const m = JSON.parse(f).payload
        return m.type === 'rtc.answer' || m.type === 'rtc.ice'
      })
      const lastNeg = snap(p.memberSystem, 'hub/peer').context.remoteDescId
      const replay = oldToMember.filter((f) => JSON.parse(f).payload.negotiationId !== lastNeg)
      const oldToHub = toHub.filter((f) => JSON.parse(f).payload.peerSessionId === 'member-1.g0')
      const mBefore = snap(p.memberSystem, 'hub/peer')
      const hBefore = snap(p.hubSystem, 'member-1/peer')
      const mExec = p.member.executor('hub')!
      for (const f of replay)
        assert.is(await p.member.receive(f), undefined, 'well-formed: accepted at the edge, judged by the session')
      for (const f of oldToHub) await p.hub.receive(f)
      await p.memberSystem.flush()
      await p.hubSystem.flush()
      await new Promise((r) => setTimeout(r, 50))
      const mAfter = snap(p.memberSystem, 'hub/peer')
      const hAfter = snap(p.hubSystem, 'member-1/peer')
      const ignoredM =
        mAfter.context.counters.ignoredSuperseded +
        mAfter.context.counters.ignoredStale -
        (mBefore.context.counters.ignoredSuperseded + mBefore.context.counters.ignoredStale)
      const ignoredH =
        hAfter.context.counters.ignoredSuperseded +
        hAfter.context.counters.ignoredStale -
        (hBefore.context.counters.ignoredSuperseded + hBefore.context.counters.ignoredStale)
      assert.is(ignoredM, replay.length, `every replayed answer/candidate was ignored at the member (${replay.length})`)
      assert.is(
        ignoredH,
        oldToHub.length,
        `every replayed frame of the old session was ignored at the hub (${oldToHub.length})`,
      )
      assert.ok(
        mAfter.context.counters.ignoredSuperseded > mBefore.context.counters.ignoredSuperseded,
        'some were of the superseded session',
      )
      assert.ok(
        mAfter.context.counters.ignoredStale > mBefore.context.counters.ignoredStale,
        'some were of finished negotiations of this session',
      )
      assert.equal(mAfter.value, mBefore.value, 'member state unchanged')
      assert.equal(hAfter.value, hBefore.value, 'hub state unchanged')
      assert.is(mAfter.context.counters.negotiations, mBefore.context.counters.negotiations)
      assert.is(
        mAfter.context.counters.candidatesApplied,
        mBefore.context.counters.candidatesApplied,
        'no stale candidate reached the peer',
      )
      // and the session still works
      let got = 0
      p.hub.executor('member-1')!.onMessage(() => got++)
      p.member.sendMessage('hub', { after: 'replay' })
      await until(() => got === 1, 3000, 'a message after the replay')
      assert.equal(mExec.stats.closes, { events: 0, sync: 0 })
      for (const sys of [p.memberSystem, p.hubSystem]) {
        const v = await verifyAll(sys)
        for (const [path, r] of Object.entries(v)) assert.ok(r.ok, `${path} replays`)
      }
    } finally {
      await p.close()
    }
  },
)

const Fuzz = suite('RtcNode - fuzzed signaling')

Fuzz(
  'RtcNode - fuzzed envelopes (wrong ids, garbage SDP, out of order): typed errors, the sessions stay sound',
  async () => {
    const p = await openPair()
    const seen: { to: string; frame: string }[] = []
    p.intercept = (to, frame) => {
      seen.push({ to, frame })
      return false
    }
    try {
      await connected(p)
      p.member.dispatch('hub/peer', { type: 'peer.negotiate', purpose: 'renegotiate' })
      await until(
        () =>
          snap(p.memberSystem, 'hub/peer').context.counters.negotiations >= 2 &&
          snap(p.memberSystem, 'hub/peer').value.active.signaling === 'stable',
        5000,
        'a second negotiation',
      )
      p.intercept = undefined
      const real = seen.map((s) => ({ to: s.to, env: JSON.parse(s.frame) }))
      const garbageSdp = fc
        .array(fc.stringMatching(/^[a-z]=[ -~]{0,40}$/), { maxLength: 8 })
        .map(
          (lines) =>
            [
              'v=0',
              'o=- 0 0 IN IP4 0.0.0.0',
              'm=fuzz 1 X',
              'a=ice-ufrag:zz',
              'a=fingerprint:sha-256 00',
              ...lines,
            ].join('\r\n') + '\r\n',
        )
      const id = fc.oneof(
        fc.constantFrom('member-1.g0', 'member-1.g7', 'hub', 'member-1.0.1', 'hub.0.9', 'x'),
        fc.stringMatching(/^[A-Za-z0-9_.:-]{1,20}$/),
        fc.string(),
      )
      const frameArb = fc.record({
        pick: fc.nat(real.length - 1),
        field: fc.constantFrom(
          'peerSessionId',
          'negotiationId',
          'sdp',
          'targetNodeId',
          'fromNodeId',
          'candidate',
          'mediaShape',
          'purpose',
          'newPeerSessionId',
          'none',
          'json',
        ),
        id,
        sdp: garbageSdp,
        junk: fc.jsonValue(),
      })
      const frames = fc.sample(frameArb, { numRuns: 300, seed: 42 })
      const errors: Record<string, number> = {}
      let accepted = 0
      for (const f of frames) {
        const { to, env } = real[f.pick]
        const payload = { ...env.payload }
        let text: string
        if (f.field === 'json') text = JSON.stringify(f.junk)
        else {
          if (f.field === 'sdp') payload.sdp = f.sdp
          else if (f.field === 'candidate') payload.candidate = { candidate: String(f.junk) }
          else if (f.field === 'mediaShape') payload.mediaShape = f.junk
          else if (f.field !== 'none') payload[f.field] = f.field === 'purpose' ? f.junk : f.id
          text = JSON.stringify({ ...env, id: `fuzz-${accepted}`, subject: payload.type ?? env.subject, payload })
        }
        const node = to === 'hub' ? p.hub : p.member
        const err = await node.receive(text)
        if (err) {
          assert.ok(err.code && err.field && err.message, 'a typed error')
          errors[err.code] = (errors[err.code] ?? 0) + 1
        } else accepted++
      }
      assert.ok(Object.keys(errors).length >= 2, `typed errors of several kinds: ${JSON.stringify(errors)}`)
      assert.ok(accepted > 0, 'some well-formed but wrong messages reached the sessions (ids, order)')
      // sound: both sessions settle back to open + stable (recovering if the garbage hurt the peer)
      await until(
        () =>
          linkValue(p.memberSystem, 'hub/peer') === 'open' &&
          linkValue(p.hubSystem, 'member-1/peer') === 'open' &&
          snap(p.memberSystem, 'hub/peer').value.active.signaling === 'stable' &&
          snap(p.hubSystem, 'member-1/peer').value.active.signaling === 'stable',
        20_000,
        'both sessions open and stable after the fuzz',
      )
      let got = 0
      p.hub.executor('member-1')!.onMessage(() => got++)
      p.member.sendMessage('hub', { after: 'fuzz' })
      await until(() => got === 1, 10_000, 'a message after the fuzz')
      const mc = snap(p.memberSystem, 'hub/peer').context.counters
      const hc = snap(p.hubSystem, 'member-1/peer').context.counters
      const ignored =
        mc.ignoredStale +
        mc.ignoredSuperseded +
        mc.ignoredUnknown +
        hc.ignoredStale +
        hc.ignoredSuperseded +
        hc.ignoredUnknown
      assert.ok(ignored > 0, 'wrong ids were ignored and counted')
      for (const sys of [p.memberSystem, p.hubSystem]) {
        const v = await verifyAll(sys)
        for (const [path, r] of Object.entries(v)) assert.ok(r.ok, `${path} replays`)
      }
    } finally {
      await p.close()
    }
  },
)

Subflows.run()
Glare.run()
Stale.run()
Fuzz.after(() => exitWhenDone())
Fuzz.run()
