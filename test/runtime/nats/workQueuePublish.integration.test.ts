/**
 * WorkQueueLink.publish (runtime/nats/NatsTransport.ts): JetStream publishes acknowledged through
 * one inbox, on a nats-server of the test's own: stored once per message id, refused with a typed
 * error when no stream takes the subject, timed out when the server stops answering, and stored
 * after the server comes back when the caller publishes again.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { PublishError, WorkQueueLink } from '../../../runtime/nats/NatsTransport.ts'
import { NatsServer } from '../../helpers/natsServer.ts'

const t = suite('WorkQueueLink.publish - PubAcks through one inbox (own nats-server)')
const te = new TextEncoder()

t(
  'stores each message once per id, counts duplicates as acked, refuses a subject without a stream, times out on a stopped server',
  async () => {
    const nats = await NatsServer.start()
    const link = await WorkQueueLink.connect(nats.url, 'publish-test')
    try {
      await link.ensure({
        stream: 'PUBT',
        subject: 'pubt.work',
        consumer: 'w',
        ackWaitMs: 5000,
        maxDeliver: 3,
        maxAckPending: 1000,
        duplicateWindowMs: 60_000,
      })
      // 500 publishes in flight at once, then the same 500 ids again: all acked, 500 stored
      const ids = Array.from({ length: 500 }, (_, i) => `m${i}`)
      await Promise.all(ids.map((id) => link.publish('pubt.work', te.encode(JSON.stringify({ id })), id, 5000)))
      await Promise.all(ids.map((id) => link.publish('pubt.work', te.encode(JSON.stringify({ id })), id, 5000)))
      const { connect } = await import('nats')
      const nc = await connect({ servers: nats.url })
      const info = await (await nc.jetstreamManager()).streams.info('PUBT')
      assert.is(info.state.messages, 500)
      // what the consumer gets is what was published, in order
      const items = await link.consume('PUBT', 'w', 100)
      const got: string[] = []
      for await (const m of items) {
        got.push(JSON.parse(new TextDecoder().decode(m.data)).id)
        m.ack()
        if (got.length === 500) break
      }
      items.stop()
      assert.equal(got, ids)
      await nc.close()

      // no stream takes the subject: the server's no-responders answer, as a typed error
      const err = await link.publish('nostream.here', te.encode('x'), 'n1', 2000).then(
        () => undefined,
        (e) => e,
      )
      assert.instance(err, PublishError)
      assert.is(err.code, 'NO_STREAM')
      assert.match(err.message, /no JetStream stream takes subject "nostream.here"/)

      // a stopped server (SIGSTOP): no PubAck, the publish times out; after SIGCONT it is stored
      await nats.stopped()
      const t0 = Date.now()
      const late = await link.publish('pubt.work', te.encode('{"id":"late"}'), 'late', 400).then(
        () => undefined,
        (e) => e,
      )
      assert.instance(late, PublishError, `the publish to a stopped server: ${late}`)
      assert.is(late.code, 'TIMEOUT')
      assert.ok(Date.now() - t0 >= 400 && Date.now() - t0 < 2000, `timed out after ${Date.now() - t0} ms`)
      nats.cont()
      await link.publish('pubt.work', te.encode('{"id":"late"}'), 'late', 5000)
      const nc2 = await connect({ servers: nats.url })
      // the stopped publish may have been stored when the server woke up; the id keeps it to one
      assert.is((await (await nc2.jetstreamManager()).streams.info('PUBT')).state.messages, 1)
      await nc2.close()
    } finally {
      await link.close()
      await nats.close()
    }
  },
)

t.run()
