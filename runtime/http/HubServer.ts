/**
 * The hub's HTTP and WebSocket server: a small router that features plug into.
 *
 * - `route(method, pattern, handler)`: `pattern` is a path with `:name` segments and an optional
 *   trailing `:name*` that takes the rest (id paths contain `/`).
 * - `ws(path, handler)`: WebSocket endpoints (`ws` is imported in this one adapter file). Upgrades
 *   from a foreign Origin are refused (403): only same-origin pages and non-browser clients.
 * - Mutations call `requireToken(req)`: `Authorization: Bearer <token>` (or `?token=` for
 *   WebSocket and browser downloads), else 401.
 * Bodies are JSON, at most `maxBody` bytes and `maxJsonDepth` levels; a bad body is a 400 that
 * names what is wrong.
 *
 * The edges are guarded here, once, so that a new route or socket is safe without anyone
 * remembering (runtime/http/edges.ts has the rules):
 * - every request and upgrade must name the hub in `Host` (403 otherwise: DNS rebinding), and a
 *   path with a broken percent-escape is a 400;
 * - every socket gets its `error` listener before its handler runs: a frame over the endpoint's
 *   `maxPayload` closes it with 1009, invalid UTF-8 with 1007, a broken frame with 1002; a handler
 *   or listener that throws closes that one socket with 1011 (logged, the process goes on); a client
 *   that does not read what it is sent (over `maxBuffered`) is closed with 1008;
 * - each refusal is counted per edge and reason (`edges`), served in `/metrics` and the
 *   reliability report; answers and close reasons never carry a stack trace.
 * `routeTable()` (served at `GET /api/routes` by the hub) lists every route and socket, so tests
 * and tools can reach all of them.
 *
 * `use(middleware)` puts a step in front of all of that: it sees each request and upgrade first
 * and may answer it (a candidate runtime refusing changes, the supervisor forwarding what is not
 * its own), so nothing rewires the server's listeners.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { timingSafeEqual } from 'node:crypto'
import { WebSocketServer, type WebSocket } from 'ws'
import {
  closeReason,
  decodeSegment,
  EdgeCounters,
  HostPolicy,
  HttpError,
  jsonTooDeep,
  toAnswer,
  wsCloseFor,
} from './edges.ts'

/** The WebSocket client, for connections the hub opens itself (to an app's `@xstate/inspect` server). */
export { WebSocket as WebSocketClient } from 'ws'

export { decodeSegment, HttpError } from './edges.ts'

/**
 * A step in front of the router. Each returns true when it answered (the request or upgrade is
 * then its own: nothing else runs), false to pass it on. They run in the order they were added,
 * before the Host check, for every request the server receives (each is counted in `requests`).
 */
export interface Middleware {
  /** For logs and errors. */
  name: string
  request?(req: IncomingMessage, res: ServerResponse): boolean
  upgrade?(req: IncomingMessage, socket: Duplex, head: Buffer): boolean
}

export interface Ctx {
  req: IncomingMessage
  res: ServerResponse
  url: URL
  params: Record<string, string>
}

export type Handler = (ctx: Ctx) => Promise<unknown> | unknown
/** A socket's handler; a promise it returns that rejects closes the socket with 1011, like a throw. */
export type WsHandler = (ws: WebSocket, req: IncomingMessage, url: URL) => void | Promise<void>

interface Route {
  method: string
  pattern: string
  parts: string[]
  handler: Handler
}

export interface WsOptions {
  /** Largest message accepted (bytes, default 1 MiB); a larger one closes the socket with 1009. */
  maxPayload?: number
  /** Pages from these origins (e.g. `http://hub.local:7070`) may also upgrade. */
  origins?: string[]
  /** While it returns true, upgrades are answered 503 (the socket never opens). */
  unavailable?: () => boolean
  /** Also serve `path/<anything>` (y-websocket puts the document name in the path). */
  subpaths?: boolean
  /** Bytes queued to a client that does not read, at most (default 8 MiB); then it is closed with 1008. */
  maxBuffered?: number
  /** The query a client needs besides `token` (`member=m1`), listed by `routeTable()` for tools and tests. */
  query?: string
}

