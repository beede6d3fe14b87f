/**
 * What the inspector's Jobs panel knows, without the DOM: the hub's jobs JSON (`GET /api/queues`,
 * `GET /api/jobs?status=...`, the same the `/jobs` page reads) turned into one state the view
 * draws, which operator buttons a token allows, and a coalescer so that a burst of
 * `/api/jobs/events` messages costs one refresh per interval, never two at once.
 */

/** One queue as `GET /api/queues` reports it (runtime/jobs/JobQueue.ts `summary()`). */
export interface QueueSummary {
  name: string
  paused: boolean
  /** Ready to run now. */
  depth: number
  delayed: number
  /** Ready jobs by priority (20 runs first) and by tenant. */
  byPriority: Record<string, number>
  byTenant: Record<string, number>
  running: number
  dead: number
  completed: number
  stopped: number
  paused_jobs: number
}

/** A worker the queue leases to: in-process (`local`) or a NATS worker; `held` of `capacity` slots busy. */
export interface WorkerSummary {
  id: string
  capacity: number
  held: number
  alive: boolean
}

/** A job as `GET /api/jobs` lists it (runtime/jobs/JobQueue.ts `view()`). */
export interface JobRow {
  id: string
  type: string
  status: string
  priority: number
  tenant: string
  queue: string
  attempts: number
  worker?: string
  /** A dead letter's last error and the state it failed in. */
  error?: { message: string; state: string; attempts?: number }
  lastError?: string
}

/** An HTTP answer as the panel saw it; `status` 0 = the request did not reach the hub. */
export interface Reply {
  status: number
  body: unknown
}

/** What the panel shows: loading, one of three plain reasons it cannot, or the queues and lists. */
export type JobsState =
  | { kind: 'loading' }
  /** The hub serves no jobs API (GET /api/queues is 404): the feature is not installed. */
  | { kind: 'absent'; message: string }
  /** Reads need a token here (the hub has tenants configured) and this one was refused. */
  | { kind: 'denied'; message: string }
  | { kind: 'error'; message: string }
  | {
      kind: 'ok'
      queues: QueueSummary[]
      workers: WorkerSummary[]
      running: JobRow[]
      dead: JobRow[]
      /** More rows exist than were fetched. */
      more: { running: boolean; dead: boolean }
      at: number
    }

/** Running jobs and dead letters fetched per refresh at most. */
export const LIST_LIMIT = 200

/** The three reads one refresh makes, relative to the page's origin. */
export const JOBS_URLS = {
  queues: '/api/queues',
  running: `/api/jobs?status=RUNNING&limit=${LIST_LIMIT}`,
  dead: `/api/jobs?status=FAILED&limit=${LIST_LIMIT}`,
} as const

/** `409 BAD_STATE: cannot retry job "x": it is RUNNING ...`: the hub's own words, with its status. */
export function replyError(r: Reply): string {
  if (r.status === 0) return `the hub did not answer${typeof r.body === 'string' && r.body ? ` (${r.body})` : ''}`
  const b = r.body as { error?: unknown; message?: unknown } | null
  const code = b && typeof b.error === 'string' ? ` ${b.error}` : ''
  const msg =
    b && typeof b.message === 'string' ? b.message : typeof r.body === 'string' && r.body ? r.body : 'no message'
  return `${r.status}${code}: ${msg}`
}

const ok = (r: Reply) => r.status >= 200 && r.status < 300

