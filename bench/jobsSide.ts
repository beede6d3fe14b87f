/**
 * One side of one round of bench/jobs.bench.ts, alone in its own process:
 * `node --expose-gc --import tsx bench/jobsSide.ts SIDE N`, SIDE one of `aether`,
 * `aether.keep-all`, `aether.nats`, `aether.nats.keep-all`, `bullmq`, `xstate-floor`. It runs
 * 2,000 jobs of its side unmeasured (module loading, cold code), then N measured, and prints one
 * JSON line:
 * `{"rate": jobs/s, "cpuPerJobUs": this process's CPU per job (all threads), ...}`; `aether.nats` adds
 * `workerCpuPerJobUs` (its worker process's CPU per job in the window); `bullmq` adds
 * `redisCpuPerJobUs` (the Redis server's CPU per job, from `INFO cpu`; it counts any other client
 * of that Redis too).
 *
 * Why a process per side: what one side leaves on the heap (a system that keeps every finished job
 * live holds 100,000 actors after a round) slows the next side's rounds through GC, so two sides in
 * one process measure each other.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createActor } from 'xstate'
import { createJobMachine } from '../machines/job.ts'
import { LocalWorker } from '../runtime/jobs/LocalWorker.ts'
import { stepRunner } from '../runtime/jobs/stepRunner.ts'
import { benchQueue, echoJobsRate } from './echoJobs.ts'
import { gc, procCpuUs } from './lib.ts'

/** Jobs per enqueue call, awaited one after the other, for both sides (BullMQ: `addBulk`). */
const CHUNK = 1000
const WARM_UP = 2000
const natsUrl = process.env.NATS_URL ?? 'nats://127.0.0.1:4222'

/**
 * A side's measured window: jobs/s and this process's CPU time in it (µs, all threads); over NATS,
 * the worker process's CPU in it too.
 */
interface Run {
  rate: number
  cpuUs: number
  workerCpuUs?: number
}
type Side = (n: number) => Promise<Run>

function cpuSince(c0: NodeJS.CpuUsage): number {
  const c = process.cpuUsage(c0)
  return c.user + c.system
}

async function aetherRun(n: number, mode: 'local' | 'nats', retention?: false): Promise<Run> {
  const { queue, close } = await benchQueue({ retention })
  queue.start()
  let bridge: { close(): Promise<void> } | undefined
  let worker: ChildProcess | undefined
  const stream = `BENCH_${process.pid}_${Date.now()}`
  if (mode === 'local') new LocalWorker(queue)
  else {
    const { NatsJobBridge } = await import('../runtime/jobs/natsJobs.ts')
    bridge = await NatsJobBridge.start(queue, { url: natsUrl, stream, maxInFlight: 4096 })
    worker = await startWorker(stream)
  }
  // Enqueued as the baseline enqueues: chunks of CHUNK, each awaited (durable) before the next.
  const c0 = process.cpuUsage()
  const w0 = worker && procCpuUs(`/proc/${worker.pid}/stat`)
  const rate = await echoJobsRate(queue, n, CHUNK)
  const cpuUs = cpuSince(c0)
  const workerCpuUs = worker && procCpuUs(`/proc/${worker.pid}/stat`) - w0!
  if (worker) await stopChild(worker)
  await bridge?.close()
  if (mode === 'nats') await deleteStream(stream)
  await close()
  return workerCpuUs === undefined ? { rate, cpuUs } : { rate, cpuUs, workerCpuUs }
}

function startWorker(stream: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'runtime/main.ts', 'worker', '--nats', natsUrl, '--stream', stream, '--concurrency', '512'],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    )
    child.stdout!.on('data', (d) => String(d).includes('aether worker ') && resolve(child))
    child.once('exit', (c) => reject(new Error(`aether worker exited ${c}`)))
  })
}

function stopChild(c: ChildProcess): Promise<void> {
  return new Promise((r) => {
    if (c.exitCode !== null) return r()
    c.removeAllListeners('exit')
    c.once('exit', () => r())
    c.kill('SIGTERM')
  })
}

