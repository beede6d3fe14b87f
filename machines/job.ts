/**
 * job: one durable job, a workflow of named steps.
 *
 * Driven by the job queue (runtime/jobs): `job.start` when a worker leases it, `job.lease.expired`
 * when that worker stops heart-beating, `job.pause | job.resume | job.stop | job.retry` from
 * operators, and by its own step effects (`xstate.done.actor.<step>`, `xstate.error.actor.<step>`)
 * and durable timers (step timeouts, retry backoff).
 *
 * Promises:
 * - PENDING -> RUNNING -> (PAUSED) -> COMPLETED | FAILED | STOPPED; FAILED is the dead letter
 *   (with the last error and the state it failed in) and leaves it only by `job.retry`.
 * - Each step is an effect with one idempotency key per step (`<jobId>/<stepName>`, made by the
 *   runtime's step runner with actors/effect.ts), the same on every attempt and after a crash, so a
 *   step's effect happens once where its target honours the key.
 *   The effect is started by the entry action `runStep` and cancelled by the exit action
 *   `cancelStep` (runtime/jobs/stepRunner.ts) rather than invoked as a child actor: its result arrives as the
 *   same `xstate.done.actor.<step>` / `xstate.error.actor.<step>` events, and the machine costs no
 *   XState actor per attempt, so the host can run it pure (actors/PureActor.ts re-runs `runStep`
 *   for the active step after a restore, as XState restarts an invoked child).
 * - Retries: exponential backoff with jitter, per step policy; the jitter comes from a seeded PRNG
 *   whose state is in the context (seeded by the queue), so replay draws the same numbers.
 * - A finished step is never run again: resuming (after pause, lease expiry or a crash) continues
 *   at the first unfinished step.
 *
 * Pure: `runStep`, `cancelStep` and `notify` are placeholders; runtime/jobs binds them with
 * `.provide({ actions: { ...stepRunner(run), notify } })` and hosts the machine pure
 * (`hostPure(m, { effects: ['runStep'], cancels: ['cancelStep'] })`). Every guard and assign is
 * named and takes static params, so the host's transition memo applies (actors/transitionMemo.ts).
 */
import { assertEvent, assign, setup, type AnyStateMachine } from 'xstate'

/** Priority names (0..20, higher runs first). */
export const Priority = { URGENT: 20, HIGH: 15, NORMAL: 5, LOW: 0 } as const
export const MIN_PRIORITY = 0
export const MAX_PRIORITY = 20

/** How a step retries: attempts in all (1 = no retry), backoff `min(maxMs, baseMs * factor^(n-1))`, minus up to `jitter` of it at random. */
export interface RetryPolicy {
  maxAttempts: number
  baseMs: number
  factor: number
  maxMs: number
  /** 0..1: the share of the delay that is random (full jitter = 1). */
  jitter: number
}

export const defaultRetry: RetryPolicy = { maxAttempts: 3, baseMs: 1000, factor: 2, maxMs: 60_000, jitter: 0.2 }

export interface StepSpec {
  name: string
  retry?: Partial<RetryPolicy>
  /** A step attempt that takes longer fails with a timeout (and retries by its policy). */
  timeoutMs?: number
}

export interface JobTypeSpec {
  /** Job type name (`echo`); the machine's id is `job:<name>`. */
  name: string
  steps: StepSpec[]
}

export type JobStatus = 'PENDING' | 'RUNNING' | 'PAUSED' | 'COMPLETED' | 'FAILED' | 'STOPPED'

export interface JobInput {
  id: string
  type: string
  input?: unknown
  priority?: number
  tenant?: string
  queue?: string
  key?: string
  runAt?: number
  /** Overrides every step's `maxAttempts`. */
  maxAttempts?: number
  /** Seed of the job's jitter PRNG (the queue draws it from its seeded source). */
  seed?: number
  submittedAt?: number
  /** Submission order in its queue (FIFO within a priority). */
  order?: number
  /** The worker leased at submission, when a slot was free (saves a journaled `job.start`). */
  lease?: string
}

export interface JobError {
  message: string
  /** The state (step) the job was in when it failed. */
  state: string
  attempts: number
  at?: number
}

