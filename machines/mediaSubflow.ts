/**
 * mediaSubflow: one media source on top of a peer session (microphone, camera, screen, a file
 * upload, or the hub's loopback), hosted as a child of the peer session (`member-1/peer/camera`).
 *
 * Driven by: user requests (`media.start|pause|resume|stop`), results of its executor
 * (`media.acquired`, `media.track.ended`, `file.*`), and the peer session's notices forwarded by
 * runtime/ (`peer.up`, `peer.down`, `media.shape` once a negotiation has settled the media shape).
 *
 * Promises:
 * - It never closes the peer or its data channels. Start and stop put a track on the slot's
 *   transceiver (`replaceTrack`) and ask the peer for the slot's direction (`sendrecv` to publish,
 *   `inactive` to unpublish); the peer renegotiates only if that changes the media shape. Pause
 *   and resume only replace the track, no renegotiation at all.
 * - When the peer is down it degrades; when the peer is up again it recovers by itself
 *   (re-attaching its track, which after a rebuild goes onto the new peer's transceivers). A track
 *   that ends (device unplugged) degrades it and it re-acquires, without touching the peer.
 * - A file upload runs on its own data channel and resumes from the last offset the receiver
 *   acknowledged; it completes only when the receiver's checksum matches. A channel closed under a
 *   live peer is re-opened at once (degraded, then recovering), not left until the peer's next
 *   recovery.
 * - Each waiting state has a deadline; a missed one degrades (counted), it never wedges.
 * - When its peer session is closed (`peer.closed`, its member is gone) it ends (final `ended`).
 */
import { assertEvent, assign, setup } from 'xstate'
import { execAction, type ExecStep } from './execAction.ts'
import type { MediaShape, MediaSlot, SlotDirection } from '../protocol/signaling.ts'

export type SubflowKind = 'microphone' | 'camera' | 'screen' | 'loopback' | 'file'

export interface MediaSubflowInput {
  kind: SubflowKind
  /** The transceiver slot (media kinds and loopback: the slot looped back). */
  slot?: MediaSlot
  /** File uploads: sender on the member, receiver on the hub. */
  role?: 'send' | 'receive'
  uploadId?: string
  size?: number
  sha256?: string
  deadlineMs?: number
}

export type SubflowCommand =
  | { op: 'acquire'; kind: SubflowKind; slot: MediaSlot | null }
  | { op: 'attach'; slot: MediaSlot }
  | { op: 'detach'; slot: MediaSlot }
  | { op: 'release'; slot: MediaSlot }
  | { op: 'shape'; slot: MediaSlot; direction: SlotDirection }
  | { op: 'loop'; slot: MediaSlot; on: boolean }
  | { op: 'fileOpen'; uploadId: string; offset: number }
  | { op: 'fileClose'; uploadId: string }

export interface MediaSubflowContext {
  kind: SubflowKind
  slot: MediaSlot | null
  role: 'send' | 'receive'
  uploadId: string | null
  size: number
  sha256: string | null
  acked: number
  peerUp: boolean
  trackEnded: boolean
  deadlineMs: number
  error: string | null
  counters: { starts: number; stops: number; degraded: number; recovered: number; deadlines: number; resumes: number }
}

export type MediaSubflowEvent =
  | { type: 'media.start' }
  | { type: 'media.pause' }
  | { type: 'media.resume' }
  | { type: 'media.stop' }
  | { type: 'media.acquired' }
  | { type: 'media.acquire.failed'; message: string }
  | { type: 'media.track.ended' }
  | { type: 'media.shape'; shape: MediaShape }
  | { type: 'peer.up'; rebuilt: boolean }
  | { type: 'peer.down' }
  | { type: 'peer.closed'; reason: string }
  | { type: 'file.open'; offset: number }
  | { type: 'file.progress'; offset: number }
  | { type: 'file.done'; sha256: string; ok: boolean }
  | { type: 'file.channel.closed' }

