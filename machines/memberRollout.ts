/**
 * memberRollout: one rollout of a version (or a rollback) over a cohort of member nodes, hosted by
 * the hub as a durable actor (issue 22). Each member's own supervisor does the update
 * (`updateTransition`, with its own live-media gate); this machine decides who is asked when.
 *
 * Driven by: the results of its effects (`requestWave` asks every member of a wave over the
 * member link, `healthGate` checks the updated members before the next wave), `member.progress`
 * (the hub reads each member's snapshot and reports the result of the request the rollout made),
 * `rollout.cancel` from an operator, and the durable wave deadline.
 *
 * Promises:
 * - Waves in order: the canary wave first, then the rest; a wave starts only after every member of
 *   the one before committed and the health gate passed.
 * - A member that refuses the request, or whose attempt rolls back or fails, halts the rollout:
 *   no further wave is asked (that member's supervisor has rolled it back; the others keep the
 *   version they have). A wave that does not finish within `waveDeadlineMs` halts it too.
 * - A cancel during a wave lets that wave finish and asks no further wave (`cancelled`); during
 *   the gate it ends the rollout at once.
 * - Each member is asked once per rollout: the request ids come from the effect's idempotency key
 *   (actors/effect.ts), so a hub restarted mid-wave repeats the same ids and the members answer the
 *   repeat with their first answer.
 * - Time comes only from `at` fields on events and effect outputs, so replay is exact.
 */
import { assertEvent, assign, fromPromise, setup } from 'xstate'
import { output } from './effectParams.ts'

export type RolloutAction = 'update' | 'rollback'
export type MemberProgress =
  | 'waiting'
  | 'requested'
  | 'refused'
  | 'committed'
  | 'rolled_back'
  | 'cancelled'
  | 'failed'
  | 'unreachable'
export type RolloutOutcome = 'completed' | 'halted' | 'cancelled'

/** Results of a member's attempt that end its part in the wave. */
const FINISHED: readonly MemberProgress[] = [
  'committed',
  'rolled_back',
  'cancelled',
  'failed',
  'refused',
  'unreachable',
]

export interface RolloutSettings {
  /** A wave must finish (every member's attempt ended) within this after its requests went out. */
  waveDeadlineMs: number
}

export interface RolloutMember {
  wave: number
  status: MemberProgress
  requestId?: string
  attempt?: number
  /** The member's update state last reported (`countdown`, `verifying`, ...). */
  state?: string
  reason?: string
  at?: number
}

export interface RolloutContext {
  id: string
  action: RolloutAction
  source?: string
  version?: string
  waves: string[][]
  wave: number
  members: Record<string, RolloutMember>
  settings: RolloutSettings
  cancel: { reason: string; at: number } | null
  outcome: RolloutOutcome | null
  reason: string | null
  startedAt: number
  now: number
}

export interface RolloutInput {
  id: string
  action?: RolloutAction
  source?: string
  version?: string
  /** In order: the first `canary` are the canary wave, the rest the second. */
  members: string[]
  canary?: number
  settings?: Partial<RolloutSettings>
  at: number
}

export type RolloutEvent =
  | {
      type: 'member.progress'
      member: string
      requestId: string
      result: 'pending' | 'committed' | 'rolled_back' | 'cancelled' | 'failed'
      attempt?: number
      state?: string
      reason?: string
      at: number
    }
  | { type: 'rollout.cancel'; reason: string; at: number }

/** One member's answer to the wave's request. */
export interface WaveReply {
  requestId: string
  ok: boolean
  attempt?: number
  state?: string
  code?: string
  message?: string
}
export interface WaveOutput {
  at: number
  replies: Record<string, WaveReply>
}
export interface GateOutput {
  at: number
  healthy: boolean
  reason?: string
}

export const defaultRolloutSettings: RolloutSettings = { waveDeadlineMs: 120_000 }

const notProvided = <O, I>(name: string) =>
  fromPromise<O, I>(async () => {
    throw new Error(`memberRollout: effect "${name}" is provided by the hub (runtime/members)`)
  })

/** The members of the current wave with their entries. */
const waveMembers = (c: RolloutContext): Array<[string, RolloutMember]> =>
  (c.waves[c.wave] ?? []).map((m) => [m, c.members[m]] as [string, RolloutMember])

