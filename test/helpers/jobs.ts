/** Helpers for job queue tests: an actor system on LevelDB (memory-level or a temp folder) with a JobQueue on a SimulatedClock. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MemoryLevel } from 'memory-level'
import { ActorSystem, SimulatedClock } from '../../actors/index.ts'
import { LevelStore } from '../../runtime/LevelStore.ts'
import { JobQueue, type JobQueueOptions } from '../../runtime/jobs/JobQueue.ts'
import { builtinJobTypes, type JobType } from '../../runtime/jobs/jobTypes.ts'

export interface JobRig {
  system: ActorSystem
  queue: JobQueue
  clock: SimulatedClock
  store: LevelStore
  settle(): Promise<void>
  close(): Promise<void>
}

/** Lets the journal commit and the effects' promises run, until nothing is pending. */
export async function settleSystem(system: ActorSystem): Promise<void> {
  for (let i = 0; i < 20; i++) {
    await system.flush()
    await new Promise((r) => setImmediate(r))
    if (!system.journal?.pending) {
      await new Promise((r) => setImmediate(r))
      if (!system.journal?.pending) return
    }
  }
}

export async function jobRig(types: JobType[] = [], opts: JobQueueOptions & { dir?: string } = {}): Promise<JobRig> {
  const clock = new SimulatedClock(1_000_000)
  const store = opts.dir
    ? await LevelStore.open(opts.dir)
    : new LevelStore(new MemoryLevel({ keyEncoding: 'utf8', valueEncoding: 'utf8' }) as any)
  const all = [...builtinJobTypes, ...types]
  // the hub's order: the queue (the jobs.host service) before recovery, its start after
  const system = new ActorSystem({
    store,
    clock,
    machines: Object.fromEntries(all.map((t) => [t.machineName, t.machine])),
  })
  const queue = new JobQueue(system, { seed: 42, ...opts })
  for (const t of all) queue.addType(t)
  await system.recover()
  queue.start()
  return {
    system,
    queue,
    clock,
    store,
    settle: () => settleSystem(system),
    close: async () => {
      queue.close()
      await system.close()
    },
  }
}

export function tempDir(prefix = 'aether-jobs-'): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) }
}
