/**
 * classAStream: one per must-not-lose (Class A) stream of a hub.
 *
 * Driven by the runtime's outbox and sender: `stream.appended` (records up to `upTo` are
 * persisted in the LevelDB outbox), `stream.acked` (the root persisted and applied up to `upTo`),
 * `stream.retransmit` (unacked records were sent again), and the link (`link.up`, `link.down`).
 *
 * Promises: `idle` exactly when every appended cursor is acked; `draining` while records wait
 * and the link is up; `held` while records wait and the link is down (they stay in the outbox
 * and are sent again, in cursor order, after the link returns); `stalled` when draining makes no
 * progress for `stallMs` (an operator should look). Cursors only move forward.
 */
import { assertEvent, assign, setup } from 'xstate'

export interface ClassAStreamInput {
  streamId: string
  appended?: number
  acked?: number
  linkUp?: boolean
  stallMs?: number
}

export interface ClassAStreamContext {
  streamId: string
  appended: number
  acked: number
  linkUp: boolean
  stallMs: number
  retransmits: number
}

export type ClassAStreamEvent =
  | { type: 'stream.appended'; upTo: number }
  | { type: 'stream.acked'; upTo: number }
  | { type: 'stream.retransmit'; from: number }
  | { type: 'link.up' }
  | { type: 'link.down' }

export const classAStream = setup({
  types: {
    context: {} as ClassAStreamContext,
    events: {} as ClassAStreamEvent,
    input: {} as ClassAStreamInput,
  },
  delays: { stall: ({ context }) => context.stallMs },
  guards: {
    caughtUp: ({ context }) => context.acked >= context.appended,
    linkUp: ({ context }) => context.linkUp,
  },
  actions: {
    appended: assign(({ context, event }) => {
      assertEvent(event, 'stream.appended')
      return { appended: Math.max(context.appended, event.upTo) }
    }),
    acked: assign(({ context, event }) => {
      assertEvent(event, 'stream.acked')
      return { acked: Math.max(context.acked, event.upTo) }
    }),
    up: assign({ linkUp: true }),
    down: assign({ linkUp: false }),
    retransmit: assign(({ context }) => ({ retransmits: context.retransmits + 1 })),
  },
}).createMachine({
  id: 'classAStream',
  context: ({ input }) => ({
    streamId: input.streamId,
    appended: input.appended ?? 0,
    acked: input.acked ?? 0,
    linkUp: input.linkUp ?? false,
    stallMs: input.stallMs ?? 10_000,
    retransmits: 0,
  }),
  initial: 'deciding',
  on: {
    'stream.appended': { target: '.deciding', actions: 'appended' },
    'link.up': { target: '.deciding', actions: 'up' },
    'link.down': { target: '.deciding', actions: 'down' },
    'stream.retransmit': { actions: 'retransmit' },
  },
  states: {
    deciding: {
      always: [{ guard: 'caughtUp', target: 'idle' }, { guard: 'linkUp', target: 'draining' }, { target: 'held' }],
    },
    idle: { on: { 'stream.acked': { actions: 'acked' } } },
    held: { on: { 'stream.acked': { target: 'deciding', actions: 'acked' } } },
    draining: {
      after: { stall: 'stalled' },
      on: { 'stream.acked': { target: 'deciding', actions: 'acked' } },
    },
    stalled: {
      on: { 'stream.acked': { target: 'deciding', actions: 'acked' } },
    },
  },
})

export default classAStream
