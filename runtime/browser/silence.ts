/**
 * Silence detection for a path's heartbeat that does not take its own lateness for the other
 * end's silence. On a starved page (or process) the heartbeat timer can fire long after it was
 * due, ahead of the messages that arrived meanwhile and still wait in the task queue: judged at
 * that moment, a live path looks silent. A late tick therefore only notes the time and lets the
 * queue drain; the next tick judges. Only one verdict in a row is deferred, so a path that is
 * really dead on a page that stays starved is still declared down one period later.
 */
export class SilenceWatch {
  private lastHeard: number
  private lastTick: number
  private deferred = false

  constructor(
    readonly periodMs: number,
    readonly deadAfterMs: number,
    private readonly now: () => number = () => Date.now(),
  ) {
    this.lastHeard = this.lastTick = now()
  }

  /** Something arrived from the other end. */
  heard(): void {
    this.lastHeard = this.now()
  }

  /** Restarts the watch (a new connection). */
  reset(): void {
    this.lastHeard = this.lastTick = this.now()
    this.deferred = false
  }

  /** Called every period; true when nothing was heard for `deadAfterMs`. */
  tick(): boolean {
    const now = this.now()
    const late = now - this.lastTick > 2 * this.periodMs
    this.lastTick = now
    if (now - this.lastHeard <= this.deadAfterMs) {
      this.deferred = false
      return false
    }
    if (late && !this.deferred) {
      this.deferred = true
      return false
    }
    return true
  }
}
