/**
 * The status half of a `Transport` (runtime/link/Transport.ts), shared by its two
 * implementations: the current status, listeners told of each change (a throwing listener is
 * counted, never breaking the link), and the reconnect counters channel stability reads.
 */

export type LinkStatus = 'connecting' | 'connected' | 'reconnecting' | 'closed'

export class LinkStatusSource {
  status: LinkStatus = 'connecting'
  lastError?: string
  readonly counters = { reconnects: 0, disconnects: 0, callbackErrors: 0, publishErrors: 0 }
  /** Times (ms) of the reconnects, for channel stability. */
  readonly reconnectTimes: number[] = []
  private listeners = new Set<(s: LinkStatus, previous: LinkStatus) => void>()

  onStatus(fn: (s: LinkStatus, previous: LinkStatus) => void): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  protected setStatus(s: LinkStatus): void {
    if (s === this.status) return
    const prev = this.status
    this.status = s
    for (const fn of this.listeners) {
      try {
        fn(s, prev)
      } catch {
        this.counters.callbackErrors++
      }
    }
  }

  protected countReconnect(): void {
    this.counters.reconnects++
    this.reconnectTimes.push(Date.now())
    if (this.reconnectTimes.length > 100) this.reconnectTimes.shift()
  }
}
