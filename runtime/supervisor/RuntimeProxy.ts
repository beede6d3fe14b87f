/**
 * The supervisor's public side: HTTP requests and WebSocket upgrades forwarded to the active
 * runtime's port (node:http, the upgrade piped as raw bytes, so `ws` stays in its one adapter).
 *
 * Cutover: `pause()` stops forwarding (new requests wait in order, up to `queueDeadlineMs`, then
 * get a 503), `drain(ms)` waits for forwarded requests to finish with a deadline and closes tunnelled
 * WebSockets with 1012 (service restart) so clients reconnect, `resume(port)` forwards again to the
 * new runtime. The paused time is the gap clients see; nothing in it fails unless it outlasts the
 * queue deadline.
 */
import { Agent, request, type IncomingMessage, type ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'

const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer'])

export interface ProxyCounters {
  forwarded: number
  failed: number
  queuedPeak: number
  refusedNoRuntime: number
  wsTunnels: number
  wsClosedForCutover: number
  /** Tunnels ended by a socket error on either side (a reset client, a runtime that died). */
  wsTunnelErrors: number
}

export class RuntimeProxy {
  private port: number | null = null
  private waiting: Array<(ok: boolean) => void> = []
  private inflight = 0
  private idle: Array<() => void> = []
  private tunnels = new Set<{ client: Duplex; backend: Duplex }>()
  private agent = new Agent({ keepAlive: true, maxSockets: 512 })
  pausedAt: number | null = null
  /** Tunnels' client ends whose close frame waits for the resume (see `drain`). */
  private closing: { client: Duplex; frame: Buffer }[] = []
  /** Set while no runtime can come back without an operator: requests fail fast with this reason. */
  downReason: string | null = null
  readonly counters: ProxyCounters = {
    forwarded: 0,
    failed: 0,
    queuedPeak: 0,
    refusedNoRuntime: 0,
    wsTunnels: 0,
    wsClosedForCutover: 0,
    wsTunnelErrors: 0,
  }
  /** Called on every pause/resume (status push). */
  onChange: () => void = () => {}

  constructor(readonly queueDeadlineMs = 30_000) {}

  get target(): number | null {
    return this.port
  }

  get paused(): boolean {
    return this.port === null
  }

  get queued(): number {
    return this.waiting.length
  }

  get inFlight(): number {
    return this.inflight
  }

  get openTunnels(): number {
    return this.tunnels.size
  }

  pause(): void {
    if (this.port === null) return
    this.port = null
    this.pausedAt = performance.now()
    this.onChange()
  }

  /** Forwards to `port` again and releases every waiting request. Returns the paused ms. */
  /** No runtime will come back by itself: waiting and new requests get a 503 at once. */
  down(reason: string): void {
    this.port = null
    this.downReason = reason
    this.endClosing()
    for (const go of this.waiting.splice(0)) go(false)
    this.onChange()
  }

  resume(port: number): number {
    const was = this.pausedAt
    this.downReason = null
    this.port = port
    this.pausedAt = null
    // Keep-alive sockets may point at a runtime that is gone: start from a fresh pool.
    this.agent.destroy()
    this.agent = new Agent({ keepAlive: true, maxSockets: 512 })
    const w = this.waiting
    this.waiting = []
    for (const go of w) go(true)
    const gap = was === null ? 0 : performance.now() - was
    this.endClosing()
    this.onChange()
    return gap
  }

  /**
   * Waits for forwarded requests to finish (up to `deadlineMs`) and closes tunnels with 1012: the
   * runtime's end at once, the client's close frame when the proxy resumes (or goes down), so that
   * clients react to the switch (a page redraws, reconnects) after the gap, not on its cores.
   */
  async drain(deadlineMs: number): Promise<{ drained: boolean; left: number }> {
    for (const t of [...this.tunnels]) this.closeTunnel(t, 1012, true)
    if (this.inflight === 0) return { drained: true, left: 0 }
    const drained = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), deadlineMs)
      this.idle.push(() => {
        clearTimeout(timer)
        resolve(true)
      })
    })
    return { drained, left: this.inflight }
  }

  async close(): Promise<void> {
    for (const t of [...this.tunnels]) this.closeTunnel(t, 1001)
    this.endClosing()
    for (const go of this.waiting.splice(0)) go(false)
    this.agent.destroy()
  }

  private ready(): Promise<boolean> {
    if (this.port !== null) return Promise.resolve(true)
    if (this.downReason !== null) return Promise.resolve(false)
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const i = this.waiting.indexOf(go)
        if (i >= 0) this.waiting.splice(i, 1)
        resolve(false)
      }, this.queueDeadlineMs)
      const go = (ok: boolean) => {
        clearTimeout(timer)
        resolve(ok)
      }
      this.waiting.push(go)
      if (this.waiting.length > this.counters.queuedPeak) this.counters.queuedPeak = this.waiting.length
    })
  }

  private done(): void {
    this.inflight--
    if (this.inflight === 0) for (const f of this.idle.splice(0)) f()
  }

  async http(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!(await this.ready())) {
      this.counters.refusedNoRuntime++
      return void send(res, 503, {
        error: 'NO_RUNTIME',
        message: `no hub runtime is serving right now${this.downReason ? ` (${this.downReason})` : ''}; see GET /api/supervisor/status`,
      })
    }
    this.inflight++
    let finished = false
    const finish = () => {
      if (!finished) {
        finished = true
        this.done()
      }
    }
    res.on('close', finish)
    const headers: Record<string, any> = {}
    for (const [k, v] of Object.entries(req.headers)) if (!HOP.has(k)) headers[k] = v
    headers['x-forwarded-for'] = req.socket.remoteAddress ?? ''
    // A request that changes nothing and got no answer because its runtime died is sent again to
    // the runtime that replaces it (the crash pauses the proxy until then).
    const idempotent = req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS'
    const attempt = (n: number) => {
      const preq = request({
        host: '127.0.0.1',
        port: this.port!,
        method: req.method,
        path: req.url,
        headers,
        agent: this.agent,
      })
      preq.on('response', (pres) => {
        const out: Record<string, any> = {}
        for (const [k, v] of Object.entries(pres.headers)) if (!HOP.has(k)) out[k] = v
        res.writeHead(pres.statusCode ?? 502, out)
        pres.pipe(res)
        pres.on('end', () => {
          this.counters.forwarded++
          finish()
        })
        pres.on('error', () => {
          this.counters.failed++
          finish()
          res.destroy()
        })
      })
      preq.on('error', async (err) => {
        if (idempotent && n < 100 && !res.headersSent && !res.destroyed) {
          await new Promise((r) => setTimeout(r, 20))
          if (await this.ready()) return attempt(n + 1)
        }
        this.counters.failed++
        finish()
        if (!res.headersSent)
          send(res, 502, { error: 'RUNTIME_UNREACHABLE', message: `the active runtime did not answer: ${err.message}` })
        else res.destroy()
      })
      if (n === 0) req.pipe(preq)
      else preq.end()
    }
    attempt(0)
  }

  async upgrade(req: IncomingMessage, client: Duplex, head: Buffer): Promise<void> {
    // Both ends of a tunnel carry an error listener from the start: a reset on one side ends this
    // tunnel (counted), never the supervisor. Frames are the runtime's to check (its HubServer).
    let failed = false
    const fail = () => {
      if (!failed) this.counters.wsTunnelErrors++
      failed = true
      client.destroy()
    }
    client.on('error', fail)
    if (!(await this.ready())) {
      this.counters.refusedNoRuntime++
      return void client.end('HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n')
    }
    const preq = request({
      host: '127.0.0.1',
      port: this.port!,
      method: req.method,
      path: req.url,
      headers: { ...req.headers, 'x-forwarded-for': req.socket.remoteAddress ?? '' },
    })
    preq.on('upgrade', (pres, backend, bhead) => {
      let text = `HTTP/1.1 ${pres.statusCode} ${pres.statusMessage}\r\n`
      for (let i = 0; i < pres.rawHeaders.length; i += 2) text += `${pres.rawHeaders[i]}: ${pres.rawHeaders[i + 1]}\r\n`
      client.write(text + '\r\n')
      if (bhead.length) client.write(bhead)
      if (head.length) backend.write(head)
      const t = { client, backend }
      this.tunnels.add(t)
      this.counters.wsTunnels++
      backend.on('error', () => {
        fail()
        backend.destroy()
      })
      const drop = () => {
        if (!this.tunnels.delete(t)) return
        // What one side sent last (the runtime's close frame and its code) is already piped to the
        // other: end it, so it is flushed, rather than destroy it; destroy what lingers after 2 s.
        client.end()
        backend.end()
        setTimeout(() => {
          client.destroy()
          backend.destroy()
        }, 2000).unref()
      }
      backend.on('close', drop)
      client.on('close', drop)
      backend.pipe(client)
      client.pipe(backend)
    })
    preq.on('response', (pres) => {
      // The runtime refused the upgrade: relay its answer.
      let text = `HTTP/1.1 ${pres.statusCode} ${pres.statusMessage}\r\n`
      for (let i = 0; i < pres.rawHeaders.length; i += 2) text += `${pres.rawHeaders[i]}: ${pres.rawHeaders[i + 1]}\r\n`
      client.write(text + '\r\n')
      pres.on('error', fail)
      pres.pipe(client)
    })
    preq.on('error', () => client.end('HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\ncontent-length: 0\r\n\r\n'))
    preq.end()
  }

  /** Sends the close frames that `drain` held back. */
  private endClosing(): void {
    for (const { client, frame } of this.closing.splice(0)) if (!client.destroyed) client.end(frame)
  }

  /**
   * Ends a tunnel with a WebSocket close frame (server to client: unmasked) carrying `code`; `later`
   * keeps the client's end open (nothing is forwarded) until `endClosing`.
   */
  private closeTunnel(t: { client: Duplex; backend: Duplex }, code: number, later = false): void {
    this.tunnels.delete(t)
    this.counters.wsClosedForCutover++
    t.backend.unpipe(t.client)
    t.client.unpipe(t.backend)
    const reason = Buffer.from(code === 1012 ? 'runtime switching; reconnect' : 'supervisor stopping')
    const frame = Buffer.alloc(4 + reason.length)
    frame[0] = 0x88
    frame[1] = 2 + reason.length
    frame.writeUInt16BE(code, 2)
    reason.copy(frame, 4)
    t.backend.destroy()
    if (later) this.closing.push({ client: t.client, frame })
    else t.client.end(frame)
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  })
  res.end(text)
}
