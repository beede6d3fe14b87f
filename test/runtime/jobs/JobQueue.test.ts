import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { backoffDelay, defaultRetry, nextRandom } from '../../../machines/job.ts'
import { LocalWorker } from '../../../runtime/jobs/LocalWorker.ts'
import { defineJobType } from '../../../runtime/jobs/jobTypes.ts'
import { jobRig } from '../../helpers/jobs.ts'

/** A job type that records the order its jobs run in. */
function recorder() {
  const order: string[] = []
  const type = defineJobType('rec', [{ name: 'run', run: async ({ input }) => (order.push(input.name), input.name) }])
  return { order, type }
}

const Order = suite('jobQueue - priority order')
Order('higher priority runs first, names map to numbers', async () => {
  const { order, type } = recorder()
  const rig = await jobRig([type])
  await rig.queue.setQueuePaused('default', true)
  for (const [name, priority] of [
    ['low', 0],
    ['normal', 5],
    ['urgent', 20],
    ['high', 15],
    ['p7', 7],
  ] as const) {
    await rig.queue.submit({ type: 'rec', input: { name }, priority })
  }
  new LocalWorker(rig.queue, { concurrency: 1 })
  await rig.queue.setQueuePaused('default', false)
  for (let i = 0; i < 10; i++) await rig.settle()
  assert.equal(order, ['urgent', 'high', 'p7', 'normal', 'low'])
  assert.equal(rig.queue.countByStatus().COMPLETED, 5)
  await rig.close()
})

const Fifo = suite('jobQueue - FIFO within a priority')
Fifo('same priority runs in submission order, across tenants too', async () => {
  const { order, type } = recorder()
  const rig = await jobRig([type])
  await rig.queue.setQueuePaused('default', true)
  for (let i = 0; i < 12; i++)
    await rig.queue.submit({ type: 'rec', input: { name: `j${i}` }, priority: 5, tenant: i % 3 ? 'a' : 'b' })
  new LocalWorker(rig.queue, { concurrency: 1 })
  await rig.queue.setQueuePaused('default', false)
  for (let i = 0; i < 20; i++) await rig.settle()
  assert.equal(
    order,
    Array.from({ length: 12 }, (_, i) => `j${i}`),
  )
  await rig.close()
})

const Lease = suite('jobQueue - lease expiry redelivers')
Lease("a dead worker's lease runs out and another worker runs the step with the same key", async () => {
  const keys: string[] = []
  let hang = true
  const type = defineJobType('hang', [
    { name: 'work', run: ({ key }) => (keys.push(key), hang ? new Promise(() => {}) : Promise.resolve('ok')) },
  ])
  const rig = await jobRig([type], { visibilityMs: 30_000 })
  const w1 = new LocalWorker(rig.queue, { id: 'w1', concurrency: 1 })
  const { id } = await rig.queue.submit({ type: 'hang', input: null })
  await rig.settle()
  assert.is(rig.queue.view(id)!.status, 'RUNNING')
  assert.is(rig.queue.view(id)!.worker, 'w1')
  // w1 lives: its heartbeat keeps the lease past the visibility timeout
  rig.clock.increment(45_000)
  await rig.settle()
  assert.is(rig.queue.view(id)!.status, 'RUNNING')
  w1.kill()
  hang = false
  new LocalWorker(rig.queue, { id: 'w2', concurrency: 1 })
  // the last heartbeat was at most visibility/3 (10 s) before the kill
  rig.clock.increment(19_000)
  await rig.settle()
  assert.is(rig.queue.view(id)!.worker, 'w1', 'not expired before the visibility timeout')
  rig.clock.increment(12_000)
  for (let i = 0; i < 5; i++) await rig.settle()
  const v = rig.queue.view(id)!
  assert.is(v.status, 'COMPLETED')
  assert.is(v.deliveries, 2)
  assert.is(v.attempts, 2)
  assert.equal(keys, [`${id}/work`, `${id}/work`])
  assert.is(rig.queue.stats.leaseExpired, 1)
  await rig.close()
})

