import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import fc from 'fast-check'
import WebSocket from 'ws'
import { Hub } from '../../../runtime/Hub.ts'
import { jobsFeature, type JobsFeature } from '../../../runtime/jobs/jobsFeature.ts'
import { tempDir } from '../../helpers/jobs.ts'

interface Ctx {
  hub: Hub
  jobs: JobsFeature
  tmp: { dir: string; remove(): void }
}

const TOKEN = 'hub-token'
const A = 'token-of-tenant-a'
const B = 'token-of-tenant-b'

async function start(ctx: Ctx) {
  ctx.tmp = tempDir()
  ctx.jobs = jobsFeature({
    tenants: { a: { token: A, concurrency: 4 }, b: { token: B } },
    triggers: { deploy: { type: 'echo', priority: 15 } },
  })
  ctx.hub = await Hub.start({ data: ctx.tmp.dir, token: TOKEN }, [ctx.jobs])
}
async function stop(ctx: Ctx) {
  await ctx.hub.close()
  ctx.tmp.remove()
}

async function call(ctx: Ctx, method: string, path: string, body?: unknown, token?: string, raw?: string) {
  const res = await fetch(ctx.hub.url + path, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/json' },
    body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
  })
  const text = await res.text()
  let json: any
  try {
    json = JSON.parse(text)
  } catch {
    json = text
  }
  return { status: res.status, body: json }
}

async function until(fn: () => Promise<boolean> | boolean, ms = 5000) {
  const t0 = Date.now()
  while (!(await fn())) {
    if (Date.now() - t0 > ms) throw new Error('timed out waiting')
    await new Promise((r) => setTimeout(r, 10))
  }
}

const Api = suite<Ctx>('jobsApi - REST')
Api.before(start)
Api.after(stop)

Api('POST /api/jobs: 401 without a token, 201 with, 200 for a repeated key', async (ctx) => {
  assert.is((await call(ctx, 'POST', '/api/jobs', { type: 'echo' })).status, 401)
  assert.is((await call(ctx, 'POST', '/api/jobs', { type: 'echo' }, 'wrong')).status, 401)
  const a = await call(
    ctx,
    'POST',
    '/api/jobs',
    { type: 'echo', input: { x: 1 }, key: 'order-1', priority: 'HIGH' },
    TOKEN,
  )
  assert.is(a.status, 201)
  const again = await call(ctx, 'POST', '/api/jobs', { type: 'echo', input: { x: 2 }, key: 'order-1' }, TOKEN)
  assert.is(again.status, 200)
  assert.is(again.body.id, a.body.id)
  await until(
    async () => (await call(ctx, 'GET', `/api/jobs/${a.body.id}`, undefined, TOKEN)).body.status === 'COMPLETED',
  )
  const j = (await call(ctx, 'GET', `/api/jobs/${a.body.id}`, undefined, TOKEN)).body
  assert.equal(
    {
      id: j.id,
      type: j.type,
      status: j.status,
      priority: j.priority,
      tenant: j.tenant,
      attempts: j.attempts,
      input: j.input,
      output: j.output,
    },
    {
      id: a.body.id,
      type: 'echo',
      status: 'COMPLETED',
      priority: 15,
      tenant: 'default',
      attempts: 1,
      input: { x: 1 },
      output: { x: 1 },
    },
  )
})

Api('400 names the field', async (ctx) => {
  const cases: Array<[unknown, string]> = [
    [{ type: 'nope' }, '"type"'],
    [{}, '"type"'],
    [{ type: 'echo', priority: 21 }, '"priority"'],
    [{ type: 'echo', tenant: 'a b' }, '"tenant"'],
    [{ type: 'echo', key: '' }, '"key"'],
    [{ type: 'echo', runAt: 'tomorrow' }, '"runAt"'],
    [{ type: 'echo', maxAttempts: 0 }, '"maxAttempts"'],
    [{ type: 'echo', colour: 'red' }, '"colour"'],
    [[1, 2], 'JSON object'],
  ]
  for (const [body, field] of cases) {
    const r = await call(ctx, 'POST', '/api/jobs', body, TOKEN)
    assert.is(r.status, 400, JSON.stringify(body))
    assert.ok(r.body.message.includes(field), `${r.body.message} names ${field}`)
  }
  assert.is((await call(ctx, 'POST', '/api/jobs', undefined, TOKEN, '{"type":')).status, 400)
})

