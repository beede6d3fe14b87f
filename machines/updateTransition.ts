/**
 * updateTransition: the supervisor's authority over one update at a time, and its memory between
 * updates (one long-lived durable actor per supervisor).
 *
 * Driven by: operator requests and actions (`update.request`, `update.cancel`, `update.defer`,
 * `update.promote`), the results of runtime effects (install, validate, admit, prewarm, cutover,
 * rollback, the live-media gate), the new runtime marking itself good (`runtime.good`), runtime
 * exits, durable timers (countdown, minimum interval, verify deadline) and `supervisor.boot`, which
 * the supervisor sends once after every start.
 *
 * Promises:
 * - idle -> planned -> countdown (deferrable) -> gate -> preparing -> validating -> admission
 *   (`warm_switch` | `stop_and_switch`, with the reason) -> prewarm (warm only) -> cutover ->
 *   verifying -> committed, or rollingBack -> rolledBack with the previous slot serving again.
 *   Root (supervisor) updates go validating -> rootPromotionPending -> (promote) rootRestarting.
 * - `serving` always names the one slot whose runtime must be active; it changes only when a
 *   cutover completes or a rollback completes.
 * - A restart of the supervisor resolves the attempt deterministically: before the new runtime
 *   serves (preparing .. cutover) it rolls back; verifying keeps its durable deadline; countdown and
 *   planned keep their timers; rollingBack runs its (idempotent) rollback again.
 * - Minimum interval between the end of one update and the start of the next countdown; one queued
 *   follow-up request, a second is refused (the API checks `can()` before sending).
 * - Time inside the machine comes only from `at` fields the runtime stamps on events and effect
 *   outputs, so replay is exact.
 */
import { assertEvent, assign, fromPromise, setup } from 'xstate'
import { failure, output } from './effectParams.ts'

export type Slot = 'A' | 'B'
export type SwitchMode = 'warm_switch' | 'stop_and_switch'
export type UpdateKind = 'hub' | 'root'
export type Outcome = 'committed' | 'rolled_back' | 'cancelled'

export interface UpdateSettings {
  /** Countdown before preparing starts (operators can defer or promote during it). */
  countdownMs: number
  /** Minimum time between the end of one update and the start of the next countdown. */
  minIntervalMs: number
  /** The new runtime must mark itself good within this after cutover. */
  verifyDeadlineMs: number
  /** A deferral without its own duration, and the live-media gate's retry, wait this long. */
  deferMs: number
  /** A root restart must come back within this. */
  rootDeadlineMs: number
}

export interface UpdateRequest {
  kind: UpdateKind
  /** Folder holding the version to install (a slot image with its manifest). */
  source: string
  /** Version the source's manifest claims (shown in status; checked again when installing). */
  version?: string
  /** Skip the live-media gate. */
  force?: boolean
  at: number
}

export interface Attempt {
  id: number
  kind: UpdateKind
  source: string
  version?: string
  force: boolean
  from: Slot
  target: Slot
  requestedAt: number
  /** Why the transition is waiting (minimum interval, deferral, live media). */
  waitReason?: string
  deferrals: Deferral[]
  mode?: SwitchMode
  admissionReason?: string
  buildId?: string
  candidateId?: string
  cutoverAt?: number
  gapMs?: number
  outcome?: Outcome
  reason?: string
  finishedAt?: number
}

/** One wait of an attempt: by an operator (with its own length `ms`, else the default) or by the live-media gate. */
export interface Deferral {
  reason: string
  at: number
  by: 'operator' | 'gate'
  ms?: number
}

export interface UpdateContext {
  settings: UpdateSettings
  serving: Slot
  /** Latest time seen on an event (the machine's notion of now). */
  now: number
  lastFinishedAt: number | null
  attempt: Attempt | null
  queued: UpdateRequest | null
  history: Attempt[]
  attempts: number
}

export interface UpdateInput {
  serving?: Slot
  settings?: Partial<UpdateSettings>
}

export type UpdateEvent =
  | ({ type: 'update.request' } & UpdateRequest)
  | { type: 'update.cancel'; reason: string; at: number }
  | { type: 'update.defer'; reason: string; ms?: number; at: number }
  | { type: 'update.promote'; at: number }
  | { type: 'runtime.good'; runtimeInstanceId: string; slot: Slot; at: number }
  | { type: 'runtime.exited'; runtimeInstanceId: string; slot: Slot; role: string; at: number; code?: number | null }
  | { type: 'supervisor.boot'; version: string; at: number }

