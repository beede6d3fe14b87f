/**
 * The step runner: the runtime side of the job machine's `runStep` and `cancelStep` actions
 * (machines/job.ts). `runStep` starts one attempt of a step; its result goes back to the job as
 * `xstate.done.actor.<step>` (or `xstate.error.actor.<step>` with a plain error), the events an
 * invoked child would send, so the journal reads the same. `cancelStep` (pause, stop, timeout,
 * lost lease, a restore) aborts the attempt in flight, whose late result is then dropped.
 */
import type { AnyActorRef } from 'xstate'
import { stepKey } from '../../actors/effect.ts'
import { type JobContext, type StepParams, type StepRunInput, stepTask } from '../../machines/job.ts'

/** One step attempt as workers get it: the job's part and the step's idempotency key. */
export interface StepTask extends StepRunInput {
  /** `stepKey(jobId, step)` (actors/effect.ts): the same on every attempt and after a crash. */
  idempotencyKey: string
}

/** Errors cross the journal as plain JSON: an Error instance would serialize to `{}`. */
export function plainStepError(err: unknown): { message: string; code?: string } {
  const e = typeof err === 'object' && err !== null ? (err as { message?: unknown; code?: unknown }) : undefined
  const message = typeof e?.message === 'string' ? e.message : typeof err === 'string' ? err : 'step failed'
  return e?.code ? { message, code: String(e.code) } : { message }
}

/**
 * One step attempt's cancellation. `aborted` is a plain flag; the AbortSignal is made only when
 * something asks for it (most steps never do, and an AbortController per attempt is measurable).
 */
export class StepAttempt {
  aborted = false
  /** The W3C trace context of this attempt's span, when tracing is on (runtime/tracing/jobSpans.ts). */
  traceparent: string | undefined = undefined
  private ac: AbortController | undefined = undefined
  private fns: Array<() => void> | undefined = undefined
  /** Calls `fn` when the attempt is cancelled (at once if it is already). */
  onAbort(fn: () => void): void {
    if (this.aborted) fn()
    else (this.fns ??= []).push(fn)
  }
  get signal(): AbortSignal {
    if (!this.ac) {
      this.ac = new AbortController()
      if (this.aborted) this.ac.abort()
    }
    return this.ac.signal
  }
  abort(): void {
    if (this.aborted) return
    this.aborted = true
    this.ac?.abort()
    const fns = this.fns
    this.fns = undefined
    if (fns) for (const f of fns) f()
  }
}

/** Runs one attempt of a step; `self` is the job actor that asked (to find its host). */
export type RunStep = (task: StepTask, attempt: StepAttempt, self: AnyActorRef) => Promise<unknown>

/**
 * The `runStep` and `cancelStep` action implementations for a step runner: `run` starts one
 * attempt; its result goes back to the job through `self.send`, unless the step was cancelled
 * meanwhile (paused, stopped, timed out, lease lost): `run` gets the attempt, whose `signal`
 * aborts then. Each runner keeps the attempt in flight of each job actor it runs (a job runs one
 * step at a time), keyed by the actor, so runners of different machines or systems share nothing.
 *
 * @example
 * createJobMachine(spec).provide({ actions: stepRunner(async (task) => steps[task.step](task.input)) })
 */
export function stepRunner(run: RunStep) {
  const inFlight = new WeakMap<AnyActorRef, StepAttempt>()
  return {
    runStep: ({ context, self }: { context: JobContext; self: AnyActorRef }, p: StepParams) => {
      const ac = new StepAttempt()
      inFlight.get(self)?.abort()
      inFlight.set(self, ac)
      let out: Promise<unknown>
      try {
        const task = stepTask(context, p) as StepTask
        task.idempotencyKey = stepKey(context.id, p.name)
        out = run(task, ac, self)
      } catch (err) {
        out = Promise.reject(err)
      }
      const settle = (event: { type: string; output?: unknown; error?: unknown }) => {
        if (ac.aborted) return
        if (inFlight.get(self) === ac) inFlight.delete(self)
        self.send(event)
      }
      out.then(
        (output) => settle({ type: `xstate.done.actor.${p.name}`, output: output === undefined ? null : output }),
        (err) => settle({ type: `xstate.error.actor.${p.name}`, error: plainStepError(err) }),
      )
    },
    cancelStep: ({ self }: { self: AnyActorRef }, _p: StepParams) => {
      const ac = inFlight.get(self)
      if (!ac) return
      inFlight.delete(self)
      ac.abort()
    },
  }
}
