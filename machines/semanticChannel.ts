/**
 * semanticChannel: one logical channel of one member (command, event, sync, presence, route,
 * media) over ordered candidate paths (e.g. `direct` WebRTC, `ws` hub WebSocket, `relay` root over
 * NATS). Runs on both ends; the same machine sends and receives.
 *
 * Driven by the path adapters (`channel.path.up | down`, `channel.probe.result`), by the
 * application (`channel.command`, `channel.publish`, `channel.subscribe | unsubscribe`) and by the
 * frames the other end sends (`channel.receive`), plus its own timers (ack timeouts, probes).
 *
 * Promises:
 * - one active path at a time: the best (first in order) path that is up and not frozen;
 * - a path that fails is frozen: it is not used again until a probe over it succeeds; probes start
 *   after the freeze window and back off (doubling, capped), so a flapping path cannot make the
 *   channel flap. A probe that succeeds on a path better than the active one moves the channel back;
 * - commands are sent in order with a per-channel seq; every command not yet acked is sent again,
 *   in order, on the next path, and again after each ack timeout. The other end delivers each
 *   command once (seq per sender session) and in order, acks it by id, and acks duplicates again.
 *   A command goes sent -> acked, or after `maxAttempts` ack timeouts -> failed (with every later
 *   command of the channel: order is the channel's promise);
 * - events are delivered once per id (a bounded window of recent ids);
 * - subscriptions are replayed on every newly active path.
 *
 * Side effects are the placeholder actions `transmit`, `deliver`, `settled`, `probe`, `switched`,
 * bound by runtime/ (or by a test).
 */
import { assertEvent, enqueueActions, setup } from 'xstate'
import type { ChannelFrame, ChannelName } from '../protocol/channelFrame.ts'

export type PathId = string

export interface ChannelPolicy {
  /** A failed path is not probed before this (and so not used again). */
  freezeMs: number
  /** Wait between failed probes; doubles per failure up to `maxProbeBackoffMs`. */
  probeBackoffMs: number
  maxProbeBackoffMs: number
  /** A command not acked within this is sent again. */
  ackTimeoutMs: number
  /** Ack timeouts before a command fails. */
  maxAttempts: number
  /** Recent event ids remembered for duplicate suppression. */
  dedupeWindow: number
  /** Out-of-order commands buffered while waiting for a gap to fill. */
  maxBuffered: number
}

export const defaultChannelPolicy: ChannelPolicy = {
  freezeMs: 1000,
  probeBackoffMs: 500,
  maxProbeBackoffMs: 8000,
  ackTimeoutMs: 1500,
  maxAttempts: 8,
  dedupeWindow: 1024,
  maxBuffered: 1024,
}

export interface ChannelInput {
  member: string
  channel: ChannelName
  /** Candidate paths, best first. */
  paths: PathId[]
  /** This end's session: its command seqs start at 1. */
  session: string
  policy?: Partial<ChannelPolicy>
}

export type CommandState = 'queued' | 'sent' | 'timedOut'

export interface PendingCommand {
  id: string
  seq: number
  payload: unknown
  state: CommandState
  attempts: number
  path: PathId | null
}

export interface ChannelContext {
  member: string
  channel: ChannelName
  session: string
  paths: PathId[]
  policy: ChannelPolicy
  up: Record<PathId, boolean>
  frozen: Record<PathId, boolean>
  active: PathId | null
  failovers: number
  lastSwitch: { from: PathId | null; to: PathId | null; reason: string } | null
  probeFailures: number
  probing: PathId | null
  nextSeq: number
  pending: PendingCommand[]
  acked: number
  failed: number
  /** The other end's session and the last seq of it delivered. */
  peerSession: string | null
  recvSeq: number
  buffered: Array<{ id: string; seq: number; p: unknown }>
  seen: string[]
  duplicates: number
  subscriptions: string[]
}

/** What `deliver` hands the application. */
export type Delivery =
  | { kind: 'command'; id: string; payload: unknown }
  | { kind: 'event'; id: string; payload: unknown }
  | { kind: 'subscribe' | 'unsubscribe'; topic: string }

/** Event creators: what path adapters, the application and the other end's frames send. */
export const channelEvents = {
  up: (path: PathId) => ({ type: 'channel.path.up', path }) as const,
  down: (path: PathId, reason?: string) => ({ type: 'channel.path.down', path, reason }) as const,
  probeResult: (path: PathId, ok: boolean) => ({ type: 'channel.probe.result', path, ok }) as const,
  command: (id: string, payload?: unknown) => ({ type: 'channel.command', id, payload }) as const,
  publish: (id: string, payload?: unknown) => ({ type: 'channel.publish', id, payload }) as const,
  subscribe: (topic: string) => ({ type: 'channel.subscribe', topic }) as const,
  unsubscribe: (topic: string) => ({ type: 'channel.unsubscribe', topic }) as const,
  receive: (frame: ChannelFrame, path?: PathId) => ({ type: 'channel.receive', frame, path }) as const,
}

