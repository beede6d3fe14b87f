/**
 * Job types: a job type is a machine (machines/job.ts); `defineJobType` builds the common case, an
 * ordered list of named async steps each with its own retry policy and timeout, into one. Its
 * step runner and status notifications go to the `jobs.host` service (the JobQueue) of the actor
 * system that hosts the job, which the queue provides before the system recovers.
 *
 * Built-ins: `echo` (output = input) and `sleep` (waits `input.ms`).
 */
import type { AnyStateMachine } from 'xstate'
import { defineService, hostedActorOf, hostPure, serviceOf } from '../../actors/index.ts'
import { createJobMachine, type JobContext, type JobStatus, type RetryPolicy } from '../../machines/job.ts'
import { type StepAttempt, stepRunner, type StepTask } from './stepRunner.ts'

/** What a step function receives. */
export interface StepContext {
  /** `<jobId>/<step>`: pass it to whatever the step changes in the world, so a retry is harmless. */
  key: string
  jobId: string
  step: string
  attempt: number
  input: any
  /** Outputs of the steps before this one, by name. */
  results: Record<string, unknown>
  tenant: string
  signal: AbortSignal
}

export type StepFn = (ctx: StepContext) => Promise<unknown>

export interface StepDef {
  name: string
  run: StepFn
  retry?: Partial<RetryPolicy>
  timeoutMs?: number
}

export interface JobType {
  name: string
  /** Registry name of the machine (`job:<name>`). */
  machineName: string
  machine: AnyStateMachine
  steps: Map<string, StepFn>
}

/** What the runtime side of the job machine talks to (the JobQueue of its actor system). */
export interface JobHost {
  dispatch(task: StepTask, attempt: StepAttempt): Promise<unknown>
  notify(status: JobStatus, context: JobContext, path: string): void
}

/** The job queue of an actor system, for its job actors' effects. */
export const jobHost = defineService<JobHost>('jobs.host')

/** The step runner of a job type: each attempt goes to the queue of the system hosting the job. */
const stepActions = () => stepRunner((task, attempt, self) => serviceOf(self, jobHost).dispatch(task, attempt))

const notifyAction = ({ context, self }: { context: JobContext; self: any }, params: { status: JobStatus }) => {
  serviceOf(self, jobHost).notify(params.status, context, hostedActorOf(self)!.path)
}

/**
 * Builds a job type from ordered, named async steps.
 *
 * @example
 * const ship = defineJobType('ship', [
 *   { name: 'pick', run: async ({ key, input }) => warehouse.pick(input.sku, key), retry: { maxAttempts: 5 } },
 *   { name: 'label', run: async ({ key, results }) => carrier.label(results.pick, key), timeoutMs: 10_000 },
 * ])
 */
export function defineJobType(name: string, steps: StepDef[]): JobType {
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new Error(`job type name "${name}" must match [A-Za-z0-9_.-]+`)
  if (!Array.isArray(steps) || steps.length === 0)
    throw new Error(`job type "${name}" has no steps: give it at least one { name, run }`)
  for (const [i, s] of steps.entries()) {
    if (!s || typeof s.name !== 'string' || typeof s.run !== 'function')
      throw new Error(`job type "${name}": step ${i} needs a name and a run function`)
  }
  const machine = hostPure(
    createJobMachine({ name, steps: steps.map(({ name, retry, timeoutMs }) => ({ name, retry, timeoutMs })) }).provide({
      actions: { ...(stepActions() as any), notify: notifyAction as any },
    }),
    { effects: ['runStep'], cancels: ['cancelStep'] },
  )
  return { name, machineName: `job:${name}`, machine, steps: new Map(steps.map((s) => [s.name, s.run])) }
}

/** `echo`: output = input. */
export const echoJob = defineJobType('echo', [
  { name: 'echo', run: async ({ input }) => input, retry: { maxAttempts: 1 } },
])

/** `sleep`: waits `input.ms` (default 1000), then outputs `{ slept: ms }`. */
export const sleepJob = defineJobType('sleep', [
  {
    name: 'sleep',
    run: ({ input, signal }) =>
      new Promise((resolve, reject) => {
        const ms = Math.min(2_147_483_647, Math.max(0, Number(input?.ms ?? 1000)) || 0)
        const t = setTimeout(() => resolve({ slept: ms }), ms)
        signal.addEventListener('abort', () => {
          clearTimeout(t)
          reject(new Error('aborted'))
        })
      }),
  },
])

export const builtinJobTypes: JobType[] = [echoJob, sleepJob]