/** The panel's state from one refresh's three replies (queues decides whether there is a jobs API at all). */
export function jobsStateFrom(queues: Reply, running: Reply, dead: Reply, at: number): JobsState {
  if (queues.status === 404) {
    return {
      kind: 'absent',
      message:
        'This hub has no jobs feature (GET /api/queues is 404): there are no queues to show. `aether hub` installs it; a hub started with other features only does not.',
    }
  }
  if (queues.status === 401 || queues.status === 403) {
    return {
      kind: 'denied',
      message: `This hub's jobs API needs a token to read (it has tenants configured): ${replyError(queues)}. Set one with “Token” (top right).`,
    }
  }
  if (!ok(queues)) return { kind: 'error', message: `GET /api/queues failed: ${replyError(queues)}` }
  for (const [name, r] of [
    ['running jobs', running],
    ['dead letters', dead],
  ] as const) {
    if (!ok(r)) return { kind: 'error', message: `GET /api/jobs (${name}) failed: ${replyError(r)}` }
  }
  const q = queues.body as { queues?: QueueSummary[]; workers?: WorkerSummary[] } | null
  const rj = running.body as { jobs?: JobRow[]; next?: string | null } | null
  const dj = dead.body as { jobs?: JobRow[]; next?: string | null } | null
  if (!Array.isArray(q?.queues))
    return { kind: 'error', message: 'GET /api/queues answered without a "queues" list: is this an Aether hub?' }
  return {
    kind: 'ok',
    queues: [...q!.queues].sort((a, b) =>
      a.name === 'default' ? -1 : b.name === 'default' ? 1 : a.name < b.name ? -1 : 1,
    ),
    workers: Array.isArray(q!.workers) ? q!.workers : [],
    running: Array.isArray(rj?.jobs) ? rj!.jobs : [],
    dead: Array.isArray(dj?.jobs) ? dj!.jobs : [],
    more: { running: !!rj?.next, dead: !!dj?.next },
    at,
  }
}

/** `[['20', 2], ['5', 3]]`: priorities highest (first to run) first. */
export function byPriority(counts: Record<string, number>): Array<[string, number]> {
  return Object.entries(counts)
    .filter(([, n]) => n > 0)
    .sort((a, b) => Number(b[0]) - Number(a[0]))
}

/** Tenants with the most ready jobs first, then by name. */
export function byTenant(counts: Record<string, number>): Array<[string, number]> {
  return Object.entries(counts)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
}

/** What the feed's `hello` said of the inspector's token (`unknown` while it is being checked). */
export type Access = 'operator' | 'read-only' | 'unknown'

/** Whether an operator button may be pressed, and if not (or only maybe), why. */
export interface Gate {
  enabled: boolean
  why: string
}

/**
 * What the inspector's token allows in the panel. Retrying a job takes the hub token or that
 * job's tenant token (which the feed reports as `read-only`, so such a token is let through with
 * a note and the hub decides); pausing a queue takes the hub token only.
 */
export function gate(action: 'retry' | 'queue', token: string, access: Access): Gate {
  if (!token)
    return {
      enabled: false,
      why: `Read-only: no token. Set it with “Token” (top right) to ${action === 'retry' ? 'retry dead letters' : 'pause or resume queues'}.`,
    }
  if (access === 'read-only') {
    return action === 'retry'
      ? {
          enabled: true,
          why: 'The hub did not accept this token as its own: only a tenant token for this job’s tenant can retry it.',
        }
      : { enabled: false, why: 'Pausing a queue needs the hub token; the hub did not accept this one.' }
  }
  return { enabled: true, why: '' }
}

/** Timers as the coalescer needs them (the browser's, or a test's simulated ones). */
export interface CoalesceTimers {
  now(): number
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

const realTimers: CoalesceTimers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
}

/**
 * Runs `fn` after `poke()`s, at most once per `gapMs` (start to start) and never twice at once:
 * pokes during a run make one more run after it. The first poke after a quiet gap runs at once.
 */
export class Coalescer {
  private timer: unknown
  private running = false
  private again = false
  private last = -Infinity
  /** Runs started (for the tests). */
  runs = 0

  constructor(
    private fn: () => Promise<void> | void,
    readonly gapMs: number,
    private timers: CoalesceTimers = realTimers,
  ) {}

  poke(): void {
    if (this.running) {
      this.again = true
      return
    }
    if (this.timer !== undefined) return
    const wait = Math.max(0, this.last + this.gapMs - this.timers.now())
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined
      void this.run()
    }, wait)
  }

  /** Cancels a pending run (a run in progress finishes; nothing follows it). */
  cancel(): void {
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer)
    this.timer = undefined
    this.again = false
  }

  private async run(): Promise<void> {
    this.running = true
    this.again = false
    this.last = this.timers.now()
    this.runs++
    try {
      await this.fn()
    } catch {
      // the panel shows its own errors; a failed refresh must not stop the next one
    } finally {
      this.running = false
      if (this.again) this.poke()
    }
  }
}