const Backoff = suite('jobQueue - backoff timing')
Backoff('retries wait base*factor^(n-1) minus seeded jitter, on a simulated clock', async () => {
  const runs: number[] = []
  const retry = { maxAttempts: 4, baseMs: 1000, factor: 3, maxMs: 60_000, jitter: 0.5 }
  let rig: Awaited<ReturnType<typeof jobRig>>
  const type = defineJobType('flaky', [
    {
      name: 'try',
      retry,
      run: async () => {
        runs.push(rig.clock.now())
        if (runs.length < 3) throw new Error(`boom ${runs.length}`)
        return 'ok'
      },
    },
  ])
  rig = await jobRig([type])
  new LocalWorker(rig.queue)
  const { id } = await rig.queue.submit({ type: 'flaky' })
  await rig.settle()
  assert.is(runs.length, 1)
  // the expected delays: the job's seed is in its context; each failure draws once
  const ctx = rig.system.hosted(id)!.actor.getSnapshot().context
  const rng = (rig.system.hosted(id)!.input as any).seed as number
  const [r1, s1] = nextRandom(rng)
  const [r2] = nextRandom(s1)
  const d1 = backoffDelay({ ...defaultRetry, ...retry }, 1, r1)
  const d2 = backoffDelay({ ...defaultRetry, ...retry }, 2, r2)
  assert.ok(d1 > 500 && d1 <= 1000, `first delay ${d1}`)
  assert.ok(d2 > 1500 && d2 <= 3000, `second delay ${d2}`)
  assert.is(ctx.retryDelay, d1)
  rig.clock.increment(d1 - 1)
  await rig.settle()
  assert.is(runs.length, 1, 'not retried before the delay')
  rig.clock.increment(1)
  await rig.settle()
  assert.is(runs.length, 2)
  rig.clock.increment(d2 - 1)
  await rig.settle()
  assert.is(runs.length, 2)
  rig.clock.increment(1)
  await rig.settle()
  await rig.settle()
  assert.is(runs.length, 3)
  assert.equal([runs[1] - runs[0], runs[2] - runs[1]], [d1, d2])
  assert.is(rig.queue.view(id)!.status, 'COMPLETED')
  assert.is(rig.queue.view(id)!.attempts, 3)
  await rig.close()
})

const Dead = suite('jobQueue - dead letter and requeue')
Dead('the last failed attempt dead-letters with the error and state; retry requeues it', async () => {
  let fail = true
  const type = defineJobType('two', [
    { name: 'first', run: async () => 1 },
    {
      name: 'second',
      retry: { maxAttempts: 2, baseMs: 10, jitter: 0 },
      run: async () => {
        if (fail) throw new Error('carrier down')
        return 2
      },
    },
  ])
  const rig = await jobRig([type])
  new LocalWorker(rig.queue)
  const { id } = await rig.queue.submit({ type: 'two' })
  await rig.settle()
  rig.clock.increment(10)
  await rig.settle()
  const v = rig.queue.view(id)!
  assert.is(v.status, 'FAILED')
  assert.equal(v.error, { message: 'carrier down', state: 'running.second', attempts: 2 })
  assert.is((rig.queue.summary() as any).queues[0].dead, 1)
  fail = false
  assert.is(await rig.queue.act(id, 'retry'), 'PENDING')
  await rig.settle()
  await rig.settle()
  const after = rig.queue.view(id)!
  assert.is(after.status, 'COMPLETED')
  assert.is(after.output, 2)
  assert.is(after.attempts, 4, 'first once, second twice failed and once more')
  await rig.close()
})

const Idem = suite('jobQueue - idempotent submission')
Idem("the same key gives the same job; another tenant's key is another job", async () => {
  const rig = await jobRig()
  new LocalWorker(rig.queue)
  const a = await rig.queue.submit({ type: 'echo', input: 1, key: 'k1' })
  const b = await rig.queue.submit({ type: 'echo', input: 2, key: 'k1' })
  const c = await rig.queue.submit({ type: 'echo', input: 3, key: 'k1', tenant: 't2' })
  assert.ok(a.created)
  assert.not.ok(b.created)
  assert.is(b.id, a.id)
  assert.ok(c.created)
  assert.is.not(c.id, a.id)
  await rig.settle()
  assert.is(rig.queue.view(a.id)!.output, 1)
  assert.is(rig.queue.jobs.size, 2)
  await rig.close()
})

Idem(
  'a retry that arrives while the first submission is being written is answered only after it is journaled',
  async () => {
    const rig = await jobRig()
    const write = rig.store.write.bind(rig.store)
    const written = new Set<string>()
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    rig.store.write = async (ops, sync) => {
      await gate
      await write(ops, sync)
      for (const op of ops) if (op.type === 'meta') written.add(op.meta.path)
    }
    const order: string[] = []
    const first = rig.queue.submit({ type: 'echo', input: 1, key: 'k' }).then((r) => (order.push('first'), r))
    const retry = rig.queue.submit({ type: 'echo', input: 1, key: 'k' }).then((r) => {
      order.push('retry')
      assert.ok(written.has(r.id), 'the job the retry names is journaled when the retry is answered')
      return r
    })
    await new Promise((r) => setTimeout(r, 20))
    assert.equal(order, [], 'nothing is answered before the write')
    release()
    const [a, b] = await Promise.all([first, retry])
    assert.is(b.id, a.id)
    assert.ok(a.created)
    assert.not.ok(b.created)
    await rig.close()
  },
)

Idem('when the first write fails, the retry creates the job itself and names one that exists', async () => {
  const rig = await jobRig()
  const write = rig.store.write.bind(rig.store)
  let failed = false
  rig.store.write = async (ops, sync) => {
    if (!failed && ops.some((op) => op.type === 'meta' && op.meta.machine === 'job:echo')) {
      failed = true
      await new Promise((r) => setTimeout(r, 10))
      throw new Error('EIO: i/o error')
    }
    return write(ops, sync)
  }
  const first = rig.queue.submit({ type: 'echo', input: 1, key: 'k' })
  const retry = rig.queue.submit({ type: 'echo', input: 1, key: 'k' })
  const [a, b] = await Promise.allSettled([first, retry])
  assert.is(a.status, 'rejected')
  assert.is(b.status, 'fulfilled')
  const id = (b as PromiseFulfilledResult<{ id: string; created: boolean }>).value.id
  assert.ok((b as PromiseFulfilledResult<{ id: string; created: boolean }>).value.created)
  assert.ok(await rig.store.getMeta(id), 'the job the retry names is stored')
  assert.is(rig.queue.jobs.size, 1)
  await rig.close()
})

