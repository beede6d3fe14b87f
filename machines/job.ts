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
 * - Each step is an effect with the idempotency key `<jobId>/<stepName>`, the same on every
 *   attempt and after a crash, so a step's effect happens once where its target honours the key.
 *   The effect is started by the entry action `runStep` and cancelled by the exit action
 *   `cancelStep` (see `stepRunner`) rather than invoked as a child actor: its result arrives as the
 *   same `xstate.done.actor.<step>` / `xstate.error.actor.<step>` events, and the machine costs no
 *   XState actor per attempt, so the host can run it pure (actors/PureActor.ts re-runs `runStep`
 *   for the active step after a restore, as XState restarts an invoked child).
 * - Retries: exponential backoff with jitter, per step policy; the jitter comes from a seeded PRNG
 *   whose state is in the context (seeded by the queue), so replay draws the same numbers.
 * - A finished step is never run again: resuming (after pause, lease expiry or a crash) continues
 *   at the first unfinished step.
 *
 * Pure: `runStep` is a placeholder; runtime/jobs binds it with `.provide({ actions: stepRunner(run) })`.
 */
import { assign, setup, type AnyStateMachine } from 'xstate'

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

export type JobEvent =
  | { type: 'job.start'; worker: string }
  | { type: 'job.lease.expired' }
  | { type: 'job.pause' }
  | { type: 'job.resume' }
  | { type: 'job.stop'; reason?: string }
  | { type: 'job.retry' }

/** Event creators. */
export const jobEvents = {
  start: (worker: string) => ({ type: 'job.start', worker }) as const,
  leaseExpired: () => ({ type: 'job.lease.expired' }) as const,
  pause: () => ({ type: 'job.pause' }) as const,
  resume: () => ({ type: 'job.resume' }) as const,
  stop: (reason?: string) => ({ type: 'job.stop', ...(reason ? { reason } : {}) }) as const,
  retry: () => ({ type: 'job.retry' }) as const,
}

