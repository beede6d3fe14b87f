/** The jobs benches' common parts: a queue of the built-in job types on LevelDB, and the measured run. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ActorSystem } from '../actors/index.ts'
import { LevelStore } from '../runtime/LevelStore.ts'
import { JobQueue, type JobQueueOptions } from '../runtime/jobs/JobQueue.ts'
import { builtinJobTypes } from '../runtime/jobs/jobTypes.ts'

/** A job queue (not started) with the built-in job types, on a fresh LevelDB folder (fsync `batch`). */
export async function benchQueue(
  opts: JobQueueOptions = {},
): Promise<{ system: ActorSystem; queue: JobQueue; close(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'aether-jobs-bench-'))
  const system = await ActorSystem.open({
    store: await LevelStore.open(dir),
    fsync: 'batch',
    machines: Object.fromEntries(builtinJobTypes.map((t) => [t.machineName, t.machine])),
  })
  const queue = new JobQueue(system, { seed: 7, ...opts })
  for (const t of builtinJobTypes) queue.addType(t)
  return {
    system,
    queue,
    async close() {
      queue.close()
      await system.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/**
 * Submits `n` echo jobs as the BullMQ baseline enqueues them (chunks of `chunk`, each awaited:
 * durable before the next) and resolves with jobs/s once all are COMPLETED.
 */
export async function echoJobsRate(queue: JobQueue, n: number, chunk: number): Promise<number> {
  let done = 0
  let resolve!: () => void
  const all = new Promise<void>((r) => (resolve = r))
  const stop = queue.listen((c) => {
    if (c.status === 'COMPLETED' && ++done === n) resolve()
  })
  const t0 = performance.now()
  for (let i = 0; i < n; i += chunk) {
    const part: Promise<unknown>[] = []
    for (let k = i; k < Math.min(n, i + chunk); k++) part.push(queue.submit({ type: 'echo', input: { i: k } }))
    await Promise.all(part)
  }
  await all
  const rate = n / ((performance.now() - t0) / 1000)
  stop()
  return rate
}
