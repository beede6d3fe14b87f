/**
 * The role router: routes a task to its role's ordered list of {provider, model} and falls back
 * along it on error, timeout or 429. Each provider has a circuit breaker, hosted as an actor
 * (`agent-breaker.<provider>`, machines/circuitBreaker.ts): an open breaker is skipped without a
 * call. Each task is a Class B request: its id (the session effect's idempotency key) keys the
 * answer cache, so the same request id is answered once by a provider and afterwards from the
 * cache. Failures resolve as `{ok: false}` with a redacted error: the caller journals the
 * outcome, so nothing here may carry a key.
 */
import { performance } from 'node:perf_hooks'
import type { ActorSystem } from '../../actors/index.ts'
import { breakerEvents, canCall, circuitBreaker } from '../../machines/circuitBreaker.ts'
import type { TaskResult } from '../../machines/agentSession.ts'
import type { AnswerCache } from './AnswerCache.ts'
import type { Harness } from './harness.ts'
import { createProvider, ProviderError, type ChatMessage, type ModelProvider } from './providers.ts'
import type { Secrets } from './redact.ts'
import { failpoint } from './failpoint.ts'

export interface Attempt {
  provider: string
  model: string
  outcome: 'ok' | 'skipped' | 'RATE_LIMITED' | 'TIMEOUT' | 'HTTP_ERROR' | 'NETWORK' | 'BAD_RESPONSE' | 'KEY_MISSING'
  ms: number
  message?: string
}

export interface ScheduledResult extends TaskResult {
  attempts: Attempt[]
}

export interface RunRequest {
  requestId: string
  role: string
  messages: ChatMessage[]
  signal?: AbortSignal
}

export interface RoleRouterOptions {
  system: ActorSystem
  harness: Harness
  secrets: Secrets
  cache: AnswerCache
  /** Where fallback and breaker notes go (redacted); default: nowhere. */
  log?: (line: string) => void
}

export const breakerPath = (provider: string) => `agent-breaker.${provider}`

export class RoleRouter {
  readonly providers = new Map<string, ModelProvider>()
  readonly stats = { tasks: 0, answered: 0, cached: 0, failed: 0, fallbacks: 0, calls: 0 }
  private log: (line: string) => void

  private constructor(private opts: RoleRouterOptions) {
    this.log = opts.log ?? (() => {})
    for (const [name, spec] of Object.entries(opts.harness.providers))
      this.providers.set(name, createProvider(name, spec, opts.secrets))
  }

  /** Creates the router and spawns a breaker actor per provider. */
  static async start(opts: RoleRouterOptions): Promise<RoleRouter> {
    const s = new RoleRouter(opts)
    const { threshold, cooldownMs } = opts.harness.breaker
    for (const name of s.providers.keys()) {
      const path = breakerPath(name)
      if (!opts.system.hosted(path))
        await opts.system.spawn(path, circuitBreaker, { input: { provider: name, threshold, cooldownMs } })
    }
    return s
  }

  /** The breaker state of `provider` (`closed`, `open`, `halfOpen`). */
  breakerState(provider: string): { value: string; failures: number; opened: number } {
    const snap = this.opts.system.hosted(breakerPath(provider))?.actor?.getSnapshot()
    return {
      value: String(snap?.value ?? 'closed'),
      failures: snap?.context.failures ?? 0,
      opened: snap?.context.opened ?? 0,
    }
  }

  async run(req: RunRequest): Promise<ScheduledResult> {
    const { harness, cache, secrets, system } = this.opts
    const t0 = performance.now()
    this.stats.tasks++
    const hit = await cache.get(req.requestId)
    if (hit) {
      this.stats.cached++
      return {
        ok: true,
        text: hit.text,
        provider: hit.provider,
        model: hit.model,
        fallbacks: hit.fallbacks,
        cached: true,
        requestId: req.requestId,
        latencyMs: ms(t0),
        attempts: [],
      }
    }
    const route = harness.roles[req.role]
    if (!route) {
      this.stats.failed++
      const known = Object.keys(harness.roles).join(', ')
      return {
        ok: false,
        fallbacks: 0,
        cached: false,
        requestId: req.requestId,
        latencyMs: ms(t0),
        attempts: [],
        error: { code: 'ROLE_UNMAPPED', message: `no role "${req.role}" in the harness (it has: ${known})` },
      }
    }
    const attempts: Attempt[] = []
    for (const entry of route) {
      if (req.signal?.aborted) break
      const path = breakerPath(entry.provider)
      const snap = system.hosted(path)?.actor?.getSnapshot()
      const gate = snap ? canCall(snap.value, snap.context) : 'yes'
      if (gate === 'no') {
        attempts.push({
          provider: entry.provider,
          model: entry.model,
          outcome: 'skipped',
          ms: 0,
          message: 'circuit open',
        })
        continue
      }
      if (gate === 'trial') system.send(path, breakerEvents.trial())
      const a0 = performance.now()
      this.stats.calls++
      try {
        const answer = await this.providers.get(entry.provider)!.chat({
          model: entry.model,
          messages: req.messages,
          requestId: req.requestId,
          timeoutMs: entry.timeoutMs ?? harness.providers[entry.provider].timeoutMs ?? harness.timeoutMs,
          signal: req.signal,
        })
        system.send(path, breakerEvents.success())
        attempts.push({ provider: entry.provider, model: entry.model, outcome: 'ok', ms: ms(a0) })
        const fallbacks = attempts.length - 1
        await cache.put(req.requestId, {
          text: answer.text,
          provider: entry.provider,
          model: entry.model,
          fallbacks,
          at: Date.now(),
        })
        failpoint('agent.answer-cached')
        this.stats.answered++
        this.stats.fallbacks += fallbacks
        return {
          ok: true,
          text: answer.text,
          provider: entry.provider,
          model: entry.model,
          fallbacks,
          cached: false,
          requestId: req.requestId,
          latencyMs: ms(t0),
          attempts,
        }
      } catch (err) {
        const e =
          err instanceof ProviderError
            ? err
            : new ProviderError('NETWORK', entry.provider, (err as Error)?.message ?? String(err))
        if (e.code === 'ABORTED') break
        system.send(path, breakerEvents.failure(e.code))
        const message = secrets.redact(e.message)
        attempts.push({ provider: entry.provider, model: entry.model, outcome: e.code, ms: ms(a0), message })
        this.log(
          `[agent] ${req.role} ${req.requestId}: ${entry.provider}/${entry.model} failed (${message}); ${attempts.length < route.length ? 'falling back' : 'no more fallbacks'}`,
        )
      }
    }
    this.stats.failed++
    const summary = attempts
      .map(
        (a) =>
          `${a.provider}/${a.model}: ${a.outcome === 'skipped' ? 'skipped (circuit open)' : (a.message ?? a.outcome)}`,
      )
      .join('; ')
    return {
      ok: false,
      fallbacks: attempts.length,
      cached: false,
      requestId: req.requestId,
      latencyMs: ms(t0),
      attempts,
      error: req.signal?.aborted
        ? { code: 'CANCELLED', message: 'the task was cancelled' }
        : {
            code: 'ALL_PROVIDERS_FAILED',
            message: secrets.redact(`every provider of role "${req.role}" failed: ${summary}`),
          },
    }
  }
}

const ms = (t0: number) => Math.round((performance.now() - t0) * 100) / 100
