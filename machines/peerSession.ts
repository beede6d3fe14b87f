/**
 * peerSession: one long-lived WebRTC peer between a member (browser or Node) and the hub.
 *
 * Driven by: validated signaling messages from the remote (`rtc.offer|answer|ice|supersede`),
 * results of the local executor (`rtc.local.*`, `rtc.channel.*`), the verdicts of its liveness
 * watchdog (`probe.silent`, `probe.answered`), application messages from the `events` channel
 * (`peer.msg`, `peer.ack`), requests of its media subflows (`peer.shape`), the end of the session
 * (`peer.close`) and its own durable timers. It never touches a socket: every effect is
 * a command to the `exec` action, which runtime/ binds (werift on the hub, RTCPeerConnection in
 * the browser) and whose results come back as events, so a journaled run replays exactly.
 *
 * Promises:
 * - One negotiation at a time. Requests while one runs coalesce into one pending purpose (the
 *   strongest wins: shape < renegotiate < ice-restart < rebuild). Every offer, answer and
 *   candidate carries `peerSessionId` + `negotiationId`; answers and candidates of another
 *   session or of a finished negotiation are ignored and counted; candidates that arrive before
 *   their description are queued and applied once it is.
 * - Perfect negotiation with fixed roles: the member is polite, the hub impolite. werift (the
 *   hub) only accepts a remote offer when its signaling state allows it, and the browser's native
 *   RTCPeerConnection rolls back implicitly and reliably. So the side that must give way in a
 *   glare is the browser: it rolls back its own offer (explicitly, `setLocalDescription
 *   ({type: 'rollback'})`, which works in both browsers and werift, so a werift member can be
 *   polite too) and answers; the impolite hub ignores the colliding offer. Its own request stays
 *   pending and runs after, so nothing is lost and exactly one of the two offers wins.
 * - Health is the liveness probe (ping/pong over `events`), never the ICE state. The probe is a
 *   watchdog outside the machine (the executor's): the machine tells it what to watch for
 *   (`watch` command: `live` in `open`, `prove` on each rung, `off` when the session failed or
 *   closed, each with a new `watch` number), and the watchdog sends back only its verdicts, once
 *   each: `probe.silent` (silence for `silenceProbes` probes: path loss) and `probe.answered` (a
 *   ping or pong after the watch began: the path works). The leader pings (every `idleProbeMs`
 *   while answered, every `probeMs` once late or proving), the follower answers and listens. So an idle open session journals nothing, a replay sees the
 *   verdicts as the inputs they are, and a verdict of an older watch is ignored.
 * - `failed` is final for the ladder: nothing is probed there any more; the leader leaves it only
 *   with `peer.rebuild`, the follower with a superseding session, and `peer.close` (the member is
 *   gone, runtime/ decides when) ends the session for good. The ICE state is used for one
 *   thing only: when the channels are not open by the `connect` deadline but ICE has a path
 *   (connected or completed), DTLS and SCTP are merely slow (a loaded host opening many
 *   sessions at once): the deadline is extended, up to `connectWaits` times, instead of climbing
 *   the ladder, whose ICE restarts and rebuilds would add to the load that made it slow.
 * - The polite side leads recovery (it owns the session: it can reconnect signaling, it has the
 *   user's media, and a restart started by Chromium works against werift, FACTS.md). The ladder,
 *   each rung a state with its own deadline: ICE restart -> renegotiation -> full rebuild (a new
 *   `peerSessionId`, announced by `rtc.supersede` with a reason). A pong to a ping sent after a
 *   rung began proves the path: the rung that got it is recorded. The impolite side follows:
 *   it answers, adopts a superseding session, and waits (with its own deadline).
 * - `events` and `sync` are negotiated data channels (ids 0 and 1) created with the peer; media
 *   changes never close them. Reliable messages carry a sequence; those not acknowledged when a
 *   recovery ends are sent again after the last acknowledged one (the receiver drops duplicates).
 */
import { assertEvent, setup } from 'xstate'
import { execAction, type ExecStep } from './execAction.ts'
import {
  sameShape,
  uniformShape,
  type IceCandidateInit,
  type MediaShape,
  type MediaSlot,
  type OfferPurpose,
  type RtcOffer,
  type SignalingMessage,
  type SlotDirection,
} from '../protocol/signaling.ts'

export type Rung = 'ice-restart' | 'renegotiate' | 'rebuild'

export interface Negotiation {
  id: string
  origin: 'local' | 'remote'
  purpose: OfferPurpose
  shape: MediaShape
}

/** Commands to the executor (runtime/). Each one's result, if any, comes back as an event. */
export type PeerCommand =
  | { op: 'createPeer'; peerSessionId: string; reason: string }
  | {
      op: 'offer'
      peerSessionId: string
      negotiationId: string
      purpose: OfferPurpose
      iceRestart: boolean
      shape: MediaShape
    }
  | {
      op: 'applyOffer'
      peerSessionId: string
      negotiationId: string
      sdp: string
      rollback: boolean
      shape: MediaShape
    }
  | { op: 'applyAnswer'; peerSessionId: string; negotiationId: string; sdp: string }
  | { op: 'rollback'; peerSessionId: string; negotiationId: string }
  | { op: 'addCandidates'; peerSessionId: string; candidates: IceCandidateInit[] }
  | { op: 'signal'; message: SignalingMessage }
  | {
      op: 'watch'
      peerSessionId: string
      watch: number
      mode: 'live' | 'prove' | 'off'
      probeMs: number
      idleProbeMs: number
      silenceProbes: number
    }
  | { op: 'transmit'; peerSessionId: string; seq: number; data: unknown; resend: boolean }
  | { op: 'ack'; peerSessionId: string; seq: number }
  | { op: 'deliver'; seq: number; data: unknown }
  | { op: 'notify'; what: 'up' | 'down'; peerSessionId: string; rebuilt: boolean }
  | { op: 'notifyShape'; shape: MediaShape }
  | { op: 'close'; peerSessionId: string }
  /** The session is over (closed): the peer, the watchdog and the subflows stop for good. */
  | { op: 'end'; peerSessionId: string; reason: string }

