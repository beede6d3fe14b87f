/**
 * Negotiation spans of a real peer session (two werift peers, runtime/rtc/RtcNode.ts): the hub's
 * feed observer opens a span per negotiation and ends it when the machine is done with it; the
 * member's offer carries its span's traceparent in the signaling frame, so the hub's span of that
 * negotiation is its child; the session's journal replays exactly with tracing on.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { ActorSpans, signalTraces } from '../../../runtime/tracing/actorSpans.ts'
import { linkValue, openPair, until } from '../../helpers/rtcPair.ts'
import { exportText, verifyAll } from '../../helpers/rtcReplay.ts'
import { memoryTracing } from '../../helpers/tracing.ts'

const t = suite('tracing - negotiation spans of a peer session')

t(
  'the initial negotiation is one trace across member and hub (trace in the signaling frames); replay is unchanged',
  async () => {
    const hubSide = memoryTracing('aether-hub')
    const memberSide = memoryTracing('member')
    const spans: ActorSpans[] = []
    const p = await openPair({
      traces: (system, side) => {
        const s = new ActorSpans((side === 'hub' ? hubSide : memberSide).tracing, system)
        spans.push(s)
        return signalTraces(s)
      },
    })
    try {
      await p.member.openSession('hub', 'member-1.t0')
      await until(
        () => linkValue(p.memberSystem, 'hub/peer') === 'open' && linkValue(p.hubSystem, 'member-1/peer') === 'open',
        10_000,
        'both sides open',
      )
      await until(
        () => hubSide.spans().some((s) => s.name.startsWith('negotiation')),
        5000,
        'the hub ended its negotiation span',
      )
      const neg = hubSide.spans().find((s) => s.name.startsWith('negotiation'))!
      assert.is(neg.attributes['aether.actor'], 'member-1/peer')
      assert.is(neg.attributes['aether.rtc.peer_session'], 'member-1.t0')
      assert.ok(String(neg.attributes['aether.rtc.negotiation']).length > 0)
      const mine = memberSide.spans().find((s) => s.name === 'negotiation initial')!
      assert.ok(mine, "the member's span of its offer")
      assert.is(mine.attributes['aether.rtc.negotiation'], neg.attributes['aether.rtc.negotiation'])
      assert.is(neg.traceId, mine.traceId, 'one trace')
      assert.is(neg.parentSpanId, mine.spanId, "the hub's span is the child of the member's")
      assert.is(p.hub.stats.badTraces, 0)
      for (const s of spans) s.close()
      await p.hubSystem.flush()
      await p.memberSystem.flush()
      for (const sys of [p.hubSystem, p.memberSystem])
        for (const [path, r] of Object.entries(await verifyAll(sys)))
          assert.ok(r.ok && r.events > 0, `${path} replays: ${JSON.stringify(r.divergence)}`)
      const { text } = await exportText(p.hubSystem, 'member-1/peer')
      assert.not.ok(text.includes(neg.traceId), 'no trace id in the journal')
    } finally {
      for (const s of spans) s.close()
      await p.close()
    }
  },
)

t.run()