interface Socket {
  path: string
  wss: WebSocketServer
  handler: WsHandler
  opts: WsOptions
}

export interface HubServerOptions {
  host?: string
  port?: number
  token: string
  maxBody?: number
  /** Deepest JSON body accepted (default 64 levels). */
  maxJsonDepth?: number
  /** Names besides loopback and `host` that `Host` may carry (`--allow-host`). */
  allowHosts?: string[]
  /** How often sockets are checked for clients that do not read (default 1000 ms). */
  sweepMs?: number
}

/** One row of `routeTable()`. */
export interface RouteInfo {
  method: string
  path: string
  /** A request that can change state (anything but GET/HEAD). */
  mutating: boolean
}

/** One socket of `routeTable()`. */
export interface SocketInfo {
  path: string
  maxPayload: number
  subpaths: boolean
  /** The query a client needs besides `token` (empty: none). */
  query: string
}

/** A handler's result: a value is sent as JSON (200), `undefined` means the handler answered. */
export class HubServer {
  readonly server: Server
  readonly token: string
  readonly counters = { requests: 0, badRequests: 0, unauthorized: 0, wsRefused: 0, aborted: 0 }
  /** Refusals and closes per edge and reason (`/metrics`, the reliability report). */
  readonly edges = new EdgeCounters()
  readonly hosts: HostPolicy
  /**
   * Called for what a handler threw that is not a refusal (a 500, a socket closed with 1011): the
   * hub records it as an incident. Default: the log.
   */
  onInternalError: (where: string, err: unknown) => void = (where, err) =>
    console.error(`[hub] internal error on ${where}:`, err)
  private routes: Route[] = []
  private middlewares: Middleware[] = []
  private sockets = new Map<string, Socket>()
  private metricSources: Array<() => string> = []
  private maxBody: number
  private maxDepth: number
  private sweep?: NodeJS.Timeout

