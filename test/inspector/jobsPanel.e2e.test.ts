/**
 * The inspector's Jobs view end to end: a hub started in-process with the inspector and the jobs
 * feature (one server, so the page's origin serves /api/queues, /api/jobs and /api/jobs/events),
 * a job type that dead-letters while the test says so, Debian's Chromium driven by
 * playwright-core. Screenshot: test/.artifacts/inspector-jobs.png.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { buildInspector } from '../../inspector/build.mjs'
import { jobsFeature } from '../../runtime/jobs/jobsFeature.ts'
import { defineJobType } from '../../runtime/jobs/jobTypes.ts'
import { jobMachinesFor } from '../../runtime/jobs/machines.ts'
import { launchChromium } from '../helpers/browser.ts'
import { startInspectorHub, type TestHub } from '../helpers/inspectorHub.ts'

const ART = join(import.meta.dirname, '..', '.artifacts')
mkdirSync(ART, { recursive: true })

let fail = true
const flaky = defineJobType('flaky', [
  {
    name: 'call',
    retry: { maxAttempts: 1 },
    run: async () => {
      if (fail) throw new Error('upstream 503: payments API down')
      return 'ok'
    },
  },
])

let h: TestHub
let browser: Browser
let page: Page
const ids = { dead: [] as string[], running: [] as string[] }

async function api(
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  token: string | null = h.token,
): Promise<{ status: number; body: any }> {
  const r = await fetch(h.url + path, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  return { status: r.status, body: await r.json() }
}

async function submit(job: Record<string, unknown>): Promise<string> {
  const r = await api('POST', '/api/jobs', job)
  assert.ok(r.status === 201, JSON.stringify(r))
  return r.body.id
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 10_000): Promise<T> {
  const t0 = Date.now()
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() - t0 > ms) assert.unreachable(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

const jobStatus = async (id: string) => (await api('GET', `/api/jobs/${id}`)).body.status as string

/**
 * What the panel's queues table shows, in the shape of GET /api/queues. A string, not a function:
 * tsx compiles the test with helpers (`__name`) a function sent to the page would not have.
 */
const SHOWN_QUEUES = `[...document.querySelectorAll('[data-testid="jobs-queues"] tbody tr')].map((r) => ({
  name: r.getAttribute('data-queue'),
  paused: r.querySelector('[data-field="state"]').textContent === 'paused',
  ...Object.fromEntries(['depth', 'delayed', 'running', 'dead', 'completed'].map((f) => [f, Number(r.querySelector('[data-field="' + f + '"]').textContent)])),
  ...Object.fromEntries([['byPriority', 'data-priority'], ['byTenant', 'data-tenant']].map(([f, attr]) => [f, Object.fromEntries([...r.querySelectorAll('[data-field="' + f + '"] .chip')].map((c) => [c.getAttribute(attr), Number(c.textContent.split('×')[1])]))])),
}))`

const KEYS = ['name', 'paused', 'depth', 'delayed', 'running', 'dead', 'completed', 'byPriority', 'byTenant'] as const
const pick = (q: any) => Object.fromEntries(KEYS.map((k) => [k, q[k]]))
const byName = (a: any, b: any) => (a.name < b.name ? -1 : 1)

async function shownQueues(p: Page): Promise<any[]> {
  return ((await p.evaluate(SHOWN_QUEUES)) as any[]).map(pick).sort(byName)
}

async function apiQueues() {
  const r = await api('GET', '/api/queues', undefined, null)
  return (r.body.queues as any[]).map(pick).sort(byName)
}

/** Waits until the panel shows what GET /api/queues says now, then asserts it field by field. */
async function expectQueuesMatchApi(p: Page) {
  const want = await apiQueues()
  const same = async () => JSON.stringify(await shownQueues(p)) === JSON.stringify(want)
  await until('the panel to show GET /api/queues', same, 5000).catch(() => {})
  assert.equal(await shownQueues(p), want)
  return want
}

