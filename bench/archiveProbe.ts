/**
 * What archiving a finished job costs, alone (a probe, not a figure of `npm run bench`): runs N echo
 * jobs with retention off, then archives all of them with `ActorSystem.archiveAll` in rounds of
 * 512 (two rounds in flight, as Retirement runs them), and prints the CPU per archived job: of the
 * main thread and of the whole process (LevelDB's threads and V8's included). Five runs, medians.
 *
 * `node --expose-gc --import tsx bench/archiveProbe.ts [N]` (N = 20 000).
 */
import { LocalWorker } from '../runtime/jobs/LocalWorker.ts'
import { benchQueue, echoJobsRate } from './echoJobs.ts'
import { gc, median, procCpuUs } from './lib.ts'

const N = Number(process.argv[2] ?? 20_000)
const ROUND = 512
const RUNS = 5

/** The main thread's CPU time so far, in µs. */
const mainCpu = () => procCpuUs(`/proc/self/task/${process.pid}/stat`)

const main: number[] = []
const all: number[] = []
for (let r = 0; r < RUNS; r++) {
  const { system, queue, close } = await benchQueue({ retention: false })
  queue.start()
  new LocalWorker(queue)
  await echoJobsRate(queue, N, 1000)
  await system.flush()
  const jobs = [...queue.jobs.values()].filter((e) => e.status === 'COMPLETED')
  gc()
  const c0 = process.cpuUsage()
  const m0 = mainCpu()
  const rounds: Promise<void>[] = []
  for (let i = 0; i < jobs.length; i += ROUND) {
    const items = jobs
      .slice(i, i + ROUND)
      .map((e) => ({ path: e.id, finishedAt: e.finishedAt!, ...queue.archiveOf(e) }))
    rounds.push(
      system.archiveAll(items).then((errs) => {
        const err = errs.find((x) => x !== undefined)
        if (err) throw err
      }),
    )
    if (rounds.length >= 2) await rounds.shift()
  }
  await Promise.all(rounds)
  const c = process.cpuUsage(c0)
  main.push((mainCpu() - m0) / jobs.length)
  all.push((c.user + c.system) / jobs.length)
  console.error(`run ${r + 1}: ${jobs.length} archived`)
  await close()
}
const fmt = (xs: number[]) => xs.map((x) => x.toFixed(1)).join(' ')
console.log(
  `archive, CPU per archived job: main thread ${median(main).toFixed(1)} us (${fmt(main)}), all threads ${median(all).toFixed(1)} us (${fmt(all)})`,
)
process.exit(0)
