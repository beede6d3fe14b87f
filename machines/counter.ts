/**
 * counter: the smallest useful machine, for benchmarks and examples. `inc` adds `by` (default 1),
 * `reset` clears; `lock`/`unlock` toggle whether `inc` is accepted (a guard shows in the chart).
 */
import { assign, setup } from 'xstate'

export const counter = setup({
  types: {
    context: {} as { count: number },
    events: {} as { type: 'inc'; by?: number } | { type: 'reset' } | { type: 'lock' } | { type: 'unlock' },
  },
}).createMachine({
  id: 'counter',
  context: { count: 0 },
  initial: 'open',
  states: {
    open: {
      on: {
        inc: {
          actions: assign({
            count: ({ context, event }) => context.count + (typeof event.by === 'number' ? event.by : 1),
          }),
        },
        reset: { actions: assign({ count: 0 }) },
        lock: 'locked',
      },
    },
    locked: { on: { unlock: 'open' } },
  },
})

export default counter
