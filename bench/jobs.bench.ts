/**
 * Jobs end to end against BullMQ, in the same run.
 *
 * - `jobs.e2e`: jobs/s from the first enqueue to the last COMPLETED for N `echo` jobs, every job a
 *   durable actor journaled in LevelDB with fsync `batch`, run by the in-process worker; against
 *   BullMQ (ioredis, local Redis 127.0.0.1:6379): `addBulk` in chunks of 1000 and one Worker of
 *   concurrency 50 with a no-op processor, from the first add to the last `completed`.
 * - `jobs.e2e.nats` (information, no goal in the issue): the same jobs with their steps run by one
 *   `aether worker` process over JetStream (the nats-server at 127.0.0.1:4222, a stream of its
 *   own), against the same baseline; `workerCpuPerJobUs`: the worker process's CPU per job.
 * - `jobs.e2e.nats.keep-all` (information): jobs.e2e.nats with retention off, as keep-all below.
 * - `jobs.e2e.keep-all` (information): jobs.e2e with retention off (every finished job stays live,
 *   nothing archived), against the same BullMQ rounds: what retention (docs/jobs.md) costs.
 * - `jobs.xstate-floor` (information): the same job machine under bare XState (one XState `Actor`
 *   per job), no journal and no queue, against the same BullMQ rounds. Aether's host runs job
 *   machines pure (actors/PureActor.ts: XState's transition functions, no `Actor`, and the
 *   transition memo), so this is a reference point, not a ceiling.
 *
 * Every side of every round runs in a process of its own (bench/jobsSide.ts: 2,000 jobs unmeasured,
 * then N measured), one after the other, in the order BullMQ, aether, floor, keep-all per round: what
 * one side leaves on its heap (a run with retention off holds N finished jobs) would otherwise slow
 * the next side's rounds in the same process. `cpuPerJobUs` in the JSON: the measured process's CPU
 * time per job (all threads, LevelDB's included), median of the rounds; it moves less with the load
 * of a shared machine than the rates do. For BullMQ, `baselineCpuPerJobUs` (the client process) and
 * `redisCpuPerJobUs` (the Redis server, from `INFO cpu`).
 *
 * `npm run bench -- jobs [--json] [--quick]`; N = 50 000 (10 000 with --quick).
 */
import { isolated, median, printTable, quick, report } from './lib.ts'

const N = quick ? 10_000 : 50_000
const ROUNDS = quick ? 1 : 3

type Run = Record<string, number>
const side = (name: string): Promise<Run> => isolated('bench/jobsSide.ts', [name, String(N)])
const med = (runs: Run[], k: string) => Math.round(median(runs.map((r) => r[k])) * 10) / 10
const rates = (runs: Run[]) => runs.map((r) => Math.round(r.rate))

const bull: Run[] = []
const e2e: Run[] = []
const floor: Run[] = []
const keepAll: Run[] = []
for (let i = 0; i < ROUNDS; i++) {
  bull.push(await side('bullmq'))
  e2e.push(await side('aether'))
  floor.push(await side('xstate-floor'))
  keepAll.push(await side('aether.keep-all'))
}
const b = median(bull.map((r) => r.rate))
const baselineCpu = { baselineCpuPerJobUs: med(bull, 'cpuPerJobUs'), redisCpuPerJobUs: med(bull, 'redisCpuPerJobUs') }
const a = median(e2e.map((r) => r.rate))
report({
  figure: 'jobs.e2e',
  aether: a,
  baseline: b,
  ratio: a / b,
  unit: `jobs/s (${N} echo jobs, enqueue -> COMPLETED; baseline BullMQ concurrency 50)`,
  goal: '>= 2.0',
  pass: a / b >= 2.0,
  rounds: { aether: rates(e2e), baseline: rates(bull) },
  cpuPerJobUs: med(e2e, 'cpuPerJobUs'),
  ...baselineCpu,
})
const f = median(floor.map((r) => r.rate))
report({
  figure: 'jobs.xstate-floor',
  aether: f,
  baseline: b,
  ratio: f / b,
  unit: `jobs/s (${N} echo job machines under bare XState, no journal, no host; baseline: the same BullMQ rounds as jobs.e2e)`,
  rounds: { aether: rates(floor), baseline: rates(bull) },
})
const k = median(keepAll.map((r) => r.rate))
report({
  figure: 'jobs.e2e.keep-all',
  aether: k,
  baseline: b,
  ratio: k / b,
  unit: `jobs/s (jobs.e2e with retention off: no finished job archived, as before issue 16; baseline: the same BullMQ rounds)`,
  rounds: { aether: rates(keepAll), baseline: rates(bull) },
  cpuPerJobUs: med(keepAll, 'cpuPerJobUs'),
})

try {
  const nbull: Run[] = []
  const nats: Run[] = []
  const natsKeepAll: Run[] = []
  for (let i = 0; i < (quick ? 1 : 2); i++) {
    nbull.push(await side('bullmq'))
    nats.push(await side('aether.nats'))
    natsKeepAll.push(await side('aether.nats.keep-all'))
  }
  const na = median(nats.map((r) => r.rate))
  const nb = median(nbull.map((r) => r.rate))
  report({
    figure: 'jobs.e2e.nats',
    aether: na,
    baseline: nb,
    ratio: na / nb,
    // information: the issue sets its goal on jobs.e2e and asks for this figure beside it
    unit: `jobs/s (${N} echo jobs over JetStream, 1 aether worker process; baseline BullMQ concurrency 50)`,
    rounds: { aether: rates(nats), baseline: rates(nbull) },
    cpuPerJobUs: med(nats, 'cpuPerJobUs'),
    workerCpuPerJobUs: med(nats, 'workerCpuPerJobUs'),
  })
  const nk = median(natsKeepAll.map((r) => r.rate))
  report({
    figure: 'jobs.e2e.nats.keep-all',
    aether: nk,
    baseline: nb,
    ratio: nk / nb,
    unit: `jobs/s (jobs.e2e.nats with retention off, as before issue 16; baseline: the same BullMQ rounds)`,
    rounds: { aether: rates(natsKeepAll), baseline: rates(nbull) },
    cpuPerJobUs: med(natsKeepAll, 'cpuPerJobUs'),
    workerCpuPerJobUs: med(natsKeepAll, 'workerCpuPerJobUs'),
  })
} catch (err) {
  const url = process.env.NATS_URL ?? 'nats://127.0.0.1:4222'
  console.error(`jobs.e2e.nats: ${(err as Error).message} (is a nats-server with JetStream at ${url}?)`)
}

printTable('jobs: end to end against BullMQ (same run)')
process.exit(0)
