import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import fc from 'fast-check'
import { decodeClientFrame } from '../../protocol/agent.ts'

const frames = suite('agent protocol - client frames')

frames('a task frame decodes', () => {
  const d = decodeClientFrame(
    JSON.stringify({
      type: 'task',
      taskId: 't-1',
      role: 'vision',
      prompt: 'look',
      images: ['data:image/png;base64,AAAA'],
    }),
  )
  assert.ok(d.ok)
  if (d.ok)
    assert.equal(d.frame, {
      type: 'task',
      taskId: 't-1',
      role: 'vision',
      prompt: 'look',
      images: ['data:image/png;base64,AAAA'],
    })
})

frames('bad frames name the field', () => {
  const field = (v: unknown) => {
    const d = decodeClientFrame(typeof v === 'string' ? v : JSON.stringify(v))
    assert.not.ok(d.ok)
    return d.ok ? null : (d.error.field ?? null)
  }
  assert.is(field('not json'), null)
  assert.is(field({ type: 'nope' }), 'type')
  assert.is(field({ type: 'task', role: 'Chat!', prompt: 'x' }), 'role')
  assert.is(field({ type: 'task', role: 'chat', prompt: '' }), 'prompt')
  assert.is(field({ type: 'task', role: 'chat', prompt: 'x', taskId: 'a b' }), 'taskId')
  assert.is(field({ type: 'task', role: 'chat', prompt: 'x', images: ['file:///etc/passwd'] }), 'images[0]')
  assert.is(field({ type: 'task', role: 'chat', prompt: 'x', extra: 1 }), 'extra')
})

frames('fuzz: any input decodes to a frame or a BAD_FRAME error, never a throw', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string(),
        fc.json(),
        fc.jsonValue().map((v) => JSON.stringify(v)),
        fc
          .record({
            type: fc.constantFrom('task', 'ping', 'session.close', 'x'),
            role: fc.string(),
            prompt: fc.string(),
            taskId: fc.string(),
            images: fc.array(fc.string()),
          })
          .map((v) => JSON.stringify(v)),
      ),
      (text) => {
        const d = decodeClientFrame(text)
        if (!d.ok) assert.is(d.error.code, 'BAD_FRAME')
      },
    ),
    { numRuns: 2000 },
  )
})

frames.run()