const machine = setup({
  types: {
    context: {} as RolloutContext,
    events: {} as RolloutEvent,
    input: {} as RolloutInput,
  },
  actors: {
    requestWave: notProvided<
      WaveOutput,
      { rollout: string; wave: number; members: string[]; action: RolloutAction; source?: string; version?: string }
    >('requestWave'),
    healthGate: notProvided<GateOutput, { rollout: string; members: string[]; version?: string }>('healthGate'),
  },
  delays: {
    waveDeadline: ({ context }) => context.settings.waveDeadlineMs,
  },
  guards: {
    waveFailed: ({ context }) =>
      waveMembers(context).some(([, m]) => FINISHED.includes(m.status) && m.status !== 'committed'),
    waveDone: ({ context }) => waveMembers(context).every(([, m]) => m.status === 'committed'),
    cancelRequested: ({ context }) => context.cancel !== null,
    moreWaves: ({ context }) => context.wave + 1 < context.waves.length,
    healthy: (_, gate: GateOutput) => gate.healthy,
    ownProgress: ({ context, event }) => {
      assertEvent(event, 'member.progress')
      const m = context.members[event.member]
      return m?.wave === context.wave && m.requestId === event.requestId && !FINISHED.includes(m.status)
    },
    hasReason: ({ event }) => {
      assertEvent(event, 'rollout.cancel')
      return typeof event.reason === 'string' && event.reason.trim().length > 0
    },
  },
  actions: {
    stamp: assign({
      now: ({ context, event }) => {
        const e = event as { at?: unknown; output?: { at?: unknown } }
        const at = typeof e.at === 'number' ? e.at : typeof e.output?.at === 'number' ? e.output.at : undefined
        return at !== undefined && at > context.now ? at : context.now
      },
    }),
    noteReplies: assign({
      members: ({ context }, o: WaveOutput) => {
        const members = { ...context.members }
        for (const [name, m] of waveMembers(context)) {
          const r = o.replies[name]
          members[name] = !r
            ? { ...m, status: 'unreachable', reason: 'no answer to the request', at: o.at }
            : r.ok
              ? { ...m, status: 'requested', requestId: r.requestId, at: o.at, ...attemptOf(r) }
              : {
                  ...m,
                  status: r.code === 'UNREACHABLE' ? 'unreachable' : 'refused',
                  requestId: r.requestId,
                  reason: `${r.code ?? 'REFUSED'}: ${r.message ?? 'refused'}`,
                  at: o.at,
                }
        }
        return members
      },
    }),
    noteProgress: assign({
      members: ({ context, event }) => {
        assertEvent(event, 'member.progress')
        const m = context.members[event.member]
        const next: RolloutMember = {
          ...m,
          status: event.result === 'pending' ? 'requested' : event.result,
          at: event.at,
          ...(event.state !== undefined ? { state: event.state } : {}),
          ...(event.attempt !== undefined ? { attempt: event.attempt } : {}),
          ...(event.reason !== undefined ? { reason: event.reason } : {}),
        }
        return { ...context.members, [event.member]: next }
      },
    }),
    noteCancel: assign({
      cancel: ({ context, event }) => {
        assertEvent(event, 'rollout.cancel')
        return context.cancel ?? { reason: event.reason, at: event.at }
      },
    }),
    nextWave: assign({ wave: ({ context }) => context.wave + 1 }),
    // Timer events carry no time: a fired wave deadline means its delay has passed.
    afterDeadline: assign({
      now: ({ context }) => {
        const sent = Math.max(0, ...waveMembers(context).map(([, m]) => m.at ?? 0))
        return Math.max(context.now, sent + context.settings.waveDeadlineMs)
      },
    }),
    end: assign((_, params: { outcome: RolloutOutcome }) => ({ outcome: params.outcome })),
    haltForMembers: assign({
      reason: ({ context }) => {
        const bad = waveMembers(context).filter(([, m]) => m.status !== 'committed' && FINISHED.includes(m.status))
        return `wave ${context.wave + 1} of ${context.waves.length}: ${bad.map(([n, m]) => `${n} ${m.status}${m.reason ? ` (${m.reason})` : ''}`).join('; ')}`
      },
    }),
    haltWith: assign({ reason: (_, params: { reason: string }) => params.reason }),
    haltForGate: assign({
      reason: ({ context }, o: GateOutput) => `health gate before wave ${context.wave + 2}: ${o.reason ?? 'unhealthy'}`,
    }),
    haltForError: assign({
      reason: ({ context, event }) => {
        const e = (event as { error?: { message?: unknown } }).error
        return `wave ${context.wave + 1}: ${typeof e?.message === 'string' ? e.message : 'the effect failed'}`
      },
    }),
    cancelReason: assign({ reason: ({ context }) => `cancelled by operator: ${context.cancel?.reason ?? ''}` }),
  },
})

