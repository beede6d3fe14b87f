/**
 * The hub's HTTP and WebSocket server: a small router that features plug into.
 *
 * - `route(method, pattern, handler)`: `pattern` is a path with `:name` segments and an optional
 *   trailing `:name*` that takes the rest (id paths contain `/`).
 * - `ws(path, handler)`: WebSocket endpoints (`ws` is imported in this one adapter file). Upgrades
 *   from a foreign Origin are refused (403): only same-origin pages and non-browser clients.
 * - Mutations call `requireToken(req)`: `Authorization: Bearer <token>` (or `?token=` for
 *   WebSocket and browser downloads), else 401.
 * Bodies are JSON, at most `maxBody` bytes; a bad body is a 400 that names what is wrong.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { timingSafeEqual } from 'node:crypto'
import { WebSocketServer, type WebSocket } from 'ws'

/** The WebSocket client, for connections the hub opens itself (to an app's `@xstate/inspect` server). */
export { WebSocket as WebSocketClient } from 'ws'

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code = 'HTTP_ERROR',
  ) {
    super(message)
    this.name = 'HttpError'
  }
}

export interface Ctx {
  req: IncomingMessage
  res: ServerResponse
  url: URL
  params: Record<string, string>
}

export type Handler = (ctx: Ctx) => Promise<unknown> | unknown
export type WsHandler = (ws: WebSocket, req: IncomingMessage, url: URL) => void

interface Route {
  method: string
  parts: string[]
  handler: Handler
}

export interface HubServerOptions {
  host?: string
  port?: number
  token: string
  maxBody?: number
}

/** A handler's result: a value is sent as JSON (200), `undefined` means the handler answered. */
export class HubServer {
  readonly server: Server
  readonly token: string
  readonly counters = { requests: 0, badRequests: 0, unauthorized: 0, wsRefused: 0 }
  private routes: Route[] = []
  private sockets = new Map<
    string,
    { wss: WebSocketServer; handler: WsHandler; origins?: string[]; unavailable?: () => boolean }
  >()
  private maxBody: number

  constructor(private opts: HubServerOptions) {
    this.token = opts.token
    this.maxBody = opts.maxBody ?? 1 << 20
    this.server = createServer((req, res) => void this.handle(req, res))
    this.server.on('upgrade', (req, socket, head) => this.upgrade(req, socket as any, head))
  }

  route(method: string, pattern: string, handler: Handler): void {
    this.routes.push({ method, parts: pattern.split('/').filter(Boolean), handler })
  }

  /**
   * `origins`: pages from these origins (e.g. `http://hub.local:7070`) may also upgrade.
   * `unavailable`: while it returns true, upgrades are answered 503 (the socket never opens).
   */
  ws(
    path: string,
    handler: WsHandler,
    opts: { maxPayload?: number; origins?: string[]; unavailable?: () => boolean } = {},
  ): void {
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: opts.maxPayload ?? 1 << 20,
      perMessageDeflate: false,
    })
    this.sockets.set(path, { wss, handler, origins: opts.origins, unavailable: opts.unavailable })
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
    const port = (this.server.address() as AddressInfo).port
    const shown = host.includes(':') ? `[${host}]` : host
    return { host, port, url: `http://${shown}:${port}` }
  }

  async close(): Promise<void> {
    for (const { wss } of this.sockets.values()) {
      for (const c of wss.clients) c.terminate()
      wss.close()
    }
    this.server.closeAllConnections?.()
    await new Promise<void>((r) => this.server.close(() => r()))
  }

  /** Whether the request carries the hub token (header, or `?token=`). */
  hasToken(req: IncomingMessage, url?: URL): boolean {
    const h = req.headers.authorization
    const given = h?.startsWith('Bearer ') ? h.slice(7) : (url?.searchParams.get('token') ?? undefined)
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

  /** Reads a JSON body (at most maxBody bytes). */
  async body(ctx: Ctx): Promise<unknown> {
    const chunks: Buffer[] = []
    let size = 0
    for await (const c of ctx.req) {
      size += (c as Buffer).length
      if (size > this.maxBody) throw new HttpError(413, `the body is larger than ${this.maxBody} bytes`, 'TOO_LARGE')
      chunks.push(c as Buffer)
    }
    const text = Buffer.concat(chunks).toString('utf8')
    if (!text.trim()) throw new HttpError(400, 'the body is empty: send a JSON object', 'BAD_BODY')
    try {
      return JSON.parse(text)
    } catch (err) {
      throw new HttpError(400, `the body is not valid JSON: ${(err as Error).message}`, 'BAD_BODY')
    }
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
          params[p.slice(1, -1)] = segs.slice(i).map(decodeURIComponent).join('/')
          i = segs.length
          break
        }
        if (i >= segs.length) {
          ok = false
          break
        }
        if (p.startsWith(':')) params[p.slice(1)] = decodeURIComponent(segs[i])
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
    let url: URL
    try {
      url = new URL(req.url ?? '/', 'http://localhost')
    } catch {
      return sendJson(res, 400, { error: 'BAD_URL', message: 'the request URL cannot be parsed' })
    }
    try {
      const m = this.match(req.method ?? 'GET', url.pathname)
      if (!m) throw new HttpError(404, `nothing at ${url.pathname}`, 'NOT_FOUND')
      const out = await m.route.handler({ req, res, url, params: m.params })
      if (out !== undefined && !res.headersSent) sendJson(res, res.statusCode || 200, out)
    } catch (err) {
      if (res.headersSent) {
        res.destroy()
        return
      }
      if (err instanceof HttpError) {
        if (err.status === 400) this.counters.badRequests++
        return sendJson(res, err.status, { error: err.code, message: err.message })
      }
      const code = (err as any)?.code
      if (
        code === 'BAD_PATH' ||
        code === 'BAD_EVENT' ||
        code === 'UNKNOWN_MACHINE' ||
        code === 'UNKNOWN_PARENT' ||
        code === 'ACTOR_EXISTS'
      ) {
        this.counters.badRequests++
        return sendJson(res, code === 'ACTOR_EXISTS' ? 409 : 400, { error: code, message: (err as Error).message })
      }
      if (code === 'UNKNOWN_ACTOR') return sendJson(res, 404, { error: code, message: (err as Error).message })
      if (code === 'ACTOR_NOT_RUNNING') return sendJson(res, 409, { error: code, message: (err as Error).message })
      console.error('[hub] internal error on', req.method, url.pathname, err)
      sendJson(res, 500, { error: 'INTERNAL', message: 'internal error; see the hub log' })
    }
  }

  private upgrade(req: IncomingMessage, socket: import('node:stream').Duplex, head: Buffer): void {
    let url: URL
    try {
      url = new URL(req.url ?? '/', 'http://localhost')
    } catch {
      socket.destroy()
      return
    }
    // `/yws/<doc>` reaches the endpoint `/yws`: y-websocket clients put the document in the path
    let entry = this.sockets.get(url.pathname)
    if (!entry) for (const [p, e] of this.sockets) if (url.pathname.startsWith(p + '/')) entry = e
    const refuse = (status: number, text: string) => {
      this.counters.wsRefused++
      socket.write(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
      socket.destroy()
    }
    if (!entry) return refuse(404, 'Not Found')
    if (!originAllowed(req, entry.origins)) return refuse(403, 'Forbidden')
    if (entry.unavailable?.()) return refuse(503, 'Service Unavailable')
    entry.wss.handleUpgrade(req, socket, head, (ws) => entry.handler(ws, req, url))
  }
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
