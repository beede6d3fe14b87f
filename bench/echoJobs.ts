/** The jobs benches' common parts: a queue of the built-in job types on LevelDB, and the measured run. */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ActorSystem } from '../actors/index.ts'
import { LevelStore } from '../runtime/LevelStore.ts'
import { JobQueue, type JobQueueOptions } from '../runtime/jobs/JobQueue.ts'
import { builtinJobTypes } from '../runtime/jobs/jobTypes.ts'
import { procCpuUs } from './lib.ts'

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
  const profile = await windowProfile()
  const threads = threadsReport(queue, n)
  const t0 = performance.now()
  for (let i = 0; i < n; i += chunk) {
    const part: Promise<unknown>[] = []
    for (let k = i; k < Math.min(n, i + chunk); k++) part.push(queue.submit({ type: 'echo', input: { i: k } }))
    await Promise.all(part)
  }
  await all
  const rate = n / ((performance.now() - t0) / 1000)
  await profile?.()
  threads?.()
  stop()
  return rate
}

/**
 * With AETHER_BENCH_PROFILE=FILE set, a CPU profile of the measured window only (not start-up or
 * close), written to FILE (open it in Chrome's DevTools); with AETHER_BENCH_HEAP_PROFILE=FILE, a
 * sampling heap profile of what the window allocated (collected or not). The function it returns
 * ends them.
 */
async function windowProfile(): Promise<(() => Promise<void>) | undefined> {
  const file = process.env.AETHER_BENCH_PROFILE
  const heap = process.env.AETHER_BENCH_HEAP_PROFILE
  if (!file && !heap) return undefined
  const { Session } = await import('node:inspector/promises')
  const { writeFileSync } = await import('node:fs')
  const s = new Session()
  s.connect()
  if (file) {
    await s.post('Profiler.enable')
    await s.post('Profiler.start')
  }
  if (heap) {
    await s.post('HeapProfiler.enable')
    // every allocation sampled (about one per 8 KB), including what GC collected since
    await s.post('HeapProfiler.startSampling', {
      samplingInterval: 8192,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    } as any)
  }
  return async () => {
    if (file) writeFileSync(file, JSON.stringify((await s.post('Profiler.stop')).profile))
    if (heap) writeFileSync(heap, JSON.stringify((await s.post('HeapProfiler.stopSampling')).profile))
    s.disconnect()
  }
}

/**
 * With AETHER_BENCH_THREADS=1, a report of the window to stderr (the function returned prints it):
 * `{"main": µs/job, "others": "OFFSET:µs/job ...", heapPerJob, batches, opsPerBatch}`. Each other
 * thread is named by its id's offset from the main thread's: on Node 20 the V8 platform workers (GC
 * and the optimizing compiler) are the first four, then libuv's pool (LevelDB's reads and writes),
 * then LevelDB's own compaction thread. `heapPerJob`: the heap after a full GC, in bytes per job
 * (what stays live); `batches` and `opsPerBatch`: the journal's group commits and their mean size.
 */
function threadsReport(queue: JobQueue, n: number): (() => void) | undefined {
  if (!process.env.AETHER_BENCH_THREADS) return undefined
  const cpu0 = threadCpu()
  const j0 = { ...queue.system.journal?.stats }
  return () => {
    const others: string[] = []
    let main = 0
    for (const [tid, us] of threadCpu()) {
      const perJob = (us - (cpu0.get(tid) ?? 0)) / n
      if (tid === process.pid) main = perJob
      else others.push(`${tid - process.pid}:${perJob.toFixed(1)}`)
    }
    ;(globalThis as { gc?: () => void }).gc?.()
    const heapPerJob = Math.round(process.memoryUsage().heapUsed / n)
    const j = queue.system.journal?.stats
    const batches = (j?.batches ?? 0) - (j0.batches ?? 0)
    const opsPerBatch = batches ? +(((j?.ops ?? 0) - (j0.ops ?? 0)) / batches).toFixed(1) : 0
    console.error(
      JSON.stringify({ main: +main.toFixed(1), others: others.join(' '), heapPerJob, batches, opsPerBatch }),
    )
  }
}

/** This process's CPU time so far per thread id, in µs. */
function threadCpu(): Map<number, number> {
  const out = new Map<number, number>()
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      out.set(Number(tid), procCpuUs(`/proc/self/task/${tid}/stat`))
    } catch {
      // the thread ended meanwhile
    }
  }
  return out
}
