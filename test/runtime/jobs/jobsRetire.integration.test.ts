/**
 * Retirement of finished jobs on a real hub process on LevelDB, killed with SIGKILL while it
 * archives (issue 16.7). The hub keeps 5 finished jobs live (RETAIN_COUNT), so with jobs finishing
 * all the time it archives all the time; bursts of keyed submissions run between seeded kills.
 * After the last restart every answered id answers `GET /api/jobs/<id>` (COMPLETED, archived or
 * live), the live and archived listings are disjoint and hold each job once, a key still names its
 * job, and an archived job's log, history and actor answer, marked archived.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { bundle, killHard, prng, sleep, startChild } from '../../helpers/crash.ts'
import { tempDir } from '../../helpers/jobs.ts'
import { HubProcess, runCli } from '../../helpers/hubProcess.ts'

const TOKEN = 'crash-token'
const FIXTURE = bundle('test/fixtures/jobsCrashHub.ts')
const KILLS = Number(process.env.AETHER_RETIRE_KILLS ?? 6)
const BURST = 60
const ENV = { RETAIN_COUNT: '5' }

async function api(base: string, method: string, path: string, body?: unknown) {
  const res = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  return { status: res.status, headers: res.headers, text: await res.text() }
}
const json = (r: { text: string }) => JSON.parse(r.text)

/** Every page of a listing. */
async function all(base: string, query: string): Promise<any[]> {
  const out: any[] = []
  let cursor: string | null = null
  do {
    const page = json(
      await api(base, 'GET', `/api/jobs?${query}&limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`),
    )
    out.push(...page.jobs)
    cursor = page.next
  } while (cursor)
  return out
}

const Retire = suite('jobs - retirement survives SIGKILL (LevelDB, child process)')

Retire(`${KILLS} kills while finished jobs are archived: every answered job found once, live or archived`, async () => {
  const rand = prng(16_07)
  const dir = tempDir('aether-retire-')
  let cur = await startChild(FIXTURE, [dir.dir], ENV)
  const answered = new Map<string, string>() // key -> id
  let n = 0
  try {
    for (let k = 0; k < KILLS; k++) {
      const burst: Promise<void>[] = []
      let answeredNow = 0
      for (let i = 0; i < BURST; i++) {
        const key = `r-${n++}`
        burst.push(
          api(cur.ready, 'POST', '/api/jobs', { type: 'echo', key, input: { key } }).then(
            (r) => {
              if (r.status === 201 || r.status === 200) {
                answered.set(key, json(r).id)
                answeredNow++
              }
            },
            () => {}, // the hub died first: not answered
          ),
        )
      }
      // kill at a seeded point of the burst, counted in answers (a time would be no point at all
      // on a loaded machine, where the hub may answer nothing within it): jobs are being
      // submitted, finishing and archived
      const point = 1 + Math.floor(rand() * (BURST - 1))
      const deadline = Date.now() + 20_000
      while (answeredNow < point && Date.now() < deadline) await sleep(2)
      await killHard(cur.child)
      await Promise.all(burst)
      cur = await startChild(FIXTURE, [dir.dir], ENV)
    }
    // jobs recovered PENDING run, and retirement keeps RETAIN_COUNT finished ones: wait for that
    // state (bounded) rather than a fixed time, which a loaded machine may not give it
    const settled = Date.now() + 30_000
    let live = await all(cur.ready, 'status=PENDING,RUNNING,COMPLETED')
    while (live.some((j) => j.status !== 'COMPLETED') || live.length > Number(ENV.RETAIN_COUNT)) {
      if (Date.now() > settled)
        throw new Error(
          `the hub did not settle in 30 s: ${live.length} live jobs (${live.map((j) => j.status).join(',')})`,
        )
      await sleep(100)
      live = await all(cur.ready, 'status=PENDING,RUNNING,COMPLETED')
    }
    const archived = await all(cur.ready, 'archived=true')
    const liveIds = new Set(live.map((j) => j.id))
    const archivedIds = archived.map((j) => j.id)
    assert.is(new Set(archivedIds).size, archivedIds.length, 'each archived job listed once')
    for (const id of archivedIds) assert.not.ok(liveIds.has(id), `${id} is both live and archived`)
    assert.ok(archived.length > 0, 'the hub archived')
    let lost = 0
    for (const [key, id] of answered) {
      const r = await api(cur.ready, 'GET', `/api/jobs/${id}`)
      if (r.status !== 200) {
        lost++
        continue
      }
      const v = json(r)
      assert.is(v.status, 'COMPLETED', `${id}`)
      assert.equal(v.input, { key })
      assert.is(v.archived === true, !liveIds.has(id), `${id}: archived flag agrees with the listings`)
    }
    console.log(
      `  kills ${KILLS}, answered ${answered.size}, live ${live.length}, archived ${archived.length}, lost ${lost}`,
    )
    assert.is(lost, 0, 'answered jobs missing after the restarts')
    // a key still names its job, archived or not
    const [key, id] = [...answered].find(([, id]) => !liveIds.has(id))!
    const again = await api(cur.ready, 'POST', '/api/jobs', { type: 'echo', key, input: 'again' })
    assert.equal([again.status, json(again).id], [200, id])
    // an archived job's log, history and actor
    const log = await api(cur.ready, 'GET', `/api/actors/${id}/log`)
    assert.is(log.status, 200)
    assert.is(log.headers.get('x-aether-archived'), 'true')
    const lines = log.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    assert.is(lines[0].actor, id)
    assert.ok(lines.some((l) => l.event?.type === 'xstate.done.actor.echo'))
    const history = json(await api(cur.ready, 'GET', `/api/actors/${id}/history`))
    assert.is(history.archived, true)
    assert.ok(history.records.length >= 1)
    const actor = json(await api(cur.ready, 'GET', `/api/actors/${id}`))
    assert.equal([actor.status, actor.archived], ['archived', true])
    const stop = await api(cur.ready, 'POST', `/api/jobs/${id}/stop`)
    assert.equal([stop.status, json(stop).error], [409, 'BAD_STATE'])
  } finally {
    await killHard(cur.child)
    dir.remove()
  }
})

