/**
 * The inspection feed: the inspector's wire format.
 *
 * A superset of the `@statelyai/inspect` event shapes (`type, rootId, sessionId, createdAt, id,
 * _version` plus `name, snapshot, definition, parentId, event, sourceId`). Aether adds `seq` (the
 * feed's own order), `path` (the stable id path, which outlives XState's per-run `sessionId`),
 * `actorSeq` (the actor's journal seq for the event, when durable) and `at` (the host clock's time).
 * Filtering down to the plain shapes (see `toStatelyEvent`) feeds Stately's own tools.
 */

/** Kinds of inspection events, as in `@statelyai/inspect`. */
export const InspectionKind = {
  actor: '@xstate.actor',
  event: '@xstate.event',
  snapshot: '@xstate.snapshot',
} as const
export type InspectionKind = (typeof InspectionKind)[keyof typeof InspectionKind]

/** An actor's status as the host sees it. `failed` is the host's (supervision gave up). */
export type ActorStatus = 'starting' | 'active' | 'done' | 'error' | 'stopped' | 'restarting' | 'failed'

/** The JSON-safe part of a snapshot that the feed carries. */
export interface FeedSnapshot {
  value: unknown
  context: unknown
  status: string
  /** Pending durable timers: the delayed event, its id and its due time on the host clock. */
  timers?: Array<{ id: string; event: string; due: number }>
}

interface FeedBase {
  /** Order of this event in the feed of one host, starting at 1. */
  seq: number
  /** The stable id path of the actor (`hub-1/peer-7/camera`). */
  path: string
  /** Host clock time in ms since the epoch. */
  at: number
  /** `@statelyai/inspect` fields. */
  rootId: string
  sessionId: string
  id: string
  createdAt: string
  _version: string
}

/** An actor appeared (spawned or recovered) or changed status. */
export interface FeedActorEvent extends FeedBase {
  type: '@xstate.actor'
  name: string
  machine: string
  status: ActorStatus
  parentId?: string
  definition?: string
  /**
   * The app an external actor runs in (one Aether watches but does not host): also its `rootId`.
   * Absent for the host's own actors.
   */
  node?: string
  snapshot: FeedSnapshot
}

/** An event an actor received from outside, with the snapshot it led to. */
export interface FeedEventEvent extends FeedBase {
  type: '@xstate.event'
  event: { type: string; [k: string]: unknown }
  /** The id path of the sender, where known. */
  sourceId?: string
  /** The actor's journal seq of this event (durable actors). */
  actorSeq?: number
  snapshot: FeedSnapshot
}

/** A snapshot change not caused by an outside event (recovery, restart, status change). */
export interface FeedSnapshotEvent extends FeedBase {
  type: '@xstate.snapshot'
  event: { type: string; [k: string]: unknown }
  snapshot: FeedSnapshot
}

export type FeedEvent = FeedActorEvent | FeedEventEvent | FeedSnapshotEvent

/** The plain `@statelyai/inspect` shape of a feed event, for Stately's own tools. */
export function toStatelyEvent(e: FeedEvent): Record<string, unknown> {
  const base = {
    type: e.type,
    rootId: e.rootId,
    sessionId: e.sessionId,
    id: e.id,
    createdAt: e.createdAt,
    _version: e._version,
  }
  if (e.type === '@xstate.actor') {
    return { ...base, name: e.name, parentId: e.parentId, definition: e.definition, snapshot: e.snapshot }
  }
  if (e.type === '@xstate.event') return { ...base, event: e.event, sourceId: e.sourceId }
  return { ...base, event: e.event, snapshot: e.snapshot }
}
