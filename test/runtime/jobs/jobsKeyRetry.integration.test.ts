/**
 * An acknowledged job is never lost (issue 16.1), on a real hub process on LevelDB killed with
 * SIGKILL. The hub's disk is slow (every journal write starts 20 ms late: WRITE_DELAY_MS of the
 * fixture, as a busy journal or a slow fsync makes it). Each round submits a job with a key and,
 * at once, a retry with the same key on another connection, with a burst of other submissions in
 * flight; the hub is killed as soon as either keyed request is answered, then restarted. Every id
 * the hub answered (the burst's too) must exist after the restart, and every key must name one
 * job. Before the fix the retry was answered at once, before the job was journaled.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { bundle, killHard, sleep, startChild } from '../../helpers/crash.ts'
import { tempDir } from '../../helpers/jobs.ts'

const TOKEN = 'crash-token'
const FIXTURE = bundle('test/fixtures/jobsCrashHub.ts')
const ROUNDS = Number(process.env.AETHER_KEY_RETRY_ROUNDS ?? 12)
const BURST = 20
const ENV = { WRITE_DELAY_MS: '20' }

/** POST /api/jobs; the answer, or undefined when the hub died first. */
async function submit(base: string, body: unknown): Promise<{ status: number; body: any } | undefined> {
  try {
    const res = await fetch(`${base}/api/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    return { status: res.status, body: await res.json() }
  } catch {
    return undefined
  }
}

async function getJson(base: string, path: string) {
  const res = await fetch(base + path, { headers: { authorization: `Bearer ${TOKEN}` } })
  return { status: res.status, body: (await res.json()) as any }
}

const Retry = suite('jobs - a retried key is answered only once its job is durable')

Retry(
  `${ROUNDS} rounds of submit + same-key retry, SIGKILL at the first answer, restart: every answered id exists, one job per key`,
  async () => {
    const dir = tempDir('aether-keyretry-')
    let cur = await startChild(FIXTURE, [dir.dir], ENV)
    const answered = new Map<string, Set<string>>()
    const others = new Set<string>()
    let lost = 0
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const key = `retry-${round}`
        const burst = Array.from({ length: BURST }, (_, i) => submit(cur.ready, { type: 'echo', input: { round, i } }))
        await sleep(round % 4)
        const first = submit(cur.ready, { type: 'echo', key, input: { round } })
        const retry = submit(cur.ready, { type: 'echo', key, input: { round } })
        await Promise.race([first, retry])
        await killHard(cur.child)
        const ids = new Set<string>()
        for (const a of [await first, await retry]) {
          if (!a) continue
          assert.ok(
            a.status === 201 || a.status === 200,
            `round ${round}: answered ${a.status} ${JSON.stringify(a.body)}`,
          )
          ids.add(a.body.id)
        }
        for (const a of await Promise.all(burst)) if (a?.status === 201) others.add(a.body.id)
        answered.set(key, ids)
        assert.ok(ids.size >= 1, `round ${round}: the hub answered nothing before it was killed`)
        assert.ok(ids.size <= 1, `round ${round}: one key answered with two ids: ${[...ids]}`)
        cur = await startChild(FIXTURE, [dir.dir], ENV)
        for (const id of ids) if ((await getJson(cur.ready, `/api/jobs/${id}`)).status !== 200) lost++
      }
      let othersLost = 0
      for (const id of others) if ((await getJson(cur.ready, `/api/jobs/${id}`)).status !== 200) othersLost++
      console.log(
        `  rounds ${ROUNDS}: keyed ids answered ${answered.size}, missing after the restart ${lost}; burst ids answered ${others.size}, missing ${othersLost}`,
      )
      assert.is(lost, 0, 'answered keyed ids missing after the restart')
      assert.is(othersLost, 0, 'answered burst ids missing after the restart')
      // After all rounds: each key names exactly the job it was answered with.
      const jobs: any[] = []
      let cursor: string | null = null
      do {
        const page: any = (await getJson(cur.ready, `/api/jobs?limit=1000${cursor ? `&cursor=${cursor}` : ''}`)).body
        jobs.push(...page.jobs)
        cursor = page.next
      } while (cursor)
      const byKey = new Map<string, string[]>()
      for (const j of jobs) byKey.set(j.key, [...(byKey.get(j.key) ?? []), j.id])
      let duplicated = 0
      for (const [key, ids] of answered) {
        const stored = byKey.get(key) ?? []
        if (stored.length > 1) duplicated++
        for (const id of ids) assert.ok(stored.includes(id), `${key}: answered ${id}, stored ${stored}`)
        // a resubmission after the restart names the same job
        const again = await fetch(`${cur.ready}/api/jobs`, {
          method: 'POST',
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify({ type: 'echo', key, input: 'again' }),
        })
        const a = (await again.json()) as any
        if (ids.size) assert.is(a.id, [...ids][0], `${key}: a resubmission after the restart names the answered job`)
      }
      assert.is(duplicated, 0, 'keys with more than one job')
    } finally {
      await killHard(cur.child)
      dir.remove()
    }
  },
)

Retry.run()
