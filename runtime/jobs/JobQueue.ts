/**
 * The job queue: every job is a durable `job:<type>` actor (its journal is the source of truth);
 * this class is the index over them that decides who runs next, and the lease table.
 *
 * - Order: priority 0..20 (higher first), FIFO within a priority (by submission; a delayed job
 *   enters the FIFO when its `runAt` falls due); named queues that can be paused.
 * - Leases: `pump()` leases the best ready job to a worker with a free slot and journals
 *   `job.start {worker}`; the worker's heartbeat extends every lease it holds by the visibility
 *   timeout (default 30 s); a lease that runs out sends `job.lease.expired` (the job returns to
 *   the queue, counted as a failed attempt) and the job is leased again.
 * - Tenants: a per-tenant concurrency limit, so one tenant's backlog cannot starve another's.
 * - Idempotent submission: the same (tenant, key) gives the same job.
 * - Retention: finished jobs are archived past an age and a count (runtime/jobs/Retirement.ts);
 *   an archived job is still found by id (`find`) and by key.
 * The queue is the `jobs.host` service of its actor system from construction: make it before the
 * system recovers, so recovered job actors reach it at once (a step attempt that recovery restarts
 * is leased then, its job indexed on the spot). `start()`, after recovery, indexes the rest from the
 * actors' states and starts leasing. The pause state of a queue is itself a durable actor
 * (`jobqueue-<name>`).
 */
import { setup } from 'xstate'
import type { ActorSystem, Clock } from '../../actors/index.ts'
import {
  jobEvents,
  jobStatusOf,
  nextRandom,
  Priority,
  type JobContext,
  type JobInput,
  type JobStatus,
} from '../../machines/job.ts'
import { type JobHost, jobHost, type JobType } from './jobTypes.ts'
import { ReadyQueue } from './ReadyQueue.ts'
import { archivedView, type RetentionOptions, Retirement, type RetiringQueue } from './Retirement.ts'
import type { StepAttempt, StepTask } from './stepRunner.ts'

/** A worker the queue leases jobs to: in-process (LocalWorker) or the NATS bridge. */
export interface JobWorker {
  readonly id: string
  /** Leases it may hold at once. */
  readonly capacity: number
  /** Runs one step attempt of a job leased to it (`attempt.signal` aborts when the step is cancelled). */
  execute(task: StepTask, attempt: StepAttempt): Promise<unknown>
}

export interface TenantConfig {
  token?: string
  /** Jobs of this tenant running at once (default: `defaultTenantConcurrency`). */
  concurrency?: number
}

export interface JobQueueOptions {
  /** Lease length; a worker heartbeat extends it (default 30 000 ms). */
  visibilityMs?: number
  tenants?: Record<string, TenantConfig>
  defaultTenantConcurrency?: number
  /** Seed of the source of the jobs' jitter seeds (default: from the time). */
  seed?: number
  clock?: Clock
  /** When finished jobs are archived (see Retirement.ts); `false` keeps every job live. */
  retention?: RetentionOptions | false
}

/** One row of the index. */
export interface JobEntry {
  id: string
  type: string
  priority: number
  tenant: string
  queue: string
  key?: string
  runAt: number
  status: JobStatus
  /** Submission order (FIFO within a priority). */
  order: number
  queued: boolean
  worker?: string
  /** Leased with the submission: its first PENDING (before the machine starts it) is not a return to the queue. */
  leasedAtSubmit?: boolean
  /** When it became COMPLETED or STOPPED (retention's clock). */
  finishedAt?: number
}

export interface Lease {
  jobId: string
  worker: string
  until: number
}

/** A job as submitted: the job machine's input without what the queue assigns (id, PRNG seed). */
export type SubmitRequest = Omit<JobInput, 'id' | 'seed'>

/** A submission's answer: the job (durable by then) and whether this call created it. */
export interface SubmitResult {
  id: string
  status: JobStatus
  created: boolean
}

export interface JobChange {
  id: string
  status: JobStatus
  type: string
  tenant: string
  at: number
}

