/**
 * scenarioSwitch: which scenario a webspace runs, changed as one transaction (one durable actor per
 * webspace, `scenario:<webspace>`).
 *
 * Driven by the operator (`scenario.set`, from the API, the CLI or the inspector), by the hub when
 * the webspace was restored or rebuilt (`scenario.reproject`), and by the results of the two
 * effects runtime/ binds: `prepare` (load and check the scenario's skills: installed, checksums,
 * their own checks, and that every write of the scenario is to a subtree it owns) and `commit`
 * (write the scenario's projection into the webspace in one Yjs transaction, durable before it
 * answers).
 *
 * Promises:
 * - `effective` names the one scenario the webspace runs; it changes only when a commit completes;
 * - `requested` is the switch under way (null when settled); a failure in prepare or commit leaves
 *   the previous scenario effective and records why in `error` (the scenario, the step, the message);
 * - one switch at a time: `scenario.set` is taken only when settled (the API answers 409 otherwise);
 * - a hub killed between requested and effective resumes the switch where it was (XState restarts
 *   the invoked effect on recovery with the same idempotency key; both effects are idempotent), so
 *   it ends with exactly one effective scenario;
 * - time comes only from the `at` the runtime stamps on events and effect outputs, so replay is exact.
 */
import { assertEvent, assign, fromPromise, setup } from 'xstate'
import { errorMessage as errText, failure, output } from './effectParams.ts'

/** What a scenario writes into its webspace: `ui.<key>` and `data.<skill>` entries. */
export interface Projection {
  ui: Record<string, unknown>
  data: Record<string, unknown>
}

export interface ScenarioRef {
  name: string
  version: string
  checksum: string
  skills: Array<{ name: string; version: string; checksum: string; provenance: string }>
  projection: Projection
}

export interface ScenarioRequest {
  id: number
  name: string
  at: number
}

export interface ScenarioError {
  id: number
  scenario: string
  step: 'prepare' | 'commit' | 'reproject'
  message: string
  /** The error's stable code, when it has one (`CHECKSUM_MISMATCH`, `NOT_OWNER`, ...). */
  code?: string
  at: number
}

export interface ScenarioOutcome {
  id: number
  scenario: string
  outcome: 'effective' | 'failed'
  at: number
  message?: string
}

export interface ScenarioContext {
  webspace: string
  effective: (ScenarioRef & { since: number }) | null
  requested: ScenarioRequest | null
  /** The prepared switch, committed next (kept so a restarted commit has its input). */
  prepared: ScenarioRef | null
  error: ScenarioError | null
  requests: number
  history: ScenarioOutcome[]
  now: number
}

export interface ScenarioInput {
  webspace: string
}

export interface PrepareOutput {
  at: number
  scenario: ScenarioRef
}

export interface CommitOutput {
  at: number
}

/** Event creators: the operator's request and the hub's notice. */
export const scenarioEvents = {
  set: (name: string, at: number) => ({ type: 'scenario.set', name, at }) as const,
  reproject: (at: number) => ({ type: 'scenario.reproject', at }) as const,
}

export type ScenarioEvent = ReturnType<(typeof scenarioEvents)[keyof typeof scenarioEvents]>

const codeOf = (e: unknown): { code?: string } =>
  typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string' ? { code: e.code } : {}

/** The effects' placeholders: a switch started without its runtime fails loudly. */
const unbound = <O, I>(what: string) =>
  fromPromise<O, I>(() => Promise.reject(new Error(`scenarioSwitch: effect "${what}" is provided by runtime/skills`)))

const machine = setup({
  types: {
    context: {} as ScenarioContext,
    events: {} as ScenarioEvent,
    input: {} as ScenarioInput,
  },
  actors: {
    prepare: unbound<PrepareOutput, { webspace: string; name: string }>('prepare'),
    commit: unbound<CommitOutput, { webspace: string; scenario: ScenarioRef }>('commit'),
  },
  guards: {
    hasEffective: ({ context }) => context.effective !== null,
  },
  actions: {
    noteRequest: assign(({ context, event }) => {
      assertEvent(event, 'scenario.set')
      const id = context.requests + 1
      return { requests: id, requested: { id, name: event.name, at: event.at }, now: Math.max(context.now, event.at) }
    }),
    notePrepared: assign((_, o: PrepareOutput) => ({ prepared: o.scenario })),
    committed: assign(({ context }, o: CommitOutput) => {
      const r = context.requested!
      return {
        effective: { ...context.prepared!, since: o.at },
        prepared: null,
        requested: null,
        error: null,
        now: Math.max(context.now, o.at),
        history: [...context.history, { id: r.id, scenario: r.name, outcome: 'effective' as const, at: o.at }].slice(
          -10,
        ),
      }
    }),
    /** prepare or commit failed: the previous scenario stays effective. */
    switchFailed: assign(({ context }, p: { step: 'prepare' | 'commit'; error: unknown }) => {
      const r = context.requested!
      const message = errText(p.error)
      const at = context.now
      return {
        prepared: null,
        requested: null,
        error: { id: r.id, scenario: r.name, step: p.step, message, ...codeOf(p.error), at },
        history: [...context.history, { id: r.id, scenario: r.name, outcome: 'failed' as const, at, message }].slice(
          -10,
        ),
      }
    }),
    stampReproject: assign(({ context, event }) => {
      assertEvent(event, 'scenario.reproject')
      return { now: Math.max(context.now, event.at) }
    }),
    reprojectFailed: assign(({ context }, p: { error: unknown }) => ({
      error: {
        id: context.requests,
        scenario: context.effective?.name ?? '',
        step: 'reproject' as const,
        message: errText(p.error),
        at: context.now,
      },
    })),
  },
})

const failedAt = (step: 'prepare' | 'commit') =>
  ({
    type: 'switchFailed',
    params: (a: { event: { error: unknown } }) => ({ step, ...failure(a) }),
  }) as const

export const scenarioSwitch = machine.createMachine({
  id: 'scenarioSwitch',
  context: ({ input }) => ({
    webspace: input.webspace,
    effective: null,
    requested: null,
    prepared: null,
    error: null,
    requests: 0,
    history: [],
    now: 0,
  }),
  initial: 'settled',
  states: {
    settled: {
      on: {
        'scenario.set': { target: 'preparing', actions: 'noteRequest' },
        'scenario.reproject': { guard: 'hasEffective', target: 'reprojecting', actions: 'stampReproject' },
      },
    },
    // The new scenario's skills are loaded and checked; nothing is written yet.
    preparing: {
      invoke: {
        id: 'prepare',
        src: 'prepare',
        input: ({ context }) => ({ webspace: context.webspace, name: context.requested!.name }),
        onDone: { target: 'committing', actions: { type: 'notePrepared', params: output } },
        onError: { target: 'settled', actions: failedAt('prepare') },
      },
    },
    // One Yjs transaction, durable in LevelDB before the effect completes.
    committing: {
      invoke: {
        id: 'commit',
        src: 'commit',
        input: ({ context }) => ({ webspace: context.webspace, scenario: context.prepared! }),
        onDone: { target: 'settled', actions: { type: 'committed', params: output } },
        onError: { target: 'settled', actions: failedAt('commit') },
      },
    },
    // The webspace was restored or rebuilt: the effective scenario's projection is written again.
    reprojecting: {
      invoke: {
        id: 'reproject',
        src: 'commit',
        input: ({ context }) => ({ webspace: context.webspace, scenario: context.effective! }),
        onDone: { target: 'settled' },
        onError: { target: 'settled', actions: { type: 'reprojectFailed', params: failure } },
      },
    },
  },
})

export default scenarioSwitch
