/**
 * Clock offsets of a node's peers, measured from exchanges the protocol already makes (a hub's
 * `link.heartbeat` and the root's `link.heartbeat.ack`, which carries the root's clock). An
 * incident bundle puts every node's events on one clock with them.
 *
 * An offset is what to add to a time of the peer's clock to put it on ours, measured as NTP does
 * with one exchange: `offset = ourTime(send) + rtt / 2 - peerTime`. Its error is at most half the
 * round trip; the smallest round trip seen recently wins.
 */
import { defineService } from '../../actors/index.ts'
import type { Hub } from '../Hub.ts'

export interface ClockOffset {
  peer: string
  /** Added to the peer's times to put them on this node's clock. */
  offsetMs: number
  rttMs: number
  via: string
  at: number
}

export class ClockOffsets {
  private byPeer = new Map<string, ClockOffset[]>()

  /**
   * One exchange: we sent at `sentAt` (our wall clock), the peer stamped `peerTime`, the answer
   * came back `rttMs` later.
   */
  measure(peer: string, via: string, sentAt: number, peerTime: number, rttMs: number): void {
    const m: ClockOffset = { peer, via, rttMs, at: sentAt, offsetMs: sentAt + rttMs / 2 - peerTime }
    const xs = this.byPeer.get(peer) ?? []
    xs.push(m)
    if (xs.length > 32) xs.shift()
    this.byPeer.set(peer, xs)
  }

  /** The best recent measurement per peer (the smallest round trip). */
  list(): ClockOffset[] {
    return [...this.byPeer.values()].map((xs) => xs.reduce((a, b) => (b.rttMs < a.rttMs ? b : a)))
  }
}

export const clockOffsets = defineService<ClockOffsets>('clock.offsets')

/** The node's clock offsets (created on first use). */
export function clockOffsetsOf(hub: Hub): ClockOffsets {
  const s = hub.system.services
  return s.find(clockOffsets) ?? s.provide(clockOffsets, new ClockOffsets())
}
