/**
 * Crash test with real processes: hub processes running multi-step jobs with their in-process
 * workers are killed with SIGKILL at seeded random points (>= 50 kills in all) and restarted on
 * their LevelDB folders. An external sink records each step's effect by idempotency key. Afterwards every
 * job is COMPLETED (or dead-lettered by its policy) and the sink shows 0 lost, 0 duplicate effects.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { ChildProcess } from 'node:child_process'
import { bundle, killHard, prng, Sink, sleep, startChild } from '../../helpers/crash.ts'
import { tempDir } from '../../helpers/jobs.ts'

const SEED = Number(process.env.AETHER_CRASH_SEED ?? 20261121)
const KILLS = Number(process.env.AETHER_CRASH_KILLS ?? 50)
const JOBS = 300
const FAILING = 12
const SHARDS = 2
const TOKEN = 'crash-token'
const FIXTURE = bundle('test/fixtures/jobsCrashHub.ts')

async function api(url: string, method: string, path: string, body?: unknown) {
  const res = await fetch(url + path, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  return { status: res.status, body: await res.json() }
}

const Crash = suite('jobsCrash - SIGKILL of the hub process at random points')

interface Shard {
  dir: { dir: string; remove(): void }
  cur: { child: ChildProcess; ready: string }
  restarting?: Promise<void>
  ids: Map<string, string>
}

Crash(
  `${KILLS} kills over ${SHARDS} hub processes (seed ${SEED}): 0 lost, 0 duplicate effects, every job completed or dead-lettered by policy`,
  async () => {
    const rand = prng(SEED)
    const sink = new Sink()
    await sink.start()
    const env = { SINK_URL: sink.url, JOBS_CONCURRENCY: '1' }
    // Independent hubs (each its own LevelDB folder and jobs): while one restarts, the other is
    // killed, so the kills take half the wall time.
    const shards: Shard[] = []
    for (let i = 0; i < SHARDS; i++) {
      const dir = tempDir('aether-crash-')
      shards.push({ dir, cur: await startChild(FIXTURE, [dir.dir], env), ids: new Map() })
    }
    const restart = (s: Shard) => {
      s.restarting = startChild(FIXTURE, [s.dir.dir], env).then((c) => {
        s.cur = c
        s.restarting = undefined
      })
    }
    const t0 = Date.now()
    let kills = 0
    let busyKills = 0
    try {
      // submission, with kills in between: a resubmitted key gives the same job
      for (const [si, s] of shards.entries()) {
        let next = 0
        const killedAt = new Set<number>()
        const per = JOBS / SHARDS
        while (next < per) {
          const key = `order-${si}-${next}`
          try {
            const r = await api(s.cur.ready, 'POST', '/api/jobs', {
              type: 'crashy',
              key,
              input: next < FAILING / SHARDS ? { failAt: 's2' } : { n: next },
              priority: next % 3 === 0 ? 'HIGH' : 'NORMAL',
            })
            assert.ok(r.status === 201 || r.status === 200, `submit ${r.status}`)
            if (s.ids.has(key)) assert.is(r.body.id, s.ids.get(key), 'a resubmitted key is the same job')
            s.ids.set(key, r.body.id)
            next++
          } catch (err) {
            if (!(err instanceof TypeError)) throw err // fetch failed: the process is down
          }
          if (next % 60 === 30 && !killedAt.has(next)) {
            killedAt.add(next)
            await killHard(s.cur.child)
            kills++
            next = Math.max(0, next - 3) // resubmit the last few keys: must not create new jobs
            s.cur = await startChild(FIXTURE, [s.dir.dir], env)
          }
        }
      }
      // kills at seeded random points while the jobs run
      while (kills < KILLS) {
        await sleep(Math.floor(rand() * 300))
        const s = shards[Math.floor(rand() * SHARDS)]
        if (s.restarting) await s.restarting
        // The point is random; one where no step runs (a slow restart on a loaded machine) is
        // moved on by another random wait, a few times at most, while the shard has work left.
        let q = await api(s.cur.ready, 'GET', '/api/queues').catch(() => undefined)
        for (let i = 0; i < 5 && q && q.body.queues[0].running === 0 && q.body.queues[0].depth > 0; i++) {
          await sleep(Math.floor(rand() * 100))
          q = await api(s.cur.ready, 'GET', '/api/queues').catch(() => undefined)
        }
        await killHard(s.cur.child)
        if (q && q.body.queues[0].running > 0) busyKills++
        kills++
        restart(s)
      }
      for (const s of shards) if (s.restarting) await s.restarting
      let lost = 0
      let total = 0
      for (const s of shards) {
        // let the last process finish
        for (let i = 0; ; i++) {
          const q = (await api(s.cur.ready, 'GET', '/api/queues')).body.queues[0]
          if (q.depth === 0 && q.running === 0 && q.delayed === 0) break
          if (i > 600) assert.unreachable(`jobs did not finish: ${JSON.stringify(q)}`)
          await sleep(100)
        }
        const jobs: any[] = []
        let cursor: string | null = null
        do {
          const page: any = (await api(s.cur.ready, 'GET', `/api/jobs?limit=1000${cursor ? `&cursor=${cursor}` : ''}`))
            .body
          jobs.push(...page.jobs)
          cursor = page.next
        } while (cursor)
        assert.is(jobs.length, JOBS / SHARDS, 'one job per key, none lost, none doubled')
        assert.equal([...new Set(s.ids.values())].sort(), jobs.map((j) => j.id).sort())
        total += jobs.length
        for (const j of jobs) {
          if (j.input?.failAt === 's2') {
            assert.is(j.status, 'FAILED', `${j.id} dead-lettered by policy`)
            assert.is(j.error.state, 'running.s2')
            assert.ok(/fails by design|lease/.test(j.error.message), j.error.message)
            if (!sink.applied.has(`${j.id}/s1`)) lost++
            assert.not.ok(sink.applied.has(`${j.id}/s3`), 'no effect after the failed step')
          } else {
            assert.is(j.status, 'COMPLETED', `${j.id}: ${JSON.stringify(j.error ?? j.lastError)}`)
            for (const st of ['s1', 's2', 's3']) if (!sink.applied.has(`${j.id}/${st}`)) lost++
          }
        }
      }
      const dups = sink.duplicates()
      const keysOk = [...sink.byKey].every(([k, v]) => k === `${v.job}/${v.step}`)
      console.log(
        `  kills ${kills} (${busyKills} of the random ones with steps running), jobs ${total} (${FAILING} dead-lettered by policy), effects ${sink.byKey.size}, redelivered requests ${sink.redeliveries}, lost ${lost}, duplicates ${dups.length}, ${((Date.now() - t0) / 1000).toFixed(1)} s`,
      )
      assert.ok(kills >= 50)
      assert.ok(busyKills >= 35, `only ${busyKills} kills hit running jobs`)
      assert.is(lost, 0, 'lost effects')
      assert.equal(dups, [], 'duplicate effects')
      assert.ok(keysOk, 'every effect key is jobId/stepId')
    } finally {
      for (const s of shards) {
        if (s.restarting) await s.restarting.catch(() => {})
        await killHard(s.cur.child)
        s.dir.remove()
      }
      await sink.close()
    }
  },
)

Crash.run()