export interface PeerSessionInput {
  nodeId: string
  remoteNodeId: string
  polite: boolean
  /** The first session id (the member picks it; the hub takes it from the first offer). */
  peerSessionId: string
  /**
   * The member resumes `peerSessionId` with a new peer connection (its page reloaded within the
   * hub's grace): a nonce that keeps its negotiation ids apart from the ones before. It offers
   * with purpose `resume` and starts on the `renegotiate` rung, so the recovery is recorded.
   */
  resume?: string
  probeMs?: number
  /** The probe period while the link is open and answered (probeMs once an answer is late). */
  idleProbeMs?: number
  silenceProbes?: number
  connectMs?: number
  /** Extensions of the `connect` deadline while ICE has a path and the channels are not open yet. */
  connectWaits?: number
  negotiationMs?: number
  iceRestartMs?: number
  renegotiateMs?: number
  rebuildMs?: number
  followMs?: number
  maxRebuilds?: number
}

export interface RecoveryRecord {
  reason: string
  climbed: Rung[]
  recoveredBy: Rung | 'follow' | null
  fromSession: string
  toSession: string
}

export interface PeerSessionContext {
  nodeId: string
  remoteNodeId: string
  polite: boolean
  peerSessionId: string
  /** Prefix of this side's negotiation ids (the node id, with the resume nonce if resumed). */
  negPrefix: string
  resume: boolean
  generation: number
  oldSessionIds: string[]
  negSeq: number
  neg: Negotiation | null
  pending: OfferPurpose | null
  done: string[]
  remoteDescId: string | null
  queued: { negotiationId: string; candidate: IceCandidateInit }[]
  /** A remote offer that came while our answer was still being applied: taken right after. */
  deferred: Extract<SignalingMessage, { type: 'rtc.offer' }> | null
  desiredShape: MediaShape
  negotiatedShape: MediaShape
  channels: { events: boolean; sync: boolean }
  /** ICE connection state of the current peer, as the executor last reported it. */
  ice: string | null
  /** Times the `connect` deadline was extended (reset once open). */
  connectWaited: number
  /** The watchdog's current watch (verdicts of another are ignored) and the verdicts taken. */
  probe: { watch: number; silences: number; answers: number }
  outSeq: number
  unacked: { seq: number; data: unknown }[]
  inSeq: number
  rung: Rung | null
  climbed: Rung[]
  recoveryReason: string | null
  recoveries: RecoveryRecord[]
  rebuilds: number
  failure: string | null
  /** Why the session was closed (`peer.close`), once it is. */
  closedReason: string | null
  t: Required<Omit<PeerSessionInput, 'nodeId' | 'remoteNodeId' | 'polite' | 'peerSessionId' | 'resume'>>
  counters: {
    negotiations: number
    offersMade: number
    glareRolledBack: number
    glareIgnored: number
    negotiationTimeouts: number
    negotiationErrors: number
    ignoredSuperseded: number
    ignoredStale: number
    ignoredUnknown: number
    candidatesQueued: number
    candidatesApplied: number
    candidatesDropped: number
    channelCloses: number
    delivered: number
    duplicates: number
    gaps: number
    resent: number
    rejectedInput: number
  }
}

export type PeerSessionEvent =
  | SignalingMessage
  | { type: 'rtc.local.offer'; peerSessionId: string; negotiationId: string; sdp: string }
  | { type: 'rtc.local.answer'; peerSessionId: string; negotiationId: string; sdp: string }
  | { type: 'rtc.local.applied'; peerSessionId: string; negotiationId: string }
  | { type: 'rtc.local.error'; peerSessionId: string; negotiationId: string; op: string; message: string }
  | { type: 'rtc.local.candidate'; peerSessionId: string; candidate: IceCandidateInit }
  | { type: 'rtc.channel.open'; peerSessionId: string; label: 'events' | 'sync' }
  | { type: 'rtc.local.iceState'; peerSessionId: string; state: string }
  | { type: 'rtc.channel.close'; peerSessionId: string; label: 'events' | 'sync' }
  | { type: 'peer.shape'; slot: MediaSlot; direction: SlotDirection }
  | { type: 'peer.negotiate'; purpose?: 'shape' | 'renegotiate' | 'ice-restart' }
  | { type: 'peer.rebuild'; reason: string }
  | { type: 'peer.send'; data: unknown }
  | { type: 'peer.msg'; peerSessionId: string; seq: number; data: unknown }
  | { type: 'peer.ack'; peerSessionId: string; seq: number }
  | { type: 'peer.input.rejected'; code: string; field: string }
  | { type: 'peer.close'; reason?: string }
  | { type: 'probe.silent'; peerSessionId: string; watch: number }
  | { type: 'probe.answered'; peerSessionId: string; watch: number }
  | { type: 'neg.reset'; pending: OfferPurpose | null }

const STRENGTH: Record<OfferPurpose, number> = {
  initial: 1,
  shape: 1,
  renegotiate: 2,
  'ice-restart': 3,
  rebuild: 4,
  resume: 4,
}
const KEEP_DONE = 32
const MAX_QUEUED = 64

/** The stronger of two pending purposes (coalescing). */
export function coalesce(a: OfferPurpose | null, b: OfferPurpose): OfferPurpose {
  return a === null || STRENGTH[b] > STRENGTH[a] ? b : a
}

type Ctx = PeerSessionContext
type Ev = PeerSessionEvent
type Step = ExecStep<Ctx, Ev, PeerCommand>

const pushDone = (done: string[], id: string): string[] => [...done.filter((d) => d !== id), id].slice(-KEEP_DONE)

/** Classifies something of another session or negotiation that is being ignored. */
function ignore(ctx: Ctx, peerSessionId: string, negotiationId?: string): Step {
  const c = { ...ctx.counters }
  if (peerSessionId !== ctx.peerSessionId) {
    if (ctx.oldSessionIds.includes(peerSessionId)) c.ignoredSuperseded++
    else c.ignoredUnknown++
  } else if (negotiationId !== undefined && ctx.done.includes(negotiationId)) c.ignoredStale++
  else c.ignoredUnknown++
  return { ctx: { counters: c } }
}