Api('tenant isolation: a tenant token sees only its jobs; others are 404', async (ctx) => {
  const a = await call(ctx, 'POST', '/api/jobs', { type: 'sleep', input: { ms: 5 } }, A)
  const b = await call(ctx, 'POST', '/api/jobs', { type: 'sleep', input: { ms: 5 } }, B)
  assert.is(a.status, 201)
  assert.is(b.status, 201)
  assert.is((await call(ctx, 'GET', `/api/jobs/${a.body.id}`, undefined, A)).body.tenant, 'a')
  assert.is((await call(ctx, 'GET', `/api/jobs/${b.body.id}`, undefined, A)).status, 404)
  assert.is((await call(ctx, 'POST', `/api/jobs/${b.body.id}/stop`, undefined, A)).status, 404)
  assert.is((await call(ctx, 'GET', `/api/jobs/${a.body.id}`, undefined, B)).status, 404)
  assert.is(
    (await call(ctx, 'GET', `/api/jobs/${a.body.id}`)).status,
    401,
    'reads need a token when tenants are configured',
  )
  const listA = (await call(ctx, 'GET', '/api/jobs?limit=1000', undefined, A)).body.jobs
  assert.ok(listA.length >= 1 && listA.every((j: any) => j.tenant === 'a'))
  const asOther = await call(ctx, 'POST', '/api/jobs', { type: 'echo', tenant: 'b' }, A)
  assert.is(asOther.status, 400)
  assert.ok(asOther.body.message.includes('"tenant"'))
  const all = (await call(ctx, 'GET', '/api/jobs?limit=1000', undefined, TOKEN)).body.jobs
  assert.ok(all.some((j: any) => j.tenant === 'b') && all.some((j: any) => j.tenant === 'a'))
})

Api('actions over REST: pause, resume, stop, retry; 409 when they do not apply', async (ctx) => {
  const j = await call(ctx, 'POST', '/api/jobs', { type: 'sleep', input: { ms: 60_000 } }, TOKEN)
  await until(
    async () => (await call(ctx, 'GET', `/api/jobs/${j.body.id}`, undefined, TOKEN)).body.status === 'RUNNING',
  )
  assert.is((await call(ctx, 'POST', `/api/jobs/${j.body.id}/pause`)).status, 401)
  assert.equal((await call(ctx, 'POST', `/api/jobs/${j.body.id}/pause`, undefined, TOKEN)).body, {
    id: j.body.id,
    status: 'PAUSED',
  })
  assert.is((await call(ctx, 'POST', `/api/jobs/${j.body.id}/retry`, undefined, TOKEN)).status, 409)
  assert.is((await call(ctx, 'POST', `/api/jobs/${j.body.id}/resume`, undefined, TOKEN)).body.status, 'PENDING')
  await until(
    async () => (await call(ctx, 'GET', `/api/jobs/${j.body.id}`, undefined, TOKEN)).body.status === 'RUNNING',
  )
  assert.is((await call(ctx, 'POST', `/api/jobs/${j.body.id}/stop`, undefined, TOKEN)).body.status, 'STOPPED')
  assert.is((await call(ctx, 'POST', `/api/jobs/${j.body.id}/explode`, undefined, TOKEN)).status, 404)
  const q = (await call(ctx, 'GET', '/api/queues', undefined, TOKEN)).body
  assert.ok(q.queues[0].stopped >= 1)
  assert.is((await call(ctx, 'POST', '/api/queues/default/pause', undefined, A)).status, 403)
  assert.is((await call(ctx, 'POST', '/api/queues/default/pause', undefined, TOKEN)).body.paused, true)
  const held = await call(ctx, 'POST', '/api/jobs', { type: 'echo' }, TOKEN)
  await new Promise((r) => setTimeout(r, 50))
  assert.is((await call(ctx, 'GET', `/api/jobs/${held.body.id}`, undefined, TOKEN)).body.status, 'PENDING')
  assert.is((await call(ctx, 'POST', '/api/queues/default/resume', undefined, TOKEN)).body.paused, false)
  await until(
    async () => (await call(ctx, 'GET', `/api/jobs/${held.body.id}`, undefined, TOKEN)).body.status === 'COMPLETED',
  )
})