/** A named queue's pause state, durable. */
export const jobQueueMachine = setup({
  types: {
    context: {} as { name: string },
    input: {} as { name: string },
    events: {} as { type: 'queue.pause' } | { type: 'queue.resume' },
  },
}).createMachine({
  id: 'jobQueue',
  context: ({ input }) => ({ name: input.name }),
  initial: 'active',
  states: { active: { on: { 'queue.pause': 'paused' } }, paused: { on: { 'queue.resume': 'active' } } },
})

export class JobError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message)
    this.name = 'JobError'
  }
}

export class JobQueue implements JobHost, RetiringQueue<JobEntry> {
  readonly types = new Map<string, JobType>()
  readonly jobs = new Map<string, JobEntry>()
  readonly leases = new Map<string, Lease>()
  readonly visibilityMs: number
  readonly clock: Clock
  /** Archives finished jobs past retention; absent with `retention: false`. */
  readonly retirement?: Retirement<JobEntry>
  readonly stats = { submitted: 0, completed: 0, failed: 0, leaseExpired: 0, deliveries: 0 }
  /** Step latency histogram (ms buckets), for /metrics. */
  readonly stepLatency = {
    buckets: [1, 5, 10, 50, 100, 500, 1000, 5000, 30000],
    counts: new Array(10).fill(0),
    sum: 0,
    count: 0,
  }
  private byKey = new Map<string, string>()
  /** Whether the store may hold archived jobs (found at start; true once one is archived). */
  private hasArchive: boolean | Promise<boolean> = false
  /** Keyed submissions being written, by (tenant, key): a retry waits for the first (see submit). */
  private writing = new Map<string, Promise<SubmitResult>>()
  private ready = new ReadyQueue()
  private delayed: JobEntry[] = []
  private delayTimer: unknown
  private delayDue = Infinity
  private runningByTenant = new Map<string, number>()
  private workers = new Map<string, { w: JobWorker; held: number; alive: boolean }>()
  private paused = new Set<string>()
  private listeners = new Set<(c: JobChange) => void>()
  /** Sees each step attempt dispatched (tracing); what it returns is called when the attempt settles. */
  stepObserver?: (task: StepTask, attempt: StepAttempt) => (error?: unknown) => void
  private order = 0
  private idN = 0
  private rng: number
  private sweepTimer: unknown
  private pumping = false
  /** Recovered step attempts waiting for a worker to be attached. */
  private noWorker: Array<() => void> = []
  private closed = false

  constructor(
    readonly system: ActorSystem,
    readonly opts: JobQueueOptions = {},
  ) {
    this.visibilityMs = opts.visibilityMs ?? 30_000
    this.clock = opts.clock ?? system.clock
    this.rng = (opts.seed ?? Date.now()) | 0
    if (opts.retention !== false) this.retirement = new Retirement(this, opts.retention)
    if (!system.machine('jobQueue')) system.register('jobQueue', jobQueueMachine)
    system.services.provide(jobHost, this)
  }

  /** Registers job types (their machines must also be registered before the system recovers). */
  addType(t: JobType): void {
    this.types.set(t.name, t)
    if (!this.system.machine(t.machineName)) this.system.register(t.machineName, t.machine)
  }

  /** After the system recovered: indexes the recovered jobs and starts leasing. */
  start(): void {
    for (const info of this.system.list()) {
      if (info.machine === 'jobQueue') {
        const a = this.system.hosted(info.path)
        if (a?.actor?.getSnapshot().value === 'paused') this.paused.add(a.actor.getSnapshot().context.name)
        continue
      }
      if (!info.machine.startsWith('job:')) continue
      const a = this.system.hosted(info.path)
      const snap = a?.actor?.getSnapshot()
      if (!snap) continue
      const e = this.jobs.get(info.path) ?? this.index(snap.context as JobContext)
      if (a!.status === 'done') e.finishedAt ??= a!.lastAt
      this.apply(e, a!.status === 'failed' ? 'FAILED' : jobStatusOf(snap.value))
    }
    const store = this.system.store
    if (store)
      this.hasArchive = store.archivedPage(1).then(
        (p) => (this.hasArchive = this.hasArchive === true || p.records.length > 0),
        () => (this.hasArchive = true),
      )
    this.armSweep()
    this.retirement?.start()
    this.pump()
  }

  /** Adds a job actor's entry to the index. */
  private index(ctx: JobContext): JobEntry {
    const e = this.entryFrom(ctx)
    if (e.order >= this.order) this.order = e.order + 1
    this.jobs.set(e.id, e)
    if (e.key !== undefined) this.byKey.set(`${e.tenant}\u0000${e.key}`, e.id)
    return e
  }

