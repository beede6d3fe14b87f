/**
 * The Class A resend timeout, adapted to the measured ack round trip (the estimator of RFC 6298):
 * a smoothed round trip `srtt` and its variation `rttvar` from each ack of a frame sent for the
 * first time (a resent frame's ack is ambiguous, Karn's rule); the timeout is `srtt + 4 rttvar`,
 * kept within [minMs, maxMs]. The minimum is the configured resend timer (`retransmitMs`): the
 * timer only grows, when acks are slower than it (a loaded root, a fleet root appending to its
 * shared stream before it acks), so that a hub does not send its whole window again while the
 * first copies are still being decided. No doubling per timeout: a root that is gone costs one
 * resend per timeout as before, and the link's own signals (a reconnect, a gap answer, a new
 * owner in a fleet) resend at once.
 */
export class ResendTimer {
  srtt?: number
  rttvar = 0
  samples = 0

  constructor(
    readonly minMs: number,
    readonly maxMs: number,
  ) {}

  /** One round trip (ms): send of a first-time frame -> its ack. */
  sample(ms: number): void {
    if (this.srtt === undefined) {
      this.srtt = ms
      this.rttvar = ms / 2
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - ms)
      this.srtt = 0.875 * this.srtt + 0.125 * ms
    }
    this.samples++
  }

  /** The timeout now (ms). */
  get ms(): number {
    const rto = this.srtt === undefined ? this.minMs : this.srtt + 4 * this.rttvar
    return Math.min(this.maxMs, Math.max(this.minMs, rto))
  }

  status(): { ms: number; srttMs: number | null; rttvarMs: number; samples: number } {
    return {
      ms: Math.round(this.ms),
      srttMs: this.srtt === undefined ? null : Math.round(this.srtt * 10) / 10,
      rttvarMs: Math.round(this.rttvar * 10) / 10,
      samples: this.samples,
    }
  }
}