  constructor(private opts: HubServerOptions) {
    this.token = opts.token
    this.maxBody = opts.maxBody ?? 1 << 20
    this.maxDepth = opts.maxJsonDepth ?? 64
    this.hosts = new HostPolicy(opts.host ?? '127.0.0.1', opts.allowHosts)
    this.server = createServer((req, res) => void this.handle(req, res))
    this.server.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head))
    this.server.on('clientError', (err, socket) => this.clientError(err, socket))
  }

  /** Adds a middleware after those added before (see `Middleware`). */
  use(middleware: Middleware): void {
    this.middlewares.push(middleware)
  }

  route(method: string, pattern: string, handler: Handler): void {
    this.routes.push({ method, pattern, parts: pattern.split('/').filter(Boolean), handler })
  }

  ws(path: string, handler: WsHandler, opts: WsOptions = {}): void {
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: opts.maxPayload ?? 1 << 20,
      perMessageDeflate: false,
    })
    this.sockets.set(path, { path, wss, handler, opts })
  }

  /** Every route and socket, in the order they were added. */
  routeTable(): { routes: RouteInfo[]; sockets: SocketInfo[] } {
    return {
      routes: this.routes.map((r) => ({
        method: r.method,
        path: r.pattern,
        mutating: r.method !== 'GET' && r.method !== 'HEAD',
      })),
      sockets: [...this.sockets.values()].map((s) => ({
        path: s.path,
        maxPayload: s.opts.maxPayload ?? 1 << 20,
        subpaths: s.opts.subpaths === true,
        query: s.opts.query ?? '',
      })),
    }
  }

  /** Adds lines to `/metrics` (Prometheus text format 0.0.4); called on every scrape. */
  addMetrics(fn: () => string): void {
    this.metricSources.push(fn)
  }

  /** The whole `/metrics` text: the server's own counters, then every feature's. */
  metricsText(): string {
    const c = this.counters
    let text =
      '# HELP aether_http_requests_total HTTP requests received.\n# TYPE aether_http_requests_total counter\n' +
      `aether_http_requests_total ${c.requests}\n` +
      '# HELP aether_http_aborted_total Requests whose client went away before the body was read.\n' +
      `# TYPE aether_http_aborted_total counter\naether_http_aborted_total ${c.aborted}\n` +
      this.edges.prometheus()
    for (const fn of this.metricSources) {
      const more = fn()
      text += more.endsWith('\n') ? more : more + '\n'
    }
    return text
  }

  async listen(): Promise<{ host: string; port: number; url: string }> {
    const host = this.opts.host ?? '127.0.0.1'
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(this.opts.port ?? 0, host, () => {
        this.server.off('error', reject)
        resolve()
      })
    })
    this.sweep = setInterval(() => this.sweepSlowClients(), this.opts.sweepMs ?? 1000)
    this.sweep.unref()
    const port = (this.server.address() as AddressInfo).port
    const shown = host.includes(':') ? `[${host}]` : host
    return { host, port, url: `http://${shown}:${port}` }
  }

  async close(): Promise<void> {
    clearInterval(this.sweep)
    for (const { wss } of this.sockets.values()) {
      for (const c of wss.clients) c.terminate()
      wss.close()
    }
    this.server.closeAllConnections?.()
    await new Promise<void>((r) => this.server.close(() => r()))
  }

  /** Whether the request carries the hub token (header, or `?token=`). */
  hasToken(req: IncomingMessage, url?: URL): boolean {
    const given = bearer(req, url)
    if (!given) return false
    const a = Buffer.from(given)
    const b = Buffer.from(this.token)
    return a.length === b.length && timingSafeEqual(a, b)
  }

  requireToken(ctx: Ctx): void {
    if (!this.hasToken(ctx.req, ctx.url)) {
      this.counters.unauthorized++
      throw new HttpError(401, 'this action needs the hub token: send "Authorization: Bearer <token>"', 'UNAUTHORIZED')
    }
  }

  /** Reads the body as text (at most `max` bytes, default maxBody). */
  async text(ctx: Ctx, max = this.maxBody): Promise<string> {
    const chunks: Buffer[] = []
    let size = 0
    try {
      for await (const c of ctx.req) {
        size += (c as Buffer).length
        if (size > max) throw new HttpError(413, `the body is larger than ${max} bytes`, 'TOO_LARGE')
        chunks.push(c as Buffer)
      }
    } catch (err) {
      if (err instanceof HttpError) throw err
      // the client went away mid-body: nothing to answer, nothing wrong with the hub
      throw new HttpError(400, 'the client closed the connection before the body was read', 'CLIENT_GONE')
    }
    return Buffer.concat(chunks).toString('utf8')
  }

  /** Reads a JSON body (at most maxBody bytes and maxJsonDepth levels). */
  async body(ctx: Ctx): Promise<unknown> {
    return this.parseJson(await this.text(ctx))
  }

  /** Parses a JSON body: 400 for an empty, malformed or too deeply nested one. */
  parseJson(text: string): unknown {
    if (!text.trim()) throw new HttpError(400, 'the body is empty: send a JSON object', 'BAD_BODY')
    let v: unknown
    try {
      v = JSON.parse(text)
    } catch (err) {
      throw new HttpError(400, `the body is not valid JSON: ${(err as Error).message}`, 'BAD_BODY')
    }
    const field = jsonTooDeep(v, this.maxDepth)
    if (field !== undefined)
      throw new HttpError(
        400,
        `${field ? `field "${field}"` : 'the body'} nests deeper than ${this.maxDepth} levels; flatten it`,
        'TOO_DEEP',
      )
    return v
  }

  private match(method: string, path: string): { route: Route; params: Record<string, string> } | undefined {
    const segs = path.split('/').filter(Boolean)
    let methodMismatch = false
    for (const r of this.routes) {
      const params: Record<string, string> = {}
      let ok = true
      let i = 0
      for (; i < r.parts.length; i++) {
        const p = r.parts[i]
        if (p.startsWith(':') && p.endsWith('*')) {
          if (i >= segs.length) {
            ok = false
            break
          }
          params[p.slice(1, -1)] = segs.slice(i).map(decodeSegment).join('/')
          i = segs.length
          break
        }
        if (i >= segs.length) {
          ok = false
          break
        }
        if (p.startsWith(':')) params[p.slice(1)] = decodeSegment(segs[i])
        else if (p !== segs[i]) {
          ok = false
          break
        }
      }
      if (!ok || i !== segs.length) continue
      if (r.method !== method && !(r.method === 'GET' && method === 'HEAD')) {
        methodMismatch = true
        continue
      }
      return { route: r, params }
    }
    if (methodMismatch) throw new HttpError(405, `${method} is not allowed on ${path}`, 'METHOD_NOT_ALLOWED')
    return undefined
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.counters.requests++
    for (const m of this.middlewares) if (m.request?.(req, res)) return
    let url: URL
    let endpoint = `${req.method} (no route)`
    try {
      url = new URL(req.url ?? '/', 'http://localhost')
    } catch {
      this.edges.add('http', endpoint, 'BAD_URL', 400)
      return sendJson(res, 400, { error: 'BAD_URL', message: 'the request URL cannot be parsed' })
    }
    try {
      this.checkHost(req)
      const m = this.match(req.method ?? 'GET', url.pathname)
      if (!m) throw new HttpError(404, `nothing at ${url.pathname}`, 'NOT_FOUND')
      endpoint = `${m.route.method} ${m.route.pattern}`
      const out = await m.route.handler({ req, res, url, params: m.params })
      if (out !== undefined && !res.headersSent) sendJson(res, res.statusCode || 200, out)
    } catch (err) {
      const answer = toAnswer(err)
      if (answer.code === 'CLIENT_GONE') this.counters.aborted++
      if (answer.status === 400) this.counters.badRequests++
      if (answer.status >= 400 && answer.status !== 404) this.edges.add('http', endpoint, answer.code, answer.status)
      if (answer.status >= 500) this.onInternalError(`${req.method} ${url.pathname}`, err)
      if (res.headersSent || res.destroyed || answer.code === 'CLIENT_GONE') {
        res.destroy()
        return
      }
      sendJson(res, answer.status, { error: answer.code, message: answer.message })
    }
  }

  /** 403 unless `Host` names this server (a DNS-rebound page carries the attacker's name). */
  private checkHost(req: IncomingMessage): void {
    if (!this.hosts.allows(req.headers.host))
      throw new HttpError(
        403,
        `Host "${String(req.headers.host).slice(0, 100)}" is not a name this hub serves (${this.hosts.list.join(', ')}); add it with --allow-host`,
        'HOST_NOT_ALLOWED',
      )
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // Node's HTTP server drops its own error listener when it hands an upgrade over: without one,
    // a client that resets during the handshake would take the process down.
    socket.on('error', () => socket.destroy())
    for (const m of this.middlewares) if (m.upgrade?.(req, socket, head)) return
    let entry: Socket | undefined
    const refuse = (status: number, text: string, reason: string) => {
      this.counters.wsRefused++
      this.edges.add('ws', entry?.path ?? '(no socket)', reason, status)
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
    }
    let url: URL
    try {
      url = new URL(req.url ?? '/', 'http://localhost')
      decodeSegment(url.pathname)
    } catch {
      return refuse(400, 'Bad Request', 'BAD_PATH')
    }
    entry = this.sockets.get(url.pathname)
    if (!entry)
      for (const s of this.sockets.values()) if (s.opts.subpaths && url.pathname.startsWith(s.path + '/')) entry = s
    if (!entry) return refuse(404, 'Not Found', 'NOT_FOUND')
    if (!this.hosts.allows(req.headers.host)) return refuse(403, 'Forbidden', 'HOST_NOT_ALLOWED')
    if (!originAllowed(req, entry.opts.origins)) return refuse(403, 'Forbidden', 'ORIGIN_NOT_ALLOWED')
    if (entry.opts.unavailable?.()) return refuse(503, 'Service Unavailable', 'UNAVAILABLE')
    const s = entry
    s.wss.handleUpgrade(req, socket, head, (ws) => this.adopt(s, ws, req, url))
  }

  /** Guards one accepted socket, then runs its handler. */
  private adopt(s: Socket, ws: WebSocket, req: IncomingMessage, url: URL): void {
    const fail = (err: unknown) => {
      const { code, reason } = wsCloseFor(err)
      this.edges.add('ws', s.path, reason, code)
      if (reason === 'handler') this.onInternalError(`socket ${s.path}`, err)
      // `ws` has already sent its close frame for a frame it refused; a handler's failure is closed here
      if (ws.readyState === ws.CONNECTING || ws.readyState === ws.OPEN) ws.close(code, closeReason(reason))
    }
    ws.on('error', fail)
    // A listener a feature adds ('message', 'close', ...) that throws would otherwise unwind into
    // `ws`'s parser and out of the process: it fails that one socket instead.
    const emit = ws.emit
    ws.emit = function guardedEmit(this: WebSocket, event: string | symbol, ...args: unknown[]): boolean {
      try {
        return emit.call(this, event, ...args)
      } catch (err) {
        if (event === 'error') return true
        fail(err)
        return true
      }
    } as WebSocket['emit']
    try {
      const r = s.handler(ws, req, url)
      if (r && typeof (r as Promise<void>).then === 'function') (r as Promise<void>).catch(fail)
    } catch (err) {
      fail(err)
    }
  }

  /** Closes sockets whose client has stopped reading (what is queued for it passed `maxBuffered`). */
  private sweepSlowClients(): void {
    for (const s of this.sockets.values()) {
      const limit = s.opts.maxBuffered ?? 8 << 20
      for (const ws of s.wss.clients) {
        if (ws.bufferedAmount <= limit || ws.readyState !== ws.OPEN) continue
        this.edges.add('ws', s.path, 'slow_client', 1008)
        ws.close(1008, closeReason('slow_client'))
        // the close frame waits behind what the client does not read: do not wait for it
        ws.terminate()
      }
    }
  }

  /** A request Node could not parse (bad headers, too large, timed out): answered and counted. */
  private clientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    const code = err.code ?? 'CLIENT_ERROR'
    const status =
      code === 'HPE_HEADER_OVERFLOW' ? 431 : code === 'ERR_HTTP_REQUEST_TIMEOUT' || code === 'ETIMEDOUT' ? 408 : 400
    if (code !== 'ECONNRESET') this.edges.add('http', '(unparsed)', code, status)
    if (!socket.writable || code === 'ECONNRESET') return void socket.destroy()
    socket.end(
      `HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
    )
  }
}

function bearer(req: IncomingMessage, url?: URL): string | undefined {
  const h = req.headers.authorization
  return h?.startsWith('Bearer ') ? h.slice(7) : (url?.searchParams.get('token') ?? undefined)
}

/** The token a request presents (header, or `?token=`), for features with tokens of their own. */
export function presentedToken(req: IncomingMessage, url?: URL): string | undefined {
  return bearer(req, url)
}

/** Same-origin, listed or absent Origins only: a page from elsewhere must not drive the hub. */
export function originAllowed(req: IncomingMessage, allowed: string[] = []): boolean {
  const origin = req.headers.origin
  if (!origin) return true
  if (allowed.includes(origin)) return true
  try {
    const o = new URL(origin)
    return o.host === (req.headers.host ?? '')
  } catch {
    return false
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  const headers: Record<string, string | number> = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  }
  // An answer given before the request body was read (401, 413): the connection cannot be reused.
  if (!res.req.complete) headers.connection = 'close'
  res.writeHead(status, headers)
  res.end(text)
}