export interface JobContext {
  id: string
  type: string
  input: unknown
  priority: number
  tenant: string
  queue: string
  key?: string
  runAt: number
  submittedAt: number
  order: number
  maxAttempts?: number
  /** Index of the current (first unfinished) step. */
  step: number
  /** Attempts of the current step so far. */
  attempt: number
  /** Attempts over all steps (what `GET /api/jobs/:id` shows). */
  attempts: number
  /** Leases granted (deliveries). */
  deliveries: number
  worker?: string | null
  /** A lease granted with the submission (see JobInput.lease); consumed on entering RUNNING. */
  leaseAtSubmit?: string | null
  rng: number
  retryDelay: number
  results: Record<string, unknown>
  output?: unknown
  error?: JobError | null
  lastError?: string | null
}

/** Event creators: what the queue and operators send. */
export const jobEvents = {
  start: (worker: string) => ({ type: 'job.start', worker }) as const,
  leaseExpired: () => ({ type: 'job.lease.expired' }) as const,
  pause: () => ({ type: 'job.pause' }) as const,
  resume: () => ({ type: 'job.resume' }) as const,
  stop: (reason?: string) => ({ type: 'job.stop', ...(reason ? { reason } : {}) }) as const,
  retry: () => ({ type: 'job.retry' }) as const,
}

/** A step's result as the step runner sends it back: the events an invoked child named after the step would send. */
export type StepResultEvent =
  | { type: `xstate.done.actor.${string}`; output: unknown }
  | { type: `xstate.error.actor.${string}`; error: unknown }

/** Every event a job takes: the creators' events and its steps' results. */
export type JobEvent = ReturnType<(typeof jobEvents)[keyof typeof jobEvents]> | StepResultEvent

/** What the step runner receives (it adds the step's idempotency key). */
export interface StepRunInput {
  jobId: string
  type: string
  step: string
  stepIndex: number
  attempt: number
  input: unknown
  results: Record<string, unknown>
  tenant: string
}

/** mulberry32: one draw from a 32-bit state; returns [value in [0,1), next state]. */
export function nextRandom(state: number): [number, number] {
  const s = (state + 0x6d2b79f5) | 0
  let t = s
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return [((t ^ (t >>> 14)) >>> 0) / 4294967296, s]
}

/** The delay before attempt `attempt + 1` after `attempt` failed, with the random draw `r` in [0,1). */
export function backoffDelay(p: RetryPolicy, attempt: number, r: number): number {
  const exp = Math.min(p.maxMs, p.baseMs * p.factor ** Math.max(0, attempt - 1))
  return Math.round(exp * (1 - p.jitter * r))
}

/** Params of the `runStep` and `cancelStep` actions. */
export interface StepParams {
  step: number
  name: string
}

/** What a step attempt is given, from the job's context. */
export function stepTask(context: JobContext, p: StepParams): StepRunInput {
  return {
    jobId: context.id,
    type: context.type,
    step: p.name,
    stepIndex: p.step,
    attempt: context.attempt,
    input: context.input,
    results: context.results,
    tenant: context.tenant,
  }
}

/** Status name of a job machine state value. */
export function jobStatusOf(value: unknown): JobStatus {
  const top = typeof value === 'string' ? value : Object.keys(value as object)[0]
  return (top?.toUpperCase() ?? 'PENDING') as JobStatus
}

const errorMessage = (e: unknown): string => {
  if (e instanceof Error) return e.message
  if (typeof e === 'string') return e
  if (typeof e === 'object' && e !== null && 'message' in e && e.message) return String(e.message)
  return JSON.stringify(e) ?? 'error'
}

/**
 * Builds the machine of a job type from its ordered steps. Each step gets a state
 * `running.<step>` that runs `runStep` (id = the step name) and, when it has a timeout, a
 * durable timer; between attempts it waits in `running.<step>$wait`.
 *
 * @example
 * const m = createJobMachine({ name: 'ship', steps: [{ name: 'pick' }, { name: 'pack', retry: { maxAttempts: 5 } }] })
 */
