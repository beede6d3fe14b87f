/**
 * The liveness probe of one peer session, outside its machine: the machine says what to watch
 * for (`watch` command), this sends pings, answers them, counts, and reports back only its
 * verdicts, once per watch: `probe.silent` and `probe.answered`. The verdicts are events to the
 * session's actor (journaled on the hub); the pings, pongs and counts are not, so an idle open
 * session costs its journal nothing and its replay is still exact (the verdicts are its inputs).
 *
 * The leader (polite side) pings; the follower answers and listens. Two speeds, because each
 * probe costs both sides an encrypted SCTP message (about 0.3 ms of CPU each in werift):
 * - `live` (the link is open): a ping every `probeMs` while the session is busy (media attached,
 *   or a message sent or received within `idleProbeMs`), else every `idleProbeMs`; once one is
 *   late (not answered within `probeMs`), every `probeMs`. Silence is `silenceProbes` pings in a
 *   row unanswered: a busy session's lost path is told within `(silenceProbes + 1) * probeMs`, an
 *   idle one's within `idleProbeMs` more. The follower: silence is no ping for the longer time.
 * - `prove` (a rung of the ladder, or following): a ping every `probeMs`; a ping or pong received
 *   after the watch began proves the path.
 * One timer per watchdog, armed for the next instant something is due (a ping, the next look at a
 * ping in flight, the earliest moment silence could be told), not a tick every `probeMs`: an idle
 * open session wakes its leader about twice per `idleProbeMs` and its follower about once per
 * silence window. The owner calls `poke()` when the session turns busy (a message, media), so the
 * faster speed starts at once, not at the next idle ping.
 * Browser-safe (timers only), like the executor that owns it.
 */
import type { PeerCommand } from '../../machines/peerSession.ts'

type Watch = Extract<PeerCommand, { op: 'watch' }>

export interface ProbeStats {
  pingsSent: number
  /** Idle pings sent quiet (no pong asked: the transport's acknowledgement answers them). */
  quietPings: number
  /** Pings sent at probeMs because the one before was late (in `live`). */
  latePings: number
  pongsReceived: number
  pingsHeard: number
  verdicts: { silent: number; answered: number }
}

export interface ProbeHost {
  /** Sends a probe frame on the `events` channel of `peerSessionId`; false if it could not. */
  send(peerSessionId: string, frame: { t: 'ping' | 'pong' | 'off'; seq: number; q?: 1 }): boolean
  /**
   * Everything sent to the remote of `peerSessionId` has been acknowledged by the remote's
   * transport (werift: its SCTP association's queues are empty). Optional: a host that cannot tell
   * (the browser) asks a pong for every ping.
   */
  delivered?(peerSessionId: string): boolean
  /** The session carries media or messages now (probed at probeMs, not idleProbeMs). */
  busy(idleMs: number): boolean
  /** Delivers a verdict to the session's actor. */
  verdict(e: { type: 'probe.silent' | 'probe.answered'; peerSessionId: string; watch: number }): void
}

export class ProbeWatchdog {
  readonly stats: ProbeStats = {
    pingsSent: 0,
    quietPings: 0,
    latePings: 0,
    pongsReceived: 0,
    pingsHeard: 0,
    verdicts: { silent: 0, answered: 0 },
  }
  private w?: Watch
  private timer?: ReturnType<typeof setTimeout>
  /** When the armed timer fires (ms since epoch). */
  private due = 0
  private sent = 0
  private acked = 0
  /** The last ping sent before the current watch began (a pong above it proves the path). */
  private mark = 0
  private lastHeard = 0
  private lastPing = 0
  private decided = false
  /** The seq of the last ping sent quiet (0: none waiting for its acknowledgement). */
  private quiet = 0
  /** The remote said its session watches nothing (`off`: it failed): no quiet ping is answered. */
  private refused = false

  constructor(
    readonly leader: boolean,
    readonly host: ProbeHost,
  ) {}

  /** The machine's `watch` command: a new watch replaces the old one (its verdicts are ignored). */
  watch(w: Watch): void {
    this.w = w
    this.decided = false
    this.mark = this.sent
    this.refused = false
    this.lastHeard = Date.now()
    this.disarm()
    if (w.mode === 'off') return
    this.lastPing = 0
    this.arm(w.probeMs)
  }

  stop(): void {
    this.disarm()
    this.w = undefined
  }

  /**
   * The session turned busy (a message went out or came in, media attached): a leader waiting for
   * its next idle ping looks again within `probeMs`.
   */
  poke(): void {
    const w = this.w
    if (!w || w.mode === 'off' || !this.leader || !this.timer) return
    if (this.due - Date.now() > w.probeMs) this.arm(w.probeMs)
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
  }

