/**
 * Crash test with real processes: a hub process running multi-step jobs with its in-process
 * worker is killed with SIGKILL at seeded random points (>= 50 kills) and restarted on the same
 * LevelDB folder. An external sink records each step's effect by idempotency key. Afterwards every
 * job is COMPLETED (or dead-lettered by its policy) and the sink shows 0 lost, 0 duplicate effects.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { ChildProcess } from 'node:child_process'
import { bundle, killHard, prng, Sink, sleep, startChild } from '../../helpers/crash.ts'
import { tempDir } from '../../helpers/jobs.ts'

const SEED = Number(process.env.AETHER_CRASH_SEED ?? 20261121)
const KILLS = Number(process.env.AETHER_CRASH_KILLS ?? 50)
const JOBS = 240
const FAILING = 12
const TOKEN = 'crash-token'
const FIXTURE = bundle('test/fixtures/jobsCrashHub.ts')

async function api(url: string, method: string, path: string, body?: unknown) {
  const res = await fetch(url + path, { method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) })
  return { status: res.status, body: await res.json() }
}

const Crash = suite('jobsCrash - SIGKILL of the hub process at random points')

Crash(`${KILLS} kills (seed ${SEED}): 0 lost, 0 duplicate effects, every job completed or dead-lettered by policy`, async () => {
  const rand = prng(SEED)
  const sink = new Sink()
  await sink.start()
  const tmp = tempDir('aether-crash-')
  const env = { SINK_URL: sink.url, JOBS_CONCURRENCY: '4' }
  let cur: { child: ChildProcess; ready: string } = await startChild(FIXTURE, [tmp.dir], env)
  const t0 = Date.now()
  try {
    // submission, with kills in between: a resubmitted key gives the same job
    const ids = new Map<string, string>()
    let kills = 0
    let next = 0
    while (next < JOBS) {
      const key = `order-${next}`
      try {
        const r = await api(cur.ready, 'POST', '/api/jobs', { type: 'crashy', key, input: next < FAILING ? { failAt: 's2' } : { n: next }, priority: next % 3 === 0 ? 'HIGH' : 'NORMAL' })
        assert.ok(r.status === 201 || r.status === 200, `submit ${r.status}`)
        if (ids.has(key)) assert.is(r.body.id, ids.get(key), 'a resubmitted key is the same job')
        ids.set(key, r.body.id)
        next++
      } catch (err) {
        if (!(err instanceof TypeError)) throw err // fetch failed: the process is down
      }
      if (next % 60 === 30 && kills < 4) {
        await killHard(cur.child)
        kills++
        next = Math.max(0, next - 3) // resubmit the last few keys: must not create new jobs
        cur = await startChild(FIXTURE, [tmp.dir], env)
      }
    }
    // kills at seeded random points while the jobs run
    while (kills < KILLS) {
      await sleep(Math.floor(rand() * 300))
      await killHard(cur.child)
      kills++
      cur = await startChild(FIXTURE, [tmp.dir], env)
    }
    // let the last process finish
    let q: any
    for (let i = 0; ; i++) {
      q = (await api(cur.ready, 'GET', '/api/queues')).body.queues[0]
      if (q.depth === 0 && q.running === 0 && q.delayed === 0) break
      if (i > 600) assert.unreachable(`jobs did not finish: ${JSON.stringify(q)}`)
      await sleep(100)
    }
    const jobs: any[] = []
    let cursor: string | null = null
    do {
      const page: any = (await api(cur.ready, 'GET', `/api/jobs?limit=1000${cursor ? `&cursor=${cursor}` : ''}`)).body
      jobs.push(...page.jobs)
      cursor = page.next
    } while (cursor)
    assert.is(jobs.length, JOBS, 'one job per key, none lost, none doubled')
    assert.equal([...new Set(ids.values())].sort(), jobs.map((j) => j.id).sort())
    let lost = 0
    for (const j of jobs) {
      const failing = j.input?.failAt === 's2'
      if (failing) {
        assert.is(j.status, 'FAILED', `${j.id} dead-lettered by policy`)
        assert.is(j.error.state, 'running.s2')
        assert.ok(/fails by design|lease/.test(j.error.message), j.error.message)
        if (!sink.applied.has(`${j.id}/s1`)) lost++
        assert.not.ok(sink.applied.has(`${j.id}/s3`), 'no effect after the failed step')
      } else {
        assert.is(j.status, 'COMPLETED', `${j.id}: ${JSON.stringify(j.error ?? j.lastError)}`)
        for (const s of ['s1', 's2', 's3']) if (!sink.applied.has(`${j.id}/${s}`)) lost++
      }
    }
    const dups = sink.duplicates()
    const keysOk = [...sink.byKey].every(([k, v]) => k === `${v.job}/${v.step}`)
    console.log(`  kills ${kills}, jobs ${jobs.length} (${FAILING} dead-lettered by policy), effects ${sink.byKey.size}, redelivered requests ${sink.redeliveries}, lost ${lost}, duplicates ${dups.length}, ${((Date.now() - t0) / 1000).toFixed(1)} s`)
    assert.ok(kills >= 50)
    assert.is(lost, 0, 'lost effects')
    assert.equal(dups, [], 'duplicate effects')
    assert.ok(keysOk, 'every effect key is jobId/stepId')
  } finally {
    await killHard(cur.child)
    await sink.close()
    tmp.remove()
  }
})

Crash.run()