/** The remote description of `negotiationId` is in place: apply its queued candidates, drop stale ones. */
function descriptionApplied(ctx: Ctx, negotiationId: string, shape: MediaShape): Step {
  const done = pushDone(ctx.done, negotiationId)
  const ready = ctx.queued.filter((q) => q.negotiationId === negotiationId).map((q) => q.candidate)
  const rest = ctx.queued.filter((q) => q.negotiationId !== negotiationId && !done.includes(q.negotiationId))
  const dropped = ctx.queued.length - ready.length - rest.length
  const counters = {
    ...ctx.counters,
    negotiations: ctx.counters.negotiations + 1,
    candidatesApplied: ctx.counters.candidatesApplied + ready.length,
    candidatesDropped: ctx.counters.candidatesDropped + dropped,
  }
  const cmds: PeerCommand[] = []
  if (ready.length) cmds.push({ op: 'addCandidates', peerSessionId: ctx.peerSessionId, candidates: ready })
  cmds.push({ op: 'notifyShape', shape })
  const pending = sameShape(ctx.desiredShape, shape) ? ctx.pending : coalesce(ctx.pending, 'shape')
  return {
    ctx: { neg: null, done, remoteDescId: negotiationId, queued: rest, negotiatedShape: shape, counters, pending },
    cmds,
  }
}

function startOffer(ctx: Ctx): Step {
  const purpose = ctx.pending ?? 'shape'
  const negSeq = ctx.negSeq + 1
  const neg: Negotiation = {
    id: `${ctx.negPrefix}.${ctx.generation}.${negSeq}`,
    origin: 'local',
    purpose,
    shape: { ...ctx.desiredShape },
  }
  return {
    ctx: { negSeq, neg, pending: null, counters: { ...ctx.counters, offersMade: ctx.counters.offersMade + 1 } },
    cmds: [
      {
        op: 'offer',
        peerSessionId: ctx.peerSessionId,
        negotiationId: neg.id,
        purpose,
        iceRestart: purpose === 'ice-restart',
        shape: neg.shape,
      },
    ],
  }
}

function acceptOffer(ctx: Ctx, ev: Extract<Ev, { type: 'rtc.offer' }>, rollback: boolean): Step {
  const neg: Negotiation = { id: ev.negotiationId, origin: 'remote', purpose: ev.purpose, shape: { ...ev.mediaShape } }
  const counters = { ...ctx.counters }
  let pending = ctx.pending
  if (rollback && ctx.neg) {
    counters.glareRolledBack++
    pending = coalesce(pending, ctx.neg.purpose)
  }
  // The remote's offer carries the shape it wants; the hub takes the member's shape as its own.
  const desiredShape = ctx.polite ? ctx.desiredShape : { ...ev.mediaShape }
  const done = rollback && ctx.neg ? pushDone(ctx.done, ctx.neg.id) : ctx.done
  return {
    ctx: { neg, pending, counters, desiredShape, done },
    cmds: [
      {
        op: 'applyOffer',
        peerSessionId: ctx.peerSessionId,
        negotiationId: ev.negotiationId,
        sdp: ev.sdp,
        rollback,
        shape: neg.shape,
      },
    ],
  }
}

function msg<T extends SignalingMessage['type']>(
  ctx: Ctx,
  type: T,
  negotiationId: string,
  rest: Record<string, unknown>,
): SignalingMessage {
  return {
    type,
    peerSessionId: ctx.peerSessionId,
    negotiationId,
    fromNodeId: ctx.nodeId,
    targetNodeId: ctx.remoteNodeId,
    ...rest,
  } as SignalingMessage
}

/** Abandons the negotiation in flight (timeout or error); a local one is rolled back. */
function abandon(ctx: Ctx, kind: 'timeout' | 'error', retry: boolean): Step {
  const n = ctx.neg
  const counters = { ...ctx.counters }
  if (kind === 'timeout') counters.negotiationTimeouts++
  else counters.negotiationErrors++
  if (!n) return { ctx: { counters } }
  return {
    ctx: {
      neg: null,
      done: pushDone(ctx.done, n.id),
      counters,
      pending: retry ? coalesce(ctx.pending, n.purpose === 'initial' ? 'shape' : n.purpose) : ctx.pending,
    },
    cmds: [{ op: 'rollback', peerSessionId: ctx.peerSessionId, negotiationId: n.id }],
  }
}

function newSession(ctx: Ctx, peerSessionId: string): Partial<Ctx> {
  return {
    peerSessionId,
    generation: ctx.generation + 1,
    oldSessionIds: [...ctx.oldSessionIds, ctx.peerSessionId].slice(-8),
    neg: null,
    done: [],
    remoteDescId: null,
    queued: [],
    deferred: null,
    channels: { events: false, sync: false },
    ice: null,
    connectWaited: 0,
    negotiatedShape: uniformShape('inactive'),
  }
}

function recovered(ctx: Ctx, by: RecoveryRecord['recoveredBy']): Step {
  const unacked = ctx.unacked
  const rec: RecoveryRecord = {
    reason: ctx.recoveryReason ?? 'unknown',
    climbed: ctx.climbed,
    recoveredBy: by,
    fromSession:
      ctx.oldSessionIds.length && ctx.climbed.includes('rebuild')
        ? ctx.oldSessionIds[ctx.oldSessionIds.length - 1]
        : ctx.peerSessionId,
    toSession: ctx.peerSessionId,
  }
  return {
    ctx: {
      rung: null,
      climbed: [],
      recoveryReason: null,
      recoveries: [...ctx.recoveries, rec].slice(-16),
      counters: { ...ctx.counters, resent: ctx.counters.resent + unacked.length },
    },
    cmds: [
      ...unacked.map(
        (m): PeerCommand => ({
          op: 'transmit',
          peerSessionId: ctx.peerSessionId,
          seq: m.seq,
          data: m.data,
          resend: true,
        }),
      ),
      {
        op: 'notify',
        what: 'up',
        peerSessionId: ctx.peerSessionId,
        rebuilt: rec.climbed.includes('rebuild') || by === 'follow',
      },
    ],
  }
}

