/**
 * hubLink: the hub's link to its root, as seen by the hub.
 *
 * Driven by: the NATS transport's status (`link.connected`, `link.reconnecting`,
 * `link.disconnected`), and the lifecycle heartbeats of the invoked `heartbeats` actor (runtime/
 * provides it: it sends `link.heartbeat` every `heartbeatMs` and reports `link.heartbeat.ack` or
 * `link.heartbeat.missed`).
 *
 * Promises: two regions. `connection`: connecting -> connected; connected -> degraded after
 * `missedToDegrade` missed heartbeats in a row (the transport is up but the root does not answer);
 * any -> reconnecting when the transport drops. `authority` (control authority freshness):
 * missing until the first answer from the root; each answer makes it `fresh`; without answers it
 * turns `aging` after `agingMs` and `stale` after `staleMs`. Thresholds come from the input.
 * Control authority is only ever renewed by an answer from the root, never by the transport alone.
 */
import { assertEvent, assign, fromCallback, setup } from 'xstate'

export interface HubLinkInput {
  hubId: string
  heartbeatMs?: number
  agingMs?: number
  staleMs?: number
  missedToDegrade?: number
}

export interface HubLinkContext {
  hubId: string
  heartbeatMs: number
  agingMs: number
  staleMs: number
  missedToDegrade: number
  rootId: string | null
  lastAckAt: number | null
  missedInRow: number
  acks: number
  missed: number
  reconnects: number
}

export type HubLinkEvent =
  | { type: 'link.connected' }
  | { type: 'link.reconnecting' }
  | { type: 'link.disconnected'; reason?: string }
  | { type: 'link.heartbeat.ack'; at: number; rootId: string; rttMs?: number }
  | { type: 'link.heartbeat.missed'; at: number; reason?: string }

/** Placeholder; runtime/ provides the real one (sends heartbeats, reports answers). */
const heartbeats = fromCallback<HubLinkEvent, { hubId: string; heartbeatMs: number }>(() => () => {})

export const hubLink = setup({
  types: {
    context: {} as HubLinkContext,
    events: {} as HubLinkEvent,
    input: {} as HubLinkInput,
  },
  actors: { heartbeats },
  delays: {
    aging: ({ context }) => context.agingMs,
    stale: ({ context }) => Math.max(0, context.staleMs - context.agingMs),
  },
  guards: {
    tooManyMissed: ({ context }) => context.missedInRow + 1 >= context.missedToDegrade,
  },
  actions: {
    recordAck: assign(({ context, event }) => {
      assertEvent(event, 'link.heartbeat.ack')
      return { lastAckAt: event.at, rootId: event.rootId, missedInRow: 0, acks: context.acks + 1 }
    }),
    recordMissed: assign(({ context }) => ({ missedInRow: context.missedInRow + 1, missed: context.missed + 1 })),
    countReconnect: assign(({ context }) => ({ reconnects: context.reconnects + 1, missedInRow: 0 })),
  },
}).createMachine({
  id: 'hubLink',
  // Lifecycle heartbeats, one per `heartbeatMs`: the inspector folds them (docs/inspector.md).
  meta: { periodic: ['link.heartbeat.ack', 'link.heartbeat.missed'] },
  type: 'parallel',
  context: ({ input }) => ({
    hubId: input.hubId,
    heartbeatMs: input.heartbeatMs ?? 1000,
    agingMs: input.agingMs ?? 3000,
    staleMs: input.staleMs ?? 10000,
    missedToDegrade: input.missedToDegrade ?? 2,
    rootId: null,
    lastAckAt: null,
    missedInRow: 0,
    acks: 0,
    missed: 0,
    reconnects: 0,
  }),
  invoke: {
    id: 'heartbeats',
    src: 'heartbeats',
    input: ({ context }) => ({ hubId: context.hubId, heartbeatMs: context.heartbeatMs }),
  },
  states: {
    connection: {
      initial: 'connecting',
      on: {
        'link.disconnected': '.reconnecting',
        'link.reconnecting': '.reconnecting',
      },
      states: {
        connecting: { on: { 'link.connected': 'connected', 'link.heartbeat.ack': 'connected' } },
        connected: {
          on: {
            'link.heartbeat.missed': [
              { guard: 'tooManyMissed', target: 'degraded', actions: 'recordMissed' },
              { actions: 'recordMissed' },
            ],
          },
        },
        degraded: { on: { 'link.heartbeat.ack': 'connected', 'link.heartbeat.missed': { actions: 'recordMissed' } } },
        reconnecting: {
          on: {
            'link.connected': { target: 'connected', actions: 'countReconnect' },
            'link.heartbeat.ack': { target: 'connected', actions: 'countReconnect' },
            'link.heartbeat.missed': { actions: 'recordMissed' },
          },
        },
      },
    },
    authority: {
      initial: 'missing',
      // Each state names its own answer transition: a region-level `on` with `reenter` applied
      // the assign on every other event only (XState 5.33, seen in test/machines/hubLink.test.ts).
      states: {
        missing: { on: { 'link.heartbeat.ack': { target: 'fresh', actions: 'recordAck' } } },
        fresh: {
          after: { aging: 'aging' },
          on: { 'link.heartbeat.ack': { target: 'fresh', reenter: true, actions: 'recordAck' } },
        },
        aging: { after: { stale: 'stale' }, on: { 'link.heartbeat.ack': { target: 'fresh', actions: 'recordAck' } } },
        stale: { on: { 'link.heartbeat.ack': { target: 'fresh', actions: 'recordAck' } } },
      },
    },
  },
})

export type ControlAuthority = 'missing' | 'fresh' | 'aging' | 'stale'

export default hubLink
