/**
 * `aether hub`: the edge node. One process: the actor system on LevelDB, the HTTP and WebSocket
 * server, and the features that plug into both (`hub.use(feature)`).
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { resolve } from 'node:path'
import type { AnyStateMachine } from 'xstate'
import { ActorSystem, checkPath, EventRejectedError, exportLog, type FsyncPolicy } from '../actors/index.ts'
import { builtinMachines } from './builtinMachines.ts'
import { HttpError, HubServer, sendJson, type Ctx } from './http/HubServer.ts'
import { LevelStore } from './LevelStore.ts'

export interface HubOptions {
  host?: string
  port?: number
  /** LevelDB folder (default ./.aether). */
  data?: string
  /** Token for mutations; generated when absent. */
  token?: string
  fsync?: FsyncPolicy
  snapshotEvery?: number
  retain?: number
  machines?: Record<string, AnyStateMachine>
  hostId?: string
  /**
   * Runtime identity under a supervisor (defaults from AETHER_RUNTIME_ID / AETHER_ROLE /
   * AETHER_VERSION / AETHER_SLOT). A `candidate` refuses every mutating request (503) until it is
   * promoted with `setRole('active')`.
   */
  runtimeInstanceId?: string
  role?: RuntimeRole
  version?: string
  slot?: string
}

export type RuntimeRole = 'active' | 'candidate'

/** A feature plugs routes, sockets and machines into a hub; `close` runs at shutdown. */
export interface HubFeature {
  name: string
  install(hub: Hub): void | Promise<void>
  close?(): void | Promise<void>
}

/** Refusals of the actor host that are the caller's to fix: 400 (the rest the server maps). */
const REFUSED = new Set(['RESERVED_EVENT', 'UNJOURNALABLE'])

function actorHttpError(err: unknown): unknown {
  const code = (err as { code?: unknown })?.code
  return typeof code === 'string' && REFUSED.has(code) ? new HttpError(400, (err as Error).message, code) : err
}

export class Hub {
  readonly startedAt = Date.now()
  url = ''
  /** Stable for this boot; reported by /api/health and the supervisor. */
  readonly runtimeInstanceId: string
  role: RuntimeRole
  private features: HubFeature[] = []

  private constructor(
    readonly opts: HubOptions,
    readonly system: ActorSystem,
    readonly store: LevelStore,
    readonly server: HubServer,
    readonly dataDir: string,
  ) {
    this.runtimeInstanceId =
      opts.runtimeInstanceId ?? process.env.AETHER_RUNTIME_ID ?? `rt-${randomBytes(6).toString('hex')}`
    const role = opts.role ?? process.env.AETHER_ROLE
    this.role = role === 'candidate' ? 'candidate' : 'active'
  }

  setRole(role: RuntimeRole): void {
    this.role = role
  }

  static async start(opts: HubOptions = {}, features: HubFeature[] = []): Promise<Hub> {
    const dataDir = resolve(opts.data ?? '.aether')
    mkdirSync(dataDir, { recursive: true })
    const store = await LevelStore.open(dataDir)
    let system: ActorSystem
    try {
      system = await ActorSystem.open({
        store,
        machines: { ...builtinMachines, ...opts.machines },
        fsync: opts.fsync ?? 'batch',
        snapshotEvery: opts.snapshotEvery,
        retain: opts.retain,
        hostId: opts.hostId ?? 'hub',
      })
    } catch (err) {
      await store.close()
      throw err
    }
    const token = opts.token ?? randomBytes(18).toString('base64url')
    const server = new HubServer({ host: opts.host ?? '127.0.0.1', port: opts.port ?? 0, token })
    const hub = new Hub(opts, system, store, server, dataDir)
    hub.guardCandidate()
    hub.installCore()
    try {
      for (const f of features) await hub.use(f)
      const { url } = await server.listen()
      hub.url = url
    } catch (err) {
      // A failed start (a port in use, a feature that cannot install) must not leave the
      // installed features holding the process open.
      for (const f of [...hub.features].reverse()) await Promise.resolve(f.close?.()).catch(() => {})
      await system.close()
      throw err
    }
    return hub
  }