/** Every event a channel takes: the creators' events and its own ack timers (raised with a delay). */
export type ChannelEvent =
  | ReturnType<(typeof channelEvents)[keyof typeof channelEvents]>
  | { type: 'channel.ackTimeout'; id: string }

/** The best eligible path: first in order that is up and not frozen. */
export function bestPath(c: Pick<ChannelContext, 'paths' | 'up' | 'frozen'>): PathId | null {
  for (const p of c.paths) if (c.up[p] && !c.frozen[p]) return p
  return null
}

/**
 * The path worth probing: among the frozen paths ranked above the active one (all of them when
 * none is active), the best that its adapter reports open, else the best.
 */
export function probeTarget(c: Pick<ChannelContext, 'paths' | 'frozen' | 'active' | 'up'>): PathId | null {
  let fallback: PathId | null = null
  for (const p of c.paths) {
    if (p === c.active) break
    if (!c.frozen[p]) continue
    if (c.up[p]) return p
    fallback ??= p
  }
  return fallback
}

const ackTimer = (id: string) => `ack:${id}`

/** The channel's effects, bound by runtime/ (or a test) with `.provide()`. */
type Effect =
  | { type: 'transmit'; params: { path: PathId; frame: ChannelFrame } }
  | { type: 'deliver'; params: Delivery }
  | { type: 'settled'; params: { id: string; outcome: 'acked' | 'failed'; attempts: number } }
  | { type: 'switched'; params: { from: PathId | null; to: PathId | null; reason: string } }

/** The part of `enqueueActions`' `enqueue` the shared helpers below use. */
interface Enqueue {
  (action: Effect): void
  raise(event: ChannelEvent, options: { id: string; delay: number }): void
  cancel(id: string): void
}

/** Re-selects the active path; on a change, replays subscriptions and resends pending commands. */
function reselect(enqueue: Enqueue, c: ChannelContext, reason: string): void {
  const next = bestPath(c)
  if (next === c.active) return
  const from = c.active
  c.active = next
  if (from !== null && next !== null) c.failovers++
  c.lastSwitch = { from, to: next, reason }
  enqueue({ type: 'switched', params: { from, to: next, reason } })
  if (next === null) return
  for (const topic of c.subscriptions)
    enqueue({ type: 'transmit', params: { path: next, frame: { v: 1, ch: c.channel, k: 'sub', topic } } })
  for (const cmd of c.pending) send(enqueue, c, cmd)
}

function send(enqueue: Enqueue, c: ChannelContext, cmd: PendingCommand): void {
  if (!c.active) return
  cmd.state = 'sent'
  cmd.path = c.active
  enqueue({
    type: 'transmit',
    params: {
      path: c.active,
      frame: { v: 1, ch: c.channel, k: 'cmd', id: cmd.id, s: c.session, seq: cmd.seq, p: cmd.payload },
    },
  })
}

function armAckTimer(enqueue: Enqueue, c: ChannelContext, id: string): void {
  enqueue.cancel(ackTimer(id))
  enqueue.raise({ type: 'channel.ackTimeout', id }, { id: ackTimer(id), delay: c.policy.ackTimeoutMs })
}

/** Sends `frame` on the active path, if there is one (events and subscriptions are not queued). */
function onActive(enqueue: Enqueue, c: ChannelContext, frame: ChannelFrame): void {
  if (c.active) enqueue({ type: 'transmit', params: { path: c.active, frame } })
}

const clone = (c: ChannelContext): ChannelContext => ({
  ...c,
  up: { ...c.up },
  frozen: { ...c.frozen },
  pending: c.pending.map((p) => ({ ...p })),
  buffered: [...c.buffered],
  seen: [...c.seen],
  subscriptions: [...c.subscriptions],
})

