/**
 * Spans of jobs, from the queue's observers: one span per job (from its first status change in
 * this process to COMPLETED, FAILED or STOPPED) and one per step attempt, its child (from the
 * dispatch to a worker until the result). The step's `traceparent` rides on the attempt to the
 * worker that runs it: the NATS bridge puts it in the JetStream message's headers, and an
 * `aether worker` makes its own span of the step the child of it.
 *
 * A job recovered after a restart starts a new trace (spans are not journaled, by design).
 */
import type { JobChange, JobQueue } from '../jobs/JobQueue.ts'
import type { StepAttempt, StepTask } from '../jobs/stepRunner.ts'
import type { Span, Tracing } from './Tracing.ts'

const FINAL = new Set(['COMPLETED', 'FAILED', 'STOPPED'])

export class JobSpans {
  private jobs = new Map<string, Span>()
  private unlisten: () => void

  constructor(
    private readonly tracing: Tracing,
    private readonly queue: JobQueue,
  ) {
    this.unlisten = queue.listen((c) => this.onChange(c))
    queue.stepObserver = (task, attempt) => this.step(task, attempt)
  }

  private jobSpan(id: string, type: string, tenant: string): Span {
    let s = this.jobs.get(id)
    if (!s) {
      const name = `job ${type}`
      s = this.tracing.span(name, {
        'aether.actor': id,
        'aether.job.id': id,
        'aether.job.type': type,
        'aether.tenant': tenant,
      })
      this.jobs.set(id, s)
      this.tracing.link(id, s, name)
    }
    return s
  }

  private onChange(c: JobChange): void {
    if (FINAL.has(c.status) && !this.jobs.has(c.id)) return // finished before we saw it run
    const s = this.jobSpan(c.id, c.type, c.tenant)
    if (!FINAL.has(c.status)) return
    this.jobs.delete(c.id)
    s.setAttribute('aether.job.status', c.status)
    this.tracing.end(s, c.status === 'FAILED' ? { message: 'failed (dead letter)' } : undefined)
  }

  private step(task: StepTask, attempt: StepAttempt): (error?: unknown) => void {
    const job = this.jobSpan(task.jobId, task.type, task.tenant ?? 'default')
    const span = this.tracing.span(
      `step ${task.type}/${task.step}`,
      {
        'aether.job.id': task.jobId,
        'aether.job.step': task.step,
        'aether.job.attempt': task.attempt,
      },
      job,
    )
    attempt.traceparent = this.tracing.traceparent(span)
    let ended = false
    const end = (error?: unknown) => {
      if (ended) return
      ended = true
      this.tracing.end(span, error)
    }
    attempt.onAbort(() => end({ message: 'aborted' }))
    return end
  }

  close(): void {
    this.unlisten()
    if (this.queue.stepObserver) this.queue.stepObserver = undefined
    for (const s of this.jobs.values()) s.end()
    this.jobs.clear()
  }
}