  get token(): string {
    return this.server.token
  }

  async use(f: HubFeature): Promise<void> {
    await f.install(this)
    this.features.push(f)
  }

  async close(): Promise<void> {
    for (const f of [...this.features].reverse()) await f.close?.()
    await this.server.close()
    await this.system.close()
  }

  /** A candidate runtime is passive: every request that could change state is refused until promotion. */
  private guardCandidate(): void {
    const srv = this.server.server
    const inner = srv.listeners('request') as Array<(req: any, res: any) => void>
    srv.removeAllListeners('request')
    srv.on('request', (req, res) => {
      if (this.role === 'candidate' && !['GET', 'HEAD', 'OPTIONS'].includes(req.method ?? 'GET')) {
        this.server.counters.requests++
        return sendJson(res, 503, {
          error: 'CANDIDATE_PASSIVE',
          message: `runtime ${this.runtimeInstanceId} is a candidate and refuses changes until it is promoted; send them to the active runtime`,
          role: this.role,
          runtimeInstanceId: this.runtimeInstanceId,
        })
      }
      for (const l of inner) l.call(srv, req, res)
    })
  }

  private installCore(): void {
    const s = this.server
    const sys = this.system
    s.route('GET', '/api/health', () => ({
      ok: true,
      runtimeInstanceId: this.runtimeInstanceId,
      role: this.role,
      version: this.opts.version ?? process.env.AETHER_VERSION ?? null,
      slot: this.opts.slot ?? process.env.AETHER_SLOT ?? null,
      uptimeMs: Date.now() - this.startedAt,
      actors: sys.list().length,
      incidents: sys.incidents.length,
      journal: sys.journal ? { fsync: sys.journal.fsync, ...sys.journal.stats, pending: sys.journal.pending } : null,
      data: this.dataDir,
    }))
    s.route('GET', '/api/actors', () => ({ actors: sys.list() }))
    s.route('GET', '/api/machines', () => ({
      machines: Object.keys(builtinMachines)
        .concat(Object.keys(this.opts.machines ?? {}))
        .filter((v, i, a) => a.indexOf(v) === i),
    }))
    s.route('GET', '/api/incidents', () => ({ incidents: sys.incidents }))
    s.route('POST', '/api/actors', async (ctx) => {
      s.requireToken(ctx)
      const body = await s.body(ctx)
      if (typeof body !== 'object' || body === null || Array.isArray(body))
        throw new HttpError(400, 'the body must be a JSON object {path, machine, input?, durable?}', 'BAD_BODY')
      const b = body as Record<string, unknown>
      if (typeof b.path !== 'string') throw new HttpError(400, 'field "path" must be a string id path', 'BAD_BODY')
      checkPath(b.path)
      if (typeof b.machine !== 'string')
        throw new HttpError(400, 'field "machine" must be the name of a registered machine', 'BAD_BODY')
      if (b.durable !== undefined && typeof b.durable !== 'boolean')
        throw new HttpError(400, 'field "durable" must be a boolean', 'BAD_BODY')
      try {
        await sys.spawn(b.path, b.machine, { input: b.input, durable: b.durable ?? true })
      } catch (err) {
        throw actorHttpError(err)
      }
      ctx.res.statusCode = 201
      return sys.list().find((a) => a.path === b.path)
    })
    s.route('GET', '/api/actors/:path*', (ctx) => this.actorRoute(ctx))
    s.route('POST', '/api/actors/:path*', (ctx) => this.actorPostRoute(ctx))
  }