async function setToken(p: Page, token: string) {
  await p.click('[data-testid="token-btn"]')
  await p.fill('[data-testid="token-input"]', token)
  await p.click('[data-testid="token-save"]')
}

const deadRow = (id: string) => `[data-testid="jobs-dead"] tr[data-job="${id}"]`

const panel = suite("jobsPanel e2e - the inspector's Jobs view")

panel.before(async () => {
  await buildInspector({ quiet: true })
  h = await startInspectorHub({ token: 'jobs-token', machines: jobMachinesFor([flaky]) }, {}, [
    jobsFeature({ types: [flaky] }),
  ])
  browser = await launchChromium()
  // two dead letters, two running jobs, a paused queue holding three ready jobs, one delayed job
  ids.dead.push(await submit({ type: 'flaky', input: { order: 1 }, tenant: 'acme' }))
  ids.dead.push(await submit({ type: 'flaky', input: { order: 2 }, tenant: 'globex', priority: 'HIGH' }))
  ids.running.push(await submit({ type: 'sleep', input: { ms: 600_000 }, tenant: 'acme' }))
  ids.running.push(await submit({ type: 'sleep', input: { ms: 600_000 }, tenant: 'globex', priority: 9 }))
  assert.is((await api('POST', '/api/queues/batch/pause')).status, 200)
  await submit({ type: 'echo', input: 1, queue: 'batch', tenant: 'acme', priority: 9 })
  await submit({ type: 'echo', input: 2, queue: 'batch', tenant: 'acme', priority: 9 })
  await submit({ type: 'echo', input: 3, queue: 'batch', tenant: 'globex', priority: 2 })
  await submit({ type: 'echo', input: 4, runAt: Date.now() + 3_600_000 })
  for (const id of ids.dead) await until(`${id} to dead-letter`, async () => (await jobStatus(id)) === 'FAILED')
  for (const id of ids.running) await until(`${id} to run`, async () => (await jobStatus(id)) === 'RUNNING')
  page = await browser.newPage({ viewport: { width: 1440, height: 900 } })
  page.on('pageerror', (e) => console.error('[page error]', e.message))
  await page.goto(`${h.url}/inspector`)
  await page.waitForSelector('.conn.open')
})

panel.after(async () => {
  await browser?.close()
  await h?.stop()
})

panel('jobsPanel - the Jobs tab shows the counts GET /api/queues reports, by priority and tenant', async () => {
  await page.click('[data-testid="view-jobs"]')
  await page.waitForSelector('[data-testid="jobs-queues"]')
  assert.ok(await page.$eval('#actors-view', (e) => (e as HTMLElement).hidden), 'the actors view is hidden')
  assert.match(page.url(), /\?view=jobs/)
  const q = await expectQueuesMatchApi(page)
  const batch = q.find((x) => x.name === 'batch')!
  const def = q.find((x) => x.name === 'default')!
  // the rig itself, so that matching the API means something
  assert.equal(
    { paused: batch.paused, depth: batch.depth, byPriority: batch.byPriority, byTenant: batch.byTenant },
    { paused: true, depth: 3, byPriority: { 9: 2, 2: 1 }, byTenant: { acme: 2, globex: 1 } },
  )
  assert.equal({ running: def.running, dead: def.dead, delayed: def.delayed }, { running: 2, dead: 2, delayed: 1 })
  // priorities are listed highest (first to run) first
  assert.equal(
    await page.$$eval('tr[data-queue="batch"] [data-field="byPriority"] .chip', (cs) =>
      cs.map((c) => c.getAttribute('data-priority')),
    ),
    ['9', '2'],
  )
  await page.waitForSelector('[data-testid="jobs-live"].live-open')
})

