/**
 * rtcMember: a member (browser or Node client) as the hub sees it, the parent of its peer session
 * (`member-1/peer`) and, through it, of the media subflows (`member-1/peer/camera`).
 *
 * Driven by the signaling socket: `member.connected` when a socket of this member says hello,
 * `member.disconnected` when it goes (also sent by runtime/ for every member recovered after a
 * hub restart: its socket died with the process), `member.goodbye` when the member leaves for
 * good; and its own durable `grace` timer.
 *
 * Promises:
 * - A member without a signaling socket is `away` for at most `graceMs`: back within it, it is
 *   `connected` again and its peer session resumes (the session's own ladder: ICE restart or
 *   renegotiation under the same `peerSessionId`); not back, it is `gone`.
 * - `gone` is final and says why (`reason`): its `endSession` action (bound by runtime/) closes
 *   the peer session (`peer.close` with the reason), which stops its subflows. A goodbye is gone
 *   at once.
 * - It only counts and decides presence; the peer session below decides health by its probe.
 */
import { assign, setup } from 'xstate'

export interface RtcMemberInput {
  nodeId: string
  /** How long a member may be without its signaling socket before its session is closed. */
  graceMs?: number
}

export interface RtcMemberContext {
  nodeId: string
  graceMs: number
  connects: number
  disconnects: number
  /** Times the member came back within the grace. */
  resumes: number
  /** Why the member is away (while away) or gone (once gone). */
  reason: string | null
}

export type RtcMemberEvent =
  | { type: 'member.connected' }
  | { type: 'member.disconnected'; reason?: string }
  | { type: 'member.goodbye' }

export const rtcMember = setup({
  types: {
    context: {} as RtcMemberContext,
    events: {} as RtcMemberEvent,
    input: {} as RtcMemberInput,
  },
  actions: {
    countConnect: assign({ connects: ({ context }) => context.connects + 1 }),
    countResume: assign({
      connects: ({ context }) => context.connects + 1,
      resumes: ({ context }) => context.resumes + 1,
      reason: null,
    }),
    leave: assign({
      disconnects: ({ context }) => context.disconnects + 1,
      reason: ({ event }) =>
        event.type === 'member.disconnected' && event.reason ? event.reason : 'the signaling socket closed',
    }),
    notBack: assign({
      reason: ({ context }) => `not back within the grace of ${context.graceMs} ms (${context.reason ?? 'away'})`,
    }),
    saidGoodbye: assign({ reason: 'the member said goodbye' }),
    /** Closes the member's peer session with `reason`. Bound by runtime/. */
    endSession: () => {},
  },
  delays: {
    grace: ({ context }) => context.graceMs,
  },
}).createMachine({
  id: 'rtcMember',
  context: ({ input }) => ({
    nodeId: input.nodeId,
    graceMs: input.graceMs ?? 30_000,
    connects: 0,
    disconnects: 0,
    resumes: 0,
    reason: null,
  }),
  initial: 'connected',
  on: { 'member.goodbye': { target: '.gone', actions: 'saidGoodbye' } },
  states: {
    connected: {
      on: {
        'member.disconnected': { target: 'away', actions: 'leave' },
        'member.connected': { actions: 'countConnect' },
      },
    },
    away: {
      after: { grace: { target: 'gone', actions: 'notBack' } },
      on: {
        'member.connected': { target: 'connected', actions: 'countResume' },
      },
    },
    gone: { type: 'final', entry: 'endSession' },
  },
})

export default rtcMember
