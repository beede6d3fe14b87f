/**
 * The corpus's own job types, as an app (`aether replay test/corpus --app test/corpus/app.ts`):
 * the recorder (scripts/corpus/record.ts) runs them with `failures` set per scenario; replay
 * needs only their steps (names, retries), never runs them.
 */
import { defineApp } from '../../runtime/app.ts'
import { defineJobType } from '../../runtime/jobs/jobTypes.ts'

/** How many more times each step fails before it succeeds (set by the recorder). */
export const failures: Record<string, number> = {}

const step = (name: string, output: unknown) => async () => {
  if ((failures[name] ?? 0) > 0) {
    failures[name]--
    throw new Error(`${name}: carrier down`)
  }
  return output
}

/** Retries with backoff, then completes (or dead-letters when it fails more than 3 times). */
export const flaky = defineJobType('flaky', [
  { name: 'try', retry: { maxAttempts: 4, baseMs: 1000, factor: 3, maxMs: 60_000, jitter: 0.5 }, run: step('try', 'ok') },
])

/** Two steps; the second retries once. */
export const ship = defineJobType('ship', [
  { name: 'reserve', run: step('reserve', { sku: 'A-1', held: true }) },
  { name: 'label', retry: { maxAttempts: 2, baseMs: 10, jitter: 0 }, run: step('label', { tracking: 'T-42' }) },
])

export default defineApp({ name: 'corpus', jobTypes: [flaky, ship] })
