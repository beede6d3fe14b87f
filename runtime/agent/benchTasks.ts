/**
 * The 20-task agent benchmark: scripted tasks across the four built-in roles, each with an
 * instruction-following check that any capable model (and the test provider) passes: the answer
 * must contain the token the prompt asks for. It measures the harness, not model quality:
 * routing, fallbacks, breakers and latency against the configured providers.
 */
import { performance } from 'node:perf_hooks'
import { ActorSystem } from '../../actors/index.ts'
import { MemoryAnswerCache, type AnswerCache } from './AnswerCache.ts'
import type { Harness } from './harness.ts'
import type { ChatMessage } from './providers.ts'
import type { Secrets } from './redact.ts'
import { RoleRouter, type Attempt } from './RoleRouter.ts'
import benchTaskSpecs from './benchTasks.json' with { type: 'json' }

export interface BenchTask {
  id: string
  role: string
  prompt: string
  images?: string[]
  /** The answer must contain this (case-insensitive). */
  expect: string
}

// A 1x1 red PNG, so vision tasks carry a real image without touching the network.
const RED_PIXEL =
  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=='

/** A task as benchTasks.json states it: what to ask, the token to answer, whether it shows the pixel. */
interface TaskSpec {
  id: string
  role: string
  ask: string
  expect: string
  image?: 'red-pixel'
}

/** The tasks, from benchTasks.json (data, so that twenty rows of one shape are not code). */
export const BENCH_TASKS: BenchTask[] = (benchTaskSpecs as TaskSpec[]).map(({ id, role, ask, expect, image }) => ({
  id,
  role,
  prompt: `${ask}\nReply with exactly: ${expect}`,
  expect,
  ...(image ? { images: [RED_PIXEL] } : {}),
}))

export interface BenchRow {
  id: string
  role: string
  ok: boolean
  provider?: string
  model?: string
  fallbacks: number
  latencyMs: number
  error?: string
  attempts: Attempt[]
}

export interface BenchSummary {
  tasks: number
  passed: number
  fallbacks: number
  /** Tasks answered by another than their role's first choice. */
  tasksWithFallback: number
  latencyMs: { p50: number; p95: number; max: number }
  rows: BenchRow[]
}

export interface BenchOptions {
  harness: Harness
  secrets: Secrets
  tasks?: BenchTask[]
  cache?: AnswerCache
  log?: (line: string) => void
  /** Prefix of the request ids (unique per run by default). */
  runId?: string
}

/** Runs the benchmark tasks one after another through a fresh role router. */
export async function runBench(opts: BenchOptions): Promise<BenchSummary> {
  const system = await ActorSystem.open({ hostId: 'agent-bench' })
  try {
    const router = await RoleRouter.start({
      system,
      harness: opts.harness,
      secrets: opts.secrets,
      cache: opts.cache ?? new MemoryAnswerCache(),
      log: opts.log,
    })
    const runId = opts.runId ?? `bench-${Date.now().toString(36)}`
    const rows: BenchRow[] = []
    for (const task of opts.tasks ?? BENCH_TASKS) {
      const user: ChatMessage = { role: 'user', content: task.prompt }
      if (task.images) user.images = task.images
      const t0 = performance.now()
      const r = await router.run({ requestId: `${runId}/${task.id}`, role: task.role, messages: [user] })
      const latencyMs = Math.round((performance.now() - t0) * 100) / 100
      const ok = r.ok && (r.text ?? '').toLowerCase().includes(task.expect.toLowerCase())
      const row: BenchRow = {
        id: task.id,
        role: task.role,
        ok,
        fallbacks: r.fallbacks,
        latencyMs,
        attempts: r.attempts,
      }
      if (r.provider) row.provider = r.provider
      if (r.model) row.model = r.model
      if (!r.ok) row.error = r.error?.message
      else if (!ok)
        row.error = `the answer does not contain "${task.expect}": ${JSON.stringify((r.text ?? '').slice(0, 80))}`
      rows.push(row)
    }
    const lat = rows.map((r) => r.latencyMs).sort((a, b) => a - b)
    const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? 0
    return {
      tasks: rows.length,
      passed: rows.filter((r) => r.ok).length,
      fallbacks: rows.reduce((n, r) => n + (r.ok ? r.fallbacks : 0), 0),
      tasksWithFallback: rows.filter((r) => r.ok && r.fallbacks > 0).length,
      latencyMs: { p50: q(0.5), p95: q(0.95), max: lat[lat.length - 1] ?? 0 },
      rows,
    }
  } finally {
    await system.close()
  }
}

/** The summary as a text table. */
export function formatBench(s: BenchSummary): string {
  const head = ['task', 'role', 'answered by', 'fallbacks', 'ms', 'result']
  const rows = s.rows.map((r) => [
    r.id,
    r.role,
    r.provider ? `${r.provider}/${r.model}` : '-',
    String(r.fallbacks),
    r.latencyMs.toFixed(1),
    r.ok ? 'ok' : `FAILED: ${r.error ?? ''}`,
  ])
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (i === 5 ? 0 : r[i].length))))
  const line = (cells: string[]) => cells.map((c, i) => (i === 5 ? c : c.padEnd(w[i]))).join('  ')
  return [
    line(head),
    line(w.map((n, i) => (i === 5 ? '------' : '-'.repeat(n)))),
    ...rows.map(line),
    '',
    `success ${s.passed}/${s.tasks}, fallbacks ${s.fallbacks} (in ${s.tasksWithFallback} tasks), latency p50 ${s.latencyMs.p50} ms, p95 ${s.latencyMs.p95} ms, max ${s.latencyMs.max} ms`,
  ].join('\n')
}
