/**
 * What tracing costs a hub's jobs, in the same run.
 *
 * - `tracing.jobs.e2e`: jobs/s from the first enqueue to the last COMPLETED for N `echo` jobs (as
 *   `jobs.e2e`: durable actors on LevelDB, fsync `batch`, the in-process worker) with tracing on,
 *   as a hub has it when OTEL_EXPORTER_OTLP_ENDPOINT is set (the job and step spans, the feed
 *   observer, the OTLP/HTTP exporter sending JSON to a collector on 127.0.0.1 that reads and
 *   drops the bodies); baseline: the same run with tracing off. The SDK's batch processor keeps
 *   at most 2048 spans waiting and drops the rest (its default); `collectorBytes` is what reached
 *   the collector (OTLP JSON) over all traced rounds. The collector runs in the bench's process.
 *
 * - `tracing.jobs.e2e.sampled`: the same with AETHER_OTEL_SAMPLE=0.1 (one job in ten recorded).
 *
 * `npm run bench -- tracing [--json] [--quick]`; N = 20 000 (5 000 with --quick).
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { LocalWorker } from '../runtime/jobs/LocalWorker.ts'
import { ActorSpans } from '../runtime/tracing/actorSpans.ts'
import { JobSpans } from '../runtime/tracing/jobSpans.ts'
import { otelProvider } from '../runtime/tracing/otel.ts'
import { Tracing } from '../runtime/tracing/Tracing.ts'
import { benchQueue, echoJobsRate } from './echoJobs.ts'
import { paired, printTable, quick, report } from './lib.ts'

const N = quick ? 5_000 : 20_000
const ROUNDS = quick ? 1 : 3
const CHUNK = 1000

let received = 0
const collector = createServer((req, res) => {
  req.on('data', (d: Buffer) => {
    received += d.length
  })
  req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'))
})
await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r))
const endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`

/** `sample`: the share of traces recorded (AETHER_OTEL_SAMPLE); undefined: tracing off. */
async function run(sample: number | undefined): Promise<number> {
  const traced = sample !== undefined
  const { system, queue, close } = await benchQueue()
  let tracing: Tracing | undefined
  let spans: { close(): void }[] = []
  if (traced) {
    const p = otelProvider({ endpoint, serviceName: 'aether-bench', delayMs: 1000, sampleRatio: sample })
    tracing = new Tracing(p.tracer, p.shutdown)
    spans = [new JobSpans(tracing, queue), new ActorSpans(tracing, system)]
  }
  queue.start()
  new LocalWorker(queue)
  const rate = await echoJobsRate(queue, N, CHUNK)
  for (const s of spans) s.close()
  await tracing?.close()
  await close()
  return rate
}

for (const [figure, sample] of [
  ['tracing.jobs.e2e', 1],
  ['tracing.jobs.e2e.sampled', 0.1],
] as const) {
  received = 0
  const r = await paired(
    ROUNDS,
    () => run(sample),
    () => run(undefined),
  )
  report({
    figure,
    aether: r.a,
    baseline: r.b,
    ratio: r.a / r.b,
    unit: `jobs/s (${N} echo jobs, enqueue -> COMPLETED, tracing on, AETHER_OTEL_SAMPLE=${sample}; baseline: tracing off)`,
    rounds: { on: r.as.map(Math.round), off: r.bs.map(Math.round) },
    collectorBytes: received,
  })
}
collector.close()
printTable('tracing: jobs end to end, tracing on vs off (same run)')
process.exit(0)
