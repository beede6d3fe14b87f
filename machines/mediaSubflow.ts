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
 *   acknowledged; it completes only when the receiver's checksum matches.
 * - Each waiting state has a deadline; a missed one degrades (counted), it never wedges.
 */
import { assign, setup } from 'xstate'
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
  | { type: 'file.open'; offset: number }
  | { type: 'file.progress'; offset: number }
  | { type: 'file.done'; sha256: string; ok: boolean }
  | { type: 'file.channel.closed' }

type Ctx = MediaSubflowContext

const isSlotKind = (c: Ctx) => c.kind === 'microphone' || c.kind === 'camera' || c.kind === 'screen'
const want = (c: Ctx, e: any, d: SlotDirection) => e.type === 'media.shape' && c.slot !== null && e.shape[c.slot] === d

const base = setup({
  types: {
    context: {} as MediaSubflowContext,
    events: {} as MediaSubflowEvent,
    input: {} as MediaSubflowInput,
  },
  actions: {
    /** Runs commands against the peer's transceivers, tracks and channels. Bound by runtime/. */
    exec: (_: unknown, _params: { cmds: SubflowCommand[] }) => {},
  },
  guards: {
    slotKind: ({ context }) => isSlotKind(context),
    loopback: ({ context }) => context.kind === 'loopback',
    file: ({ context }) => context.kind === 'file',
    receiver: ({ context }) => context.kind === 'file' && context.role === 'receive',
    peerUp: ({ context }) => context.peerUp,
    published: ({ context, event }) => want(context, event, 'sendrecv'),
    unpublished: ({ context, event }) => want(context, event, 'inactive'),
    trackEnded: ({ context }) => context.trackEnded,
  },
  delays: { deadline: ({ context }) => context.deadlineMs },
})

const exec = (fn: (c: Ctx, e: any) => SubflowCommand[]) => ({
  type: 'exec' as const,
  params: ({ context, event }: { context: Ctx; event: any }) => ({ cmds: fn(context, event) }),
})

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

const count = (k: keyof Ctx['counters']) =>
  base.assign({ counters: ({ context }: { context: Ctx }) => ({ ...context.counters, [k]: context.counters[k] + 1 }) })
const deadlineMissed = base.assign({
  counters: ({ context }: { context: Ctx }) => ({
    ...context.counters,
    deadlines: context.counters.deadlines + 1,
    degraded: context.counters.degraded + 1,
  }),
})

