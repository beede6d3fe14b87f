/**
 * Retirement of finished jobs, so that what a hub loads at start does not grow with the jobs it
 * has run. A job that finished (COMPLETED or STOPPED: its actor is done) stays live, listed and
 * counted, until it is older than `maxAgeMs` or more than `maxCount` finished jobs are live; then
 * it is archived (`ActorSystem.archive`): one journal op writes its archive record (the job's view,
 * indexed by finish time and by its tenant and key) and takes its actor out of the live set.
 * Recovery reads nothing of an archived job; `GET /api/jobs/<id>`, its log and its history still
 * answer for it (marked archived), and a resubmission of its key still answers its id.
 *
 * Dead letters (FAILED) are not retired: they wait for an operator (retry, or stop, after which
 * the job is STOPPED and retires like any finished job).
 *
 * Crash safety: the op is one atomic batch; the job leaves the queue's index only once it is
 * committed, so at every point a job is live or archived, never both and never neither.
 */
import type { ActorSystem, ArchiveRecord, ArchiveRequest, Clock } from '../../actors/index.ts'
import { type JobInput, Priority } from '../../machines/job.ts'

export interface RetentionOptions {
  /** A finished job is archived this long after it finished (default 1 hour). */
  maxAgeMs?: number
  /** At most this many finished jobs stay live; the oldest beyond it are archived (default 1000). */
  maxCount?: number
  /** How often the age check runs (default 10 s); the count is checked whenever a job finishes. */
  everyMs?: number
  /** Jobs being archived at once, at most (default 512); ops appended in one tick share a group commit. */
  batch?: number
}

export const DEFAULT_RETENTION: Required<RetentionOptions> = {
  maxAgeMs: 3_600_000,
  maxCount: 1000,
  everyMs: 10_000,
  batch: 512,
}

/**
 * Retention with the `jobs-retain-age` and `jobs-retain-count` settings (undefined: not set) over
 * `base` (the jobs configuration file's): a setting wins over the file.
 */
export function retentionWith(
  base: RetentionOptions | false | undefined,
  maxAgeMs: number | undefined,
  maxCount: number | undefined,
): RetentionOptions | false | undefined {
  if (maxAgeMs === undefined && maxCount === undefined) return base
  const out: RetentionOptions = { ...(base || {}) }
  if (maxAgeMs !== undefined) out.maxAgeMs = maxAgeMs
  if (maxCount !== undefined) out.maxCount = maxCount
  return out
}

/** A finished job as retirement sees it (a row of the queue's index). */
export interface FinishedJob {
  id: string
  finishedAt?: number
}

/** What retirement needs from the queue. */
export interface RetiringQueue<E extends FinishedJob> {
  readonly system: ActorSystem
  readonly clock: Clock
  /** The archive record's content for the job: its view without the input, and its lookup name. */
  archiveOf(e: E): { summary: unknown; name?: string }
  /** The job is archived: drop it from the index. */
  forget(e: E): void
}

/** The public view of an archived job, as `GET /api/jobs/<id>` answers it. */
export function archivedView(r: ArchiveRecord): Record<string, unknown> {
  const job = (r.meta.input ?? {}) as Partial<JobInput>
  const { status, attempts, deliveries, ...rest } = r.summary as Record<string, unknown>
  const out: Record<string, unknown> = {
    id: job.id ?? r.meta.path,
    type: job.type ?? r.meta.machine.replace(/^job:/, ''),
    status,
    priority: job.priority ?? Priority.NORMAL,
    tenant: job.tenant ?? 'default',
    queue: job.queue ?? 'default',
    attempts,
    deliveries,
    input: job.input ?? null,
  }
  if (job.key !== undefined) out.key = job.key
  if (job.runAt) out.runAt = job.runAt
  if (job.submittedAt) out.submittedAt = job.submittedAt
  // (records archived before issue 17 repeat it in the summary, as `rest`)
  out.finishedAt = r.finishedAt
  return { ...out, ...rest, archived: true, archivedAt: r.archivedAt }
}

export class Retirement<E extends FinishedJob> {
  readonly opts: Required<RetentionOptions>
  /** Jobs archived since start. */
  archived = 0
  /** Live finished jobs, oldest finish first, from `head`. */
  private finished: E[] = []
  private head = 0
  private kicked = false
  /** Jobs that finish while the system recovers are archived once the queue has started. */
  private started = false
  private timer: unknown
  private closed = false

