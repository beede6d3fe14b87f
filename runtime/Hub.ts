/**
 * `aether hub`: the edge node. One process: the actor system on LevelDB, the HTTP and WebSocket
 * server, and the features that plug into both (`Hub.start(opts, features)`).
 */
import { installTesterRoutes } from './http/testerRoutes.ts'
import { randomBytes } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { resolve } from 'node:path'
import type { AnyStateMachine } from 'xstate'
import {
  ActorSystem,
  checkPath,
  EventRejectedError,
  exportLog,
  journalStart,
  ReplayState,
  JournalGapError,
  type FsyncPolicy,
  type LiveState,
} from '../actors/index.ts'
import { builtinMachines } from './builtinMachines.ts'
import { setting } from './config.ts'
import { HttpError, HubServer, sendJson, type Ctx } from './http/HubServer.ts'
import { ReadAccess } from './http/ReadAccess.ts'
import { LevelStore } from './LevelStore.ts'

export interface HubOptions {
  host?: string
  port?: number
  /** Names besides loopback and `host` that requests may carry in `Host` (default AETHER_ALLOW_HOSTS). */
  allowHosts?: string[]
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

/**
 * A feature plugs routes, sockets, machines and services into a hub. `install` runs before the
 * actor system recovers: register machines, provide services (`hub.system.services`), add routes;
 * durable spawns are refused there. `start` runs after recovery: work on the recovered actors,
 * spawn what is missing. `close` runs at shutdown.
 */
export interface HubFeature {
  name: string
  install(hub: Hub): void | Promise<void>
  start?(hub: Hub): void | Promise<void>
  close?(): void | Promise<void>
}

/** Methods a candidate runtime still answers. */
const READ_ONLY = new Set(['GET', 'HEAD', 'OPTIONS'])

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
  /** The slot's version and name under a supervisor (null otherwise). */
  readonly version: string | null
  readonly slot: string | null
  /** Who may read which actor (tenants' data): features with tenants add their policy. */
  readonly access: ReadAccess
  private features: HubFeature[] = []
  private lastEdgeIncident = new Map<string, number>()

  private constructor(
    readonly opts: HubOptions,
    readonly system: ActorSystem,
    readonly store: LevelStore,
    readonly server: HubServer,
    readonly dataDir: string,
  ) {
    this.runtimeInstanceId = opts.runtimeInstanceId ?? setting('runtime-id') ?? `rt-${randomBytes(6).toString('hex')}`
    this.role = opts.role ?? setting('role')
    this.version = opts.version ?? setting('version') ?? null
    this.slot = opts.slot ?? setting('slot') ?? null
    this.access = new ReadAccess(server)
    server.onInternalError = (where, err) => this.internalError(where, err)
  }

  /**
   * A handler failed on something it did not expect (a 500, a socket closed with 1011): the stack
   * goes to the log and an incident is recorded, at most one per edge every 10 s, so a client that
   * repeats the input cannot flood the journal.
   */
  private internalError(where: string, err: unknown): void {
    console.error(`[hub] internal error on ${where}:`, err)
    const now = Date.now()
    if (now - (this.lastEdgeIncident.get(where) ?? 0) < 10_000) return
    this.lastEdgeIncident.set(where, now)
    try {
      this.system.incident({ at: now, class: 'edge', message: `internal error on ${where}: ${String(err)}` })
    } catch {
      // the system is closing
    }
  }

  setRole(role: RuntimeRole): void {
    this.role = role
  }

