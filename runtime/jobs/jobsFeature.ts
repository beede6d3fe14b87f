/**
 * The jobs feature of `aether hub`: the queue and an in-process worker on the hub's actor system,
 * the REST API (`/api/jobs`, `/api/queues`, `/api/schedules`, `/api/triggers/NAME`, described at
 * `/api/openapi.json`), live updates at WS `/api/jobs/events`, Prometheus `/metrics`, and a
 * small jobs page at `/jobs` (queue depth, running jobs, dead letters with retry). The inspector's
 * Jobs view (inspector/src/jobsPanel.ts) reads the same JSON and stream: both features plug into
 * the hub's one server, so the inspector's origin serves them.
 *
 * Auth: every mutation needs `Authorization: Bearer <token>`: the hub token (all tenants) or a
 * tenant token from the configuration (that tenant only; other tenants' jobs are 404). When
 * tenants are configured, reads need a token too.
 */
import { readFileSync } from 'node:fs'
import { timingSafeEqual } from 'node:crypto'
import type { Hub, HubFeature } from '../Hub.ts'
import { setting } from '../config.ts'
import { HttpError, sendJson, type Ctx, type WsHandler } from '../http/HubServer.ts'
import { JobError, JobQueue, type JobChange, type JobQueueOptions, type TenantConfig } from './JobQueue.ts'
import { DEFAULT_LOCAL_CONCURRENCY, LocalWorker } from './LocalWorker.ts'
import { Schedules, type TriggerConfig } from './Schedules.ts'
import { builtinJobTypes, type JobType } from './jobTypes.ts'
import { jobsMetrics } from './metrics.ts'
import { jobsOpenApi } from './openapi.ts'
import { jobsPage } from './page.ts'
import { archivedView } from './Retirement.ts'
import { parsePriority, parseSubmit, TENANT_RE } from './validate.ts'
import type { JobStatus } from '../../machines/job.ts'
import type { ScheduleInput } from '../../machines/schedule.ts'
import { tracingService } from '../tracing/service.ts'
import { JobSpans } from '../tracing/jobSpans.ts'

export interface JobsConfig extends JobQueueOptions {
  /** Extra job types (their machines must also be in the hub's `machines`, see `jobMachines`). */
  types?: JobType[]
  /** In-process worker slots; 0 = no in-process worker (e.g. NATS workers only). Default 1024. */
  concurrency?: number
  tenants?: Record<string, TenantConfig>
  triggers?: Record<string, TriggerConfig>
  schedules?: ScheduleInput[]
  /** Run the job steps on `aether worker` processes over NATS JetStream at this URL. */
  nats?: string
  /** JetStream details: stream name, max deliveries (default 5), ack wait (default visibilityMs). */
  natsOptions?: { stream?: string; maxDeliver?: number; ackWaitMs?: number; maxInFlight?: number }
}

/** Reads the `jobs-config` setting's file (AETHER_JOBS_CONFIG: a JSON file of JobsConfig), if set. */
export function jobsConfigFromFile(file = setting('jobs-config')): JobsConfig {
  if (!file) return {}
  try {
    return JSON.parse(readFileSync(file, 'utf8'))
  } catch (err) {
    throw new Error(`AETHER_JOBS_CONFIG=${file}: ${(err as Error).message}`)
  }
}

type Who = { admin: true; tenant?: undefined } | { admin: false; tenant: string }

const STATUSES = new Set(['PENDING', 'RUNNING', 'PAUSED', 'COMPLETED', 'FAILED', 'STOPPED'])

