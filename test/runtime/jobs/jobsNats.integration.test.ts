/**
 * Distributed mode under crashes: a hub (this process; its journal is the source of truth) leases
 * job steps over JetStream to 3 `aether worker` processes on our own nats-server. Workers are
 * killed with SIGKILL at seeded random points and restarted (>= 50 kills), and the nats-server is
 * killed and restarted once. An external sink records each step's effect by idempotency key.
 * Afterwards every job is COMPLETED or dead-lettered by policy, with 0 lost, 0 duplicate effects.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { ChildProcess } from 'node:child_process'
import { Hub } from '../../../runtime/Hub.ts'
import { jobsFeature, type JobsFeature } from '../../../runtime/jobs/jobsFeature.ts'
import { jobMachinesFor } from '../../../runtime/jobs/machines.ts'
import { jobTypes } from '../../fixtures/crashJobTypes.ts'
import { bundle, freePort, killHard, prng, Sink, sleep, startChild, startNats } from '../../helpers/crash.ts'
import { tempDir } from '../../helpers/jobs.ts'

const SEED = Number(process.env.AETHER_CRASH_SEED ?? 4242)
const KILLS = Number(process.env.AETHER_CRASH_KILLS ?? 50)
const JOBS = 300

const Nats = suite('jobsNats - 3 aether workers over JetStream, SIGKILLs and a nats-server restart')

Nats(`${KILLS} worker kills + 1 nats-server kill (seed ${SEED}): 0 lost, 0 duplicate effects`, async () => {
  const rand = prng(SEED)
  const sink = new Sink()
  await sink.start()
  const natsDir = tempDir('aether-nats-')
  const hubDir = tempDir('aether-nats-hub-')
  const port = await freePort()
  const url = `nats://127.0.0.1:${port}`
  let nats = await startNats(port, natsDir.dir)
  const cli = bundle('runtime/main.ts')
  const types = bundle('test/fixtures/crashJobTypes.ts')
  const env = { SINK_URL: sink.url }
  const startWorker = (i: number) =>
    startChild(
      cli,
      ['worker', '--nats', url, '--module', types, '--concurrency', '8', '--id', `w${i}`],
      env,
      'aether worker ',
    )
  const workers: Array<{ child: ChildProcess }> = []
  let jobs!: JobsFeature
  let hub: Hub | undefined
  const t0 = Date.now()
  try {
    jobs = jobsFeature({ types: jobTypes, nats: url, visibilityMs: 2000 })
    hub = await Hub.start({ data: hubDir.dir, token: 't', machines: jobMachinesFor(jobTypes) }, [jobs])
    for (let i = 0; i < 3; i++) workers.push(await startWorker(i))
    const ids: string[] = []
    let n = 0
    const submit = async (count: number) => {
      for (const end = Math.min(JOBS, n + count); n < end; n++) {
        ids.push(
          (
            await jobs.queue.submit({
              type: 'crashy',
              key: `k${n}`,
              input: n % 30 === 7 ? { failAt: 's2' } : { n },
              maxAttempts: 3,
            })
          ).id,
        )
      }
    }
    // work keeps arriving while workers die, so kills land on running steps
    await submit(40)
    let kills = 0
    let natsKilled = false
    const restarting: Array<Promise<void> | undefined> = [undefined, undefined, undefined]
    while (kills < KILLS) {
      await submit(Math.ceil((JOBS - 40) / KILLS))
      await sleep(Math.floor(rand() * 250))
      const i = Math.floor(rand() * 3)
      if (restarting[i]) await restarting[i]
      await killHard(workers[i].child)
      kills++
      if (kills === Math.floor(KILLS / 2) && !natsKilled) {
        for (const r of restarting) if (r) await r
        await killHard(nats)
        natsKilled = true
        await sleep(500)
        nats = await startNats(port, natsDir.dir)
      }
      // restarts overlap with the next kills of the other workers
      restarting[i] = startWorker(i).then((w) => {
        workers[i] = w
        restarting[i] = undefined
      })
    }
    for (const r of restarting) if (r) await r
    await submit(JOBS)
    const done = () => ids.every((id) => ['COMPLETED', 'FAILED', 'STOPPED'].includes(jobs.queue.jobs.get(id)!.status))
    for (let i = 0; !done(); i++) {
      if (i > 900) {
        const st = ids
          .map((id) => jobs.queue.jobs.get(id)!.status)
          .reduce((m: any, s) => ((m[s] = (m[s] ?? 0) + 1), m), {})
        assert.unreachable(`jobs did not finish: ${JSON.stringify(st)}`)
      }
      await sleep(100)
    }
    let lost = 0
    let deadByDeliveries = 0
    for (const id of ids) {
      const v = jobs.queue.view(id)! as any
      if (v.input?.failAt === 's2') {
        assert.is(v.status, 'FAILED', `${id} dead-lettered by policy`)
        assert.is(v.error.state, 'running.s2')
        assert.not.ok(sink.applied.has(`${id}/s3`))
        if (!sink.applied.has(`${id}/s1`)) lost++
      } else if (v.status === 'FAILED') {
        // policy too: JetStream gave up on an attempt after max deliveries (workers kept dying under it) and retries ran out
        assert.match(v.error.message, /max deliveries/)
        deadByDeliveries++
        const at = v.error.state.split('.')[1]
        for (const s of ['s1', 's2', 's3']) {
          if (s === at) break
          if (!sink.applied.has(`${id}/${s}`)) lost++
        }
      } else {
        assert.is(v.status, 'COMPLETED', `${id}: ${JSON.stringify(v)}`)
        for (const s of ['s1', 's2', 's3']) if (!sink.applied.has(`${id}/${s}`)) lost++
      }
    }
    const dups = sink.duplicates()
    const bridge = (jobs as any).bridge
    console.log(
      `  worker kills ${kills}, nats restarts ${natsKilled ? 1 : 0}, jobs ${ids.length} (${ids.filter((id) => (jobs.queue.view(id) as any).input?.failAt).length} dead by design, ${deadByDeliveries} by max deliveries), effects ${sink.byKey.size}, redelivered requests ${sink.redeliveries}, lost ${lost}, duplicates ${dups.length}; bridge ${JSON.stringify(bridge.stats)}; ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    )
    assert.ok(kills >= 50 && natsKilled)
    assert.is(lost, 0, 'lost effects')
    assert.equal(dups, [], 'duplicate effects')
    assert.ok(
      [...sink.byKey].every(([k, v]) => k === `${v.job}/${v.step}`),
      'every key is jobId/stepId',
    )
  } finally {
    for (const w of workers) await killHard(w.child)
    await hub?.close()
    await killHard(nats)
    await sink.close()
    natsDir.remove()
    hubDir.remove()
  }
})

const Poison = suite('jobsNats - max deliveries dead-letters')

Poison(
  'a step that kills every worker that takes it is dead-lettered after max deliveries; retry requeues it',
  async () => {
    const natsDir = tempDir('aether-nats-')
    const hubDir = tempDir('aether-nats-hub-')
    const port = await freePort()
    const url = `nats://127.0.0.1:${port}`
    const nats = await startNats(port, natsDir.dir)
    const cli = bundle('runtime/main.ts')
    const types = bundle('test/fixtures/crashJobTypes.ts')
    let worker: { child: ChildProcess } | undefined
    let hub: Hub | undefined
    let stop = false
    try {
      // The lease (JetStream's ack wait) must be one that a worker just started on a loaded machine
      // keeps: with 500 ms, CI saw the echo job below dead-lettered by max deliveries (2) while
      // its worker, cold and starved, ran it (its result came after, stale).
      const jobs = jobsFeature({ types: jobTypes, nats: url, visibilityMs: 2000, natsOptions: { maxDeliver: 2 } })
      hub = await Hub.start({ data: hubDir.dir, token: 't', machines: jobMachinesFor(jobTypes) }, [jobs])
      // a worker that is restarted whenever it dies
      let starts = 0
      const keep = (async () => {
        while (!stop) {
          worker = await startChild(
            cli,
            ['worker', '--nats', url, '--module', types, '--id', 'wp'],
            {},
            'aether worker ',
          )
          starts++
          await new Promise((r) => worker!.child.once('exit', r))
        }
      })()
      // what the test saw, for a failure to say
      const seen = () =>
        `worker starts ${starts}, bridge ${JSON.stringify((jobs as any).bridge.stats)}${keepFailed ? `, the worker loop failed: ${keepFailed.message}` : ''}`
      let keepFailed: Error | undefined
      keep.catch((err) => (keepFailed = err))
      const { id } = await jobs.queue.submit({ type: 'poison' })
      for (let i = 0; jobs.queue.jobs.get(id)!.status !== 'FAILED'; i++) {
        if (i > 300) assert.unreachable(`not dead-lettered: ${JSON.stringify(jobs.queue.view(id))}; ${seen()}`)
        await sleep(100)
      }
      const v = jobs.queue.view(id) as any
      assert.match(v.error.message, /max deliveries \(2\)/)
      assert.is(v.error.state, 'running.boom')
      assert.ok(starts >= 2, 'two workers died on it')
      assert.is((jobs as any).bridge.stats.maxDeliveries, 1)
      // other work goes on (submitted now: a job sharing a worker with the poison step dies with it)
      const ok = await jobs.queue.submit({ type: 'echo', input: 'fine' })
      for (let i = 0; jobs.queue.jobs.get(ok.id)!.status !== 'COMPLETED'; i++) {
        if (i > 100)
          assert.unreachable(`the echo job did not complete: ${JSON.stringify(jobs.queue.view(ok.id))}; ${seen()}`)
        await sleep(100)
      }
      assert.is(await jobs.queue.act(id, 'retry'), 'PENDING')
      stop = true
      if (worker) await killHard(worker.child)
      await keep
    } finally {
      stop = true
      if (worker) await killHard(worker.child)
      await hub?.close()
      await killHard(nats)
      natsDir.remove()
      hubDir.remove()
    }
  },
)

const HubKill = suite('jobsNats - SIGKILL of the hub in NATS mode')

HubKill(
  'the hub process is killed 5 times while workers run its steps: its journal decides, 0 lost, 0 duplicate',
  async () => {
    const rand = prng(SEED + 1)
    const sink = new Sink()
    await sink.start()
    const natsDir = tempDir('aether-nats-')
    const hubDir = tempDir('aether-nats-hub-')
    const port = await freePort()
    const url = `nats://127.0.0.1:${port}`
    const nats = await startNats(port, natsDir.dir)
    const cli = bundle('runtime/main.ts')
    const types = bundle('test/fixtures/crashJobTypes.ts')
    const hubFile = bundle('test/fixtures/jobsCrashHub.ts')
    // The hub keeps at most 16 step messages published: while it is down the workers run out of
    // work quickly, so the kills land mid-run however long a restart takes.
    const env = {
      SINK_URL: sink.url,
      JOBS_NATS: url,
      JOBS_VISIBILITY_MS: '2000',
      STEP_DELAY_SCALE: '3',
      JOBS_MAX_IN_FLIGHT: '16',
    }
    const workers: Array<{ child: ChildProcess }> = []
    let hub = await startChild(hubFile, [hubDir.dir], env)
    const api = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(hub.ready + path, {
        method,
        headers: { authorization: 'Bearer crash-token' },
        body: body === undefined ? undefined : JSON.stringify(body),
      })
      return res.json() as Promise<any>
    }
    try {
      for (let i = 0; i < 2; i++)
        workers.push(
          await startChild(
            cli,
            ['worker', '--nats', url, '--module', types, '--concurrency', '2', '--id', `h${i}`],
            env,
            'aether worker ',
          ),
        )
      const ids: string[] = (
        await Promise.all(
          Array.from({ length: 400 }, (_, n) =>
            api('POST', '/api/jobs', { type: 'crashy', key: `h${n}`, input: { n } }),
          ),
        )
      ).map((r) => r.id)
      // Kill points: 5 seeded effect counts spread over the run (of 1200 effects); a kill whose point
      // went by while the hub restarted happens at once.
      const points = Array.from({ length: 5 }, (_, k) => Math.floor(1200 * (0.05 + 0.15 * k + rand() * 0.1)))
      const kills: string[] = []
      let busy = 0
      for (let k = 0; k < 5; k++) {
        const t0 = Date.now()
        while (sink.byKey.size < points[k]) {
          if (Date.now() - t0 > 60_000)
            assert.unreachable(
              `no progress: ${sink.byKey.size} effects, waiting for ${points[k]}; kills so far: ${kills.join('; ')}`,
            )
          await sleep(10)
        }
        const qs = (await api('GET', '/api/queues')).queues[0]
        if (qs.running > 0) busy++
        const at = sink.byKey.size
        await killHard(hub.child)
        const r0 = Date.now()
        hub = await startChild(hubFile, [hubDir.dir], env)
        kills.push(
          `at ${at} effects (running ${qs.running}), restart ${Date.now() - r0} ms, ${sink.byKey.size} effects after`,
        )
      }
      let jobs: any[] = []
      for (let i = 0; ; i++) {
        jobs = (await api('GET', '/api/jobs?limit=1000')).jobs
        if (jobs.every((j) => j.status === 'COMPLETED' || j.status === 'FAILED')) break
        if (i > 600)
          assert.unreachable(
            `not finished: ${JSON.stringify(jobs.filter((j) => j.status !== 'COMPLETED').slice(0, 3))}`,
          )
        await sleep(100)
      }
      assert.equal(jobs.map((j) => j.id).sort(), [...ids].sort())
      let lost = 0
      for (const j of jobs) {
        assert.is(j.status, 'COMPLETED', JSON.stringify(j))
        for (const s of ['s1', 's2', 's3']) if (!sink.applied.has(`${j.id}/${s}`)) lost++
      }
      assert.ok(busy >= 4, `${busy} kills with steps running: ${kills.join('; ')}`)
      console.log(
        `  hub kills 5 (${busy} with steps running: ${kills.join('; ')}), jobs ${jobs.length}, effects ${sink.byKey.size}, redelivered requests ${sink.redeliveries}, lost ${lost}, duplicates ${sink.duplicates().length}`,
      )
      assert.is(lost, 0)
      assert.equal(sink.duplicates(), [])
    } finally {
      for (const w of workers) await killHard(w.child)
      await killHard(hub.child)
      await killHard(nats)
      await sink.close()
      natsDir.remove()
      hubDir.remove()
    }
  },
)

Nats.run()
Poison.run()
HubKill.run()
