/**
 * integration: one per optional piece of infrastructure the agent feature can use (the NATS link,
 * Redis, each model provider). Driven by its `probe` effect (runtime/ provides the real check:
 * a TCP handshake, a PING, a GET /models) and by delayed transitions on the host clock.
 *
 * Promises: it starts in `connecting` and never blocks anyone: callers read its state, they do
 * not wait on it. A probe that fails or exceeds `probeTimeoutMs` moves it to `degraded`; after a
 * backoff (`baseBackoffMs` doubling per failed attempt up to `maxBackoffMs`) it is `retrying`
 * (probing again). `ready` re-checks every `healthEveryMs`; a failed check makes it `degraded`.
 * A capability is usable only in `ready`.
 */
import { assign, fromPromise, setup } from 'xstate'
import { failure } from './effectParams.ts'

export interface IntegrationInput {
  name: string
  /** Where it points (shown to operators; never carries a secret). */
  target?: string
  probeTimeoutMs?: number
  baseBackoffMs?: number
  maxBackoffMs?: number
  healthEveryMs?: number
}

export interface IntegrationContext {
  name: string
  target: string | null
  probeTimeoutMs: number
  baseBackoffMs: number
  maxBackoffMs: number
  healthEveryMs: number
  /** Failed attempts since the last success. */
  attempts: number
  lastError: string | null
}

export type IntegrationEvent = { type: 'integration.check' }

export type IntegrationStatus = 'connecting' | 'ready' | 'degraded' | 'retrying'

/** The integration's status from a snapshot value (`ready` has sub-states). */
export function integrationStatus(value: unknown): IntegrationStatus {
  if (typeof value === 'string') return value as IntegrationStatus
  if (value && typeof value === 'object' && 'ready' in value) return 'ready'
  return 'connecting'
}

/** Backoff before the next attempt after `attempts` failures. */
export function backoffMs(ctx: Pick<IntegrationContext, 'attempts' | 'baseBackoffMs' | 'maxBackoffMs'>): number {
  return Math.min(ctx.maxBackoffMs, ctx.baseBackoffMs * 2 ** Math.max(0, ctx.attempts - 1))
}

const errorText = (e: unknown): string => (e instanceof Error ? e.message : typeof e === 'string' ? e : 'probe failed')

/** A state that runs one probe: `ok` on success, `down` on an error or no answer in time. */
function probing<Ok extends string, Down extends string>(ok: Ok, down: Down) {
  return {
    invoke: {
      id: 'probe',
      src: 'probe',
      input: ({ context }: { context: { name: string; target: string | null } }) => ({
        name: context.name,
        target: context.target,
      }),
      onDone: { target: ok, actions: 'succeeded' },
      onError: {
        target: down,
        actions: { type: 'failed', params: failure },
      },
    },
    after: { probeTimeout: { target: down, actions: 'timedOut' } },
  } as const
}

export const integration = setup({
  types: {
    context: {} as IntegrationContext,
    events: {} as IntegrationEvent,
    input: {} as IntegrationInput,
  },
  actors: {
    // Placeholder: runtime/agent/integrations.ts provides the real check.
    probe: fromPromise<void, { name: string; target: string | null }>(async () => {
      throw new Error('no probe provided')
    }),
  },
  delays: {
    probeTimeout: ({ context }) => context.probeTimeoutMs,
    backoff: ({ context }) => backoffMs(context),
    healthEvery: ({ context }) => context.healthEveryMs,
  },
  actions: {
    succeeded: assign({ attempts: 0, lastError: null }),
    failed: assign({
      attempts: ({ context }) => context.attempts + 1,
      lastError: (_, failure: { error: unknown }) => errorText(failure.error),
    }),
    timedOut: assign({
      attempts: ({ context }) => context.attempts + 1,
      lastError: ({ context }) => `no answer within ${context.probeTimeoutMs} ms`,
    }),
  },
}).createMachine({
  id: 'integration',
  context: ({ input }) => ({
    name: input.name,
    target: input.target ?? null,
    probeTimeoutMs: input.probeTimeoutMs ?? 2_000,
    baseBackoffMs: input.baseBackoffMs ?? 500,
    maxBackoffMs: input.maxBackoffMs ?? 30_000,
    healthEveryMs: input.healthEveryMs ?? 15_000,
    attempts: 0,
    lastError: null,
  }),
  initial: 'connecting',
  states: {
    connecting: probing('ready', 'degraded'),
    degraded: {
      after: { backoff: 'retrying' },
      on: { 'integration.check': 'retrying' },
    },
    retrying: probing('ready', 'degraded'),
    ready: {
      initial: 'idle',
      states: {
        idle: {
          after: { healthEvery: 'checking' },
          on: { 'integration.check': 'checking' },
        },
        checking: probing('idle', '#integration.degraded'),
      },
    },
  },
})

export default integration
