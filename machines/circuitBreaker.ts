/**
 * circuitBreaker: one per model provider. Driven by the role router (runtime/agent/RoleRouter.ts), which reports each call's
 * outcome (`breaker.success`, `breaker.failure`) and asks for a trial call while half-open
 * (`breaker.trial`); the cooldown is a delayed transition on the host clock.
 *
 * Promises: `closed` lets every call through and opens after `threshold` consecutive failures;
 * `open` lets nothing through for `cooldownMs`; `halfOpen` lets exactly one trial call through
 * (the first `breaker.trial` takes it, `trialInFlight` is then true): its success closes the
 * breaker, its failure opens it again for another cooldown. Callers decide with `canCall`.
 */
import { assertEvent, assign, setup } from 'xstate'

export interface CircuitBreakerInput {
  provider: string
  /** Consecutive failures that open the breaker (default 3). */
  threshold?: number
  /** How long an open breaker stays open before a trial call (default 30 s). */
  cooldownMs?: number
}

export interface CircuitBreakerContext {
  provider: string
  threshold: number
  cooldownMs: number
  failures: number
  trialInFlight: boolean
  /** Times the breaker opened (for the inspector and benchmarks). */
  opened: number
  lastError: string | null
}

/** Event creators: what the role router reports and asks. */
export const breakerEvents = {
  success: () => ({ type: 'breaker.success' }) as const,
  failure: (reason?: string) => ({ type: 'breaker.failure', reason }) as const,
  trial: () => ({ type: 'breaker.trial' }) as const,
  reset: () => ({ type: 'breaker.reset' }) as const,
}

/** Every event a breaker takes (built by `breakerEvents`). */
export type CircuitBreakerEvent = ReturnType<(typeof breakerEvents)[keyof typeof breakerEvents]>

export const circuitBreaker = setup({
  types: {
    context: {} as CircuitBreakerContext,
    events: {} as CircuitBreakerEvent,
    input: {} as CircuitBreakerInput,
  },
  guards: {
    reachedThreshold: ({ context }) => context.failures + 1 >= context.threshold,
    trialFree: ({ context }) => !context.trialInFlight,
  },
  delays: {
    cooldown: ({ context }) => context.cooldownMs,
  },
  actions: {
    countFailure: assign({
      failures: ({ context }) => context.failures + 1,
      lastError: ({ event }) => {
        assertEvent(event, 'breaker.failure')
        return event.reason ?? 'failure'
      },
    }),
    takeTrial: assign({ trialInFlight: true }),
    markOpened: assign({ opened: ({ context }) => context.opened + 1, trialInFlight: false }),
    clearFailures: assign({ failures: 0, trialInFlight: false }),
  },
}).createMachine({
  id: 'circuitBreaker',
  context: ({ input }) => ({
    provider: input.provider,
    threshold: Math.max(1, input.threshold ?? 3),
    cooldownMs: Math.max(0, input.cooldownMs ?? 30_000),
    failures: 0,
    trialInFlight: false,
    opened: 0,
    lastError: null,
  }),
  initial: 'closed',
  on: { 'breaker.reset': { target: '.closed', actions: 'clearFailures' } },
  states: {
    closed: {
      on: {
        'breaker.success': { actions: 'clearFailures' },
        'breaker.failure': [
          { guard: 'reachedThreshold', target: 'open', actions: ['countFailure', 'markOpened'] },
          { actions: 'countFailure' },
        ],
      },
    },
    open: {
      after: { cooldown: 'halfOpen' },
    },
    halfOpen: {
      on: {
        'breaker.trial': { guard: 'trialFree', actions: 'takeTrial' },
        'breaker.success': { target: 'closed', actions: 'clearFailures' },
        'breaker.failure': { target: 'open', actions: ['countFailure', 'markOpened'] },
      },
    },
  },
})

/** Whether a breaker in `value` with `context` lets a call through without a trial. */
export function canCall(value: unknown, context: Pick<CircuitBreakerContext, 'trialInFlight'>): 'yes' | 'trial' | 'no' {
  if (value === 'closed') return 'yes'
  if (value === 'halfOpen' && !context.trialInFlight) return 'trial'
  return 'no'
}

export default circuitBreaker