  /** GET /api/actors/<path>[/log|/definition] */
  private async actorRoute(ctx: Ctx): Promise<unknown> {
    const path = ctx.params.path
    const sys = this.system
    for (const suffix of ['/log', '/definition', '/history'] as const) {
      if (path.endsWith(suffix) && !sys.hosted(path)) {
        const base = path.slice(0, -suffix.length)
        if (suffix === '/log') return this.sendLog(ctx, base)
        const a = sys.hosted(base)
        if (!a) throw new HttpError(404, `no actor at "${base}"`, 'UNKNOWN_ACTOR')
        if (suffix === '/definition') return a.machine.toJSON()
        return this.history(ctx, base)
      }
    }
    const a = sys.hosted(path)
    if (!a) throw new HttpError(404, `no actor at "${path}"`, 'UNKNOWN_ACTOR')
    const snap = a.actor?.getSnapshot?.()
    return {
      ...sys.list().find((i) => i.path === path),
      context: snap?.context ?? null,
      timers: a.pendingTimers(),
    }
  }

  /** POST /api/actors/<path>/events {type, ...}, POST /api/actors/<path>/stop */
  private async actorPostRoute(ctx: Ctx): Promise<unknown> {
    this.server.requireToken(ctx)
    const path = ctx.params.path
    if (path.endsWith('/events')) {
      const target = path.slice(0, -'/events'.length)
      const ev = await this.server.body(ctx)
      if (
        typeof ev !== 'object' ||
        ev === null ||
        Array.isArray(ev) ||
        typeof (ev as any).type !== 'string' ||
        !(ev as any).type
      ) {
        throw new HttpError(400, 'the body must be an event: a JSON object with a non-empty string "type"', 'BAD_BODY')
      }
      let seq: number
      try {
        seq = await this.system.sendCommitted(target, ev as any, 'http')
      } catch (err) {
        if (!(err instanceof EventRejectedError)) throw actorHttpError(err)
        // the actor threw on the event, or the state it led to cannot be journaled
        sendJson(ctx.res, 409, { error: err.code, message: err.message, actor: err.path, seq: err.seq ?? null })
        return undefined
      }
      const a = this.system.hosted(target)!
      return { seq, value: a.actor?.getSnapshot?.().value ?? null, status: a.status }
    }
    if (path.endsWith('/stop')) {
      const target = path.slice(0, -'/stop'.length)
      await this.system.stop(target)
      return { stopped: target }
    }
    throw new HttpError(404, `nothing at POST /api/actors/${path}: use .../events or .../stop`, 'NOT_FOUND')
  }

  private async sendLog(ctx: Ctx, path: string): Promise<undefined> {
    const meta = await this.store.getMeta(path)
    if (!meta) throw new HttpError(404, `no durable actor at "${path}"`, 'UNKNOWN_ACTOR')
    await this.system.flush()
    const all = ctx.url.searchParams.get('snapshots') === 'all'
    const gen = exportLog(this.store, path, {
      snapshots: all ? 'all' : 'stored',
      machine: this.system.machine(meta.machine),
    })
    ctx.res.writeHead(200, {
      'content-type': 'application/x-ndjson; charset=utf-8',
      'content-disposition': `attachment; filename="${path.replace(/[^A-Za-z0-9_.-]/g, '_')}.aether.log"`,
    })
    for await (const chunk of gen) {
      if (!ctx.res.write(chunk)) await new Promise((r) => ctx.res.once('drain', r))
    }
    ctx.res.end()
    return undefined
  }

  /** GET /api/actors/<path>/history?after=SEQ&limit=N: journal records, page by page. */
  private async history(ctx: Ctx, path: string): Promise<unknown> {
    const after = Number(ctx.url.searchParams.get('after') ?? 0)
    const limit = Math.min(5000, Math.max(1, Number(ctx.url.searchParams.get('limit') ?? 500)))
    if (!Number.isInteger(after) || after < 0 || !Number.isFinite(limit))
      throw new HttpError(400, '"after" and "limit" must be non-negative integers', 'BAD_QUERY')
    await this.system.flush()
    const records = []
    for await (const r of this.store.events(path, after)) {
      records.push(r)
      if (records.length >= limit) break
    }
    const next = records.length === limit ? records[records.length - 1].seq : null
    return { path, records, next }
  }
}