/** Inputs and outputs of the effects runtime/ provides. Every output carries the time it ended. */
export interface InstallOutput {
  at: number
  version: string
  buildId: string
}
export interface AdmitOutput {
  at: number
  mode: SwitchMode
  reason: string
}
export interface CutoverOutput {
  at: number
  runtimeInstanceId: string
  gapMs: number
}
export interface GateOutput {
  at: number
  live: number
}
export interface TimedOutput {
  at: number
  runtimeInstanceId?: string
}

export const defaultUpdateSettings: UpdateSettings = {
  countdownMs: 5_000,
  minIntervalMs: 60_000,
  verifyDeadlineMs: 15_000,
  deferMs: 30_000,
  rootDeadlineMs: 60_000,
}

/** The operator actions and the states that allow each (the API names them in refusals). */
export const operatorActions = {
  cancel: [
    'planned',
    'countdown',
    'deferred',
    'gate',
    'preparing',
    'validating',
    'admission',
    'prewarm',
    'rootPromotionPending',
  ],
  defer: ['planned', 'countdown', 'deferred'],
  promote: ['countdown', 'rootPromotionPending'],
} as const

export const other = (s: Slot): Slot => (s === 'A' ? 'B' : 'A')

const notProvided = <O, I>(name: string) =>
  fromPromise<O, I>(async () => {
    throw new Error(`updateTransition: effect "${name}" is provided by the supervisor (runtime/supervisor)`)
  })

const errText = (e: unknown): string => {
  if (typeof e === 'string') return e
  if (typeof e === 'object' && e !== null && 'message' in e && typeof e.message === 'string') return e.message
  return JSON.stringify(e) ?? 'unknown error'
}

/** Drops undefined fields: a persisted snapshot (JSON) has no undefined, so the live one must not either. */
function clean<T extends object>(o: T): T {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v
  return out as T
}

/**
 * The time an event carries: its own `at` (operator and runtime events), or its output's (effect
 * results). Timer events carry none. XState does not type effect results and timers as the
 * machine's events, so this reads any event.
 */
function timeOf(event: object): number | undefined {
  if ('at' in event && typeof event.at === 'number') return event.at
  const o = 'output' in event ? event.output : undefined
  return typeof o === 'object' && o !== null && 'at' in o && typeof o.at === 'number' ? o.at : undefined
}

