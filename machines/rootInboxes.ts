/**
 * rootInboxes: a root's Class A inboxes as an actor, so the root's inspector shows them beside its
 * other actors: per hub, its control authority and last heartbeat, and per stream the cursor, the
 * records applied, duplicates, stale records, gaps and the last receive time.
 *
 * Driven by the runtime: `root.inboxes` with the current view, sent when it changes. Promises: the
 * state says whether any hub is stale (`attention`), none is heard yet (`empty`), or all are
 * fresh or aging (`watching`); the context holds the whole view.
 */
import { assign, setup } from 'xstate'

export interface RootStreamView {
  cursor: number
  applied: number
  duplicates: number
  stale: number
  gaps: number
  lastReceivedAt: number
}

export interface RootHubView {
  authority: string
  lastHeartbeatAt: number
  heartbeats: number
  streams: Record<string, RootStreamView>
}

export type RootInboxesEvent = { type: 'root.inboxes'; hubs: Record<string, RootHubView> }

export const rootInboxes = setup({
  types: {
    context: {} as { hubs: Record<string, RootHubView> },
    events: {} as RootInboxesEvent,
  },
  guards: {
    noHub: ({ event }) => Object.keys(event.hubs).length === 0,
    anyStale: ({ event }) => Object.values(event.hubs).some((h) => h.authority === 'stale'),
  },
  actions: { keep: assign({ hubs: ({ event }) => event.hubs }) },
}).createMachine({
  id: 'rootInboxes',
  context: { hubs: {} },
  initial: 'empty',
  on: {
    'root.inboxes': [
      { guard: 'noHub', target: '.empty', actions: 'keep' },
      { guard: 'anyStale', target: '.attention', actions: 'keep' },
      { target: '.watching', actions: 'keep' },
    ],
  },
  states: { empty: {}, watching: {}, attention: {} },
})

export default rootInboxes