  close(): void {
    // still the jobs.host service: effects of the closing system find a closed queue (whose
    // attempts never settle), not a missing service whose error the journal would record
    this.closed = true
    this.retirement?.close()
    if (this.sweepTimer !== undefined) this.clock.clearTimeout(this.sweepTimer)
    if (this.delayTimer !== undefined) this.clock.clearTimeout(this.delayTimer)
  }

  listen(fn: (c: JobChange) => void): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  // ---- submission ------------------------------------------------------------------------------

  /**
   * Submits a job; the same (tenant, key) returns the existing job with `created: false`.
   * Resolves once the job is durable (its actor journaled), and so does a retry of a key whose
   * first submission is still being written: an id is never answered before its job is on disk.
   */
  async submit(req: SubmitRequest): Promise<SubmitResult> {
    const type = this.types.get(req.type)
    if (!type)
      throw new JobError(
        'UNKNOWN_TYPE',
        `field "type": no job type "${req.type}"; known: ${[...this.types.keys()].join(', ')}`,
      )
    const tenant = req.tenant ?? 'default'
    if (req.key === undefined) return this.create(req, type, tenant, undefined)
    const kk = `${tenant}\u0000${req.key}`
    const writing = this.writing.get(kk)
    if (writing) {
      // The first submission of this key is being written: its answer once durable. If its write
      // failed there is no job to name, and this retry is the submission.
      const first = await writing.then(
        (r) => r,
        () => undefined,
      )
      return first
        ? { id: first.id, status: this.jobs.get(first.id)?.status ?? first.status, created: false }
        : this.submit(req)
    }
    const existing = this.byKey.get(kk)
    if (existing) return { id: existing, status: this.jobs.get(existing)?.status ?? 'PENDING', created: false }
    // Set before the first await, so a retry arriving meanwhile finds it; gone once settled (its
    // awaiters run after that, so a retry after a failed write starts a submission of its own).
    const p: Promise<SubmitResult> = this.createKeyed(req, type, tenant, kk).finally(() => {
      if (this.writing.get(kk) === p) this.writing.delete(kk)
    })
    this.writing.set(kk, p)
    return p
  }

  /** A keyed submission: the archived job of that key if there is one, else a new job. */
  private async createKeyed(req: SubmitRequest, type: JobType, tenant: string, kk: string): Promise<SubmitResult> {
    // (with retention off too: jobs archived by an earlier run keep their keys). A store without
    // an archive is not asked: most keyed submissions are new jobs.
    const archived = (await this.hasArchive) ? await this.system.store!.archivedByName(kk) : undefined
    if (archived) {
      const r = await this.system.store!.archived(archived)
      return { id: archived, status: ((r?.summary as any)?.status ?? 'COMPLETED') as JobStatus, created: false }
    }
    return this.create(req, type, tenant, kk)
  }

  private async create(
    req: SubmitRequest,
    type: JobType,
    tenant: string,
    kk: string | undefined,
  ): Promise<SubmitResult> {
    const now = this.clock.now()
    let id: string
    do id = `job-${now.toString(36).padStart(9, '0')}-${(this.idN++).toString(36).padStart(5, '0')}`
    while (this.jobs.has(id) || this.system.hosted(id))
    const [, next] = nextRandom(this.rng)
    this.rng = next
    const priority = req.priority ?? Priority.NORMAL
    const queue = req.queue ?? 'default'
    const runAt = req.runAt ?? 0
    // Fields at the machine's defaults are left out of the input: it is journaled with every job.
    const input: JobInput = {
      id,
      type: req.type,
      input: req.input ?? null,
      seed: next,
      submittedAt: now,
      order: this.order,
    }
    if (priority !== Priority.NORMAL) input.priority = priority
    if (tenant !== 'default') input.tenant = tenant
    if (queue !== 'default') input.queue = queue
    if (runAt !== 0) input.runAt = runAt
    if (req.key !== undefined) input.key = req.key
    if (req.maxAttempts !== undefined) input.maxAttempts = req.maxAttempts
    const e: JobEntry = {
      id,
      type: req.type,
      priority,
      tenant,
      queue,
      runAt,
      status: 'PENDING',
      order: this.order++,
      queued: false,
    }
    if (req.key !== undefined) e.key = req.key
    this.jobs.set(id, e)
    this.stats.submitted++
    // Nothing waits ahead of it and a slot is free: lease it with the submission (one journal write less).
    if (
      this.ready.size === 0 &&
      e.runAt <= now &&
      !this.paused.has(e.queue) &&
      (this.runningByTenant.get(tenant) ?? 0) < this.tenantLimit(tenant)
    ) {
      const r = this.pickWorker()
      if (r) {
        this.lease(e, r.w.id)
        e.leasedAtSubmit = true
        input.lease = r.w.id
      }
    }
    try {
      await this.system.spawn(id, type.machineName, { input, durable: true })
    } catch (err) {
      if (e.leasedAtSubmit) this.release(e)
      this.jobs.delete(id)
      throw err
    }
    if (kk !== undefined) this.byKey.set(kk, id)
    return { id, status: e.status, created: true }
  }