  /**
   * Starts a hub, in this order: open the store and the actor system (nothing recovered yet),
   * install every feature (each registers its machines and provides its services), recover the
   * durable actors (their restarted effects find their services on the first lookup), start every
   * feature (work on the recovered actors), then listen.
   */
  static async start(opts: HubOptions = {}, features: HubFeature[] = []): Promise<Hub> {
    const dataDir = resolve(opts.data ?? '.aether')
    mkdirSync(dataDir, { recursive: true })
    const store = await LevelStore.open(dataDir)
    // recovery's read overlaps the features' installs (a hub start is on a warm cutover's path)
    store.prefetchRecovery()
    const system = new ActorSystem({
      store,
      machines: { ...builtinMachines, ...opts.machines },
      fsync: opts.fsync ?? 'batch',
      snapshotEvery: opts.snapshotEvery,
      retain: opts.retain,
      hostId: opts.hostId ?? 'hub',
    })
    const token = opts.token ?? randomBytes(18).toString('base64url')
    const server = new HubServer({
      host: opts.host ?? '127.0.0.1',
      port: opts.port ?? 0,
      token,
      allowHosts: opts.allowHosts ?? setting('allow-host'),
    })
    const hub = new Hub(opts, system, store, server, dataDir)
    hub.guardCandidate()
    hub.installCore()
    try {
      for (const f of features) await hub.use(f)
      await system.recover()
      for (const f of hub.features) await f.start?.(hub)
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

  /** Installs a feature (before recovery: see `start`). */
  private async use(f: HubFeature): Promise<void> {
    await f.install(this)
    this.features.push(f)
  }

  async close(): Promise<void> {
    for (const f of [...this.features].reverse()) await f.close?.()
    await this.server.close()
    await this.system.close()
  }

  /**
   * A candidate runtime is passive: every request that could change state is refused (503) until
   * promotion, by a middleware in front of every route.
   */
  private guardCandidate(): void {
    this.server.use({
      name: 'candidate',
      request: (req, res) => {
        if (this.role !== 'candidate' || READ_ONLY.has(req.method ?? 'GET')) return false
        sendJson(res, 503, {
          error: 'CANDIDATE_PASSIVE',
          message: `runtime ${this.runtimeInstanceId} is a candidate and refuses changes until it is promoted; send them to the active runtime`,
          role: this.role,
          runtimeInstanceId: this.runtimeInstanceId,
        })
        return true
      },
    })
  }

  private installCore(): void {
    const s = this.server
    const sys = this.system
    s.route('GET', '/api/health', () => ({
      ok: true,
      runtimeInstanceId: this.runtimeInstanceId,
      role: this.role,
      version: this.version,
      slot: this.slot,
      uptimeMs: Date.now() - this.startedAt,
      actors: sys.list().length,
      incidents: sys.incidents.length,
      journal: sys.journal ? { fsync: sys.journal.fsync, ...sys.journal.stats, pending: sys.journal.pending } : null,
      data: this.dataDir,
    }))
    s.route('GET', '/api/actors', (ctx) => {
      const r = this.access.reader(ctx.req, ctx.url)
      return { actors: sys.list().filter((a) => this.access.mayRead(r, a.path)) }
    })
    s.route('GET', '/metrics', (ctx) => {
      ctx.res.writeHead(200, {
        'content-type': 'text/plain; version=0.0.4; charset=utf-8',
        'cache-control': 'no-store',
      })
      ctx.res.end(s.metricsText())
      return undefined
    })
    s.route('GET', '/api/routes', () => s.routeTable())
    s.route('GET', '/api/machines', () => ({
      machines: Object.keys(builtinMachines)
        .concat(Object.keys(this.opts.machines ?? {}))
        .filter((v, i, a) => a.indexOf(v) === i),
    }))
    s.route('GET', '/api/incidents', () => ({ incidents: sys.incidents }))
    s.route('GET', '/api/services', () => sys.services.stats())
    s.addMetrics(() => sys.services.prometheus())
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
      this.checkInput(b.machine, b.input)
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
    installTesterRoutes(this)
  }

  /**
   * A spawn the machine cannot start with (its context factory throws on this input) is refused
   * before anything is created: a pure dry run of the initial state, executing no effect.
   */
  private checkInput(machine: string, input: unknown): void {
    const logic = this.system.machine(machine)
    if (!logic) return // spawn answers UNKNOWN_MACHINE
    let snap: { status?: string; error?: unknown }
    try {
      snap = new ReplayState(logic, 'input-check').init(input, Date.now()).snapshot
    } catch (err) {
      snap = { status: 'error', error: err }
    }
    if (snap?.status === 'error') {
      const why = snap.error instanceof Error ? snap.error.message : String(snap.error)
      throw new HttpError(
        400,
        `field "input": machine "${machine}" cannot start with ${input === undefined ? 'no input' : 'this input'} (${why.slice(0, 200)}); send the input it needs`,
        'BAD_INPUT',
      )
    }
  }

  /**
   * A tenant's actor is read only with that tenant's token or the hub token: 401 without a token,
   * 404 (as if it did not exist) with another tenant's.
   */
  private checkRead(ctx: Ctx, path: string, stored?: { machine: string; input?: unknown }): void {
    if (!this.access.active) return
    const r = this.access.reader(ctx.req, ctx.url)
    if (this.access.mayRead(r, path, stored)) return
    if (!r.identified)
      throw new HttpError(
        401,
        `"${path}" holds a tenant's data: send that tenant's token or the hub token ("Authorization: Bearer <token>")`,
        'UNAUTHORIZED',
      )
    throw new HttpError(404, `no actor at "${path}"`, 'UNKNOWN_ACTOR')
  }

  /** GET /api/actors/<path>[/log|/definition|/history] */
  private async actorRoute(ctx: Ctx): Promise<unknown> {
    const path = ctx.params.path
    const sys = this.system
    for (const suffix of ['/log', '/definition', '/history'] as const) {
      if (path.endsWith(suffix) && !sys.hosted(path)) {
        const base = path.slice(0, -suffix.length)
        if (suffix === '/log') return this.sendLog(ctx, base)
        if (suffix === '/history') return this.history(ctx, base)
        const a = sys.hosted(base)
        // an archived actor's definition is its machine's, when this hub has it
        const meta = a ? undefined : await this.store.getMeta(base)
        this.checkRead(ctx, base, meta)
        const machine = a?.machine ?? (meta?.status === 'archived' ? sys.machine(meta.machine) : undefined)
        if (!machine) throw new HttpError(404, `no actor at "${base}"`, 'UNKNOWN_ACTOR')
        return machine.toJSON()
      }
    }
    const a = sys.hosted(path)
    if (!a) return this.archivedActor(ctx, path)
    this.checkRead(ctx, path)
    const snap = a.actor?.getSnapshot?.()
    return {
      ...sys.list().find((i) => i.path === path),
      context: snap?.context ?? null,
      timers: a.pendingTimers(),
    }
  }

  /** GET /api/actors/<path> of an archived actor (see ActorSystem.archive): its record, no live state. */
  private async archivedActor(ctx: Ctx, path: string): Promise<unknown> {
    const r = await this.store.archived(path)
    this.checkRead(ctx, path, r?.meta)
    if (!r) throw new HttpError(404, `no actor at "${path}"`, 'UNKNOWN_ACTOR')
    return {
      path,
      machine: r.meta.machine,
      status: 'archived',
      archived: true,
      durable: true,
      seq: r.seq,
      finishedAt: r.finishedAt,
      archivedAt: r.archivedAt,
      summary: r.summary,
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

  /** GET /api/actors/<path>/log[?snapshots=all|stored]: the actor's journal as an aether.log/1 log. */
  private async sendLog(ctx: Ctx, path: string): Promise<undefined> {
    const snapshots = ctx.url.searchParams.get('snapshots') ?? 'all'
    if (snapshots !== 'all' && snapshots !== 'stored')
      throw new HttpError(400, `"snapshots" must be "all" or "stored", got "${snapshots}"`, 'BAD_QUERY')
    const meta = await this.store.getMeta(path)
    this.checkRead(ctx, path, meta)
    if (!meta) throw new HttpError(404, `no durable actor at "${path}"`, 'UNKNOWN_ACTOR')
    const machine = this.system.machine(meta.machine)
    if (snapshots === 'all' && !machine)
      throw new HttpError(
        409,
        `the machine "${meta.machine}" of "${path}" is not registered on this hub, so it cannot compute a snapshot after every event: ask for ?snapshots=stored (the checkpoints only)`,
        'MACHINE_NEEDED',
      )
    await this.system.flush()
    const gen = exportLog(this.store, path, { snapshots, machine, live: this.liveState(path) })
    // The first line is read before the answer's head, so a journal that cannot be read is an error answer.
    const first = await gen.next().catch(journalError)
    ctx.res.writeHead(200, {
      'content-type': 'application/x-ndjson; charset=utf-8',
      'content-disposition': `attachment; filename="${path.replace(/[^A-Za-z0-9_.-]/g, '_')}.aether.log"`,
      // an archived actor's log is its whole journal, as before it was archived
      ...(meta.status === 'archived' ? { 'x-aether-archived': 'true' } : {}),
    })
    if (!first.done) ctx.res.write(first.value)
    for await (const chunk of gen) {
      if (!ctx.res.write(chunk)) await new Promise((r) => ctx.res.once('drain', r))
    }
    ctx.res.end()
    return undefined
  }

  /** A running durable actor's current state, the end of its exported log (none while it restarts or failed). */
  private liveState(path: string): LiveState | undefined {
    const a = this.system.hosted(path)
    if (!a?.durable || !a.actor || a.appliedSeq === 0 || (a.status !== 'active' && a.status !== 'done')) return
    try {
      return { seq: a.appliedSeq, snapshot: a.actor.getPersistedSnapshot() }
    } catch {
      return // the export computes it instead
    }
  }

  /**
   * GET /api/actors/<path>/history?after=SEQ&limit=N: journal records, page by page. `base` is the
   * checkpoint the journal starts from when its head was compacted (`--retain`), else null; the
   * records start after it. `archived: true` for an archived actor (its journal is kept whole).
   */
  private async history(ctx: Ctx, path: string): Promise<unknown> {
    const after = Number(ctx.url.searchParams.get('after') ?? 0)
    const limit = Math.min(5000, Math.max(1, Number(ctx.url.searchParams.get('limit') ?? 500)))
    if (!Number.isInteger(after) || after < 0 || !Number.isFinite(limit))
      throw new HttpError(400, '"after" and "limit" must be non-negative integers', 'BAD_QUERY')
    await this.system.flush()
    const start = await journalStart(this.store, path).catch(journalError)
    this.checkRead(ctx, path, start?.meta)
    if (!start) throw new HttpError(404, `no durable actor at "${path}"`, 'UNKNOWN_ACTOR')
    const records = []
    for await (const r of this.store.events(path, Math.max(after, start.firstSeq - 1))) {
      records.push(r)
      if (records.length >= limit) break
    }
    const next = records.length === limit ? records[records.length - 1].seq : null
    const base = start.base ? { seq: start.base.seq, at: start.base.at, snapshot: start.base.snapshot } : null
    return start.meta.status === 'archived'
      ? { path, archived: true, base, records, next }
      : { path, base, records, next }
  }
}

/** A journal that cannot be read from its start is an error answer that names it, not a bare 500. */
function journalError(err: unknown): never {
  if (err instanceof JournalGapError) throw new HttpError(500, err.message, err.code)
  throw err
}