function enterRung(ctx: Ctx, rung: Rung): Step {
  // a resumed member's renegotiate rung re-entered to wait for its channels is one rung climbed
  const again = rung === 'renegotiate' && ctx.resume && ctx.connectWaited > 0 && ctx.climbed.at(-1) === rung
  const base: Partial<Ctx> = { rung, climbed: again ? ctx.climbed : [...ctx.climbed, rung], probe: nextWatch(ctx) }
  if (rung !== 'rebuild')
    return { ctx: { ...base, pending: coalesce(ctx.pending, rung) }, cmds: [watch(ctx, ctx.peerSessionId, 'prove')] }
  const generation = ctx.generation + 1
  const next = `${ctx.peerSessionId.replace(/\.g\d+$/, '')}.g${generation}`
  const reason = `${ctx.recoveryReason ?? 'recovery'}; climbed ${[...ctx.climbed, rung].join(' -> ')}`
  const supersede = msg(ctx, 'rtc.supersede', ctx.neg?.id ?? `${ctx.negPrefix}.${ctx.generation}.${ctx.negSeq}`, {
    newPeerSessionId: next,
    reason,
  })
  return {
    // `pending` is set by the reset itself: set here, the stable state would offer before the
    // reset lands and the offer would be made twice.
    ctx: { ...base, ...newSession(ctx, next), generation, rebuilds: ctx.rebuilds + 1, pending: null },
    cmds: [
      { op: 'signal', message: supersede },
      { op: 'close', peerSessionId: ctx.peerSessionId },
      { op: 'createPeer', peerSessionId: next, reason },
      watch(ctx, next, 'prove'),
    ],
    raise: [{ type: 'neg.reset', pending: 'rebuild' }],
  }
}

const nextWatch = (ctx: Ctx): Ctx['probe'] => ({ ...ctx.probe, watch: ctx.probe.watch + 1 })

/** The watchdog command for the next watch (the caller puts `nextWatch` in the context). */
function watch(ctx: Ctx, peerSessionId: string, mode: 'live' | 'prove' | 'off'): PeerCommand {
  const { probeMs, idleProbeMs, silenceProbes } = ctx.t
  return { op: 'watch', peerSessionId, watch: ctx.probe.watch + 1, mode, probeMs, idleProbeMs, silenceProbes }
}

/** The event belongs to the current session. */
const ours = (ctx: Ctx, ev: { peerSessionId: string }) => ev.peerSessionId === ctx.peerSessionId
/** The event answers the negotiation in flight. */
const forNeg = (ctx: Ctx, ev: { peerSessionId: string; negotiationId: string }) =>
  !!ctx.neg && ours(ctx, ev) && ev.negotiationId === ctx.neg.id
/** A remote offer of this session that is not one we already finished. */
const offerFromRemote = (ctx: Ctx, ev: RtcOffer) =>
  ours(ctx, ev) && ev.fromNodeId === ctx.remoteNodeId && !ctx.done.includes(ev.negotiationId) && ev.purpose !== 'resume'
/** A verdict of the watchdog's current watch over the current session. */
const verdict = (ctx: Ctx, ev: { peerSessionId: string; watch: number }) =>
  ours(ctx, ev) && ev.watch === ctx.probe.watch

/** Executor events that carry the session id and the negotiation they answer. */
const LOCAL_NEGOTIATION: Array<'rtc.local.offer' | 'rtc.local.answer' | 'rtc.local.applied' | 'rtc.local.error'> = [
  'rtc.local.offer',
  'rtc.local.answer',
  'rtc.local.applied',
  'rtc.local.error',
]

const step = <P extends Record<string, unknown> | undefined = undefined>(fn: (c: Ctx, e: Ev, p: P) => Step) =>
  execAction<Ctx, Ev, PeerCommand, P>(fn)

