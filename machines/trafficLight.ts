/**
 * trafficLight: a demo machine for the inspector and the tests. Timers drive it (green 3 s,
 * yellow 1 s, red 2 s); `emergency` holds it flashing until `resume`; it counts its cycles.
 * It promises nothing but to be easy to watch: durable timers, a guard, a parallel region.
 */
import { assign, setup } from 'xstate'

export const trafficLight = setup({
  types: {
    context: {} as { cycles: number; maxCycles: number },
    events: {} as { type: 'emergency' } | { type: 'resume' } | { type: 'tick' } | { type: 'pedestrian.request' },
    input: {} as { maxCycles?: number } | undefined,
  },
  guards: {
    limitReached: ({ context }) => context.maxCycles > 0 && context.cycles >= context.maxCycles,
  },
  actions: { countCycle: assign({ cycles: ({ context }) => context.cycles + 1 }) },
  delays: { green: 3000, yellow: 1000, red: 2000 },
}).createMachine({
  id: 'trafficLight',
  context: ({ input }) => ({ cycles: 0, maxCycles: input?.maxCycles ?? 0 }),
  type: 'parallel',
  states: {
    light: {
      initial: 'green',
      states: {
        green: { after: { green: 'yellow' }, on: { tick: 'yellow' } },
        yellow: { after: { yellow: 'red' }, on: { tick: 'red' } },
        red: {
          after: {
            red: [
              { guard: 'limitReached', target: 'off' },
              { target: 'green', actions: 'countCycle' },
            ],
          },
          on: { tick: { target: 'green', actions: 'countCycle' } },
        },
        flashing: { on: { resume: 'red' } },
        off: { type: 'final' },
      },
      on: { emergency: '.flashing' },
    },
    pedestrian: {
      initial: 'idle',
      states: {
        idle: { on: { 'pedestrian.request': 'waiting' } },
        waiting: { after: { 5000: 'idle' } },
      },
    },
  },
})
