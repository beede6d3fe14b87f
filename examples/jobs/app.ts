/**
 * A job type with retries, as an app: `npx aether hub --app examples/jobs/app.ts`, then
 * `POST /api/jobs {"type":"ship","input":{"sku":"tea"},"key":"order-7"}`. The carrier is busy on
 * the first two attempts of `label`; the third succeeds, after backoff, and the job completes.
 */
import { defineApp, defineJobType } from 'aether'

export const ship = defineJobType('ship', [
  {
    name: 'reserve',
    // `key` is `<jobId>/reserve` on every attempt: pass it to the warehouse, so a retry is harmless
    run: async ({ input, key }) => ({ sku: String(input?.sku ?? 'unknown'), reservation: key }),
  },
  {
    name: 'label',
    run: async ({ attempt, results }) => {
      if (attempt < 3) throw new Error(`carrier busy (attempt ${attempt})`)
      return { label: `label-${(results.reserve as { sku: string }).sku}`, attempts: attempt }
    },
    retry: { maxAttempts: 3, baseMs: 50, factor: 2, jitter: 0 },
    timeoutMs: 5_000,
  },
])

export default defineApp({ name: 'jobs example', jobTypes: [ship] })
