import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { assign, createActor, setup } from 'xstate'
import { ActorSystem } from '../../actors/index.ts'
import * as key from '../../actors/effect.ts'

const { deliveryKey, effect, effectKeyOf, effectSeqOf, requestKey, scheduleRunKey, stepKey } = key

const keysSuite = suite('effect - the one source of idempotency keys')

keysSuite('the key formats', () => {
  assert.is(stepKey('job-1', 'ship'), 'job-1/ship')
  assert.is(scheduleRunKey('tick', 110_000), 'schedule/tick/110000')
  assert.is(deliveryKey('job-1/ship', 2, 'b00t'), 'job-1/ship#2#b00t')
  assert.is(requestKey('register', 'hub-1', 1700), 'register-hub-1-1700')
  assert.is(effectSeqOf('webspace:notes/0.webspace.backup@12'), '12')
  assert.is(effectSeqOf('no-seq'), 'no-seq', 'a key without a seq is its own stamp')
})

/** Waits on `ringing` for its effect, which answers the key it was given. */
const keyed = (run: ReturnType<typeof effect<string>>) =>
  setup({
    types: { context: {} as { key: string }, events: {} as { type: 'go'; input?: { idempotencyKey: string } } },
    actors: { run },
  }).createMachine({
    id: 'keyed',
    context: { key: '' },
    initial: 'idle',
    states: {
      idle: { on: { go: 'ringing' } },
      ringing: {
        invoke: {
          src: 'run',
          input: ({ event }: { event: { type: 'go'; input?: { idempotencyKey: string } } }) => event.input,
          onDone: { target: 'done', actions: assign({ key: ({ event }) => event.output }) },
        },
      },
      done: {},
    },
  })

keysSuite(
  'effect(): the host key of a hosted actor, an explicit input.idempotencyKey, the child id outside a host',
  async () => {
    const m = keyed(effect<string>(async ({ key }) => key))
    const sys = new ActorSystem({ machines: { m } })
    await sys.spawn('a', 'm')
    sys.send('a', { type: 'go' })
    await sys.spawn('b', 'm')
    sys.send('b', { type: 'go', input: { idempotencyKey: 'mine' } })
    await new Promise((r) => setTimeout(r, 10))
    assert.match(sys.get('a')!.getSnapshot().context.key, /^a\/0\.keyed\.ringing@\d+$/)
    assert.is(sys.get('b')!.getSnapshot().context.key, 'mine')
    await sys.close()
    const bare = createActor(keyed(effect<string>(async ({ self }) => effectKeyOf(self))))
    bare.start()
    bare.send({ type: 'go' })
    await new Promise((r) => setTimeout(r, 10))
    assert.is(bare.getSnapshot().context.key, '0.keyed.ringing', 'no host: the child id')
    bare.stop()
  },
)

keysSuite.run()
