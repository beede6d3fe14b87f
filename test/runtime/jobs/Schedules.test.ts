import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { ActorSystem, SimulatedClock } from '../../../actors/index.ts'
import { LevelStore } from '../../../runtime/LevelStore.ts'
import { JobQueue } from '../../../runtime/jobs/JobQueue.ts'
import { LocalWorker } from '../../../runtime/jobs/LocalWorker.ts'
import { Schedules } from '../../../runtime/jobs/Schedules.ts'
import { jobMachines } from '../../../runtime/jobs/machines.ts'
import { builtinJobTypes } from '../../../runtime/jobs/jobTypes.ts'
import { settleSystem, tempDir } from '../../helpers/jobs.ts'

async function open(dir: string, clock: SimulatedClock) {
  const store = await LevelStore.open(dir)
  const system = new ActorSystem({ store, clock, machines: jobMachines })
  const queue = new JobQueue(system, { seed: 1 })
  for (const t of builtinJobTypes) queue.addType(t)
  const schedules = new Schedules(system, queue)
  new LocalWorker(queue)
  await system.recover()
  queue.start()
  const settle = async () => {
    for (let i = 0; i < 4; i++) await settleSystem(system)
  }
  return {
    system,
    queue,
    schedules,
    settle,
    close: async () => (queue.close(), await system.close()),
  }
}

const jobsOf = (q: JobQueue) => [...q.jobs.values()].filter((e) => e.key?.startsWith('schedule/')).map((e) => e.key)

const Sched = suite('schedules - interval schedule as a durable actor')
Sched('runs every interval; after downtime one catch-up run, then back on the schedule', async () => {
  const tmp = tempDir()
  const clock = new SimulatedClock(100_000)
  let h = await open(tmp.dir, clock)
  await h.schedules.add({ name: 'tick', job: { type: 'echo', input: 'tick' }, every: 10_000 })
  await h.settle()
  assert.is((h.schedules.view('tick') as any).due, 110_000)
  clock.increment(10_000)
  await h.settle()
  clock.increment(10_000)
  await h.settle()
  assert.equal(jobsOf(h.queue), ['schedule/tick/110000', 'schedule/tick/120000'])
  assert.is((h.schedules.view('tick') as any).runs, 2)
  await h.close()
  // down for 45 s: the slots 130 000 .. 160 000 are missed
  clock.set(165_000)
  h = await open(tmp.dir, clock)
  clock.increment(0) // the simulated clock fires what fell due (the real one does at once)
  await h.settle()
  assert.equal(
    jobsOf(h.queue),
    ['schedule/tick/110000', 'schedule/tick/120000', 'schedule/tick/130000'],
    'one catch-up run, keyed by the first missed slot',
  )
  assert.is((h.schedules.view('tick') as any).due, 175_000, 'next slot counted from the catch-up run')
  clock.increment(10_000)
  await h.settle()
  assert.is(jobsOf(h.queue).length, 4)
  for (const e of h.queue.jobs.values()) assert.is(e.status, 'COMPLETED')
  await h.schedules.act('tick', 'stop')
  clock.increment(30_000)
  await h.settle()
  assert.is(jobsOf(h.queue).length, 4, 'a stopped schedule creates nothing')
  await h.close()
  tmp.remove()
})

Sched.run()