const machine = setup({
  types: {
    context: {} as PeerSessionContext,
    events: {} as PeerSessionEvent,
    input: {} as PeerSessionInput,
  },
  guards: {
    hasPending: ({ context }) => context.pending !== null,
    hasDeferredOffer: ({ context }) => context.deferred !== null,
    isLeader: ({ context }) => context.polite,
    channelsOpen: ({ context }) => context.channels.events && context.channels.sync,
    silent: ({ context, event }) => {
      assertEvent(event, 'probe.silent')
      return verdict(context, event)
    },
    leaderSilent: ({ context, event }) => {
      assertEvent(event, 'probe.silent')
      return context.polite && verdict(context, event)
    },
    canRebuild: ({ context }) => context.rebuilds < context.t.maxRebuilds,
    /** A probe answered after the rung began, with the events channel open: the path works. */
    pathProven: ({ context, event }) => {
      assertEvent(event, 'probe.answered')
      return verdict(context, event) && context.channels.events
    },
    /** ICE has a path but the channels are not open yet: DTLS/SCTP are slow, wait a little longer. */
    iceHasPath: ({ context }) =>
      (context.ice === 'connected' || context.ice === 'completed') && context.connectWaited < context.t.connectWaits,
    ours: ({ context, event }) => {
      assertEvent(event, ['rtc.local.iceState', 'rtc.local.candidate', 'rtc.channel.open', 'rtc.channel.close'])
      return ours(context, event)
    },
    oursAndLeader: ({ context, event }) => {
      assertEvent(event, 'rtc.channel.close')
      return context.polite && ours(context, event)
    },
    /** A close counts once per channel and session (werift may report it twice). */
    closesOpenChannel: ({ context, event }) => {
      assertEvent(event, 'rtc.channel.close')
      return ours(context, event) && context.channels[event.label] === true
    },
    forNegotiation: ({ context, event }) => {
      assertEvent(event, LOCAL_NEGOTIATION)
      return forNeg(context, event)
    },
    answerToOurOffer: ({ context, event }) => {
      assertEvent(event, 'rtc.answer')
      return forNeg(context, event) && event.fromNodeId === context.remoteNodeId
    },
    offerFromRemote: ({ context, event }) => {
      assertEvent(event, 'rtc.offer')
      return offerFromRemote(context, event)
    },
    /** Glare on the polite side: it rolls its own offer back and answers the remote one. */
    yieldToRemoteOffer: ({ context, event }) => {
      assertEvent(event, 'rtc.offer')
      return context.polite && offerFromRemote(context, event)
    },
    /** The member's new peer connection resumes this session (its page reloaded). */
    resumedByRemote: ({ context, event }) => {
      assertEvent(event, 'rtc.offer')
      return (
        !context.polite &&
        ours(context, event) &&
        event.fromNodeId === context.remoteNodeId &&
        event.purpose === 'resume' &&
        !context.done.includes(event.negotiationId)
      )
    },
    resuming: ({ context }) => context.resume,
    resumeConnecting: ({ context }) =>
      context.resume &&
      context.recoveries.length === 0 &&
      context.rebuilds === 0 &&
      (context.ice === 'connected' || context.ice === 'completed' || context.ice === 'checking') &&
      context.connectWaited < context.t.connectWaits,
    supersededByRemote: ({ context, event }) => {
      assertEvent(event, 'rtc.supersede')
      return (
        !context.polite &&
        ours(context, event) &&
        event.fromNodeId === context.remoteNodeId &&
        !context.oldSessionIds.includes(event.newPeerSessionId) &&
        event.newPeerSessionId !== context.peerSessionId
      )
    },
    candidateForRemoteDescription: ({ context, event }) => {
      assertEvent(event, 'rtc.ice')
      return (
        ours(context, event) &&
        event.fromNodeId === context.remoteNodeId &&
        event.negotiationId === context.remoteDescId
      )
    },
    /** Its description has not been applied yet (the offer may still be on its way). */
    earlyCandidate: ({ context, event }) => {
      assertEvent(event, 'rtc.ice')
      return (
        ours(context, event) && event.fromNodeId === context.remoteNodeId && !context.done.includes(event.negotiationId)
      )
    },
  },
  actions: {
    /** Runs commands against the peer connection, the signaling link and the subflows. Bound by runtime/. */
    exec: (_: unknown, _params: { cmds: PeerCommand[] }) => {},

    // The peer and its session
    openPeer: step((c) => ({ cmds: [{ op: 'createPeer', peerSessionId: c.peerSessionId, reason: 'start' }] })),
    closePeer: step((c, e) => {
      const reason = e.type === 'peer.close' ? (e.reason ?? 'closed') : 'closed'
      return {
        ctx: { closedReason: reason, rung: null },
        cmds: [{ op: 'end', peerSessionId: c.peerSessionId, reason }],
      }
    }),
    requestRebuild: step((c, e) => {
      assertEvent(e, 'peer.rebuild')
      return {
        ctx: { recoveryReason: `requested: ${e.reason}`, climbed: [], rebuilds: 0, failure: null },
        cmds: [{ op: 'notify', what: 'down', peerSessionId: c.peerSessionId, rebuilt: false }],
      }
    }),
    followSupersede: step((c, e) => {
      assertEvent(e, 'rtc.supersede')
      return {
        ctx: {
          ...newSession(c, e.newPeerSessionId),
          recoveryReason: c.recoveryReason ?? `superseded by the member: ${e.reason}`,
          pending: null,
        },
        cmds: [
          { op: 'close', peerSessionId: c.peerSessionId },
          { op: 'createPeer', peerSessionId: e.newPeerSessionId, reason: e.reason },
          { op: 'notify', what: 'down', peerSessionId: c.peerSessionId, rebuilt: false },
        ],
        raise: [{ type: 'neg.reset', pending: null }],
      }
    }),
    /**
     * The member resumes with a new peer connection: a new peer under the same session id, the
     * negotiation state of the old one dropped, its offer answered; the recovery is recorded as
     * the member's `renegotiate` rung, followed.
     */
    resumeRemote: step((c, e) => {
      assertEvent(e, 'rtc.offer')
      const fresh: Ctx = {
        ...c,
        neg: null,
        pending: null,
        deferred: null,
        remoteDescId: null,
        queued: c.queued.filter((q) => q.negotiationId === e.negotiationId),
        channels: { events: false, sync: false },
        ice: null,
        connectWaited: 0,
        negotiatedShape: uniformShape('inactive'),
      }
      const a = acceptOffer(fresh, e, false)
      return {
        ctx: {
          ...a.ctx,
          neg: a.ctx!.neg,
          pending: null,
          deferred: null,
          remoteDescId: null,
          queued: fresh.queued,
          channels: fresh.channels,
          ice: null,
          connectWaited: 0,
          negotiatedShape: fresh.negotiatedShape,
          recoveryReason: c.recoveryReason ?? 'the member resumed with a new peer connection',
          climbed: ['renegotiate'],
          rung: null,
          probe: nextWatch(c),
        },
        cmds: [
          { op: 'close', peerSessionId: c.peerSessionId },
          { op: 'createPeer', peerSessionId: c.peerSessionId, reason: 'the member resumed' },
          watch(c, c.peerSessionId, 'prove'),
          ...(a.cmds ?? []),
        ],
      }
    }),
    /** What no state took is ignored and counted. */
    ignoreSignal: step((c, e) => {
      assertEvent(e, ['rtc.offer', 'rtc.answer', 'rtc.ice', 'rtc.supersede'])
      return ignore(c, e.peerSessionId, e.negotiationId)
    }),
    noteIceState: step((_c, e) => {
      assertEvent(e, 'rtc.local.iceState')
      return { ctx: { ice: e.state } }
    }),
    applyCandidate: step((c, e) => {
      assertEvent(e, 'rtc.ice')
      return {
        ctx: { counters: { ...c.counters, candidatesApplied: c.counters.candidatesApplied + 1 } },
        cmds: [{ op: 'addCandidates', peerSessionId: c.peerSessionId, candidates: [e.candidate] }],
      }
    }),
    queueCandidate: step((c, e) => {
      assertEvent(e, 'rtc.ice')
      const q = [...c.queued, { negotiationId: e.negotiationId, candidate: e.candidate }]
      const over = Math.max(0, q.length - MAX_QUEUED)
      return {
        ctx: {
          queued: q.slice(over),
          counters: {
            ...c.counters,
            candidatesQueued: c.counters.candidatesQueued + 1,
            candidatesDropped: c.counters.candidatesDropped + over,
          },
        },
      }
    }),
    sendCandidate: step((c, e) => {
      assertEvent(e, 'rtc.local.candidate')
      const negotiationId = c.neg?.id ?? c.remoteDescId ?? `${c.negPrefix}.${c.generation}.0`
      return { cmds: [{ op: 'signal', message: msg(c, 'rtc.ice', negotiationId, { candidate: e.candidate }) }] }
    }),
    countRejectedInput: step((c) => ({
      ctx: { counters: { ...c.counters, rejectedInput: c.counters.rejectedInput + 1 } },
    })),

    // Media shape and negotiation requests
    wantShape: step((c, e) => {
      assertEvent(e, 'peer.shape')
      const desiredShape = { ...c.desiredShape, [e.slot]: e.direction }
      if (sameShape(desiredShape, c.negotiatedShape) && !c.neg)
        return { ctx: { desiredShape }, cmds: [{ op: 'notifyShape', shape: c.negotiatedShape }] }
      return {
        ctx: {
          desiredShape,
          pending: sameShape(desiredShape, c.negotiatedShape) ? c.pending : coalesce(c.pending, 'shape'),
        },
      }
    }),
    requestNegotiation: step((c, e) => {
      assertEvent(e, 'peer.negotiate')
      return { ctx: { pending: coalesce(c.pending, e.purpose ?? 'renegotiate') } }
    }),

    // Reliable messages over `events`
    sendMessage: step((c, e) => {
      assertEvent(e, 'peer.send')
      const seq = c.outSeq + 1
      return {
        ctx: { outSeq: seq, unacked: [...c.unacked, { seq, data: e.data }] },
        cmds: [{ op: 'transmit', peerSessionId: c.peerSessionId, seq, data: e.data, resend: false }],
      }
    }),
    dropAcked: step((c, e) => {
      assertEvent(e, 'peer.ack')
      return { ctx: { unacked: c.unacked.filter((m) => m.seq > e.seq) } }
    }),
    receiveMessage: step((c, e) => {
      assertEvent(e, 'peer.msg')
      const counters = { ...c.counters }
      if (e.seq <= c.inSeq) {
        counters.duplicates++
        return { ctx: { counters }, cmds: [{ op: 'ack', peerSessionId: c.peerSessionId, seq: c.inSeq }] }
      }
      if (e.seq > c.inSeq + 1) {
        counters.gaps++
        return { ctx: { counters } }
      }
      counters.delivered++
      return {
        ctx: { inSeq: e.seq, counters },
        cmds: [
          { op: 'deliver', seq: e.seq, data: e.data },
          { op: 'ack', peerSessionId: c.peerSessionId, seq: e.seq },
        ],
      }
    }),

    // Signaling
    resetNegotiation: step((_c, e) => {
      assertEvent(e, 'neg.reset')
      return { ctx: { neg: null, deferred: null, pending: e.pending } }
    }),
    startOffer: step(startOffer),
    sendOffer: step((c, e) => {
      assertEvent(e, 'rtc.local.offer')
      const n = c.neg!
      return {
        cmds: [
          {
            op: 'signal',
            message: msg(c, 'rtc.offer', e.negotiationId, { sdp: e.sdp, mediaShape: n.shape, purpose: n.purpose }),
          },
        ],
      }
    }),
    acceptOffer: step((c, e, p: { rollback: boolean }) => {
      assertEvent(e, 'rtc.offer')
      return acceptOffer(c, e, p.rollback)
    }),
    /** The remote finished our negotiation and already offered its own: not glare, just next. */
    deferOffer: step((_c, e) => {
      assertEvent(e, 'rtc.offer')
      return { ctx: { deferred: e } }
    }),
    answerDeferredOffer: step((c) => {
      const r = acceptOffer(c, c.deferred!, false)
      return { ...r, ctx: { ...r.ctx, deferred: null } }
    }),
    countGlareIgnored: step((c) => ({
      ctx: { counters: { ...c.counters, glareIgnored: c.counters.glareIgnored + 1 } },
    })),
    applyAnswer: step((c, e) => {
      assertEvent(e, 'rtc.answer')
      return {
        cmds: [{ op: 'applyAnswer', peerSessionId: c.peerSessionId, negotiationId: e.negotiationId, sdp: e.sdp }],
      }
    }),
    answerApplied: step((c) => descriptionApplied(c, c.neg!.id, c.neg!.shape)),
    sendAnswer: step((c, e) => {
      assertEvent(e, 'rtc.local.answer')
      const n = c.neg!
      const s = descriptionApplied(c, n.id, n.shape)
      return {
        ctx: s.ctx,
        cmds: [
          { op: 'signal', message: msg(c, 'rtc.answer', e.negotiationId, { sdp: e.sdp, mediaShape: n.shape }) },
          ...(s.cmds ?? []),
        ],
      }
    }),
    abandonNegotiation: step((c, _e, p: { kind: 'timeout' | 'error'; retry: boolean }) => abandon(c, p.kind, p.retry)),

    // The link and its recovery ladder
    linkOpened: step((c) => ({
      ctx: { connectWaited: 0, probe: nextWatch(c) },
      cmds: [
        { op: 'notify', what: 'up', peerSessionId: c.peerSessionId, rebuilt: false },
        watch(c, c.peerSessionId, 'live'),
      ],
    })),
    waitForChannels: step((c) => ({ ctx: { connectWaited: c.connectWaited + 1 } })),
    pathLost: step((c, e, p: { reason: string }) => ({
      ctx: {
        recoveryReason: p.reason,
        climbed: [],
        probe: { ...c.probe, silences: c.probe.silences + (e.type === 'probe.silent' ? 1 : 0) },
      },
      cmds: [{ op: 'notify', what: 'down', peerSessionId: c.peerSessionId, rebuilt: false }],
    })),
    enterRung: step((c, _e, p: { rung: Rung }) => enterRung(c, p.rung)),
    pathRecovered: step((c) => {
      const r = recovered(c, c.rung ?? 'follow')
      return { ...r, ctx: { ...r.ctx, probe: { ...c.probe, answers: c.probe.answers + 1 } } }
    }),
    startFollowing: step((c) => ({
      ctx: { rung: null, probe: nextWatch(c) },
      cmds: [watch(c, c.peerSessionId, 'prove')],
    })),
    rebuildsExhausted: step((c) => ({
      ctx: { failure: `no rung recovered the path after ${c.rebuilds} rebuilds` },
    })),
    followTimedOut: step(() => ({ ctx: { failure: 'the leading side did not recover the session in time' } })),
    /** Nothing more is probed: the session waits for a rebuild, a superseding session or its close. */
    stopWatching: step((c) => ({ ctx: { probe: nextWatch(c) }, cmds: [watch(c, c.peerSessionId, 'off')] })),

    // Data channels
    channelOpened: step((c, e) => {
      assertEvent(e, 'rtc.channel.open')
      return { ctx: { channels: { ...c.channels, [e.label]: true } } }
    }),
    channelClosed: step((c, e) => {
      assertEvent(e, 'rtc.channel.close')
      return {
        ctx: {
          channels: { ...c.channels, [e.label]: false },
          counters: { ...c.counters, channelCloses: c.counters.channelCloses + 1 },
        },
      }
    }),
  },
  delays: {
    connect: ({ context }) => context.t.connectMs,
    negotiation: ({ context }) => context.t.negotiationMs,
    iceRestart: ({ context }) => context.t.iceRestartMs,
    renegotiate: ({ context }) => context.t.renegotiateMs,
    rebuild: ({ context }) => context.t.rebuildMs,
    follow: ({ context }) => context.t.followMs,
  },
})

