import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { MemoryLevel } from 'memory-level'
import { ActorSystem, exportLog, LogReplayer, SimulatedClock } from '../../actors/index.ts'
import { backoffDelay, createJobMachine, jobStatusOf, nextRandom, Priority } from '../../machines/job.ts'
import { parseLog } from '../../protocol/log.ts'
import { LevelStore } from '../../runtime/LevelStore.ts'
import { JobQueue } from '../../runtime/jobs/JobQueue.ts'
import { LocalWorker } from '../../runtime/jobs/LocalWorker.ts'
import { defineJobType } from '../../runtime/jobs/jobTypes.ts'
import { settleSystem } from '../helpers/jobs.ts'

const Spec = suite('job - machine from a step list')
Spec('priorities, backoff arithmetic and the PRNG are pure', () => {
  assert.equal(Priority, { URGENT: 20, HIGH: 15, NORMAL: 5, LOW: 0 })
  const p = { maxAttempts: 5, baseMs: 100, factor: 2, maxMs: 1000, jitter: 0 }
  assert.equal(
    [1, 2, 3, 4, 5, 6].map((n) => backoffDelay(p, n, 0.5)),
    [100, 200, 400, 800, 1000, 1000],
  )
  assert.is(backoffDelay({ ...p, jitter: 1 }, 1, 0.25), 75)
  assert.equal(nextRandom(42), nextRandom(42))
  const [r] = nextRandom(42)
  assert.ok(r >= 0 && r < 1)
  assert.is(jobStatusOf({ running: 'a' }), 'RUNNING')
  assert.is(jobStatusOf('failed'), 'FAILED')
})
Spec('bad step lists are refused', () => {
  assert.throws(() => createJobMachine({ name: 'x', steps: [] }), /at least one step/)
  assert.throws(() => createJobMachine({ name: 'x', steps: [{ name: 'a' }, { name: 'a' }] }), /two steps named/)
  assert.throws(() => createJobMachine({ name: 'x', steps: [{ name: 'a/b' }] }), /must match/)
})

const Replay = suite('job - journaled and replays with verify')
Replay('a job with a retry and a step timeout replays to the same snapshots', async () => {
  let n = 0
  const type = defineJobType('flow', [
    {
      name: 'fetch',
      run: async () => (++n === 1 ? Promise.reject(new Error('flaky')) : { rows: 3 }),
      retry: { maxAttempts: 3, baseMs: 100, jitter: 0.5 },
    },
    { name: 'slow', run: () => new Promise(() => {}), timeoutMs: 500, retry: { maxAttempts: 1 } },
  ])
  const clock = new SimulatedClock(1000)
  const store = new LevelStore(new MemoryLevel({ keyEncoding: 'utf8', valueEncoding: 'utf8' }) as any)
  const system = await ActorSystem.open({
    store,
    clock,
    snapshotEvery: 1,
    machines: { [type.machineName]: type.machine },
  })
  const queue = new JobQueue(system, { seed: 3 })
  queue.addType(type)
  queue.start()
  new LocalWorker(queue)
  const { id } = await queue.submit({ type: 'flow', input: { q: 1 } })
  await settleSystem(system)
  clock.increment(100)
  await settleSystem(system)
  clock.increment(500)
  await settleSystem(system)
  const v = queue.view(id) as any
  assert.is(v.status, 'FAILED')
  assert.equal(v.error, { message: 'step "slow" timed out after 500 ms', state: 'running.slow', attempts: 1 })
  let text = ''
  for await (const chunk of exportLog(store, id, { snapshots: 'stored', machine: type.machine })) text += chunk
  const log = parseLog(text)
  const lines = [log.header, ...log.lines]
  const rp = new LogReplayer(type.machine, { verify: true })
  rp.start(log.header)
  log.lines.forEach((l, i) => {
    rp.line(l, i + 2)
  })
  const r = rp.result()
  assert.ok(r.ok, JSON.stringify(r.divergence))
  assert.ok(r.snapshotsChecked >= 4, `checked ${r.snapshotsChecked}`)
  assert.is(r.final.value, 'failed')
  const events = lines
    .slice(1)
    .filter((l: any) => l.event)
    .map((l: any) => l.event.type)
  assert.ok(events.includes('xstate.error.actor.fetch') && events.includes('xstate.done.actor.fetch'), events.join(','))
  assert.ok(
    events.some((e) => e.startsWith('xstate.after.')),
    'backoff and timeout are journaled timer fires',
  )
  queue.close()
  await system.close()
})

Spec.run()
Replay.run()