const machine = setup({
  types: {
    context: {} as UpdateContext,
    events: {} as UpdateEvent,
    input: {} as UpdateInput | undefined,
  },
  actors: {
    checkGate: notProvided<GateOutput, { slot: Slot }>('checkGate'),
    install: notProvided<InstallOutput, { source: string; slot: Slot; kind: UpdateKind }>('install'),
    validate: notProvided<TimedOutput, { slot: Slot; kind: UpdateKind }>('validate'),
    admit: notProvided<AdmitOutput, { from: Slot; target: Slot }>('admit'),
    prewarm: notProvided<TimedOutput, { target: Slot }>('prewarm'),
    cutover: notProvided<CutoverOutput, { from: Slot; target: Slot; mode: SwitchMode }>('cutover'),
    rollback: notProvided<TimedOutput, { to: Slot; from: Slot | null }>('rollback'),
    restartRoot: notProvided<TimedOutput, { version?: string }>('restartRoot'),
  },
  delays: {
    countdown: ({ context }) => context.settings.countdownMs,
    interval: ({ context }) =>
      Math.max(0, (context.lastFinishedAt ?? -Infinity) + context.settings.minIntervalMs - context.now),
    deferral: ({ context }) => {
      const d = context.attempt?.deferrals.at(-1)
      return d ? Math.max(0, d.ms ?? context.settings.deferMs) : context.settings.deferMs
    },
    verifyDeadline: ({ context }) => context.settings.verifyDeadlineMs,
    rootDeadline: ({ context }) => context.settings.rootDeadlineMs,
  },
  guards: {
    intervalElapsed: ({ context }) =>
      context.lastFinishedAt === null || context.now >= context.lastFinishedAt + context.settings.minIntervalMs,
    canQueue: ({ context }) => context.queued === null,
    hasQueued: ({ context }) => context.queued !== null,
    hasReason: ({ event }) => {
      assertEvent(event, ['update.cancel', 'update.defer'])
      return typeof event.reason === 'string' && event.reason.trim().length > 0
    },
    isRoot: ({ context }) => context.attempt?.kind === 'root',
    /** The gate found live media and the request was not forced. */
    mediaBlocks: ({ context }, gate: GateOutput) => gate.live > 0 && !context.attempt?.force,
    admittedWarm: (_, admitted: AdmitOutput) => admitted.mode === 'warm_switch',
    goodFromTarget: ({ context, event }) => {
      assertEvent(event, 'runtime.good')
      return event.slot === context.attempt?.target
    },
    targetExited: ({ context, event }) => {
      assertEvent(event, 'runtime.exited')
      return event.slot === context.attempt?.target && event.role === 'active'
    },
    rootCameBack: ({ context, event }) => {
      assertEvent(event, 'supervisor.boot')
      return !context.attempt?.version || event.version === context.attempt.version
    },
  },
  actions: {
    stamp: assign({
      now: ({ context, event }) => {
        const at = timeOf(event)
        return at !== undefined && at > context.now ? at : context.now
      },
    }),
    // Timer events carry no time: a fired timer means its delay has passed since it was armed.
    afterInterval: assign({
      now: ({ context }) => Math.max(context.now, (context.lastFinishedAt ?? 0) + context.settings.minIntervalMs),
    }),
    afterDeferral: assign({
      now: ({ context }) => {
        const d = context.attempt?.deferrals.at(-1)
        return d
          ? Math.max(context.now, d.at + (typeof d.ms === 'number' ? d.ms : context.settings.deferMs))
          : context.now
      },
    }),
    startAttempt: assign(({ context, event }) => {
      const fresh = event.type === 'update.request'
      const r: UpdateRequest = fresh ? event : context.queued!
      const attempt: Attempt = {
        id: context.attempts + 1,
        kind: r.kind,
        source: r.source,
        version: r.version,
        force: !!r.force,
        from: context.serving,
        target: other(context.serving),
        requestedAt: r.at,
        deferrals: [],
      }
      return {
        attempt: clean(attempt),
        attempts: context.attempts + 1,
        queued: fresh ? context.queued : null,
      }
    }),
    queue: assign({
      queued: ({ event }) => {
        assertEvent(event, 'update.request')
        return clean({
          kind: event.kind,
          source: event.source,
          version: event.version,
          force: !!event.force,
          at: event.at,
        })
      },
    }),
    noteIntervalWait: assign({
      attempt: ({ context }) => ({
        ...context.attempt!,
        waitReason: `minimum interval: ${Math.max(0, (context.lastFinishedAt ?? 0) + context.settings.minIntervalMs - context.now)} ms left since the last update`,
      }),
    }),
    clearWait: assign({ attempt: ({ context }) => clean({ ...context.attempt!, waitReason: undefined }) }),
    operatorDefer: assign({
      attempt: ({ context, event }) => {
        assertEvent(event, 'update.defer')
        const d: Deferral = { reason: String(event.reason), at: event.at, by: 'operator' }
        if (typeof event.ms === 'number') d.ms = event.ms
        return {
          ...context.attempt!,
          deferrals: [...context.attempt!.deferrals, d],
          waitReason: `deferred by operator: ${event.reason}`,
        }
      },
    }),
    gateDefer: assign({
      attempt: ({ context }, o: GateOutput) => {
        const reason = `live media: ${o.live} media subflow${o.live === 1 ? '' : 's'} live on the active runtime (force the update to override)`
        return {
          ...context.attempt!,
          deferrals: [...context.attempt!.deferrals, { reason, at: o.at, by: 'gate' as const }],
          waitReason: reason,
        }
      },
    }),
    noteInstalled: assign({
      attempt: ({ context }, o: InstallOutput) => ({ ...context.attempt!, version: o.version, buildId: o.buildId }),
    }),
    noteAdmission: assign({
      attempt: ({ context }, o: AdmitOutput) => ({ ...context.attempt!, mode: o.mode, admissionReason: o.reason }),
    }),
    noteCandidate: assign({
      attempt: ({ context }, o: TimedOutput) =>
        clean({ ...context.attempt!, candidateId: o.runtimeInstanceId ?? context.attempt!.candidateId }),
    }),
    noteCutover: assign(({ context }, o: CutoverOutput) => ({
      serving: context.attempt!.target,
      attempt: { ...context.attempt!, candidateId: o.runtimeInstanceId, cutoverAt: o.at, gapMs: o.gapMs },
    })),
    noteGood: assign({
      attempt: ({ context, event }) => {
        assertEvent(event, 'runtime.good')
        return { ...context.attempt!, candidateId: event.runtimeInstanceId }
      },
    }),
    failWith: assign({
      attempt: ({ context }, params: { reason: string }) => ({ ...context.attempt!, reason: params.reason }),
    }),
    failFromError: assign({
      attempt: ({ context }, params: { step: string; error: unknown }) => ({
        ...context.attempt!,
        reason: `${params.step} failed: ${errText(params.error)}`,
      }),
    }),
    cancelBy: assign({
      attempt: ({ context, event }) => {
        assertEvent(event, 'update.cancel')
        return { ...context.attempt!, outcome: 'cancelled' as const, reason: `cancelled by operator: ${event.reason}` }
      },
    }),
    finish: assign(({ context, event }, params: { outcome: Outcome }) => {
      const at = timeOf(event) ?? context.now
      const a: Attempt = clean({
        ...context.attempt!,
        outcome: context.attempt!.outcome ?? params.outcome,
        finishedAt: at,
        waitReason: undefined,
      })
      return {
        attempt: a,
        history: [...context.history, a].slice(-10),
        lastFinishedAt: params.outcome === 'cancelled' ? context.lastFinishedAt : at,
        now: Math.max(context.now, at),
      }
    }),
    restoreServing: assign({ serving: ({ context }) => context.attempt!.from }),
  },
})

