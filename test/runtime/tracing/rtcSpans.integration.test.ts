/**
 * Negotiation spans of a real peer session (two werift peers, runtime/rtc/RtcNode.ts): the hub's
 * feed observer opens a span per negotiation and ends it when the machine is done with it; the
 * session's journal replays exactly with tracing on.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { ActorSpans } from '../../../runtime/tracing/actorSpans.ts'
import { linkValue, openPair, until } from '../../helpers/rtcPair.ts'
import { verifyAll } from '../../helpers/rtcReplay.ts'
import { memoryTracing } from '../../helpers/tracing.ts'

const t = suite('tracing - negotiation spans of a peer session')

t('the initial negotiation is a span on each side; replay is unchanged', async () => {
  const p = await openPair()
  const hubSide = memoryTracing('aether-hub')
  const memberSide = memoryTracing('member')
  const spans = [new ActorSpans(hubSide.tracing, p.hubSystem), new ActorSpans(memberSide.tracing, p.memberSystem)]
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
    assert.ok(memberSide.spans().some((s) => s.name === 'negotiation initial'))
    for (const s of spans) s.close()
    await p.hubSystem.flush()
    await p.memberSystem.flush()
    for (const sys of [p.hubSystem, p.memberSystem])
      for (const [path, r] of Object.entries(await verifyAll(sys)))
        assert.ok(r.ok && r.events > 0, `${path} replays: ${JSON.stringify(r.divergence)}`)
  } finally {
    for (const s of spans) s.close()
    await p.close()
  }
})

t.run()