panel('jobsPanel - running jobs are listed with type, tenant, priority, attempts and worker', async () => {
  const rows = await page.$$eval('[data-testid="jobs-running"] tbody tr', (rs) =>
    rs.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent)),
  )
  const api2 = (await api('GET', '/api/jobs?status=RUNNING')).body.jobs as any[]
  assert.is(rows.length, 2)
  for (const j of api2) {
    const row = rows.find((r) => r[0] === j.id)
    assert.ok(row, `${j.id} is listed`)
    assert.equal(row, [j.id, 'sleep', j.tenant, String(j.priority), String(j.attempts), j.worker])
  }
})

panel(
  'jobsPanel - a dead letter shows its error and the state it failed in; without a token Retry is disabled and the hub refuses it',
  async () => {
    const [id] = ids.dead
    await page.waitForSelector(deadRow(id))
    assert.is(await page.textContent(`${deadRow(id)} [data-field="error"]`), 'upstream 503: payments API down')
    assert.is(await page.textContent(`${deadRow(id)} [data-field="state"]`), 'running.call')
    assert.is(await page.textContent(`${deadRow(id)} [data-field="attempts"]`), '1')
    assert.match((await page.textContent(deadRow(id)))!, /acme/)
    assert.ok(
      await page.$eval(`${deadRow(id)} [data-testid="retry"]`, (b) => (b as HTMLButtonElement).disabled),
      'Retry is disabled without a token',
    )
    assert.match((await page.getAttribute(`${deadRow(id)} [data-testid="retry"]`, 'title'))!, /no token/)
    assert.match((await page.textContent('[data-testid="jobs-readonly"]'))!, /Read-only: no token/)
    assert.ok(
      await page.$eval('[data-testid="queue-resume"]', (b) => (b as HTMLButtonElement).disabled),
      'queue buttons too',
    )
    // the button is only the page's politeness: the hub itself refuses a retry without a token
    const status = await page.evaluate(
      async (jid) => (await fetch(`/api/jobs/${jid}/retry`, { method: 'POST' })).status,
      id,
    )
    assert.is(status, 401)
    assert.is(await jobStatus(id), 'FAILED')
  },
)

panel("jobsPanel - with a token the hub refuses, Retry shows the hub's error and nothing changes", async () => {
  const [id] = ids.dead
  await setToken(page, 'not-the-token')
  await page.waitForSelector('[data-testid="access"].rejected')
  await page.waitForSelector('[data-testid="jobs-token-note"]')
  assert.ok(
    await page.$eval('[data-testid="queue-resume"]', (b) => (b as HTMLButtonElement).disabled),
    'pausing a queue needs the hub token',
  )
  await page.click(`${deadRow(id)} [data-testid="retry"]`)
  const err = await page.waitForSelector('[data-testid="jobs-error"]')
  const text = (await err.textContent())!
  assert.match(text, /401 UNAUTHORIZED/)
  assert.match(text, /this action needs a token/)
  assert.is(await jobStatus(id), 'FAILED')
  assert.ok(await page.$(deadRow(id)), 'still a dead letter')
})

panel(
  'jobsPanel - the view follows /api/jobs/events: a new dead letter appears without a reload, refreshes coalesced',
  async () => {
    const seen = () => page.evaluate(() => (window as any).__inspector.jobs.eventsSeen as number)
    const seen0 = await seen()
    const before = await page.evaluate(() => (window as any).__inspector.jobs.refreshes as number)
    const t0 = Date.now()
    const id = await submit({ type: 'flaky', input: { order: 3 } })
    ids.dead.push(id)
    // inside the 5 s fallback poll, with the stream's messages counted: the event stream at work
    await page.waitForSelector(deadRow(id), { timeout: 3000 })
    assert.ok((await seen()) > seen0, 'job.changed messages arrived')
    // a burst of 30 jobs (90 state changes) costs at most one refresh per 400 ms
    for (let i = 0; i < 30; i++) await submit({ type: 'echo', input: i })
    await until(
      'the burst to complete',
      async () => (await apiQueues()).find((q) => q.name === 'default')!.completed >= 30,
    )
    await page.waitForTimeout(600)
    const after = await page.evaluate(() => (window as any).__inspector.jobs.refreshes as number)
    const elapsed = Date.now() - t0
    assert.ok(after > before, 'the events caused refreshes')
    assert.ok(after - before <= Math.floor(elapsed / 400) + 2, `${after - before} refreshes in ${elapsed} ms`)
    await expectQueuesMatchApi(page)
  },
)