/** An effect failed: the attempt rolls back (or, for the rollback itself, fails) with the step named. */
const failedAt = (step: string) =>
  ({
    type: 'failFromError',
    params: (a: { event: { error: unknown } }) => ({ step, ...failure(a) }),
  }) as const
const failWith = (reason: string) => ({ type: 'failWith', params: { reason } }) as const
const finish = (outcome: Outcome) => ({ type: 'finish', params: { outcome } }) as const

/** Before anything was installed: a cancel (with a reason) ends the attempt. */
const cancelToIdle = {
  'update.cancel': { guard: 'hasReason', target: 'idle', actions: ['stamp', 'cancelBy', finish('cancelled')] },
} as const
const operatorDefer = { guard: 'hasReason', target: 'deferred', actions: ['stamp', 'operatorDefer'] } as const
/**
 * While the inactive slot is prepared (before the new runtime serves): a cancel, or a restart of
 * the supervisor, rolls the attempt back.
 */
const rollsBackDuring = (during: string) =>
  ({
    'update.cancel': { guard: 'hasReason', target: 'rollingBack', actions: ['stamp', 'cancelBy'] },
    'supervisor.boot': {
      target: 'rollingBack',
      actions: ['stamp', failWith(`the supervisor restarted during ${during}`)],
    },
  }) as const

