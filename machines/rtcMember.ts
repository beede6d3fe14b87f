/**
 * rtcMember: a member (browser or Node client) as the hub sees it, the parent of its peer session
 * (`member-1/peer`) and, through it, of the media subflows (`member-1/peer/camera`).
 *
 * Driven by the signaling socket: `member.connected` when a socket of this member says hello,
 * `member.disconnected` when it goes. It promises only to say whether the member has a signaling
 * path now and how often it came back; the peer session below decides health by its own probe.
 */
import { assign, setup } from 'xstate'

export const rtcMember = setup({
  types: {
    context: {} as { nodeId: string; connects: number; disconnects: number },
    events: {} as { type: 'member.connected' } | { type: 'member.disconnected' },
    input: {} as { nodeId: string },
  },
  actions: {
    countConnect: assign({ connects: ({ context }) => context.connects + 1 }),
    countDisconnect: assign({ disconnects: ({ context }) => context.disconnects + 1 }),
  },
}).createMachine({
  id: 'rtcMember',
  context: ({ input }) => ({ nodeId: input.nodeId, connects: 0, disconnects: 0 }),
  initial: 'connected',
  states: {
    connected: {
      on: {
        'member.disconnected': { target: 'disconnected', actions: 'countDisconnect' },
        'member.connected': { actions: 'countConnect' },
      },
    },
    disconnected: {
      on: {
        'member.connected': { target: 'connected', actions: 'countConnect' },
      },
    },
  },
})

export default rtcMember