  constructor(
    private q: RetiringQueue<E>,
    opts: RetentionOptions = {},
  ) {
    this.opts = { ...DEFAULT_RETENTION, ...opts }
    for (const k of ['maxAgeMs', 'maxCount', 'everyMs', 'batch'] as const) {
      const v = this.opts[k]
      if (!(typeof v === 'number' && v >= (k === 'everyMs' || k === 'batch' ? 1 : 0)))
        throw new RangeError(`retention.${k} must be a number >= ${k === 'everyMs' || k === 'batch' ? 1 : 0}, got ${v}`)
    }
  }

  /** Live finished jobs. */
  get live(): number {
    return this.finished.length - this.head
  }

  /** A job finished (its `finishedAt` set). */
  add(e: E): void {
    this.finished.push(e)
    if (this.live > this.opts.maxCount) this.kick()
  }

  /** Orders the jobs recovered at start by finish time and starts the age check. */
  start(): void {
    this.started = true
    this.finished.sort((a, b) => a.finishedAt! - b.finishedAt!)
    this.arm()
    this.kick()
  }

  close(): void {
    this.closed = true
    if (this.timer !== undefined) this.q.clock.clearTimeout(this.timer)
  }

  /**
   * Archives every job past retention; resolves when none is left (or a write failed: the next
   * age check tries again).
   */
  async run(): Promise<void> {
    for (;;) {
      this.round()
      if (!this.rounds.size || this.failed) return
      await Promise.all([...this.rounds])
    }
  }

  /** Rounds whose archive ops are being written. */
  private rounds = new Set<Promise<void>>()
  /** Jobs in those rounds. */
  private inflight = 0
  /** The last round had a failed write. */
  private failed = false

  /**
   * Starts archiving what is due now, up to `batch` jobs in flight. Not waiting for the rounds
   * before it; when one ends, the next starts. A job archived before its final checkpoint is due
   * (ActorSystem.finished) is never checkpointed: the archive record supersedes it.
   */
  private round(): void {
    if (this.closed || !this.started || this.inflight >= this.opts.batch) return
    const due = this.take(this.opts.batch - this.inflight)
    if (!due.length) return
    this.failed = false
    this.inflight += due.length
    // One archive op per finished job, appended together: they share a group commit and a sink.
    const jobs: E[] = []
    const items: ArchiveRequest[] = []
    for (const e of due) {
      // not a finished actor (failed, or gone): nothing to archive
      if (this.q.system.hosted(e.id)?.status !== 'done') continue
      const { summary, name } = this.q.archiveOf(e)
      jobs.push(e)
      items.push(
        name === undefined
          ? { path: e.id, finishedAt: e.finishedAt!, summary }
          : { path: e.id, finishedAt: e.finishedAt!, summary, name },
      )
    }
    const p: Promise<void> = this.q.system.archiveAll(items).then((errs) => {
      this.inflight -= due.length
      this.rounds.delete(p)
      let failed = false
      for (let i = 0; i < jobs.length; i++) {
        const e = jobs[i]
        const err = errs[i]
        if (err === undefined) {
          this.archived++
          this.q.forget(e)
          continue
        }
        // It stays live (the op did not commit); the next round tries again.
        failed = true
        this.finished.push(e)
        this.q.system.incident({
          at: this.q.clock.now(),
          class: 'storage',
          path: e.id,
          message: `archiving finished job failed: ${err.message}`,
        })
      }
      if (failed) this.failed = true
      else this.round()
    })
    this.rounds.add(p)
  }

  /** Runs once the current tick is over (a job finishing is still inside its transition). */
  private kick(): void {
    if (this.kicked || this.closed || !this.started) return
    this.kicked = true
    queueMicrotask(() => {
      this.kicked = false
      this.round()
    })
  }

  private arm(): void {
    if (this.closed) return
    this.timer = this.q.clock.setTimeout(() => {
      this.timer = undefined
      this.failed = false
      this.round()
      this.arm()
    }, this.opts.everyMs)
  }

  /** Up to `max` jobs past retention: beyond the count, or finished before the age cutoff. */
  private take(max: number): E[] {
    const { maxAgeMs, maxCount } = this.opts
    const cutoff = this.q.clock.now() - maxAgeMs
    const out: E[] = []
    while (out.length < max && this.head < this.finished.length) {
      const e = this.finished[this.head]
      if (this.live <= maxCount && e.finishedAt! > cutoff) break
      this.finished[this.head++] = undefined as unknown as E
      out.push(e)
    }
    if (this.head > 1024 && this.head * 2 > this.finished.length) {
      this.finished = this.finished.slice(this.head)
      this.head = 0
    }
    return out
  }
}