Retire.run()

const Cli = suite('jobs - retention settings of aether hub')

Cli(
  '--jobs-retain-count keeps that many finished jobs live; bad values are usage errors naming the setting',
  async () => {
    const dir = tempDir('aether-retain-cli-')
    const hub = await HubProcess.start([
      '--data',
      dir.dir,
      '--token',
      TOKEN,
      '--jobs-retain-count',
      '2',
      '--jobs-retain-age',
      'never',
    ])
    try {
      const ids: string[] = []
      for (let i = 0; i < 5; i++) ids.push(json(await api(hub.url, 'POST', '/api/jobs', { type: 'echo', input: i })).id)
      for (let i = 0; i < 100 && (await all(hub.url, 'archived=true')).length < 3; i++) await sleep(50)
      assert.equal((await all(hub.url, 'status=COMPLETED')).map((j) => j.id).sort(), ids.slice(3).sort())
      assert.equal(
        (await all(hub.url, 'archived=true')).map((j) => j.id),
        ids.slice(0, 3).reverse(),
      )
    } finally {
      await hub.kill()
    }
    const bad = await runCli(['hub', '--data', dir.dir, '--port', '0', '--jobs-retain-age', 'soon'])
    assert.is(bad.code, 2)
    assert.match(bad.stderr, /--jobs-retain-age must be milliseconds, or a number with s, m, h or d/)
    const env = await runCli(['hub', '--data', dir.dir, '--port', '0'], { AETHER_JOBS_RETAIN_COUNT: 'many' })
    assert.is(env.code, 2)
    assert.match(
      env.stderr,
      /AETHER_JOBS_RETAIN_COUNT \(setting jobs-retain-count\) must be a whole number >= 0 or "all", got "many"/,
    )
    dir.remove()
  },
)

Cli.run()