export function createJobMachine(spec: JobTypeSpec): AnyStateMachine {
  if (!spec.steps.length) throw new Error(`job type "${spec.name}" needs at least one step`)
  const names = new Set<string>()
  for (const s of spec.steps) {
    if (!/^[A-Za-z0-9_-]+$/.test(s.name))
      throw new Error(`step name "${s.name}" of job type "${spec.name}" must match [A-Za-z0-9_-]+`)
    if (names.has(s.name)) throw new Error(`job type "${spec.name}" has two steps named "${s.name}"`)
    names.add(s.name)
  }
  const policies: RetryPolicy[] = spec.steps.map((s) => ({ ...defaultRetry, ...s.retry }))
  const last = spec.steps.length - 1
  const maxOf = (ctx: JobContext) => ctx.maxAttempts ?? policies[ctx.step].maxAttempts
  const stepName = (ctx: JobContext) => spec.steps[ctx.step].name

  const job = setup({
    types: {
      context: {} as JobContext,
      input: {} as JobInput,
      events: {} as JobEvent,
    },
    guards: {
      canRetry: ({ context }) => context.attempt < maxOf(context),
      atStep: ({ context }, params: { i: number }) => context.step === params.i,
      leasedAtSubmit: ({ context }) => context.leaseAtSubmit != null,
    },
    delays: {
      backoff: ({ context }) => context.retryDelay,
    },
    actions: {
      /** Starts step `params.step` (runtime/jobs/stepRunner.ts); a placeholder that fails until provided. */
      runStep: (_: unknown, _params: StepParams) => {
        throw new Error('runStep is not provided: bind it with machine.provide({ actions: stepRunner(run) })')
      },
      /** Cancels the attempt of step `params.step` in flight; a no-op placeholder here. */
      cancelStep: (_: unknown, _params: StepParams) => {},
      /** Tells the runtime (the queue's index) about a status change; a no-op placeholder here. */
      notify: (_: unknown, _params: { status: JobStatus }) => {},
      countAttempt: assign({
        attempt: ({ context }) => context.attempt + 1,
        attempts: ({ context }) => context.attempts + 1,
      }),
      recordResult: assign(({ context, event }) => {
        const name = stepName(context)
        assertEvent(event, `xstate.done.actor.${name}`)
        const output = event.output
        const next = context.step + 1
        const results = { ...context.results, [name]: output }
        // the last step: the lease ends here (one assign less on the hot path than a separate dropLease);
        // otherwise the next step's first attempt starts
        return next === spec.steps.length
          ? { results, step: next, attempt: 0, output, lastError: null, worker: null }
          : { results, step: next, attempt: 1, attempts: context.attempts + 1, output, lastError: null }
      }),
      timedOut: assign(({ context }) => ({
        lastError: `step "${stepName(context)}" timed out after ${spec.steps[context.step].timeoutMs} ms`,
      })),
      // Runs on the step's error event and on its timeout (a timer event, which carries no error:
      // `timedOut` has set the message then).
      recordFailure: assign(({ context, event }) => {
        const e = 'error' in event ? event.error : undefined
        const message = e !== undefined ? errorMessage(e) : (context.lastError ?? 'step failed')
        const [r, rng] = nextRandom(context.rng)
        return { lastError: message, rng, retryDelay: backoffDelay(policies[context.step], context.attempt, r) }
      }),
      // `recordFailure` or `leaseLost` has set `lastError` in the same transition.
      deadLetter: assign(({ context }) => ({
        error: {
          message: context.lastError ?? 'failed',
          state: `running.${stepName(context)}`,
          attempts: context.attempt,
        },
      })),
      leaseLost: assign(({ context }) => ({ lastError: `lease of worker "${context.worker}" expired`, worker: null })),
      takeLease: assign(({ context, event }) => {
        assertEvent(event, 'job.start')
        return {
          worker: event.worker,
          deliveries: context.deliveries + 1,
          attempt: context.attempt + 1,
          attempts: context.attempts + 1,
        }
      }),
      dropLease: assign({ worker: null }),
      clearSubmitLease: assign(({ context }) => ({
        worker: context.leaseAtSubmit,
        leaseAtSubmit: null,
        deliveries: context.deliveries + 1,
        attempt: context.attempt + 1,
        attempts: context.attempts + 1,
      })),
      clearError: assign({ error: null, lastError: null, attempt: 0 }),
    },
  })
  type StateConfig = Parameters<typeof job.createStateConfig>[0]

  /** Transitions into the current (first unfinished) step: XState targets are static, so one guarded branch per step. */
  const toStep = (action: 'takeLease') =>
    spec.steps.map((s, i) => ({
      guard: { type: 'atStep', params: { i } } as const,
      target: `running.${s.name}`,
      actions: action,
    }))

  // Cleared fields are set to null, never undefined: a persisted snapshot (JSON) drops undefined
  // keys, and replay must compare equal to it.
  const stepStates: Record<string, StateConfig> = {}
  spec.steps.forEach((s, i) => {
    const onFailure = [
      { guard: 'canRetry', target: `${s.name}$wait`, actions: 'recordFailure' },
      { target: '#job.failed', actions: ['recordFailure', 'deadLetter'] },
    ] as const
    // The step is an effect started by the entry action `runStep` (params: the step's index) and
    // cancelled by the exit action `cancelStep`; its result comes back as the events an invoked
    // child would send, `xstate.done.actor.<step>` / `xstate.error.actor.<step>`, so the journal
    // reads the same. Being an action, not an invoked actor, it costs no XState actor per attempt,
    // and the machine can be hosted pure (actors/PureActor.ts), which re-runs `runStep` for the
    // active step after a restore.
    stepStates[s.name] = job.createStateConfig({
      // Attempts are counted by the transitions that enter a step (one assign less than an entry action).
      entry: { type: 'runStep', params: { step: i, name: s.name } },
      exit: { type: 'cancelStep', params: { step: i, name: s.name } },
      on: {
        [`xstate.done.actor.${s.name}` as const]: {
          target: i === last ? '#job.completed' : spec.steps[i + 1].name,
          actions: 'recordResult',
        },
        [`xstate.error.actor.${s.name}` as const]: onFailure,
      },
      ...(s.timeoutMs
        ? { after: { [s.timeoutMs]: onFailure.map((t) => ({ ...t, actions: ['timedOut', ...[t.actions].flat()] })) } }
        : {}),
    })
    stepStates[`${s.name}$wait`] = { after: { backoff: { target: s.name, actions: 'countAttempt' } } }
  })

  return job.createMachine({
    id: 'job',
    context: ({ input }) => ({
      id: input.id,
      type: input.type,
      input: input.input ?? null,
      priority: input.priority ?? Priority.NORMAL,
      tenant: input.tenant ?? 'default',
      queue: input.queue ?? 'default',
      ...(input.key !== undefined ? { key: input.key } : {}),
      runAt: input.runAt ?? 0,
      submittedAt: input.submittedAt ?? 0,
      order: input.order ?? 0,
      ...(input.lease !== undefined ? { leaseAtSubmit: input.lease } : {}),
      ...(input.maxAttempts !== undefined ? { maxAttempts: input.maxAttempts } : {}),
      step: 0,
      attempt: 0,
      attempts: 0,
      deliveries: 0,
      rng: input.seed ?? 1,
      retryDelay: 0,
      results: {},
    }),
    initial: 'pending',
    states: {
      pending: {
        entry: { type: 'notify', params: { status: 'PENDING' } },
        // A job leased at submission (a worker slot was free) starts at once: the lease is in its input, journaled with it.
        // (context.step is 0 then: the lease comes only with the submission.)
        always: { guard: 'leasedAtSubmit', target: `running.${spec.steps[0].name}`, actions: 'clearSubmitLease' },
        on: {
          'job.start': toStep('takeLease'),
          'job.pause': 'paused',
          'job.stop': 'stopped',
        },
      },
      running: {
        entry: { type: 'notify', params: { status: 'RUNNING' } },
        initial: spec.steps[0].name,
        states: stepStates,
        on: {
          'job.lease.expired': [
            { guard: 'canRetry', target: 'pending', actions: 'leaseLost' },
            { target: 'failed', actions: ['leaseLost', 'deadLetter'] },
          ],
          'job.pause': { target: 'paused', actions: 'dropLease' },
          'job.stop': { target: 'stopped', actions: 'dropLease' },
        },
      },
      paused: {
        entry: { type: 'notify', params: { status: 'PAUSED' } },
        on: {
          'job.resume': 'pending',
          'job.stop': 'stopped',
        },
      },
      failed: {
        entry: ['dropLease', { type: 'notify', params: { status: 'FAILED' } }],
        on: {
          'job.retry': { target: 'pending', actions: 'clearError' },
          'job.stop': 'stopped',
        },
      },
      completed: { type: 'final', entry: { type: 'notify', params: { status: 'COMPLETED' } } },
      stopped: { type: 'final', entry: { type: 'notify', params: { status: 'STOPPED' } } },
    },
  })
}