  private arm(ms: number): void {
    this.disarm()
    this.due = Date.now() + ms
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.tick()
    }, ms)
    ;(this.timer as { unref?: () => void }).unref?.()
  }

  /**
   * A ping from the remote (answered at once: a reflex, not a decision), unless it is `quiet`:
   * the leader then takes its transport's acknowledgement for the answer.
   */
  onPing(peerSessionId: string, seq: number, quiet = false): void {
    this.stats.pingsHeard++
    this.lastHeard = Date.now()
    // A session that failed (watch `off`) answers no ping, and says so: the leader, whose side may
    // look fine, then climbs its ladder (a rebuild supersedes this session) instead of taking the
    // transport's acknowledgements, or pongs, for a session that is not there any more.
    if (this.w?.mode === 'off') return void this.host.send(peerSessionId, { t: 'off', seq })
    if (!quiet) this.host.send(peerSessionId, { t: 'pong', seq })
    if (!this.leader) this.answered(peerSessionId)
  }

  /**
   * Traffic from the remote besides the probe (channel frames on `events`, webspace frames on
   * `sync`): proof of life too, so a pong queued behind a burst of data is not taken for silence.
   */
  heard(): void {
    this.lastHeard = Date.now()
  }

  /** The remote's session failed (it answered a ping with `off`): its pings' acks prove nothing. */
  onOff(): void {
    this.refused = true
  }

  onPong(peerSessionId: string, seq: number): void {
    if (seq <= this.acked || seq > this.sent) return
    this.stats.pongsReceived++
    this.acked = seq
    if (seq > this.mark) this.answered(peerSessionId)
  }

  private answered(peerSessionId: string): void {
    const w = this.w
    if (w?.mode !== 'prove' || this.decided || w.peerSessionId !== peerSessionId) return
    this.decided = true
    this.stats.verdicts.answered++
    this.host.verdict({ type: 'probe.answered', peerSessionId, watch: w.watch })
  }

  private tick(): void {
    const w = this.w
    if (!w) return
    try {
      this.check(w, Date.now())
    } finally {
      // whatever a send or a verdict threw, the watchdog goes on (as an interval would)
      this.rearm(w)
    }
  }

  private rearm(w: Watch): void {
    // the next look: a leader in `prove`, with a ping in flight or busy looks every probeMs, an
    // idle one when its next idle ping is due; a follower (live) when silence could first be
    // told (in `prove` it only answers pings: no timer)
    const now = Date.now()
    if (!this.w || this.w !== w || this.timer) return
    if (this.leader) {
      const fast = w.mode === 'prove' || this.sent > this.acked || this.host.busy(w.idleProbeMs)
      this.arm(fast ? w.probeMs : Math.max(w.probeMs, this.lastPing + w.idleProbeMs - now))
    } else if (w.mode === 'live' && !this.decided)
      this.arm(Math.max(w.probeMs, this.lastHeard + this.followerSilenceMs(w) + 1 - now))
  }

  /** A follower tells silence when no ping came for this long. */
  private followerSilenceMs(w: Watch): number {
    return w.idleProbeMs + (w.silenceProbes + 1) * w.probeMs
  }

  private check(w: Watch, now: number): void {
    // a quiet ping is answered once the remote's transport has acknowledged all we sent
    if (
      this.quiet &&
      !this.refused &&
      this.quiet === this.sent &&
      this.sent > this.acked &&
      this.host.delivered?.(w.peerSessionId)
    )
      this.acked = this.sent
    this.quiet = 0
    // idle and answered: the next ping waits for idleProbeMs; a late answer or a proof: probeMs
    const due =
      w.mode === 'prove' ||
      this.sent > this.acked ||
      now - this.lastPing >= w.idleProbeMs - w.probeMs / 2 ||
      this.host.busy(w.idleProbeMs)
    if (this.leader && due) {
      // a ping that could not be sent (channel down) counts as unanswered all the same
      const late = this.sent > this.acked
      if (w.mode === 'live' && late) this.stats.latePings++
      // an idle live session's ping, the one before answered: quiet if the host can tell its
      // transport's acknowledgement (half the packets: no pong, and no acknowledgement of it)
      const quiet =
        w.mode === 'live' && !late && !this.refused && !!this.host.delivered && !this.host.busy(w.idleProbeMs)
      this.sent++
      this.lastPing = now
      if (
        this.host.send(w.peerSessionId, quiet ? { t: 'ping', seq: this.sent, q: 1 } : { t: 'ping', seq: this.sent })
      ) {
        this.stats.pingsSent++
        if (quiet) {
          this.stats.quietPings++
          this.quiet = this.sent
        }
      }
    }
    if (w.mode !== 'live' || this.decided) return
    const silent = this.leader
      ? this.sent - this.acked > w.silenceProbes && now - this.lastHeard > w.silenceProbes * w.probeMs
      : now - this.lastHeard > this.followerSilenceMs(w)
    if (!silent) return
    this.decided = true
    this.stats.verdicts.silent++
    this.host.verdict({ type: 'probe.silent', peerSessionId: w.peerSessionId, watch: w.watch })
  }
}