type Ctx = MediaSubflowContext
type Ev = MediaSubflowEvent

const isSlotKind = (c: { kind: SubflowKind }) => c.kind === 'microphone' || c.kind === 'camera' || c.kind === 'screen'
/** The negotiated shape gives this subflow's slot direction `d`. */
const shapeIs = (c: Ctx, e: Ev, d: SlotDirection) => {
  assertEvent(e, 'media.shape')
  return c.slot !== null && e.shape[c.slot] === d
}

/** What publishing looks like for this kind. */
const publish = (c: Ctx): SubflowCommand[] => {
  if (isSlotKind(c))
    return [
      { op: 'attach', slot: c.slot! },
      { op: 'shape', slot: c.slot!, direction: 'sendrecv' },
    ]
  if (c.kind === 'loopback') return [{ op: 'loop', slot: c.slot!, on: true }]
  if (c.kind === 'file' && c.role === 'send') return [{ op: 'fileOpen', uploadId: c.uploadId!, offset: c.acked }]
  return []
}

const step = <P extends Record<string, unknown> | undefined = undefined>(
  fn: (c: Ctx, e: Ev, p: P) => ExecStep<Ctx, Ev, SubflowCommand>,
) => execAction<Ctx, Ev, SubflowCommand, P>(fn)

const machine = setup({
  types: {
    context: {} as MediaSubflowContext,
    events: {} as MediaSubflowEvent,
    input: {} as MediaSubflowInput,
  },
  actions: {
    /** Runs commands against the peer's transceivers, tracks and channels. Bound by runtime/. */
    exec: (_: unknown, _params: { cmds: SubflowCommand[] }) => {},
    /** Gets the source: a track from the device, or (files) the upload channel at the acked offset. */
    acquire: step((c) => ({ cmds: c.kind === 'file' ? publish(c) : [{ op: 'acquire', kind: c.kind, slot: c.slot }] })),
    /** The track is there: clear the ended mark and, with `publish`, put it on the slot. */
    trackAcquired: step((c, _e, p: { publish: boolean }) => ({
      ctx: { trackEnded: false },
      ...(p.publish ? { cmds: publish(c) } : {}),
    })),
    /** After a loss: a track that ended is acquired again, anything else is published again. */
    republish: step((c) => ({
      cmds:
        c.trackEnded && c.kind !== 'file' && c.kind !== 'loopback'
          ? [{ op: 'acquire', kind: c.kind, slot: c.slot }]
          : publish(c),
    })),
    detachTrack: step((c) => ({ cmds: [{ op: 'detach', slot: c.slot! }] })),
    attachTrack: step((c) => ({ cmds: [{ op: 'attach', slot: c.slot! }] })),
    /** Takes the slot off the negotiated shape and releases the device; `detach` first when a track is on it. */
    unpublish: step((c, _e, p: { detach: boolean }) => ({
      cmds: [
        ...(p.detach ? [{ op: 'detach' as const, slot: c.slot! }] : []),
        { op: 'shape', slot: c.slot!, direction: 'inactive' },
        { op: 'release', slot: c.slot! },
      ],
    })),
    stopLoop: step((c) => ({ cmds: [{ op: 'loop', slot: c.slot!, on: false }] })),
    closeFile: step((c) => ({ cmds: c.uploadId ? [{ op: 'fileClose', uploadId: c.uploadId }] : [] })),
    count: assign({
      counters: ({ context }, p: { counter: keyof Ctx['counters'] }) => ({
        ...context.counters,
        [p.counter]: context.counters[p.counter] + 1,
      }),
    }),
    deadlineMissed: assign({
      counters: ({ context }) => ({
        ...context.counters,
        deadlines: context.counters.deadlines + 1,
        degraded: context.counters.degraded + 1,
      }),
    }),
    notePeer: assign((_, p: { up: boolean }) => ({ peerUp: p.up })),
    noteEnded: assign(({ event }) => {
      assertEvent(event, 'peer.closed')
      return { peerUp: false, error: `peer session closed: ${event.reason}` }
    }),
    noteTrackEnded: assign({ trackEnded: true }),
    noteProgress: assign({
      acked: ({ context, event }) => {
        assertEvent(event, 'file.progress')
        return Math.max(context.acked, Math.min(event.offset, context.size || event.offset))
      },
    }),
    /** The receiver opened the upload at `offset`: resume from there (never past what it acked). */
    resumeUpload: assign({
      acked: ({ context, event }) => {
        assertEvent(event, 'file.open')
        return Math.min(context.acked, event.offset)
      },
      trackEnded: false,
    }),
    noteChecksum: assign({
      sha256: ({ event }) => {
        assertEvent(event, 'file.done')
        return event.sha256
      },
    }),
    checksumMismatch: assign({
      error: ({ event }) => {
        assertEvent(event, 'file.done')
        return `checksum mismatch (receiver has ${event.sha256})`
      },
      acked: 0,
    }),
    acquireFailed: assign({
      error: ({ event }) => {
        assertEvent(event, 'media.acquire.failed')
        return event.message
      },
    }),
    acquireTimedOut: assign({ error: 'acquiring timed out' }),
  },
  guards: {
    slotKind: ({ context }) => isSlotKind(context),
    loopback: ({ context }) => context.kind === 'loopback',
    receiver: ({ context }) => context.kind === 'file' && context.role === 'receive',
    sender: ({ context }) => context.role === 'send',
    peerUp: ({ context }) => context.peerUp,
    peerDown: ({ context }) => !context.peerUp,
    published: ({ context, event }) => shapeIs(context, event, 'sendrecv'),
    unpublished: ({ context, event }) => shapeIs(context, event, 'inactive'),
    /** The peer is up and the track (an upload: its channel) had ended: acquire (re-open) it. */
    mustReacquire: ({ context }) => context.peerUp && context.trackEnded,
    /** Loopback needs no negotiation: re-looping is all there is to it. */
    loopIntact: ({ context }) => context.kind === 'loopback' && !context.trackEnded,
    checksumOk: ({ event }) => {
      assertEvent(event, 'file.done')
      return event.ok
    },
  },
  delays: { deadline: ({ context }) => context.deadlineMs },
})