const abandonOn = (kind: 'timeout' | 'error', retry: boolean) =>
  ({ type: 'abandonNegotiation', params: { kind, retry } }) as const
const lost = (reason: string) => ({ type: 'pathLost', params: { reason } }) as const

/** A remote offer while ours is out: the polite side yields, the impolite side counts and ignores it. */
const glare = [
  { guard: 'yieldToRemoteOffer', target: 'answering', actions: { type: 'acceptOffer', params: { rollback: true } } },
  { guard: 'offerFromRemote', actions: 'countGlareIgnored' },
] as const

const signaling = machine.createStateConfig({
  initial: 'stable',
  on: { 'neg.reset': { target: '.stable', actions: 'resetNegotiation' } },
  states: {
    stable: {
      always: [
        { guard: 'hasDeferredOffer', target: 'answering', actions: 'answerDeferredOffer' },
        { guard: 'hasPending', target: 'makingOffer' },
      ],
      on: {
        'rtc.offer': {
          guard: 'offerFromRemote',
          target: 'answering',
          actions: { type: 'acceptOffer', params: { rollback: false } },
        },
      },
    },
    makingOffer: {
      entry: 'startOffer',
      after: { negotiation: { target: 'stable', actions: abandonOn('timeout', true) } },
      on: {
        'rtc.local.offer': { guard: 'forNegotiation', target: 'haveLocalOffer', actions: 'sendOffer' },
        'rtc.local.error': { guard: 'forNegotiation', target: 'stable', actions: abandonOn('error', false) },
        'rtc.offer': glare,
      },
    },
    haveLocalOffer: {
      after: { negotiation: { target: 'stable', actions: abandonOn('timeout', true) } },
      on: {
        'rtc.answer': { guard: 'answerToOurOffer', target: 'applyingAnswer', actions: 'applyAnswer' },
        'rtc.offer': glare,
      },
    },
    applyingAnswer: {
      after: { negotiation: { target: 'stable', actions: abandonOn('timeout', true) } },
      on: {
        'rtc.offer': { guard: 'offerFromRemote', actions: 'deferOffer' },
        'rtc.local.applied': { guard: 'forNegotiation', target: 'stable', actions: 'answerApplied' },
        'rtc.local.error': { guard: 'forNegotiation', target: 'stable', actions: abandonOn('error', true) },
      },
    },
    answering: {
      after: { negotiation: { target: 'stable', actions: abandonOn('timeout', false) } },
      on: {
        'rtc.local.answer': { guard: 'forNegotiation', target: 'stable', actions: 'sendAnswer' },
        'rtc.local.error': { guard: 'forNegotiation', target: 'stable', actions: abandonOn('error', false) },
      },
    },
  },
})

