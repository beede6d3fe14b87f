/**
 * The Class A resend timeout, adapted to the measured ack round trip (the estimator of RFC 6298):
 * a smoothed round trip `srtt` and its variation `rttvar` from each ack of a frame sent for the
 * first time (a resent frame's ack is ambiguous, Karn's rule); the timeout is `srtt + 4 rttvar`,
 * kept within [minMs, maxMs], and `maxMs` until the first sample. Each timeout doubles it (up to
 * `maxMs`) until an ack makes progress again, so a root that is gone (a fleet handover, an
 * outage) is not sent the whole window every `minMs`.
 */
export class ResendTimer {
  srtt?: number
  rttvar = 0
  samples = 0
  /** 1, doubled per timeout without progress. */
  backoff = 1

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
    const base = this.srtt === undefined ? this.maxMs : this.srtt + 4 * this.rttvar
    return Math.min(this.maxMs, Math.max(this.minMs, base) * this.backoff)
  }

  timedOut(): void {
    if (this.ms < this.maxMs) this.backoff *= 2
  }

  progressed(): void {
    this.backoff = 1
  }

  status(): { ms: number; srttMs: number | null; rttvarMs: number; samples: number; backoff: number } {
    return {
      ms: Math.round(this.ms),
      srttMs: this.srtt === undefined ? null : Math.round(this.srtt * 10) / 10,
      rttvarMs: Math.round(this.rttvar * 10) / 10,
      samples: this.samples,
      backoff: this.backoff,
    }
  }
}