panel('jobsPanel - with the hub token: Retry requeues the dead letter, it runs, and leaves the list', async () => {
  const [id, other] = ids.dead
  await setToken(page, h.token)
  await page.waitForSelector('[data-testid="access"].operator')
  await page.waitForFunction(
    (sel) => !(document.querySelector(sel) as HTMLButtonElement | null)?.disabled,
    `${deadRow(id)} [data-testid="retry"]`,
  )
  assert.not.ok(await page.$('[data-testid="jobs-readonly"]'))
  assert.not.ok(await page.$('[data-testid="jobs-error"]'), 'the refusal of the old token is gone')
  await expectQueuesMatchApi(page)
  await page.screenshot({ path: join(ART, 'inspector-jobs.png'), fullPage: true })
  fail = false
  await page.click(`${deadRow(id)} [data-testid="retry"]`)
  await page.waitForSelector(deadRow(id), { state: 'detached', timeout: 5000 })
  await until(`${id} to run to completion`, async () => (await jobStatus(id)) === 'COMPLETED')
  const j = (await api('GET', `/api/jobs/${id}`)).body
  assert.is(j.output, 'ok')
  assert.is(await jobStatus(other), 'FAILED', 'only the retried job moved')
  await page.waitForSelector('[data-testid="toast-ok"]')
  await expectQueuesMatchApi(page)
})

panel('jobsPanel - queue resume with the hub token lets the paused queue drain', async () => {
  await page.click('tr[data-queue="batch"] [data-testid="queue-resume"]')
  await page.waitForSelector('tr[data-queue="batch"] [data-testid="queue-pause"]')
  const batch = await until('batch to drain', async () => {
    const b = (await apiQueues()).find((q) => q.name === 'batch')!
    return b.completed === 3 && b
  })
  assert.is(batch.paused, false)
  await expectQueuesMatchApi(page)
})

panel('jobsPanel - clicking a job id selects its actor in the actors view', async () => {
  const id = ids.dead[1]
  await page.click(`${deadRow(id)} .job-link`)
  await page.waitForSelector('#actors-view:not([hidden])')
  assert.ok(await page.$eval('#jobs-view', (e) => (e as HTMLElement).hidden))
  await page.waitForSelector(`.tree-row[data-path="${id}"].selected`)
  assert.is(await page.textContent('[data-testid="actor-path"]'), id)
  assert.match((await page.textContent('#actor-head'))!, /job:flaky/)
  // its machine drawn, the dead letter's state lit
  await page.waitForSelector('[data-state="job.failed"].active')
  await page.screenshot({ path: join(ART, 'inspector-job-actor.png') })
  assert.match(page.url(), new RegExp(`#/${id}$`))
  assert.not.match(page.url(), /view=jobs/)
  // and back: the Jobs tab reopens the panel, which rereads at once
  await page.click('[data-testid="view-jobs"]')
  await page.waitForSelector(deadRow(id))
})

panel('jobsPanel - on a hub without the jobs feature the panel says so plainly', async () => {
  const bare = await startInspectorHub()
  try {
    const p = await browser.newPage()
    const errors: string[] = []
    p.on('pageerror', (e) => errors.push(e.message))
    await p.goto(`${bare.url}/inspector?view=jobs`)
    const notice = await p.waitForSelector('[data-testid="jobs-notice"][data-kind="absent"]')
    assert.match((await notice.textContent())!, /no jobs feature/)
    assert.is(await p.textContent('[data-testid="jobs-live"]'), 'not live')
    assert.not.ok(await p.$('[data-testid="jobs-queues"]'))
    assert.equal(errors, [])
    await p.close()
  } finally {
    await bare.stop()
  }
})

panel.run()