export const semanticChannel = setup({
  types: {
    context: {} as ChannelContext,
    events: {} as ChannelEvent,
    input: {} as ChannelInput,
  },
  actions: {
    transmit: (_: unknown, _params: { path: PathId; frame: ChannelFrame }) => {},
    deliver: (_: unknown, _params: Delivery) => {},
    settled: (_: unknown, _params: { id: string; outcome: 'acked' | 'failed'; attempts: number }) => {},
    probe: (_: unknown, _params: { path: PathId; id: string }) => {},
    switched: (_: unknown, _params: { from: PathId | null; to: PathId | null; reason: string }) => {},

    pathUp: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'channel.path.up')
      const c = clone(context)
      c.up[event.path] = true
      reselect(enqueue, c, `${event.path} up`)
      enqueue.assign(c)
    }),
    pathDown: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'channel.path.down')
      if (!context.paths.includes(event.path)) return
      const c = clone(context)
      c.up[event.path] = false
      c.frozen[event.path] = true
      if (c.probing === event.path) c.probing = null
      reselect(enqueue, c, `${event.path} down${event.reason ? `: ${event.reason}` : ''}`)
      enqueue.assign(c)
    }),
    startProbe: enqueueActions(({ context, enqueue }) => {
      const path = probeTarget(context)
      enqueue.assign({ probing: path })
      if (path)
        enqueue({
          type: 'probe',
          params: {
            path,
            id: `probe-${context.member}-${context.channel}-${context.failovers}-${context.probeFailures}`,
          },
        })
    }),
    probeResult: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'channel.probe.result')
      if (context.probing !== event.path) return
      const c = clone(context)
      c.probing = null
      if (event.ok) {
        c.frozen[event.path] = false
        c.up[event.path] = true
        c.probeFailures = 0
        reselect(enqueue, c, `probe of ${event.path} succeeded`)
      } else {
        c.probeFailures++
      }
      enqueue.assign(c)
    }),
    queueCommand: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'channel.command')
      if (context.pending.some((p) => p.id === event.id)) return
      const c = clone(context)
      const cmd: PendingCommand = {
        id: event.id,
        seq: c.nextSeq++,
        payload: event.payload,
        state: 'queued',
        attempts: 1,
        path: null,
      }
      c.pending.push(cmd)
      send(enqueue, c, cmd)
      armAckTimer(enqueue, c, cmd.id)
      enqueue.assign(c)
    }),
    ackTimedOut: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'channel.ackTimeout')
      const i = context.pending.findIndex((p) => p.id === event.id)
      if (i < 0) return
      const c = clone(context)
      const cmd = c.pending[i]
      if (cmd.attempts >= c.policy.maxAttempts) {
        // order is the channel's promise: the commands after a failed one fail with it
        for (const f of c.pending.splice(i)) {
          c.failed++
          enqueue.cancel(ackTimer(f.id))
          enqueue({ type: 'settled', params: { id: f.id, outcome: 'failed', attempts: f.attempts } })
        }
      } else {
        cmd.attempts++
        cmd.state = 'timedOut'
        send(enqueue, c, cmd)
        armAckTimer(enqueue, c, cmd.id)
      }
      enqueue.assign(c)
    }),
    /** Events are not retransmitted: at most once per id, on the active path. */
    publishEvent: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'channel.publish')
      onActive(enqueue, context, { v: 1, ch: context.channel, k: 'evt', id: event.id, p: event.payload })
    }),
    /** Adds or removes a topic and tells the other end on the active path (a new path gets them all). */
    subscription: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, ['channel.subscribe', 'channel.unsubscribe'])
      const on = event.type === 'channel.subscribe'
      if (context.subscriptions.includes(event.topic) === on) return
      enqueue.assign({
        subscriptions: on
          ? [...context.subscriptions, event.topic]
          : context.subscriptions.filter((t) => t !== event.topic),
      })
      onActive(enqueue, context, { v: 1, ch: context.channel, k: on ? 'sub' : 'unsub', topic: event.topic })
    }),
    receiveFrame: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'channel.receive')
      const f = event.frame
      const reply = (frame: ChannelFrame) => {
        const path = event.path && context.up[event.path] !== false ? event.path : context.active
        if (path) enqueue({ type: 'transmit', params: { path, frame } })
      }
      switch (f.k) {
        case 'ack': {
          const i = context.pending.findIndex((p) => p.id === f.id)
          if (i < 0) return
          const cmd = context.pending[i]
          enqueue.cancel(ackTimer(f.id))
          enqueue({ type: 'settled', params: { id: f.id, outcome: 'acked', attempts: cmd.attempts } })
          enqueue.assign({ pending: context.pending.filter((_, j) => j !== i), acked: context.acked + 1 })
          return
        }
        case 'cmd': {
          const c = clone(context)
          if (c.peerSession !== f.s) {
            c.peerSession = f.s
            c.recvSeq = 0
            c.buffered = []
          }
          if (f.seq <= c.recvSeq || c.buffered.some((b) => b.seq === f.seq)) {
            c.duplicates++
            if (f.seq <= c.recvSeq) reply({ v: 1, ch: c.channel, k: 'ack', id: f.id })
            enqueue.assign(c)
            return
          }
          if (f.seq !== c.recvSeq + 1) {
            if (c.buffered.length < c.policy.maxBuffered) c.buffered.push({ id: f.id, seq: f.seq, p: f.p })
            enqueue.assign(c)
            return
          }
          let next: { id: string; seq: number; p: unknown } | undefined = { id: f.id, seq: f.seq, p: f.p }
          while (next) {
            enqueue({ type: 'deliver', params: { kind: 'command', id: next.id, payload: next.p } })
            reply({ v: 1, ch: c.channel, k: 'ack', id: next.id })
            c.recvSeq = next.seq
            const k = c.buffered.findIndex((b) => b.seq === c.recvSeq + 1)
            next = k >= 0 ? c.buffered.splice(k, 1)[0] : undefined
          }
          enqueue.assign(c)
          return
        }
        case 'evt': {
          if (context.seen.includes(f.id)) {
            enqueue.assign({ duplicates: context.duplicates + 1 })
            return
          }
          const seen = [...context.seen, f.id]
          if (seen.length > context.policy.dedupeWindow) seen.splice(0, seen.length - context.policy.dedupeWindow)
          enqueue.assign({ seen })
          enqueue({ type: 'deliver', params: { kind: 'event', id: f.id, payload: f.p } })
          return
        }
        case 'sub':
        case 'unsub':
          enqueue({ type: 'deliver', params: { kind: f.k === 'sub' ? 'subscribe' : 'unsubscribe', topic: f.topic } })
          return
        case 'probe':
          reply({ v: 1, ch: context.channel, k: 'pong', id: f.id })
          return
        case 'pong':
          return
      }
    }),
  },
  guards: {
    hasActive: ({ context }) => context.active !== null,
    noActive: ({ context }) => context.active === null,
    hasProbeTarget: ({ context }) => probeTarget(context) !== null,
    noProbeTarget: ({ context }) => probeTarget(context) === null,
    /** The probe could not start, or its path no longer needs it (it came back, or the ranking changed). */
    probeMoot: ({ context }) => context.probing === null || probeTarget(context) === null,
  },
  delays: {
    probeDelay: ({ context }) =>
      context.probeFailures === 0
        ? context.policy.freezeMs
        : Math.min(context.policy.maxProbeBackoffMs, context.policy.probeBackoffMs * 2 ** (context.probeFailures - 1)),
  },
}).createMachine({
  id: 'semanticChannel',
  context: ({ input }) => ({
    member: input.member,
    channel: input.channel,
    session: input.session,
    paths: [...input.paths],
    policy: { ...defaultChannelPolicy, ...input.policy },
    up: {},
    frozen: {},
    active: null,
    failovers: 0,
    lastSwitch: null,
    probeFailures: 0,
    probing: null,
    nextSeq: 1,
    pending: [],
    acked: 0,
    failed: 0,
    peerSession: null,
    recvSeq: 0,
    buffered: [],
    seen: [],
    duplicates: 0,
    subscriptions: [],
  }),
  type: 'parallel',
  states: {
    // `link` shows whether the channel has a path; the work is in the shared handlers below.
    link: {
      initial: 'connecting',
      states: {
        connecting: { always: { guard: 'hasActive', target: 'active' } },
        active: { always: { guard: 'noActive', target: 'connecting' } },
      },
    },
    // Probes of a frozen path ranked above the active one: first after the freeze window, then
    // with backoff; one probe at a time.
    probe: {
      initial: 'idle',
      states: {
        idle: { always: { guard: 'hasProbeTarget', target: 'waiting' } },
        waiting: {
          always: { guard: 'noProbeTarget', target: 'idle' },
          after: { probeDelay: 'probing' },
        },
        probing: {
          entry: 'startProbe',
          always: { guard: 'probeMoot', target: 'idle' },
        },
      },
    },
  },
  on: {
    'channel.path.up': { actions: 'pathUp' },
    'channel.path.down': { actions: 'pathDown' },
    'channel.probe.result': { actions: 'probeResult' },
    'channel.command': { actions: 'queueCommand' },
    'channel.ackTimeout': { actions: 'ackTimedOut' },
    'channel.publish': { actions: 'publishEvent' },
    'channel.subscribe': { actions: 'subscription' },
    'channel.unsubscribe': { actions: 'subscription' },
    'channel.receive': { actions: 'receiveFrame' },
  },
})

export default semanticChannel