  // ---- operator actions ------------------------------------------------------------------------

  /** Sends an operator action to a job; resolves once it is journaled and applied. */
  async act(id: string, action: 'pause' | 'resume' | 'stop' | 'retry'): Promise<JobStatus> {
    const e = this.jobs.get(id)
    const a = this.system.hosted(id)
    if (!e || !a) {
      const r = await this.system.store?.archived(id)
      if (r?.meta.machine.startsWith('job:'))
        throw new JobError(
          'BAD_STATE',
          `cannot ${action} job "${id}": it is ${(r.summary as any)?.status} and archived (finished jobs take no action)`,
          409,
        )
      throw new JobError('UNKNOWN_JOB', `no job "${id}"`, 404)
    }
    const allowed: Record<string, JobStatus[]> = {
      pause: ['PENDING', 'RUNNING'],
      resume: ['PAUSED'],
      stop: ['PENDING', 'RUNNING', 'PAUSED', 'FAILED'],
      retry: ['FAILED'],
    }
    if (!allowed[action].includes(e.status)) {
      throw new JobError(
        'BAD_STATE',
        `cannot ${action} job "${id}": it is ${e.status} (${action} needs ${allowed[action].join(' or ')})`,
        409,
      )
    }
    await this.system.sendCommitted(id, jobEvents[action]())
    return this.jobs.get(id)!.status
  }

  /** Pauses or resumes a named queue (durable). */
  async setQueuePaused(name: string, paused: boolean): Promise<void> {
    const path = `jobqueue-${name}`
    if (!this.system.hosted(path)) await this.system.spawn(path, 'jobQueue', { input: { name }, durable: true })
    await this.system.sendCommitted(path, { type: paused ? 'queue.pause' : 'queue.resume' })
    if (paused) this.paused.add(name)
    else {
      this.paused.delete(name)
      this.pump()
    }
  }

  isPaused(name: string): boolean {
    return this.paused.has(name)
  }

  /**
   * A live job's index row; none for a job whose submission is not yet journaled (it may never
   * exist) or that is archived (see `find`).
   */
  entry(id: string): JobEntry | undefined {
    const e = this.jobs.get(id)
    const a = e && this.system.hosted(id)
    return a && a.status !== 'starting' ? e : undefined
  }

  /** A live job's public view (`GET /api/jobs/:id`); see `find` for archived jobs too. */
  view(id: string): Record<string, unknown> | undefined {
    const e = this.entry(id)
    const a = this.system.hosted(id)
    if (!e || !a) return undefined
    const ctx = a.actor?.getSnapshot()?.context as JobContext | undefined
    const out: Record<string, unknown> = {
      id,
      type: e.type,
      status: e.status,
      priority: e.priority,
      tenant: e.tenant,
      queue: e.queue,
      attempts: ctx?.attempts ?? 0,
      deliveries: ctx?.deliveries ?? 0,
      input: ctx?.input ?? null,
    }
    if (e.key !== undefined) out.key = e.key
    if (e.runAt) out.runAt = e.runAt
    if (ctx?.submittedAt) out.submittedAt = ctx.submittedAt
    if (e.finishedAt !== undefined) out.finishedAt = e.finishedAt
    return outcome(e, a, ctx, out)
  }

