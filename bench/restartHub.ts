/**
 * The hub process of bench/restart.bench.ts: `node restartHub.mjs DATA_DIR [run N]`. Starts the
 * hub as `aether hub` does (every feature of hubFeatures, default job retention), prints
 * `READY <url> <ms of Hub.start> <actors>`; with `run N` it then runs N echo jobs and prints
 * `DONE` (the bench kills it with SIGKILL after either line: every restart is one after a crash).
 */
import { Hub } from '../runtime/Hub.ts'
import { hubFeatures } from '../runtime/hubFeatures.ts'
import type { JobsFeature } from '../runtime/jobs/jobsFeature.ts'

const [data, mode, count] = process.argv.slice(2)
const t0 = performance.now()
const features = hubFeatures()
const jobs = features.find((f) => f.name === 'jobs') as JobsFeature
const hub = await Hub.start({ data, token: 'bench', port: 0 }, features)
const ms = performance.now() - t0
console.log(`READY ${hub.url} ${ms.toFixed(1)} ${hub.system.list().length}`)
if (mode === 'run') {
  const n = Number(count)
  let done = 0
  const all = new Promise<void>((resolve) =>
    jobs.queue.listen((c) => {
      if (c.status === 'COMPLETED' && ++done === n) resolve()
    }),
  )
  for (let i = 0; i < n; i += 500) {
    const chunk: Promise<unknown>[] = []
    for (let k = i; k < Math.min(n, i + 500); k++) chunk.push(jobs.queue.submit({ type: 'echo', input: { live: k } }))
    await Promise.all(chunk)
  }
  await all
  await jobs.queue.retirement?.run()
  await hub.system.flush()
  console.log('DONE')
}
