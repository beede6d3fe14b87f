/**
 * Regression: a child's completion whose transition invokes a new child under the same id (the
 * next step, the next task) must leave the new child running after recovery. ReplayState used to
 * mark the new child done, so a recovered actor waited forever on an effect nobody restarted.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { assign, setup } from 'xstate'
import { ReplayState } from '../../actors/ReplayState.ts'
import { effect } from '../../actors/index.ts'

const stepper = setup({
  types: { context: {} as { done: number } },
  actors: { step: effect(async () => 'ok') },
}).createMachine({
  id: 'stepper',
  context: { done: 0 },
  initial: 'running',
  states: {
    running: {
      invoke: {
        id: 'step',
        src: 'step',
        // Re-entering the state invokes the next step under the same id.
        onDone: { target: 'running', reenter: true, actions: assign({ done: ({ context }) => context.done + 1 }) },
      },
    },
  },
})

const reinvoke = suite('ReplayState - re-invoked child')

reinvoke('the child invoked by the completion of its predecessor stays active after replay', () => {
  const rs = new ReplayState(stepper, 'a')
  rs.init(undefined, 0)
  rs.apply({ seq: 1, at: 1, event: { type: 'xstate.done.actor.step', output: 'ok', actorId: 'step' } })
  const persisted = rs.persisted()
  assert.is(persisted.context.done, 1)
  assert.is(persisted.children.step.snapshot.status, 'active', 'the second step is running')
  assert.is(rs.effects.get('step'), 'a/step@1', 'with the key of the event that spawned it')
})

reinvoke.run()