const link = machine.createStateConfig({
  initial: 'connecting',
  states: {
    connecting: {
      always: [
        { guard: 'channelsOpen', target: 'open' },
        // a resumed member climbs its ladder from the start: the recovery is recorded
        { guard: 'resuming', target: 'recovering.renegotiate', actions: lost('resumed after a reload') },
      ],
      after: {
        connect: [
          { guard: 'iceHasPath', target: 'connecting', reenter: true, actions: 'waitForChannels' },
          { guard: 'isLeader', target: 'recovering.iceRestart', actions: lost('channels did not open in time') },
          { target: 'recovering.following', actions: lost('channels did not open in time') },
        ],
      },
    },
    open: {
      entry: 'linkOpened',
      on: {
        'probe.silent': [
          { guard: 'leaderSilent', target: 'recovering.iceRestart', actions: lost('probe silent') },
          { guard: 'silent', target: 'recovering.following', actions: lost('probe silent') },
        ],
        'rtc.channel.close': [
          { guard: 'oursAndLeader', target: 'recovering.rebuild', actions: lost('data channel closed') },
          { guard: 'ours', target: 'recovering.following', actions: lost('data channel closed') },
        ],
      },
    },
    recovering: {
      initial: 'iceRestart',
      on: { 'probe.answered': { guard: 'pathProven', target: 'open', actions: 'pathRecovered' } },
      states: {
        iceRestart: {
          entry: { type: 'enterRung', params: { rung: 'ice-restart' } },
          after: { iceRestart: 'renegotiate' },
        },
        renegotiate: {
          entry: { type: 'enterRung', params: { rung: 'renegotiate' } },
          after: {
            renegotiate: [
              // a resumed member's new peer connects from scratch: while ICE has a path and the
              // channels are not open yet, wait (bounded) as `connecting` does, not rebuild
              { guard: 'resumeConnecting', target: 'renegotiate', reenter: true, actions: 'waitForChannels' },
              { target: 'rebuild' },
            ],
          },
        },
        rebuild: {
          entry: { type: 'enterRung', params: { rung: 'rebuild' } },
          after: {
            rebuild: [
              { guard: 'canRebuild', target: 'rebuild', reenter: true },
              { target: '#peerSession.active.link.failed', actions: 'rebuildsExhausted' },
            ],
          },
        },
        following: {
          entry: 'startFollowing',
          after: { follow: { target: '#peerSession.active.link.failed', actions: 'followTimedOut' } },
        },
      },
    },
    /**
     * Given up, final for the ladder (nothing is probed here); the leader leaves it with
     * `peer.rebuild`, the follower with a superseding session; `peer.close` ends it.
     */
    failed: { entry: 'stopWatching' },
  },
})

