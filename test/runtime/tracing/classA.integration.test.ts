/**
 * Class A frames traced across hub and root (one process each side's features, a nats-server of
 * the test's own): each frame the hub sends is a `classA.send` span whose `traceparent` travels in
 * the NATS message's headers, and the root's `classA.apply` span of that frame is its child.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Hub } from '../../../runtime/Hub.ts'
import { hubLinkFeature } from '../../../runtime/link/linkFeature.ts'
import { rootFeature } from '../../../runtime/root/rootFeature.ts'
import { tracingFeature } from '../../../runtime/tracing/tracingFeature.ts'
import { NatsServer } from '../../helpers/natsServer.ts'
import { tmpDir, until } from '../../helpers/tmp.ts'
import { memoryTracing } from '../../helpers/tracing.ts'

const PRODUCER = 3
const CONSUMER = 4

const t = suite('tracing - Class A frames from hub to root')

t('every frame: a send span on the hub, the root applies it in a child span of the same trace', async () => {
  const nats = await NatsServer.start()
  const hubSide = memoryTracing('aether-hub')
  const rootSide = memoryTracing('aether-root')
  const root = await Hub.start({ data: tmpDir(), token: 'r', hostId: 'root' }, [
    tracingFeature(rootSide.tracing),
    rootFeature({ nats: nats.url, rootId: 'root', sync: false }),
  ])
  const hub = await Hub.start({ data: tmpDir(), token: 't' }, [
    tracingFeature(hubSide.tracing),
    hubLinkFeature({ nats: nats.url, hubId: 'h1', sync: false }),
  ])
  try {
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${hub.url}/api/streams/reports`, {
        method: 'POST',
        headers: { authorization: 'Bearer t', 'content-type': 'application/json' },
        body: JSON.stringify({ payload: { n: i } }),
      })
      assert.ok(res.ok, await res.text())
    }
    const sent = () => hubSide.spans().filter((s) => s.name === 'classA.send' && s.status.code !== 2)
    const reports = () => sent().filter((s) => s.attributes['aether.stream'] === 'reports')
    const applies = () => rootSide.spans().filter((s) => s.name === 'classA.apply')
    await until(
      () =>
        Math.max(0, ...reports().map((s) => Number(s.attributes['aether.cursor.to']))) === 3 &&
        reports().every((s) => applies().some((a) => a.parentSpanId === s.spanId)),
      10_000,
      'the root applied the 3 records of "reports", each frame in a child span',
    )
    assert.ok(applies().length >= 1)
    for (const a of applies()) {
      const send = sent().find((s) => s.spanId === a.parentSpanId)
      assert.ok(send, 'each apply span is the child of a send span')
      assert.is(a.traceId, send!.traceId)
      assert.is(a.kind, CONSUMER)
      assert.is(send!.kind, PRODUCER)
      assert.is(send!.parentSpanId, '', 'a frame starts its trace')
      assert.is(a.attributes['aether.hub'], 'h1')
    }
  } finally {
    await hub.close()
    await root.close()
    await nats.close()
  }
})

t.run()
