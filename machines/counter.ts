/**
 * counter: the smallest useful machine, for benchmarks and examples. `inc` adds `by` (default 1),
 * `reset` clears; `lock`/`unlock` toggle whether `inc` is accepted (a guard shows in the chart).
 */
import { assertEvent, assign, setup } from 'xstate'

export const counter = setup({
  types: {
    context: {} as { count: number },
    events: {} as { type: 'inc'; by?: number } | { type: 'reset' } | { type: 'lock' } | { type: 'unlock' },
  },
  actions: {
    inc: assign({
      count: ({ context, event }) => {
        assertEvent(event, 'inc')
        return context.count + (typeof event.by === 'number' ? event.by : 1)
      },
    }),
    reset: assign({ count: 0 }),
  },
}).createMachine({
  id: 'counter',
  context: { count: 0 },
  initial: 'open',
  states: {
    open: {
      on: {
        inc: { actions: 'inc' },
        reset: { actions: 'reset' },
        lock: 'locked',
      },
    },
    locked: { on: { unlock: 'open' } },
  },
})

export default counter