const channels = machine.createStateConfig({
  initial: 'tracking',
  states: { tracking: {} },
  on: {
    'rtc.channel.open': { guard: 'ours', actions: 'channelOpened' },
    'rtc.channel.close': { guard: 'closesOpenChannel', actions: 'channelClosed' },
  },
})

export const peerSession = machine.createMachine({
  id: 'peerSession',
  context: ({ input }) => ({
    nodeId: input.nodeId,
    remoteNodeId: input.remoteNodeId,
    polite: input.polite,
    peerSessionId: input.peerSessionId,
    negPrefix: input.resume ? `${input.nodeId}:${input.resume}` : input.nodeId,
    resume: !!input.resume,
    generation: 0,
    oldSessionIds: [],
    negSeq: 0,
    neg: null,
    pending: input.polite ? (input.resume ? 'resume' : 'initial') : null,
    done: [],
    remoteDescId: null,
    queued: [],
    deferred: null,
    desiredShape: uniformShape('inactive'),
    negotiatedShape: uniformShape('inactive'),
    channels: { events: false, sync: false },
    ice: null,
    connectWaited: 0,
    probe: { watch: 0, silences: 0, answers: 0 },
    outSeq: 0,
    unacked: [],
    inSeq: 0,
    rung: null,
    climbed: [],
    recoveryReason: null,
    recoveries: [],
    rebuilds: 0,
    failure: null,
    closedReason: null,
    t: {
      probeMs: input.probeMs ?? 250,
      idleProbeMs: Math.max(input.idleProbeMs ?? 2000, input.probeMs ?? 250),
      silenceProbes: input.silenceProbes ?? 3,
      connectMs: input.connectMs ?? 10_000,
      connectWaits: input.connectWaits ?? 5,
      negotiationMs: input.negotiationMs ?? 4000,
      iceRestartMs: input.iceRestartMs ?? 2000,
      renegotiateMs: input.renegotiateMs ?? 2000,
      rebuildMs: input.rebuildMs ?? 5000,
      followMs: input.followMs ?? 30_000,
      maxRebuilds: input.maxRebuilds ?? 5,
    },
    counters: {
      negotiations: 0,
      offersMade: 0,
      glareRolledBack: 0,
      glareIgnored: 0,
      negotiationTimeouts: 0,
      negotiationErrors: 0,
      ignoredSuperseded: 0,
      ignoredStale: 0,
      ignoredUnknown: 0,
      candidatesQueued: 0,
      candidatesApplied: 0,
      candidatesDropped: 0,
      channelCloses: 0,
      delivered: 0,
      duplicates: 0,
      gaps: 0,
      resent: 0,
      rejectedInput: 0,
    },
  }),
  initial: 'active',
  states: {
    active: {
      type: 'parallel',
      entry: 'openPeer',
      on: {
        'peer.close': { target: 'closed' },
        'peer.rebuild': { guard: 'isLeader', target: '.link.recovering.rebuild', actions: 'requestRebuild' },
        'rtc.supersede': [
          { guard: 'supersededByRemote', target: '.link.recovering.following', actions: 'followSupersede' },
          { actions: 'ignoreSignal' },
        ],
        'rtc.offer': [
          {
            guard: 'resumedByRemote',
            target: ['.link.recovering.following', '.signaling.answering'],
            actions: 'resumeRemote',
          },
          // Fallbacks: whatever no state took is ignored and counted.
          { actions: 'ignoreSignal' },
        ],
        'rtc.answer': { actions: 'ignoreSignal' },
        'rtc.ice': [
          { guard: 'candidateForRemoteDescription', actions: 'applyCandidate' },
          { guard: 'earlyCandidate', actions: 'queueCandidate' },
          { actions: 'ignoreSignal' },
        ],
        'rtc.local.iceState': { guard: 'ours', actions: 'noteIceState' },
        'rtc.local.candidate': { guard: 'ours', actions: 'sendCandidate' },
        'peer.shape': { actions: 'wantShape' },
        'peer.negotiate': { actions: 'requestNegotiation' },
        'peer.send': { actions: 'sendMessage' },
        'peer.ack': { actions: 'dropAcked' },
        'peer.msg': { actions: 'receiveMessage' },
        'peer.input.rejected': { actions: 'countRejectedInput' },
      },
      states: { channels, signaling, link },
    },
    closed: { type: 'final', entry: 'closePeer' },
  },
})

export default peerSession