Api('listing pages with a cursor and filters', async (ctx) => {
  for (let i = 0; i < 5; i++) await call(ctx, 'POST', '/api/jobs', { type: 'echo', input: i, tenant: 'pager' }, TOKEN)
  const p1 = (await call(ctx, 'GET', '/api/jobs?tenant=pager&limit=2', undefined, TOKEN)).body
  const p2 = (await call(ctx, 'GET', `/api/jobs?tenant=pager&limit=2&cursor=${p1.next}`, undefined, TOKEN)).body
  const p3 = (await call(ctx, 'GET', `/api/jobs?tenant=pager&limit=2&cursor=${p2.next}`, undefined, TOKEN)).body
  assert.equal(
    [...p1.jobs, ...p2.jobs, ...p3.jobs].map((j: any) => j.input),
    [0, 1, 2, 3, 4],
  )
  assert.is(p3.next, null)
  assert.is((await call(ctx, 'GET', '/api/jobs?status=DONE', undefined, TOKEN)).status, 400)
  assert.is((await call(ctx, 'GET', '/api/jobs?limit=0', undefined, TOKEN)).status, 400)
})

Api('webhook trigger, schedule, openapi, metrics, page', async (ctx) => {
  assert.is((await call(ctx, 'POST', '/api/triggers/deploy', { v: 1 })).status, 401)
  const res = await fetch(ctx.hub.url + '/api/triggers/deploy', {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'idempotency-key': 'd-1' },
    body: '{"v":1}',
  })
  assert.is(res.status, 201)
  const t = await res.json()
  const res2 = await fetch(ctx.hub.url + '/api/triggers/deploy', {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'idempotency-key': 'd-1' },
    body: '{"v":2}',
  })
  assert.is(res2.status, 200)
  assert.is((await res2.json()).id, t.id)
  assert.is((await call(ctx, 'POST', '/api/triggers/nope', {}, TOKEN)).status, 404)
  await until(async () => (await call(ctx, 'GET', `/api/jobs/${t.id}`, undefined, TOKEN)).body.status === 'COMPLETED')
  const j = (await call(ctx, 'GET', `/api/jobs/${t.id}`, undefined, TOKEN)).body
  assert.equal([j.priority, j.output], [15, { v: 1 }])
  const bad = await call(ctx, 'POST', '/api/schedules', { name: 'x', job: { type: 'echo' }, cron: '* * *' }, TOKEN)
  assert.is(bad.status, 400)
  assert.ok(bad.body.message.includes('"cron"'))
  const sch = await call(
    ctx,
    'POST',
    '/api/schedules',
    { name: 'tick', job: { type: 'echo', input: 'tick' }, every: 1000 },
    TOKEN,
  )
  assert.is(sch.status, 201)
  assert.is((await call(ctx, 'GET', '/api/schedules', undefined, TOKEN)).body.schedules[0].name, 'tick')
  assert.is((await call(ctx, 'POST', '/api/schedules/tick/stop', undefined, TOKEN)).status, 200)
  const doc = (await call(ctx, 'GET', '/api/openapi.json')).body
  assert.is(doc.openapi, '3.1.0')
  for (const p of ['/api/jobs', '/api/jobs/{id}', '/api/jobs/{id}/retry', '/api/queues', '/api/triggers/{name}'])
    assert.ok(doc.paths[p], p)
  const metrics = await (await fetch(ctx.hub.url + '/metrics')).text()
  assert.match(metrics, /aether_jobs\{status="COMPLETED"\} \d+/)
  assert.match(metrics, /aether_jobs_queue_depth\{/)
  assert.match(metrics, /aether_jobs_step_duration_ms_bucket\{le="\+Inf"\} \d+/)
  const page = await (await fetch(ctx.hub.url + '/jobs')).text()
  assert.ok(page.includes('Dead letters') && page.includes('/api/queues'))
})