export const updateTransition = machine.createMachine({
  id: 'updateTransition',
  context: ({ input }) => ({
    settings: { ...defaultUpdateSettings, ...clean(input?.settings ?? {}) },
    serving: input?.serving ?? 'A',
    now: 0,
    lastFinishedAt: null,
    attempt: null,
    queued: null,
    history: [],
    attempts: 0,
  }),
  initial: 'idle',
  on: {
    // Every timestamped event moves the machine's clock; a request while busy is the follow-up.
    'update.request': { guard: 'canQueue', actions: ['stamp', 'queue'] },
  },
  states: {
    idle: {
      always: { guard: 'hasQueued', target: 'planned', actions: 'startAttempt' },
      on: {
        'update.request': { target: 'planned', actions: ['stamp', 'startAttempt'] },
      },
    },
    planned: {
      always: { guard: 'intervalElapsed', target: 'countdown', actions: 'clearWait' },
      entry: 'noteIntervalWait',
      after: { interval: { target: 'countdown', actions: ['afterInterval', 'clearWait'] } },
      on: { ...cancelToIdle, 'update.defer': operatorDefer },
    },
    countdown: {
      after: { countdown: 'gate' },
      on: { ...cancelToIdle, 'update.defer': operatorDefer, 'update.promote': { target: 'gate', actions: 'stamp' } },
    },
    // A deferral is a wait of its own length; it ends in planned, so that the minimum interval
    // still holds, and from there in a fresh countdown.
    deferred: {
      after: { deferral: { target: 'planned', actions: ['afterDeferral', 'clearWait'] } },
      on: { ...cancelToIdle, 'update.defer': { ...operatorDefer, reenter: true } },
    },
    gate: {
      invoke: {
        src: 'checkGate',
        input: ({ context }) => ({ slot: context.serving }),
        onDone: [
          {
            guard: { type: 'mediaBlocks', params: output },
            target: 'deferred',
            actions: ['stamp', { type: 'gateDefer', params: output }],
          },
          { target: 'preparing', actions: ['stamp', 'clearWait'] },
        ],
        // An active runtime that cannot answer the gate has no live media we could protect.
        onError: { target: 'preparing', actions: 'clearWait' },
      },
      on: cancelToIdle,
    },
    preparing: {
      invoke: {
        src: 'install',
        input: ({ context }) => ({
          source: context.attempt!.source,
          slot: context.attempt!.target,
          kind: context.attempt!.kind,
        }),
        onDone: { target: 'validating', actions: ['stamp', { type: 'noteInstalled', params: output }] },
        onError: { target: 'rollingBack', actions: failedAt('preparing') },
      },
      on: rollsBackDuring('preparing'),
    },
    validating: {
      invoke: {
        src: 'validate',
        input: ({ context }) => ({ slot: context.attempt!.target, kind: context.attempt!.kind }),
        onDone: [
          { guard: 'isRoot', target: 'rootPromotionPending', actions: 'stamp' },
          { target: 'admission', actions: 'stamp' },
        ],
        onError: { target: 'rollingBack', actions: failedAt('validation') },
      },
      on: rollsBackDuring('validating'),
    },
    admission: {
      invoke: {
        src: 'admit',
        input: ({ context }) => ({ from: context.attempt!.from, target: context.attempt!.target }),
        onDone: [
          {
            guard: { type: 'admittedWarm', params: output },
            target: 'prewarm',
            actions: ['stamp', { type: 'noteAdmission', params: output }],
          },
          { target: 'cutover', actions: ['stamp', { type: 'noteAdmission', params: output }] },
        ],
        onError: { target: 'rollingBack', actions: failedAt('admission') },
      },
      on: rollsBackDuring('admission'),
    },
    prewarm: {
      invoke: {
        src: 'prewarm',
        input: ({ context }) => ({ target: context.attempt!.target }),
        onDone: { target: 'cutover', actions: ['stamp', { type: 'noteCandidate', params: output }] },
        onError: { target: 'rollingBack', actions: failedAt('candidate prewarm') },
      },
      on: rollsBackDuring('candidate prewarm'),
    },
    cutover: {
      invoke: {
        src: 'cutover',
        input: ({ context }) => ({
          from: context.attempt!.from,
          target: context.attempt!.target,
          mode: context.attempt!.mode ?? 'stop_and_switch',
        }),
        onDone: { target: 'verifying', actions: ['stamp', { type: 'noteCutover', params: output }] },
        onError: { target: 'rollingBack', actions: failedAt('cutover') },
      },
      on: { 'supervisor.boot': rollsBackDuring('cutover')['supervisor.boot'] },
    },
    verifying: {
      after: {
        verifyDeadline: {
          target: 'rollingBack',
          actions: failWith('the new runtime did not mark itself good before the verify deadline'),
        },
      },
      on: {
        'runtime.good': { guard: 'goodFromTarget', target: 'committed', actions: ['stamp', 'noteGood'] },
        'runtime.exited': {
          guard: 'targetExited',
          target: 'rollingBack',
          actions: ['stamp', failWith('the new runtime exited before marking itself good')],
        },
        // After a supervisor restart the target slot is started again and must still mark itself good.
        'supervisor.boot': { actions: 'stamp' },
      },
    },
    committed: {
      entry: finish('committed'),
      always: 'idle',
    },
    rollingBack: {
      invoke: {
        src: 'rollback',
        input: ({ context }) => ({ to: context.attempt!.from, from: context.attempt!.target }),
        onDone: { target: 'rolledBack', actions: 'stamp' },
        onError: { target: 'failed', actions: failedAt('rollback') },
      },
      on: { 'supervisor.boot': { target: 'rollingBack', reenter: true, actions: 'stamp' } },
    },
    rolledBack: {
      entry: ['restoreServing', finish('rolled_back')],
      always: 'idle',
    },
    // The previous slot could not be started again: an operator must act (a new update request).
    failed: {
      entry: 'restoreServing',
      on: {
        'update.request': { target: 'planned', actions: ['stamp', finish('rolled_back'), 'startAttempt'] },
        'supervisor.boot': { target: 'rollingBack', actions: 'stamp' },
      },
    },
    rootPromotionPending: {
      on: { 'update.promote': { target: 'rootRestarting', actions: 'stamp' }, ...cancelToIdle },
    },
    rootRestarting: {
      invoke: { src: 'restartRoot', input: ({ context }) => ({ version: context.attempt!.version }) },
      after: {
        rootDeadline: {
          target: 'rollingBack',
          actions: failWith('the supervisor did not come back on the new version before the deadline'),
        },
      },
      on: {
        'supervisor.boot': [
          { guard: 'rootCameBack', target: 'committed', actions: 'stamp' },
          { target: 'rollingBack', actions: ['stamp', failWith('the supervisor came back on another version')] },
        ],
      },
    },
  },
})

export default updateTransition
