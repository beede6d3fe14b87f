import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createActor } from 'xstate'
import { SimulatedClock } from '../../actors/index.ts'
import { classAStream } from '../../machines/index.ts'

const Stream = suite('classAStream - idle, draining, held, stalled')

Stream('idle exactly when everything appended is acked', () => {
  const clock = new SimulatedClock(0)
  const a = createActor(classAStream, { input: { streamId: 's', stallMs: 1000 }, clock: clock as any }).start()
  assert.is(a.getSnapshot().value, 'idle')
  a.send({ type: 'stream.appended', upTo: 3 })
  assert.is(a.getSnapshot().value, 'held', 'link down: records are held')
  a.send({ type: 'link.up' })
  assert.is(a.getSnapshot().value, 'draining')
  a.send({ type: 'stream.acked', upTo: 2 })
  assert.is(a.getSnapshot().value, 'draining')
  a.send({ type: 'stream.acked', upTo: 3 })
  assert.is(a.getSnapshot().value, 'idle')
  a.send({ type: 'stream.acked', upTo: 1 })
  assert.is(a.getSnapshot().context.acked, 3, 'cursors only move forward')
})

Stream('stalled when draining makes no progress; an ack resumes', () => {
  const clock = new SimulatedClock(0)
  const a = createActor(classAStream, {
    input: { streamId: 's', stallMs: 1000, linkUp: true },
    clock: clock as any,
  }).start()
  a.send({ type: 'stream.appended', upTo: 5 })
  clock.increment(999)
  assert.is(a.getSnapshot().value, 'draining')
  clock.increment(1)
  assert.is(a.getSnapshot().value, 'stalled')
  a.send({ type: 'stream.acked', upTo: 4 })
  assert.is(a.getSnapshot().value, 'draining')
  a.send({ type: 'link.down' })
  assert.is(a.getSnapshot().value, 'held')
})

Stream.run()