Api('WS /api/jobs/events streams status changes, scoped to the tenant', async (ctx) => {
  const open = (token: string) =>
    new Promise<{ ws: WebSocket; msgs: any[] }>((resolve, reject) => {
      const ws = new WebSocket(ctx.hub.url.replace('http', 'ws') + `/api/jobs/events?token=${token}`)
      const msgs: any[] = []
      ws.on('message', (d) => msgs.push(JSON.parse(String(d))))
      ws.on('open', () => resolve({ ws, msgs }))
      ws.on('error', reject)
    })
  const a = await open(A)
  const admin = await open(TOKEN)
  await until(() => a.msgs.length > 0 && admin.msgs.length > 0)
  const ja = await call(ctx, 'POST', '/api/jobs', { type: 'echo', input: 'ws' }, A)
  const jb = await call(ctx, 'POST', '/api/jobs', { type: 'echo', input: 'ws' }, B)
  await until(
    () =>
      a.msgs.some((m) => m.id === ja.body.id && m.status === 'COMPLETED') &&
      admin.msgs.some((m) => m.id === jb.body.id && m.status === 'COMPLETED'),
  )
  assert.ok(!a.msgs.some((m) => m.id === jb.body.id), 'tenant a sees nothing of b')
  a.ws.close()
  admin.ws.close()
})

const Fuzz = suite<Ctx>('jobsApi - fuzzed POST /api/jobs bodies')
Fuzz.before(start)
Fuzz.after(stop)
Fuzz('only 200/201/400/401 answers, no crash, no job from a bad body', async (ctx) => {
  const field = fc.oneof(
    fc.constant('type'),
    fc.constant('input'),
    fc.constant('priority'),
    fc.constant('tenant'),
    fc.constant('key'),
    fc.constant('runAt'),
    fc.constant('maxAttempts'),
    fc.constant('queue'),
    fc.string({ maxLength: 8 }),
  )
  const value = fc.oneof(
    fc.constantFrom('echo', 'sleep', 'URGENT', 'low', 'a', 'b', '', '2026-01-01T00:00:00Z'),
    fc.integer({ min: -5, max: 30 }),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.string({ maxLength: 20 }),
    fc.array(fc.integer(), { maxLength: 3 }),
    fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 3 }),
  )
  const nearlyValid = fc
    .record(
      {
        type: fc.constantFrom('echo', 'echo', 'echo', 'sleep', 'nope'),
        input: fc.oneof(
          fc.json().map((j) => JSON.parse(j)),
          fc.constant({ ms: 1 }),
        ),
        priority: fc.oneof(fc.integer({ min: -2, max: 22 }), fc.constantFrom('URGENT', 'HIGH', 'normal', 'MEDIUM')),
        tenant: fc.constantFrom('a', 'b', 'x y', ''),
        key: fc.oneof(fc.string({ maxLength: 6 }), fc.integer()),
        runAt: fc.oneof(fc.integer({ min: -1, max: 2e12 }), fc.constantFrom('2026-01-01T00:00:00Z', 'soon')),
        maxAttempts: fc.integer({ min: -1, max: 120 }),
      },
      { requiredKeys: ['type'] },
    )
    .map((o) => JSON.stringify(o))
  const body = fc.oneof(
    { weight: 6, arbitrary: nearlyValid },
    { weight: 3, arbitrary: fc.dictionary(field, value, { maxKeys: 6 }).map((o) => JSON.stringify(o)) },
    { weight: 1, arbitrary: fc.json() },
    { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        '',
        '{',
        '[]',
        'null',
        '{"type":"echo","input":',
        '\u0000',
        '{"type":"echo","maxAttempts":1e309}',
      ),
    },
  )
  const token = fc.constantFrom(TOKEN, A, undefined, 'nope')
  const seen = { 200: 0, 201: 0, 400: 0, 401: 0 } as Record<number, number>
  await fc.assert(
    fc.asyncProperty(body, token, async (raw, tok) => {
      const before = ctx.jobs.queue.jobs.size
      const r = await call(ctx, 'POST', '/api/jobs', undefined, tok, raw)
      assert.ok([200, 201, 400, 401].includes(r.status), `status ${r.status} for ${raw}: ${JSON.stringify(r.body)}`)
      seen[r.status]++
      const after = ctx.jobs.queue.jobs.size
      if (r.status === 201) assert.is(after, before + 1)
      else assert.is(after, before, `no job from a ${r.status}`)
    }),
    { numRuns: 400, seed: 4 },
  )
  assert.ok(seen[201] > 0 && seen[400] > 0 && seen[401] > 0, JSON.stringify(seen))
  const health = await call(ctx, 'GET', '/api/health')
  assert.is(health.status, 200)
})

Api.run()
Fuzz.run()