export const mediaSubflow = base.createMachine({
  id: 'mediaSubflow',
  context: ({ input }) => ({
    kind: input.kind,
    slot:
      input.slot ??
      (input.kind === 'microphone' || input.kind === 'camera' || input.kind === 'screen' ? input.kind : null),
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
    'peer.up': { actions: assign({ peerUp: true }) },
    'peer.down': { actions: assign({ peerUp: false }) },
    'file.progress': {
      actions: assign({
        acked: ({ context, event }) => Math.max(context.acked, Math.min(event.offset, context.size || event.offset)),
      }),
    },
  },
  states: {
    off: {
      always: { guard: 'receiver', target: 'live' },
      on: { 'media.start': { target: 'acquiring', actions: count('starts') } },
    },
    acquiring: {
      entry: exec((c) => (c.kind === 'file' ? publish(c) : [{ op: 'acquire', kind: c.kind, slot: c.slot }])),
      after: { deadline: { target: 'off', actions: [deadlineMissed, assign({ error: 'acquiring timed out' })] } },
      on: {
        'media.acquired': [
          { guard: ({ context }) => !context.peerUp, target: 'degraded', actions: assign({ trackEnded: false }) },
          { guard: 'slotKind', target: 'negotiating', actions: [assign({ trackEnded: false }), exec(publish)] },
          { target: 'live', actions: [assign({ trackEnded: false }), exec(publish)] },
        ],
        'file.open': {
          target: 'live',
          actions: assign({ acked: ({ context, event }) => Math.min(context.acked, event.offset) }),
        },
        'media.acquire.failed': { target: 'off', actions: assign({ error: ({ event }) => event.message }) },
        'media.stop': { target: 'stopped', actions: count('stops') },
        'peer.down': { target: 'degraded', actions: assign({ peerUp: false }) },
      },
    },
    negotiating: {
      after: { deadline: { target: 'degraded', actions: deadlineMissed } },
      on: {
        'media.shape': { guard: 'published', target: 'live' },
        'media.stop': {
          target: 'stopping',
          actions: [
            count('stops'),
            exec((c) => [
              { op: 'detach', slot: c.slot! },
              { op: 'shape', slot: c.slot!, direction: 'inactive' },
              { op: 'release', slot: c.slot! },
            ]),
          ],
        },
        'peer.down': { target: 'degraded', actions: assign({ peerUp: false }) },
      },
    },
    live: {
      on: {
        'media.pause': { guard: 'slotKind', target: 'paused', actions: exec((c) => [{ op: 'detach', slot: c.slot! }]) },
        'media.stop': [
          {
            guard: 'slotKind',
            target: 'stopping',
            actions: [
              count('stops'),
              exec((c) => [
                { op: 'detach', slot: c.slot! },
                { op: 'shape', slot: c.slot!, direction: 'inactive' },
                { op: 'release', slot: c.slot! },
              ]),
            ],
          },
          {
            guard: 'loopback',
            target: 'stopped',
            actions: [count('stops'), exec((c) => [{ op: 'loop', slot: c.slot!, on: false }])],
          },
          {
            target: 'stopped',
            actions: [count('stops'), exec((c) => (c.uploadId ? [{ op: 'fileClose', uploadId: c.uploadId }] : []))],
          },
        ],
        'media.track.ended': { target: 'degraded', actions: assign({ trackEnded: true }) },
        'peer.down': { target: 'degraded', actions: assign({ peerUp: false }) },
        'file.channel.closed': { guard: ({ context }) => context.role === 'send', target: 'degraded' },
        'file.done': [
          {
            guard: ({ event }) => event.ok,
            target: 'complete',
            actions: assign({ sha256: ({ event }) => event.sha256 }),
          },
          {
            target: 'off',
            actions: assign({ error: ({ event }) => `checksum mismatch (receiver has ${event.sha256})`, acked: 0 }),
          },
        ],
      },
    },
    paused: {
      on: {
        'media.resume': { target: 'live', actions: [count('resumes'), exec((c) => [{ op: 'attach', slot: c.slot! }])] },
        'media.stop': {
          target: 'stopping',
          actions: [
            count('stops'),
            exec((c) => [
              { op: 'shape', slot: c.slot!, direction: 'inactive' },
              { op: 'release', slot: c.slot! },
            ]),
          ],
        },
      },
    },
    degraded: {
      entry: count('degraded'),
      always: [{ guard: ({ context }) => context.peerUp && context.trackEnded, target: 'recovering' }],
      on: {
        'peer.up': { target: 'recovering', actions: assign({ peerUp: true }) },
        'media.stop': [
          {
            guard: 'slotKind',
            target: 'stopped',
            actions: [
              count('stops'),
              exec((c) => [
                { op: 'detach', slot: c.slot! },
                { op: 'shape', slot: c.slot!, direction: 'inactive' },
                { op: 'release', slot: c.slot! },
              ]),
            ],
          },
          {
            guard: 'loopback',
            target: 'stopped',
            actions: [count('stops'), exec((c) => [{ op: 'loop', slot: c.slot!, on: false }])],
          },
          { target: 'stopped', actions: count('stops') },
        ],
        'file.done': {
          guard: ({ event }) => event.ok,
          target: 'complete',
          actions: assign({ sha256: ({ event }) => event.sha256 }),
        },
      },
    },
    recovering: {
      entry: exec((c) =>
        c.trackEnded && c.kind !== 'file' && c.kind !== 'loopback'
          ? [{ op: 'acquire', kind: c.kind, slot: c.slot }]
          : publish(c),
      ),
      after: { deadline: { target: 'degraded', actions: deadlineMissed } },
      on: {
        'media.acquired': { actions: [assign({ trackEnded: false }), exec(publish)] },
        'media.shape': { guard: 'published', target: 'live', actions: count('recovered') },
        'file.open': {
          target: 'live',
          actions: [
            count('recovered'),
            assign({ acked: ({ context, event }) => Math.min(context.acked, event.offset) }),
          ],
        },
        'peer.down': { target: 'degraded', actions: assign({ peerUp: false }) },
        'media.stop': { target: 'stopped', actions: count('stops') },
      },
      // Loopback needs no negotiation: re-looping is all there is to it.
      always: {
        guard: ({ context }) => context.kind === 'loopback' && !context.trackEnded,
        target: 'live',
        actions: count('recovered'),
      },
    },
    stopping: {
      after: { deadline: { target: 'stopped', actions: deadlineMissed } },
      on: {
        'media.shape': { guard: 'unpublished', target: 'stopped' },
        'media.start': { target: 'acquiring', actions: count('starts') },
      },
    },
    stopped: {
      on: { 'media.start': { target: 'acquiring', actions: count('starts') } },
    },
    complete: { type: 'final' },
  },
})

export default mediaSubflow