const count = (counter: keyof Ctx['counters']) => ({ type: 'count', params: { counter } }) as const
const stops = count('stops')
const peerDown = { target: 'degraded', actions: { type: 'notePeer', params: { up: false } } } as const

export const mediaSubflow = machine.createMachine({
  id: 'mediaSubflow',
  context: ({ input }) => ({
    kind: input.kind,
    slot: input.slot ?? (isSlotKind(input) ? (input.kind as MediaSlot) : null),
    role: input.role ?? 'send',
    uploadId: input.uploadId ?? null,
    size: input.size ?? 0,
    sha256: input.sha256 ?? null,
    acked: 0,
    peerUp: true,
    trackEnded: false,
    deadlineMs: input.deadlineMs ?? 5000,
    error: null,
    counters: { starts: 0, stops: 0, degraded: 0, recovered: 0, deadlines: 0, resumes: 0 },
  }),
  initial: 'off',
  on: {
    'peer.up': { actions: { type: 'notePeer', params: { up: true } } },
    'peer.down': { actions: { type: 'notePeer', params: { up: false } } },
    'file.progress': { actions: 'noteProgress' },
    'peer.closed': { target: '.ended', actions: 'noteEnded' },
  },
  states: {
    off: {
      always: { guard: 'receiver', target: 'live' },
      on: { 'media.start': { target: 'acquiring', actions: count('starts') } },
    },
    acquiring: {
      entry: 'acquire',
      after: { deadline: { target: 'off', actions: ['deadlineMissed', 'acquireTimedOut'] } },
      on: {
        'media.acquired': [
          { guard: 'peerDown', target: 'degraded', actions: { type: 'trackAcquired', params: { publish: false } } },
          { guard: 'slotKind', target: 'negotiating', actions: { type: 'trackAcquired', params: { publish: true } } },
          { target: 'live', actions: { type: 'trackAcquired', params: { publish: true } } },
        ],
        'file.open': { target: 'live', actions: 'resumeUpload' },
        'media.acquire.failed': { target: 'off', actions: 'acquireFailed' },
        'media.stop': { target: 'stopped', actions: stops },
        'peer.down': peerDown,
      },
    },
    negotiating: {
      after: { deadline: { target: 'degraded', actions: 'deadlineMissed' } },
      on: {
        'media.shape': { guard: 'published', target: 'live' },
        'media.stop': { target: 'stopping', actions: [stops, { type: 'unpublish', params: { detach: true } }] },
        'peer.down': peerDown,
      },
    },
    live: {
      on: {
        'media.pause': { guard: 'slotKind', target: 'paused', actions: 'detachTrack' },
        'media.stop': [
          { guard: 'slotKind', target: 'stopping', actions: [stops, { type: 'unpublish', params: { detach: true } }] },
          { guard: 'loopback', target: 'stopped', actions: [stops, 'stopLoop'] },
          { target: 'stopped', actions: [stops, 'closeFile'] },
        ],
        'media.track.ended': { target: 'degraded', actions: 'noteTrackEnded' },
        'peer.down': peerDown,
        // the upload's channel closed under a live peer: marked like an ended track, so that
        // `degraded` re-opens it at once (with the peer up no `peer.up` would ever come)
        'file.channel.closed': { guard: 'sender', target: 'degraded', actions: 'noteTrackEnded' },
        'file.done': [
          { guard: 'checksumOk', target: 'complete', actions: 'noteChecksum' },
          { target: 'off', actions: 'checksumMismatch' },
        ],
      },
    },
    paused: {
      on: {
        'media.resume': { target: 'live', actions: [count('resumes'), 'attachTrack'] },
        'media.stop': { target: 'stopping', actions: [stops, { type: 'unpublish', params: { detach: false } }] },
      },
    },
    degraded: {
      entry: count('degraded'),
      always: [{ guard: 'mustReacquire', target: 'recovering' }],
      on: {
        'peer.up': { target: 'recovering', actions: { type: 'notePeer', params: { up: true } } },
        'media.stop': [
          { guard: 'slotKind', target: 'stopped', actions: [stops, { type: 'unpublish', params: { detach: true } }] },
          { guard: 'loopback', target: 'stopped', actions: [stops, 'stopLoop'] },
          { target: 'stopped', actions: stops },
        ],
        'file.done': { guard: 'checksumOk', target: 'complete', actions: 'noteChecksum' },
      },
    },
    recovering: {
      entry: 'republish',
      after: { deadline: { target: 'degraded', actions: 'deadlineMissed' } },
      on: {
        'media.acquired': { actions: { type: 'trackAcquired', params: { publish: true } } },
        'media.shape': { guard: 'published', target: 'live', actions: count('recovered') },
        'file.open': { target: 'live', actions: [count('recovered'), 'resumeUpload'] },
        'peer.down': peerDown,
        'media.stop': { target: 'stopped', actions: stops },
      },
      always: { guard: 'loopIntact', target: 'live', actions: count('recovered') },
    },
    stopping: {
      after: { deadline: { target: 'stopped', actions: 'deadlineMissed' } },
      on: {
        'media.shape': { guard: 'unpublished', target: 'stopped' },
        'media.start': { target: 'acquiring', actions: count('starts') },
      },
    },
    stopped: {
      on: { 'media.start': { target: 'acquiring', actions: count('starts') } },
    },
    complete: { type: 'final' },
    /** The peer session was closed (its member is gone): nothing more to carry. */
    ended: { type: 'final' },
  },
})

export default mediaSubflow