const Tenants = suite('jobQueue - tenant concurrency')
Tenants('a tenant at its limit does not starve another tenant', async () => {
  const running = new Map<string, number>()
  const release: Array<() => void> = []
  let peakA = 0
  const type = defineJobType('hold', [
    {
      name: 'h',
      run: ({ tenant }) =>
        new Promise((r) => {
          running.set(tenant, (running.get(tenant) ?? 0) + 1)
          peakA = Math.max(peakA, running.get('a') ?? 0)
          release.push(() => (running.set(tenant, running.get(tenant)! - 1), r(null)))
        }),
    },
  ])
  const rig = await jobRig([type], { tenants: { a: { concurrency: 2 } } })
  new LocalWorker(rig.queue, { concurrency: 4 })
  const ids = []
  for (let i = 0; i < 6; i++) ids.push((await rig.queue.submit({ type: 'hold', tenant: 'a' })).id)
  const b = await rig.queue.submit({ type: 'hold', tenant: 'b' })
  await rig.settle()
  assert.is(running.get('a'), 2)
  assert.is(running.get('b'), 1, 'tenant b runs though a has a backlog')
  while (release.length) {
    release.shift()!()
    await rig.settle()
  }
  assert.is(peakA, 2)
  for (const id of [...ids, b.id]) assert.is(rig.queue.view(id)!.status, 'COMPLETED')
  await rig.close()
})

const Control = suite('jobQueue - pause, resume, stop')
Control('pause stops a running job at its step; resume continues at that step; stop is final', async () => {
  const calls: string[] = []
  const gates: Array<() => void> = []
  const type = defineJobType('steps3', [
    { name: 'a', run: async () => (calls.push('a'), 'A') },
    { name: 'b', run: ({ key }) => (calls.push(key), new Promise((r) => gates.push(() => r('B')))) },
    { name: 'c', run: async () => (calls.push('c'), 'C') },
  ])
  const rig = await jobRig([type])
  new LocalWorker(rig.queue)
  const { id } = await rig.queue.submit({ type: 'steps3' })
  await rig.settle()
  assert.equal(calls, ['a', `${id}/b`])
  assert.is(await rig.queue.act(id, 'pause'), 'PAUSED')
  gates.shift()!() // the aborted attempt's answer arrives late and is ignored
  await rig.settle()
  assert.is(rig.queue.view(id)!.status, 'PAUSED')
  assert.is(await rig.queue.act(id, 'resume'), 'PENDING')
  await rig.settle()
  assert.equal(calls, ['a', `${id}/b`, `${id}/b`], 'resumed at step b with the same key, a not repeated')
  gates.shift()!()
  await rig.settle()
  await rig.settle()
  const v = rig.queue.view(id)!
  assert.is(v.status, 'COMPLETED')
  assert.equal(v.output, 'C')
  const s = await rig.queue.submit({ type: 'steps3' })
  await rig.settle()
  assert.is(await rig.queue.act(s.id, 'stop'), 'STOPPED')
  gates.shift()!()
  await rig.settle()
  assert.is(rig.queue.view(s.id)!.status, 'STOPPED')
  try {
    await rig.queue.act(s.id, 'resume')
    assert.unreachable('resume of a stopped job')
  } catch (err) {
    assert.is((err as any).code, 'BAD_STATE')
  }
  await rig.close()
})
Control('a paused queue leases nothing until resumed (durably)', async () => {
  const rig = await jobRig()
  new LocalWorker(rig.queue)
  await rig.queue.setQueuePaused('default', true)
  const { id } = await rig.queue.submit({ type: 'echo', input: 'x' })
  await rig.settle()
  assert.is(rig.queue.view(id)!.status, 'PENDING')
  assert.is((rig.queue.summary() as any).queues[0].depth, 1)
  await rig.queue.setQueuePaused('default', false)
  await rig.settle()
  assert.is(rig.queue.view(id)!.status, 'COMPLETED')
  await rig.close()
})

const Delay = suite('jobQueue - runAt')
Delay('a delayed job waits for its time', async () => {
  const rig = await jobRig()
  new LocalWorker(rig.queue)
  const { id } = await rig.queue.submit({ type: 'echo', input: 1, runAt: rig.clock.now() + 5000 })
  await rig.settle()
  assert.is(rig.queue.view(id)!.status, 'PENDING')
  rig.clock.increment(4999)
  await rig.settle()
  assert.is(rig.queue.view(id)!.status, 'PENDING')
  rig.clock.increment(1)
  await rig.settle()
  assert.is(rig.queue.view(id)!.status, 'COMPLETED')
  await rig.close()
})

Order.run()
Fifo.run()
Lease.run()
Backoff.run()
Dead.run()
Idem.run()
Tenants.run()
Control.run()
Delay.run()
