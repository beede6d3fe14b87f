/**
 * A test client for the hub's `/ws/agent` sessions: collects every frame and waits for the next
 * frame of a type (with a deadline, so a missing frame fails the test instead of hanging it).
 */
import { WebSocket } from 'ws'
import { performance } from 'node:perf_hooks'

export interface Frame {
  type: string
  [k: string]: any
}

export class AgentClient {
  readonly frames: Frame[] = []
  closed: { code: number; reason: string } | null = null
  openedAt = 0
  private waiters: Array<{ pred: (f: Frame) => boolean; resolve: (f: Frame) => void }> = []
  private closeWaiters: Array<() => void> = []
  private seen = 0

  constructor(readonly ws: WebSocket) {
    ws.on('message', (d) => {
      const f = JSON.parse(d.toString()) as Frame
      this.frames.push(f)
      for (const w of [...this.waiters]) {
        if (w.pred(f)) {
          this.waiters.splice(this.waiters.indexOf(w), 1)
          w.resolve(f)
        }
      }
    })
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() }
      for (const w of this.closeWaiters.splice(0)) w()
    })
    ws.on('error', () => {})
  }

  /** Connects to `${hubUrl}/ws/agent` with the token and query; resolves at once (not on open). */
  static connect(hubUrl: string, token: string | null, query: Record<string, string | number> = {}): AgentClient {
    const u = new URL('/ws/agent', hubUrl.replace(/^http/, 'ws'))
    if (token) u.searchParams.set('token', token)
    for (const [k, v] of Object.entries(query)) u.searchParams.set(k, String(v))
    const c = new AgentClient(new WebSocket(u))
    c.openedAt = performance.now()
    return c
  }

  /** The first frame of `type` after those already taken by `next` (or already received). */
  next(type: string, timeoutMs = 5_000, pred: (f: Frame) => boolean = () => true): Promise<Frame> {
    for (let i = this.seen; i < this.frames.length; i++) {
      const f = this.frames[i]
      if (f.type === type && pred(f)) {
        this.frames.splice(i, 1)
        return Promise.resolve(f)
      }
    }
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () =>
          reject(
            new Error(
              `no "${type}" frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames.map((f) => f.type))}`,
            ),
          ),
        timeoutMs,
      )
      this.waiters.push({
        pred: (f) => f.type === type && pred(f),
        resolve: (f) => {
          clearTimeout(t)
          this.frames.splice(this.frames.indexOf(f), 1)
          resolve(f)
        },
      })
    })
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame))
  }

  waitClosed(timeoutMs = 5_000): Promise<{ code: number; reason: string }> {
    if (this.closed) return Promise.resolve(this.closed)
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`socket not closed within ${timeoutMs} ms`)), timeoutMs)
      this.closeWaiters.push(() => {
        clearTimeout(t)
        resolve(this.closed!)
      })
    })
  }

  close(): Promise<unknown> {
    if (this.closed) return Promise.resolve()
    this.ws.close()
    return this.waitClosed()
  }
}

/** A TCP port on 127.0.0.1 that nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const { createServer } = await import('node:net')
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()))
  const port = (s.address() as any).port as number
  await new Promise<void>((r) => s.close(() => r()))
  return port
}