  /**
   * The job's public view, live or archived (then with `archived: true`); undefined when there is
   * no such job. A job is archived only once its archive record is committed, so one of the two
   * always answers for it.
   */
  async find(id: string): Promise<Record<string, unknown> | undefined> {
    const live = this.view(id)
    if (live) return live
    const r = await this.system.store?.archived(id)
    return r?.meta.machine.startsWith('job:') ? archivedView(r) : undefined
  }

  // ---- retention (RetiringQueue) ---------------------------------------------------------------

  archiveOf(e: JobEntry): { summary: unknown; name?: string } {
    // What the job's input (in the archive's meta) and the record's finishedAt do not say:
    // archivedView joins them. The view's other fields, built without the view (one per job).
    const a = this.system.hosted(e.id)
    const ctx = a?.actor?.getSnapshot()?.context as JobContext | undefined
    const head = { status: e.status, attempts: ctx?.attempts ?? 0, deliveries: ctx?.deliveries ?? 0 }
    const summary = a ? outcome(e, a, ctx, head) : { status: e.status }
    return e.key === undefined ? { summary } : { summary, name: `${e.tenant}\u0000${e.key}` }
  }

  forget(e: JobEntry): void {
    this.hasArchive = true
    this.jobs.delete(e.id)
    if (e.key !== undefined) {
      const kk = `${e.tenant}\u0000${e.key}`
      if (this.byKey.get(kk) === e.id) this.byKey.delete(kk)
    }
  }

  /** Queue depth by priority and tenant, running, dead (`GET /api/queues`). */
  summary(tenant?: string): Record<string, unknown> {
    const queues: Record<string, any> = {}
    const q = (name: string) =>
      (queues[name] ??= {
        name,
        paused: this.paused.has(name),
        depth: 0,
        delayed: 0,
        byPriority: {},
        byTenant: {},
        running: 0,
        dead: 0,
        completed: 0,
        stopped: 0,
        paused_jobs: 0,
      })
    for (const name of this.paused) q(name)
    q('default')
    for (const e of this.jobs.values()) {
      if (tenant !== undefined && e.tenant !== tenant) continue
      const s = q(e.queue)
      if (e.status === 'PENDING') {
        if (e.runAt > this.clock.now()) s.delayed++
        else {
          s.depth++
          s.byPriority[e.priority] = (s.byPriority[e.priority] ?? 0) + 1
          s.byTenant[e.tenant] = (s.byTenant[e.tenant] ?? 0) + 1
        }
      } else if (e.status === 'RUNNING') s.running++
      else if (e.status === 'FAILED') s.dead++
      else if (e.status === 'COMPLETED') s.completed++
      else if (e.status === 'STOPPED') s.stopped++
      else if (e.status === 'PAUSED') s.paused_jobs++
    }
    return {
      queues: Object.values(queues),
      workers: [...this.workers.values()].map(({ w, held, alive }) => ({
        id: w.id,
        capacity: w.capacity,
        held,
        alive,
      })),
    }
  }

  countByStatus(): Record<JobStatus, number> {
    const out: Record<string, number> = { PENDING: 0, RUNNING: 0, PAUSED: 0, COMPLETED: 0, FAILED: 0, STOPPED: 0 }
    for (const e of this.jobs.values()) out[e.status]++
    return out as Record<JobStatus, number>
  }

  // ---- workers and leases ----------------------------------------------------------------------

  addWorker(w: JobWorker): void {
    this.workers.set(w.id, { w, held: 0, alive: true })
    const waiting = this.noWorker
    this.noWorker = []
    for (const f of waiting) f()
    this.pump()
  }

  /** Stops leasing to a worker. Its leases are left to run out (a dead worker does not say goodbye). */
  removeWorker(id: string): void {
    const r = this.workers.get(id)
    if (r) r.alive = false
  }

  /** Extends every lease `worker` holds (its heartbeat). */
  heartbeat(worker: string): void {
    const until = this.clock.now() + this.visibilityMs
    for (const l of this.leases.values()) if (l.worker === worker) l.until = until
  }

  /** Extends one job's lease (a remote worker's in-progress ack). */
  heartbeatJob(jobId: string): void {
    const l = this.leases.get(jobId)
    if (l) l.until = this.clock.now() + this.visibilityMs
  }