/** What the step runner receives. */
export interface StepRunInput {
  idempotencyKey: string
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
    idempotencyKey: `${context.id}/${p.name}`,
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

/** Errors cross the journal as plain JSON: an Error instance would serialize to `{}`. */
export function plainStepError(err: unknown): { message: string; code?: string } {
  const e = err as any
  const message = typeof e?.message === 'string' ? e.message : typeof err === 'string' ? err : 'step failed'
  return e?.code ? { message, code: String(e.code) } : { message }
}

/**
 * One step attempt's cancellation. `aborted` is a plain flag; the AbortSignal is made only when
 * something asks for it (most steps never do, and an AbortController per attempt is measurable).
 */
export class StepAttempt {
  aborted = false
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

/** The attempt in flight per job actor (`self`): one step runs at a time. */
const inFlight = new WeakMap<object, StepAttempt>()

/**
 * The `runStep` and `cancelStep` action implementations for a step runner: `run` starts one
 * attempt; its result goes back to the job as `xstate.done.actor.<step>` (or
 * `xstate.error.actor.<step>` with a plain error) through `self.send`, unless the step was
 * cancelled meanwhile (paused, stopped, timed out, lease lost): `run` gets the attempt, whose
 * `signal` aborts then.
 *
 * @example
 * createJobMachine(spec).provide({ actions: stepRunner(async (task) => steps[task.step](task.input)) })
 */
export function stepRunner(run: (task: StepRunInput, attempt: StepAttempt, self: any) => Promise<unknown>) {
  return {
    runStep: ({ context, self }: { context: JobContext; self: any }, p: StepParams) => {
      const ac = new StepAttempt()
      inFlight.get(self)?.abort()
      inFlight.set(self, ac)
      let out: Promise<unknown>
      try {
        out = run(stepTask(context, p), ac, self)
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
    cancelStep: ({ self }: { self: any }, _p: StepParams) => {
      const ac = inFlight.get(self)
      if (!ac) return
      inFlight.delete(self)
      ac.abort()
    },
  }
}

/** Status name of a job machine state value. */
export function jobStatusOf(value: unknown): JobStatus {
  const top = typeof value === 'string' ? value : Object.keys(value as object)[0]
  return (top?.toUpperCase() ?? 'PENDING') as JobStatus
}

const errorMessage = (e: unknown): string =>
  e instanceof Error
    ? e.message
    : typeof e === 'string'
      ? e
      : (e as any)?.message
        ? String((e as any).message)
        : (JSON.stringify(e) ?? 'error')

/**
 * Builds the machine of a job type from its ordered steps. Each step gets a state
 * `running.<step>` that invokes `runStep` (id = the step name) and, when it has a timeout, a
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

  /** Transitions into the current (first unfinished) step: XState targets are static, so one guarded branch per step. */
  const toStep = (action: string): any[] =>
    spec.steps.map((s, i) => ({
      guard: { type: 'atStep', params: { i } },
      target: `running.${s.name}`,
      actions: action,
    }))

  // Cleared fields are set to null, never undefined: a persisted snapshot (JSON) drops undefined
  // keys, and replay must compare equal to it.
  const stepStates: Record<string, any> = {}
  spec.steps.forEach((s, i) => {
    const onFailure = [
      { guard: 'canRetry', target: `${s.name}$wait`, actions: 'recordFailure' },
      { target: '#job.failed', actions: ['recordFailure', 'deadLetter'] },
    ]
    // The step is an effect started by the entry action `runStep` (params: the step's index) and
    // cancelled by the exit action `cancelStep`; its result comes back as the events an invoked
    // child would send, `xstate.done.actor.<step>` / `xstate.error.actor.<step>`, so the journal
    // reads the same. Being an action, not an invoked actor, it costs no XState actor per attempt,
    // and the machine can be hosted pure (actors/PureActor.ts), which re-runs `runStep` for the
    // active step after a restore.
    stepStates[s.name] = {
      // Attempts are counted by the transitions that enter a step (one assign less than an entry action).
      entry: { type: 'runStep', params: { step: i, name: s.name } },
      exit: { type: 'cancelStep', params: { step: i, name: s.name } },
      on: {
        [`xstate.done.actor.${s.name}`]:
          i === last
            ? { target: '#job.completed', actions: 'recordResult' }
            : { target: spec.steps[i + 1].name, actions: 'recordResult' },
        [`xstate.error.actor.${s.name}`]: onFailure,
      },
      ...(s.timeoutMs
        ? {
            after: {
              [s.timeoutMs]: onFailure.map((t) => ({ ...t, actions: [{ type: 'timedOut' }, ...[t.actions].flat()] })),
            },
          }
        : {}),
    }
    stepStates[`${s.name}$wait`] = { after: { backoff: { target: s.name, actions: 'countAttempt' } } }
  })

  return setup({
    types: {
      context: {} as JobContext,
      input: {} as JobInput,
      events: {} as JobEvent,
    },
    guards: {
      canRetry: ({ context }) => context.attempt < maxOf(context),
      leaseRetry: ({ context }) => context.attempt < maxOf(context),
      atStep: ({ context }, params: { i: number }) => context.step === params.i,
      leasedAtSubmit: ({ context }) => context.leaseAtSubmit != null,
    },
    delays: {
      backoff: ({ context }) => context.retryDelay,
    },
    actions: {
      /** Starts step `params.step` (see `stepRunner`); a placeholder that fails until provided. */
      runStep: (_: unknown, _params: StepParams) => {
        throw new Error('runStep is not provided: bind it with machine.provide({ actions: stepRunner(run) })')
      },
      cancelStep: (_: unknown, _params: StepParams) => {},
      /** Tells the runtime (the queue's index) about a status change; a no-op placeholder here. */
      notify: (_: unknown, _params: { status: JobStatus }) => {},
      countAttempt: assign({
        attempt: ({ context }) => context.attempt + 1,
        attempts: ({ context }) => context.attempts + 1,
      }),
      recordResult: assign(({ context, event }) => {
        const name = spec.steps[context.step].name
        const output = (event as any).output
        const next = context.step + 1
        const results = { ...context.results, [name]: output }
        // the last step: the lease ends here (one assign less on the hot path than a separate dropLease);
        // otherwise the next step's first attempt starts
        return next === spec.steps.length
          ? { results, step: next, attempt: 0, output, lastError: null, worker: null }
          : { results, step: next, attempt: 1, attempts: context.attempts + 1, output, lastError: null }
      }),
      timedOut: assign(({ context }) => ({
        lastError: `step "${spec.steps[context.step].name}" timed out after ${spec.steps[context.step].timeoutMs} ms`,
      })),
      recordFailure: assign(({ context, event }) => {
        const e = (event as any).error
        const message = e !== undefined ? errorMessage(e) : (context.lastError ?? 'step failed')
        const [r, rng] = nextRandom(context.rng)
        return { lastError: message, rng, retryDelay: backoffDelay(policies[context.step], context.attempt, r) }
      }),
      deadLetter: assign(({ context }) => ({
        error: {
          message: context.lastError ?? 'failed',
          state: `running.${spec.steps[context.step].name}`,
          attempts: context.attempt,
        },
      })),
      leaseLost: assign(({ context }) => ({ lastError: `lease of worker "${context.worker}" expired`, worker: null })),
      deadLetterLease: assign(({ context }) => ({
        error: {
          message: context.lastError ?? 'lease expired',
          state: `running.${spec.steps[context.step].name}`,
          attempts: context.attempt,
        },
      })),
      takeLease: assign(({ context, event }) => ({
        worker: (event as any).worker,
        deliveries: context.deliveries + 1,
        attempt: context.attempt + 1,
        attempts: context.attempts + 1,
      })),
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
  }).createMachine({
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
            { guard: 'leaseRetry', target: 'pending', actions: 'leaseLost' },
            { target: 'failed', actions: ['leaseLost', 'deadLetterLease'] },
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