function same(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

export class JobsFeature implements HubFeature {
  readonly name = 'jobs'
  queue!: JobQueue
  schedules!: Schedules
  worker?: LocalWorker
  private hub!: Hub
  private bridge?: { close(): Promise<void> }
  private sockets = new Set<Parameters<WsHandler>[0]>()
  private unlisten?: () => void
  private spans?: JobSpans

  constructor(readonly config: JobsConfig = {}) {}

  /** Before recovery: the queue and the schedules (the `jobs.host` and `jobs.schedules` services), the workers, the routes. */
  async install(hub: Hub): Promise<void> {
    this.hub = hub
    const sys = hub.system
    const c = this.config
    this.queue = new JobQueue(sys, c)
    for (const t of [...builtinJobTypes, ...(c.types ?? [])]) this.queue.addType(t)
    this.schedules = new Schedules(sys, this.queue)
    for (const [name, t] of Object.entries(c.triggers ?? {})) this.schedules.triggers.set(name, t)
    if (c.nats) {
      const { NatsJobBridge } = await import('./natsJobs.ts')
      this.bridge = await NatsJobBridge.start(this.queue, { ...c.natsOptions, url: c.nats })
    } else if ((c.concurrency ?? DEFAULT_LOCAL_CONCURRENCY) > 0) {
      this.worker = new LocalWorker(this.queue, { concurrency: c.concurrency })
    }
    this.routes()
    this.unlisten = this.queue.listen((ch) => this.broadcast(ch))
    const tracing = sys.services.find(tracingService)
    if (tracing) this.spans = new JobSpans(tracing, this.queue)
    // With tenants, a job's actor (its input, its log) is that tenant's data on every read route too.
    if (Object.keys(c.tenants ?? {}).length)
      hub.access.add({
        tenantOf: (req, url) => {
          const w = this.who({ req, url })
          return w && !w.admin ? w.tenant : undefined
        },
        ownerOf: (path, stored) => this.ownerOf(path, stored),
      })
  }

  /** After recovery: index the recovered jobs, start leasing, add the configured schedules not there yet. */
  async start(): Promise<void> {
    this.queue.start()
    for (const s of this.config.schedules ?? [])
      if (!this.hub.system.hosted(`schedule-${s.name}`)) await this.schedules.add(s)
  }

  /** The tenant of the job whose actor is at `path` (or under it); jobs without a tenant are 'default'. */
  private ownerOf(path: string, stored?: { machine: string; input?: unknown }): string | undefined {
    const slash = path.indexOf('/')
    const id = slash < 0 ? path : path.slice(0, slash)
    const e = this.queue.jobs.get(id)
    if (e) return e.tenant
    const a = this.hub.system.hosted(id)
    if (a?.machineName.startsWith('job:')) return (a.actor?.getSnapshot?.().context as any)?.tenant ?? 'default'
    if (stored?.machine.startsWith('job:')) return (stored.input as any)?.tenant ?? 'default'
    return undefined
  }

  async close(): Promise<void> {
    this.unlisten?.()
    this.spans?.close()
    this.worker?.close()
    await this.bridge?.close()
    this.queue?.close()
  }

  // ---- auth ------------------------------------------------------------------------------------

  private who(ctx: { req: Ctx['req']; url: URL }): Who | undefined {
    if (this.hub.server.hasToken(ctx.req, ctx.url)) return { admin: true }
    const h = ctx.req.headers.authorization
    const given = h?.startsWith('Bearer ') ? h.slice(7) : (ctx.url.searchParams.get('token') ?? undefined)
    if (!given) return undefined
    for (const [tenant, t] of Object.entries(this.config.tenants ?? {}))
      if (t.token && same(given, t.token)) return { admin: false, tenant }
    return undefined
  }

  private mutator(ctx: Ctx): Who {
    const w = this.who(ctx)
    if (!w) {
      this.hub.server.counters.unauthorized++
      throw new HttpError(
        401,
        'this action needs a token: send "Authorization: Bearer <token>" (the hub token or a tenant token)',
        'UNAUTHORIZED',
      )
    }
    return w
  }

  /** An action only the hub token may take: 401 without a token, 403 with a tenant's. */
  private admin(ctx: Ctx, what: string): void {
    if (!this.mutator(ctx).admin) throw new HttpError(403, `${what} needs the hub token`, 'FORBIDDEN')
  }

  private reader(ctx: Ctx): Who {
    const w = this.who(ctx)
    if (w) return w
    if (Object.keys(this.config.tenants ?? {}).length) return this.mutator(ctx)
    return { admin: true }
  }

  /** The job's view (live or archived) if `who` may see it, else 404 (another tenant's job does not exist for it). */
  private async visible(who: Who, id: string): Promise<Record<string, unknown>> {
    const v = await this.queue.find(id)
    if (!v || (!who.admin && v.tenant !== who.tenant)) throw new HttpError(404, `no job "${id}"`, 'UNKNOWN_JOB')
    return v
  }

  /** A route of the jobs API: a JobError its handler throws is answered as the HTTP error it names. */
  private route(method: string, path: string, fn: (ctx: Ctx) => Promise<unknown> | unknown): void {
    this.hub.server.route(method, path, async (ctx) => {
      try {
        return await fn(ctx)
      } catch (err) {
        if (err instanceof JobError) throw new HttpError(err.status, err.message, err.code)
        throw err
      }
    })
  }

  // ---- routes ----------------------------------------------------------------------------------

  private routes(): void {
    const s = this.hub.server
    const q = this.queue
    s.route('GET', '/api/openapi.json', () => jobsOpenApi([...q.types.keys()]))
    this.route('POST', '/api/jobs', async (ctx) => {
      const who = this.mutator(ctx)
      const body = await s.body(ctx)
      const req = parseSubmit(body, new Set(q.types.keys()))
      if (!who.admin) {
        if (req.tenant !== undefined && req.tenant !== who.tenant)
          throw new JobError('BAD_BODY', `field "tenant": this token submits for tenant "${who.tenant}" only`)
        req.tenant = who.tenant
      }
      const r = await q.submit(req)
      // HubServer answers a returned value with 200; a created job is 201, so answer here
      sendJson(ctx.res, r.created ? 201 : 200, { id: r.id, status: r.status })
      return undefined
    })
    this.route('GET', '/api/jobs', (ctx) =>
      ctx.url.searchParams.get('archived') === 'true' ? this.listArchived(ctx) : this.list(ctx),
    )
    this.route('GET', '/api/jobs/:id', (ctx) => this.visible(this.reader(ctx), ctx.params.id))
    this.route('POST', '/api/jobs/:id/:action', async (ctx) => {
      const who = this.mutator(ctx)
      const action = ctx.params.action
      if (!['pause', 'resume', 'stop', 'retry'].includes(action))
        throw new HttpError(404, `no action "${action}": use pause, resume, stop or retry`, 'NOT_FOUND')
      await this.visible(who, ctx.params.id)
      const status = await q.act(ctx.params.id, action as any)
      return { id: ctx.params.id, status }
    })
    this.route('GET', '/api/queues', (ctx) => {
      const who = this.reader(ctx)
      return q.summary(who.admin ? undefined : who.tenant)
    })
    this.route('POST', '/api/queues/:name/:action', async (ctx) => {
      this.admin(ctx, 'pausing a queue')
      const { name, action } = ctx.params
      if (!TENANT_RE.test(name)) throw new HttpError(400, 'queue name must match [A-Za-z0-9_.-]{1,64}', 'BAD_QUERY')
      if (action !== 'pause' && action !== 'resume')
        throw new HttpError(404, 'use .../pause or .../resume', 'NOT_FOUND')
      await q.setQueuePaused(name, action === 'pause')
      return { name, paused: q.isPaused(name) }
    })
    this.route('GET', '/api/schedules', (ctx) => (this.reader(ctx), { schedules: this.schedules.list() }))
    this.route('POST', '/api/schedules', async (ctx) => {
      this.admin(ctx, 'adding a schedule')
      const body = (await s.body(ctx)) as any
      if (body?.job?.priority !== undefined) body.job.priority = parsePriority(body.job.priority, 'job.priority')
      sendJson(ctx.res, 201, await this.schedules.add(body ?? {}))
      return undefined
    })
    this.route('POST', '/api/schedules/:name/:action', async (ctx) => {
      this.admin(ctx, 'acting on a schedule')
      const { name, action } = ctx.params
      if (!['pause', 'resume', 'stop'].includes(action))
        throw new HttpError(404, 'use .../pause, .../resume or .../stop', 'NOT_FOUND')
      return this.schedules.act(name, action as any)
    })
    this.route('POST', '/api/triggers/:name', async (ctx) => {
      const who = this.mutator(ctx)
      const text = await s.text(ctx)
      const input: unknown = text.trim() ? s.parseJson(text) : null
      const key = ctx.req.headers['idempotency-key']
      if (key !== undefined && (typeof key !== 'string' || key.length < 1 || key.length > 200))
        throw new HttpError(400, 'header Idempotency-Key must be 1..200 characters', 'BAD_BODY')
      const r = await this.schedules.trigger(
        ctx.params.name,
        input,
        key as string | undefined,
        who.admin ? undefined : who.tenant,
      )
      sendJson(ctx.res, r.created ? 201 : 200, { id: r.id, status: r.status })
      return undefined
    })
    s.addMetrics(() => jobsMetrics(q))
    s.route('GET', '/jobs', (ctx) => {
      ctx.res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
      ctx.res.end(jobsPage())
      return undefined
    })
    s.ws('/api/jobs/events', (ws, req, url) => {
      const who = this.who({ req, url })
      if (!who && Object.keys(this.config.tenants ?? {}).length) {
        ws.close(4401, 'this stream needs a token (?token=)')
        return
      }
      ;(ws as any).tenant = who && !who.admin ? who.tenant : undefined
      this.sockets.add(ws)
      ws.on('close', () => this.sockets.delete(ws))
      ws.on('message', () => {}) // the stream is one-way; frames from the client are ignored
      ws.send(JSON.stringify({ type: 'hello', counts: q.countByStatus() }))
    })
  }

  /** The filters of `GET /api/jobs` (undefined: this reader can see nothing of them). */
  private filters(ctx: Ctx) {
    const who = this.reader(ctx)
    const p = ctx.url.searchParams
    const statuses = p.get('status')
      ? p
          .get('status')!
          .split(',')
          .map((x) => x.trim().toUpperCase())
      : undefined
    for (const st of statuses ?? [])
      if (!STATUSES.has(st))
        throw new HttpError(400, `query "status": "${st}" is not one of ${[...STATUSES].join(', ')}`, 'BAD_QUERY')
    const type = p.get('type') ?? undefined
    let tenant = p.get('tenant') ?? undefined
    const limit = p.get('limit') === null ? 100 : Number(p.get('limit'))
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
      throw new HttpError(400, 'query "limit" must be an integer 1..1000', 'BAD_QUERY')
    if (!who.admin) {
      if (tenant !== undefined && tenant !== who.tenant) return undefined
      tenant = who.tenant
    }
    const cursor = p.get('cursor') ?? undefined
    const match = (j: { status?: unknown; type?: unknown; tenant?: unknown }) =>
      (!statuses || statuses.includes(j.status as string)) &&
      (type === undefined || j.type === type) &&
      (tenant === undefined || j.tenant === tenant)
    return { match, limit, cursor }
  }

  /** GET /api/jobs: live jobs in id order. */
  private list(ctx: Ctx): unknown {
    const f = this.filters(ctx)
    if (!f) return { jobs: [], next: null }
    const out: unknown[] = []
    let next: string | null = null
    for (const e of this.queue.jobs.values()) {
      if (f.cursor !== undefined && e.id <= f.cursor) continue
      if (!f.match(e) || !this.queue.entry(e.id)) continue
      if (out.length === f.limit) {
        next = (out[out.length - 1] as any).id
        break
      }
      out.push(this.queue.view(e.id))
    }
    return { jobs: out, next }
  }

  /**
   * GET /api/jobs?archived=true: archived jobs, newest finish first. Filters apply to each page of
   * the archive, so a filtered page may hold fewer than `limit`: follow `next` until it is null.
   */
  private async listArchived(ctx: Ctx): Promise<unknown> {
    const f = this.filters(ctx)
    if (!f) return { jobs: [], next: null }
    if (f.cursor !== undefined && !f.cursor.startsWith('t!'))
      throw new HttpError(400, 'query "cursor": pass the "next" of the previous archived page', 'BAD_QUERY')
    const page = await this.hub.store.archivedPage(f.limit, f.cursor)
    const jobs = page.records
      .filter((r) => r.meta.machine.startsWith('job:'))
      .map(archivedView)
      .filter((v) => f.match(v))
    return { jobs, next: page.next }
  }

  private broadcast(ch: JobChange): void {
    if (!this.sockets.size) return
    const text = JSON.stringify({
      type: 'job.changed',
      id: ch.id,
      status: ch.status,
      jobType: ch.type,
      tenant: ch.tenant,
      at: ch.at,
    })
    for (const ws of this.sockets) {
      const t = (ws as any).tenant
      if (t !== undefined && t !== ch.tenant) continue
      if (ws.bufferedAmount > 4 << 20) {
        // a slow reader loses updates (counted) rather than growing the hub's memory
        ;(ws as any).dropped = ((ws as any).dropped ?? 0) + 1
        continue
      }
      const d = (ws as any).dropped
      if (d) {
        ws.send(JSON.stringify({ type: 'dropped', count: d }))
        ;(ws as any).dropped = 0
      }
      ws.send(text)
    }
  }
}

/** The jobs feature with configuration from `AETHER_JOBS_CONFIG` and the hub's `--nats`. */
export function jobsFeature(config: JobsConfig = {}): JobsFeature {
  return new JobsFeature(config)
}

export type { JobStatus }