  dispatch(task: StepTask, attempt: StepAttempt): Promise<unknown> {
    let l = this.leases.get(task.jobId)
    if (!l) {
      // A job that was running when the process stopped: its recovered effect needs a worker,
      // and may come before any is attached (the NATS bridge connects after the queue starts).
      const r = this.pickWorker(true)
      if (!r) {
        return new Promise((resolve, reject) => {
          const retry = () => this.dispatch(task, attempt).then(resolve, reject)
          this.noWorker.push(retry)
          attempt.onAbort(() => {
            this.noWorker = this.noWorker.filter((f) => f !== retry)
            reject(new Error('aborted'))
          })
        })
      }
      // during recovery (before start) the job may not be indexed yet
      const e = this.jobs.get(task.jobId) ?? this.indexHosted(task.jobId)
      if (!e) return Promise.reject(new Error(`no job "${task.jobId}" in this queue's system`))
      l = this.lease(e, r.w.id)
    }
    const r = this.workers.get(l.worker)
    if (!r) return Promise.reject(new Error(`worker "${l.worker}" is gone`))
    const t0 = this.clock.now()
    const settled = this.stepObserver?.(task, attempt)
    const p = r.w.execute(task, attempt)
    p.then(
      () => {
        this.observe(this.clock.now() - t0)
        settled?.()
      },
      (err) => {
        this.observe(this.clock.now() - t0)
        settled?.(err)
      },
    )
    return p
  }

  private observe(ms: number): void {
    const h = this.stepLatency
    let i = 0
    while (i < h.buckets.length && ms > h.buckets[i]) i++
    h.counts[i]++
    h.sum += ms
    h.count++
  }

  private pickWorker(ignoreCapacity = false) {
    let best: { w: JobWorker; held: number; alive: boolean } | undefined
    for (const r of this.workers.values()) {
      if (!r.alive) continue
      if (!ignoreCapacity && r.held >= r.w.capacity) continue
      if (!best || r.w.capacity - r.held > best.w.capacity - best.held) best = r
    }
    return best
  }

  private lease(e: JobEntry, worker: string): Lease {
    const l = { jobId: e.id, worker, until: this.clock.now() + this.visibilityMs }
    this.leases.set(e.id, l)
    const r = this.workers.get(worker)
    if (r) r.held++
    this.runningByTenant.set(e.tenant, (this.runningByTenant.get(e.tenant) ?? 0) + 1)
    e.worker = worker
    this.stats.deliveries++
    return l
  }

  private release(e: JobEntry): void {
    const l = this.leases.get(e.id)
    if (!l) return
    this.leases.delete(e.id)
    const r = this.workers.get(l.worker)
    if (r) r.held--
    this.runningByTenant.set(e.tenant, (this.runningByTenant.get(e.tenant) ?? 1) - 1)
    e.worker = undefined
  }

  private tenantLimit(t: string): number {
    return this.opts.tenants?.[t]?.concurrency ?? this.opts.defaultTenantConcurrency ?? Infinity
  }

  /** Leases ready jobs to workers with free slots, best first. */
  pump(): void {
    if (this.pumping || this.closed) return
    this.pumping = true
    try {
      while (this.ready.size > 0) {
        const r = this.pickWorker()
        if (!r) break
        const e = this.takeNext()
        if (!e) break
        this.lease(e, r.w.id)
        try {
          this.system.send(e.id, jobEvents.start(r.w.id))
        } catch {
          this.release(e)
        }
      }
    } finally {
      this.pumping = false
    }
  }

  private takeNext(): JobEntry | undefined {
    return this.ready.take(
      (e) => !this.paused.has(e.queue) && (this.runningByTenant.get(e.tenant) ?? 0) < this.tenantLimit(e.tenant),
    )
  }

  private enqueue(e: JobEntry): void {
    if (e.queued) return
    if (e.runAt > this.clock.now()) {
      this.delayed.push(e)
      this.armDelay()
      return
    }
    this.ready.add(e)
  }

  private dequeue(e: JobEntry): void {
    this.ready.remove(e)
  }