function attemptOf(r: WaveReply): Partial<RolloutMember> {
  return {
    ...(r.attempt !== undefined ? { attempt: r.attempt } : {}),
    ...(r.state !== undefined ? { state: r.state } : {}),
  }
}

const end = (outcome: RolloutOutcome) => ({ type: 'end', params: { outcome } }) as const
const cancelLater = { 'rollout.cancel': { guard: 'hasReason', actions: ['stamp', 'noteCancel'] } } as const

export const memberRollout = machine.createMachine({
  id: 'memberRollout',
  context: ({ input }) => {
    const canary = Math.max(1, Math.min(input.canary ?? 1, input.members.length))
    const waves = [input.members.slice(0, canary), input.members.slice(canary)].filter((w) => w.length > 0)
    const members: Record<string, RolloutMember> = {}
    waves.forEach((w, i) => {
      for (const m of w) members[m] = { wave: i, status: 'waiting' }
    })
    return {
      id: input.id,
      action: input.action ?? 'update',
      ...(input.source !== undefined ? { source: input.source } : {}),
      ...(input.version !== undefined ? { version: input.version } : {}),
      waves,
      wave: 0,
      members,
      settings: { ...defaultRolloutSettings, ...(input.settings ?? {}) },
      cancel: null,
      outcome: null,
      reason: null,
      startedAt: input.at,
      now: input.at,
    }
  },
  initial: 'requesting',
  states: {
    requesting: {
      invoke: {
        id: 'requestWave',
        src: 'requestWave',
        input: ({ context }) => ({
          rollout: context.id,
          wave: context.wave,
          members: context.waves[context.wave],
          action: context.action,
          ...(context.source !== undefined ? { source: context.source } : {}),
          ...(context.version !== undefined ? { version: context.version } : {}),
        }),
        onDone: { target: 'watching', actions: ['stamp', { type: 'noteReplies', params: output }] },
        onError: { target: 'halted', actions: 'haltForError' },
      },
      on: cancelLater,
    },
    watching: {
      always: [
        { guard: 'waveFailed', target: 'halted', actions: 'haltForMembers' },
        { guard: 'waveDone', target: 'waveDone' },
      ],
      after: {
        waveDeadline: {
          target: 'halted',
          actions: [
            'afterDeadline',
            { type: 'haltWith', params: { reason: 'the wave did not finish before the wave deadline' } },
          ],
        },
      },
      on: {
        ...cancelLater,
        'member.progress': { guard: 'ownProgress', actions: ['stamp', 'noteProgress'] },
      },
    },
    waveDone: {
      always: [
        { guard: 'cancelRequested', target: 'cancelled' },
        { guard: 'moreWaves', target: 'gate' },
        { target: 'completed' },
      ],
    },
    gate: {
      invoke: {
        id: 'healthGate',
        src: 'healthGate',
        input: ({ context }) => ({
          rollout: context.id,
          members: context.waves.slice(0, context.wave + 1).flat(),
          ...(context.version !== undefined ? { version: context.version } : {}),
        }),
        onDone: [
          { guard: { type: 'healthy', params: output }, target: 'requesting', actions: ['stamp', 'nextWave'] },
          { target: 'halted', actions: ['stamp', { type: 'haltForGate', params: output }] },
        ],
        onError: { target: 'halted', actions: 'haltForError' },
      },
      on: { 'rollout.cancel': { guard: 'hasReason', target: 'cancelled', actions: ['stamp', 'noteCancel'] } },
    },
    completed: { type: 'final', entry: end('completed') },
    halted: { type: 'final', entry: end('halted') },
    cancelled: { type: 'final', entry: ['cancelReason', end('cancelled')] },
  },
})

export default memberRollout
