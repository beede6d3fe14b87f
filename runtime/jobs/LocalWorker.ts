/**
 * The in-process worker: runs the steps of the jobs the queue leases to it by calling the job
 * type's step functions, and heart-beats all its leases while it lives (one timer, not one per job).
 * `kill()` makes it behave like a process that died: no more heartbeats, its steps never answer,
 * so its leases run out and the jobs go to other workers.
 */
import type { StepAttempt, StepTask } from './stepRunner.ts'
import type { JobQueue, JobWorker } from './JobQueue.ts'

/** Step attempts the in-process worker runs at once unless told otherwise (the hub's default too). */
export const DEFAULT_LOCAL_CONCURRENCY = 1024

export interface LocalWorkerOptions {
  id?: string
  /** Leases held at once (default `DEFAULT_LOCAL_CONCURRENCY`). */
  concurrency?: number
}

export class LocalWorker implements JobWorker {
  readonly id: string
  readonly capacity: number
  private timer: unknown
  private dead = false
  active = 0

  constructor(
    private queue: JobQueue,
    opts: LocalWorkerOptions = {},
  ) {
    this.id = opts.id ?? 'local'
    this.capacity = opts.concurrency ?? DEFAULT_LOCAL_CONCURRENCY
    queue.addWorker(this)
    this.beat()
  }

  private beat(): void {
    if (this.dead) return
    this.queue.heartbeat(this.id)
    this.timer = this.queue.clock.setTimeout(() => this.beat(), Math.max(10, this.queue.visibilityMs / 3))
  }

  async execute(task: StepTask, attempt: StepAttempt): Promise<unknown> {
    if (this.dead) return new Promise(() => {})
    const type = this.queue.types.get(task.type)
    const fn = type?.steps.get(task.step)
    if (!fn) throw new Error(`job type "${task.type}" has no step "${task.step}" in this process`)
    this.active++
    try {
      const out = await fn({
        key: task.idempotencyKey,
        jobId: task.jobId,
        step: task.step,
        attempt: task.attempt,
        input: task.input,
        results: task.results,
        tenant: task.tenant,
        get signal() {
          return attempt.signal
        },
      })
      if (this.dead) return new Promise(() => {})
      return out === undefined ? null : out
    } finally {
      this.active--
    }
  }

  /** Simulates a crash of this worker (tests): stops heart-beating and answering. */
  kill(): void {
    this.dead = true
    if (this.timer !== undefined) this.queue.clock.clearTimeout(this.timer)
    this.queue.removeWorker(this.id)
  }

  /** Stops cleanly: no more leases; the ones held run out unless finished. */
  close(): void {
    this.kill()
  }
}