  private armDelay(): void {
    let min = Infinity
    for (const e of this.delayed) if (e.runAt < min) min = e.runAt
    if (min >= this.delayDue) return
    if (this.delayTimer !== undefined) this.clock.clearTimeout(this.delayTimer)
    this.delayDue = min
    this.delayTimer = this.clock.setTimeout(
      () => {
        this.delayTimer = undefined
        this.delayDue = Infinity
        const now = this.clock.now()
        const due = this.delayed.filter((e) => e.runAt <= now).sort((a, b) => a.runAt - b.runAt || a.order - b.order)
        this.delayed = this.delayed.filter((e) => e.runAt > now)
        for (const e of due) if (e.status === 'PENDING') this.enqueue(e)
        if (this.delayed.length) this.armDelay()
        this.pump()
      },
      Math.min(min - this.clock.now(), 3_600_000),
    ) // timers overflow past 2^31 ms; far runAts re-arm hourly
  }

  private armSweep(): void {
    if (this.closed) return
    const every = Math.max(50, Math.min(1000, this.visibilityMs / 4))
    this.sweepTimer = this.clock.setTimeout(() => {
      this.sweep()
      this.armSweep()
    }, every)
  }

  /** Expires leases that ran out: the job goes back to the queue (journaled). */
  sweep(): void {
    const now = this.clock.now()
    for (const l of [...this.leases.values()]) {
      if (l.until > now) continue
      const e = this.jobs.get(l.jobId)
      if (!e) {
        this.leases.delete(l.jobId)
        continue
      }
      this.stats.leaseExpired++
      this.release(e)
      try {
        this.system.send(e.id, jobEvents.leaseExpired())
      } catch {
        // the actor finished meanwhile
      }
    }
  }

  // ---- the actors' side ------------------------------------------------------------------------

  notify(status: JobStatus, ctx: JobContext, path: string): void {
    this.apply(this.jobs.get(path) ?? this.index(ctx), status)
  }

  /** Indexes the job actor at `path` from its current context (undefined if there is none). */
  private indexHosted(path: string): JobEntry | undefined {
    const ctx = this.system.hosted(path)?.actor?.getSnapshot()?.context as JobContext | undefined
    return ctx ? this.index(ctx) : undefined
  }

  private apply(e: JobEntry, status: JobStatus): void {
    const was = e.status
    e.status = status
    if (status === 'PENDING') {
      if (e.leasedAtSubmit) return
      if (this.leases.has(e.id)) this.release(e)
      this.enqueue(e)
      this.pump()
    } else if (status === 'RUNNING') {
      e.leasedAtSubmit = false
      this.dequeue(e)
    } else {
      this.dequeue(e)
      if (this.leases.has(e.id)) this.release(e)
      if (status === 'COMPLETED') this.stats.completed++
      else if (status === 'FAILED') this.stats.failed++
      if ((status === 'COMPLETED' || status === 'STOPPED') && was !== status) {
        e.finishedAt ??= this.clock.now()
        this.retirement?.add(e)
      }
      this.pump()
    }
    if (this.listeners.size && (was !== status || status === 'PENDING')) {
      const c: JobChange = { id: e.id, status, type: e.type, tenant: e.tenant, at: this.clock.now() }
      for (const l of this.listeners) l(c)
    }
  }

  private entryFrom(ctx: JobContext): JobEntry {
    const e: JobEntry = {
      id: ctx.id,
      type: ctx.type,
      priority: ctx.priority,
      tenant: ctx.tenant,
      queue: ctx.queue,
      runAt: ctx.runAt,
      status: 'PENDING',
      order: ctx.order,
      queued: false,
    }
    if (ctx.key !== undefined) e.key = ctx.key
    return e
  }
}

/** A job view's outcome fields (output, error, worker), added to `out`: the live view's and the archive summary's. */
function outcome(
  e: JobEntry,
  a: { status: string; error?: string },
  ctx: JobContext | undefined,
  out: Record<string, unknown>,
): Record<string, unknown> {
  if (e.status === 'COMPLETED') out.output = ctx?.output ?? null
  if (ctx?.error) out.error = ctx.error
  else if (ctx?.lastError) out.lastError = ctx.lastError
  if (e.worker) out.worker = e.worker
  if (a.status === 'failed')
    out.error = { message: `the job's actor failed: ${a.error}`, state: 'actor', attempts: ctx?.attempts ?? 0 }
  return out
}