async function deleteStream(stream: string): Promise<void> {
  const { connect } = await import('nats')
  const nc = await connect({ servers: natsUrl })
  try {
    await (await nc.jetstreamManager()).streams.delete(stream)
  } catch {
    // gone already
  }
  await nc.close()
}

/** Redis server CPU seconds (user + system) so far, from `INFO cpu`. */
async function redisCpu(): Promise<number> {
  const { Redis: IORedis } = await import('ioredis')
  const c = new IORedis({ host: '127.0.0.1', port: 6379 })
  const info = await c.info('cpu')
  c.disconnect()
  const field = (k: string) => Number(new RegExp(`^${k}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0)
  return field('used_cpu_user') + field('used_cpu_sys')
}

async function bullRun(n: number): Promise<Run> {
  const { Queue, Worker } = await import('bullmq')
  const { Redis: IORedis } = await import('ioredis')
  const opts = { host: '127.0.0.1', port: 6379, maxRetriesPerRequest: null }
  const c1 = new IORedis(opts)
  const c2 = new IORedis(opts)
  const name = `aether-bench-${process.pid}-${Date.now()}`
  const q = new Queue(name, { connection: c1 })
  let done = 0
  let resolve!: () => void
  const all = new Promise<void>((r) => (resolve = r))
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  const w = new Worker(name, async () => {}, { connection: c2, concurrency: 50 })
  w.on('completed', () => {
    if (++done === n) resolve()
  })
  for (let i = 0; i < n; i += CHUNK)
    await q.addBulk(Array.from({ length: Math.min(CHUNK, n - i) }, (_, k) => ({ name: 'echo', data: { i: i + k } })))
  await all
  const rate = n / ((performance.now() - t0) / 1000)
  const cpuUs = cpuSince(c0)
  await w.close()
  await q.obliterate({ force: true })
  await q.close()
  c1.disconnect()
  c2.disconnect()
  return { rate, cpuUs }
}

// The same echo job machine under XState alone (createActor per job, the step answered in-process;
// no journal, no queue).
const floorMachine = createJobMachine({ name: 'echo', steps: [{ name: 'echo', retry: { maxAttempts: 1 } }] }).provide({
  actions: { ...stepRunner(async (task) => task.input), notify: () => {} } as any,
})
async function xstateFloor(n: number): Promise<Run> {
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  let done = 0
  await new Promise<void>((resolve) => {
    for (let i = 0; i < n; i++) {
      const a = createActor(floorMachine, { input: { id: `job-${i}`, type: 'echo', input: { i }, lease: 'local' } })
      a.subscribe({ complete: () => ++done === n && resolve() })
      a.start()
    }
  })
  return { rate: n / ((performance.now() - t0) / 1000), cpuUs: cpuSince(c0) }
}

const sides: Record<string, Side> = {
  aether: (n) => aetherRun(n, 'local'),
  'aether.keep-all': (n) => aetherRun(n, 'local', false),
  'aether.nats': (n) => aetherRun(n, 'nats'),
  'aether.nats.keep-all': (n) => aetherRun(n, 'nats', false),
  bullmq: bullRun,
  'xstate-floor': xstateFloor,
}

const [name, count] = process.argv.slice(2)
const side = sides[name]
const n = Number(count)
if (!side || !(n > 0)) {
  console.error(`usage: bench/jobsSide.ts (${Object.keys(sides).join('|')}) N`)
  process.exit(2)
}
await side(WARM_UP)
gc()
const redis0 = name === 'bullmq' ? await redisCpu() : 0
const { rate, cpuUs, workerCpuUs } = await side(n)
const out: Record<string, number> = { rate, cpuPerJobUs: cpuUs / n }
if (workerCpuUs !== undefined) out.workerCpuPerJobUs = workerCpuUs / n
// The Redis window also holds the queue's set-up and obliterate (small against N jobs).
if (name === 'bullmq') out.redisCpuPerJobUs = (((await redisCpu()) - redis0) * 1e6) / n
console.log(JSON.stringify(out))
process.exit(0)
