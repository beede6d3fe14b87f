/**
 * Reconnecting with backoff, for the member's paths (the hub WebSocket, the direct WebRTC path):
 * after a failure the path dials again after a pause that doubles from `firstMs` up to `maxMs`,
 * and a connection that comes up brings the pause back to `firstMs`. Browser and Node alike.
 */
export class Redial {
  private timer: ReturnType<typeof setTimeout> | null = null
  private pause: number

  constructor(
    private readonly dial: () => void,
    private readonly firstMs: number,
    private readonly maxMs: number,
  ) {
    this.pause = firstMs
  }

  /** The path is up: the next failure waits `firstMs` again. */
  connected(): void {
    this.pause = this.firstMs
  }

  /** The path went down: dial again after the pause, and double it. */
  later(): void {
    this.timer = setTimeout(() => {
      this.timer = null
      this.dial()
    }, this.pause)
    this.pause = Math.min(this.maxMs, this.pause * 2)
  }

  /** The path is closed for good: no dial is pending. */
  cancel(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
  }
}
