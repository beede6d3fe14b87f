// Hostile input at every edge of a real hub (`aether hub` as a child process on a free port,
// LevelDB in a temp dir). The edges come from the hub's own route table (`GET /api/routes`), so a
// new socket or mutating route is fuzzed without anyone adding it here.
//
// - Oversized frames: one 2 MB and one 64 MB frame to each WebSocket endpoint; each closes that
//   socket with 1009 and is counted in /metrics (a test per endpoint).
// - 500 connections opened and dropped on each socket: RSS within 20 MB (measured after garbage
//   collection, through the hub's V8 inspector) and the fd count back where it started.
// - Fuzz (fast-check, fixed seed printed below; AETHER_FUZZ_SEED repeats a run): per socket, text
//   and binary garbage, JSON with the fields the protocols use but wrong values, deep nesting,
//   fragmented messages, then a frame that breaks the protocol (bad opcode, RSV bits, no mask,
//   invalid UTF-8, bad close codes, fragmented control frames); per route (every mutating one and
//   the GETs with parameters), bad percent-escapes, rebinding Hosts, garbage, deep and huge bodies,
//   events in XState's reserved namespace; slow clients that never read. At least 20,000 inputs.
// After each batch: the hub process is alive and answers /api/health, its RSS and open fds are
// bounded, no answer or close reason carries a stack trace, no 5xx, no socket closed with 1011.
import { readFileSync } from 'node:fs'
import { request, Agent } from 'node:http'
import fc from 'fast-check'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import {
  arbShaped,
  arbScript,
  arbValue,
  openAndDrop,
  oversized as sendOversized,
  pool,
  procStats,
  type RouteTable,
  runScript,
  settledFds,
  socketUrl,
  Tally,
  V8Gc,
} from '../../helpers/edgeFuzz.ts'
import { HubProcess } from '../../helpers/hubProcess.ts'
import { frame, OP, RawWs } from '../../helpers/rawWs.ts'
import { sleep, tmpDir, until } from '../../helpers/tmp.ts'

const SEED = Number(process.env.AETHER_FUZZ_SEED ?? 20261115)
console.log(`[edges fuzz] seed ${SEED} (set AETHER_FUZZ_SEED=${SEED} to repeat this run)`)

const TOKEN = 'fuzz-admin-token'
const env: Record<string, string> = {}
// the hub runs with nothing optional configured (no NATS, Redis, harness, tenants)
for (const k of ['NATS_URL', 'REDIS_URL', 'AETHER_HARNESS', 'AETHER_JOBS_CONFIG', 'AETHER_JOBS_NATS'])
  if (process.env[k]) env[k] = ''
// the V8 inspector (loopback, a free port) lets the memory checks collect garbage first
env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --inspect=127.0.0.1:0`.trim()
const hub = await HubProcess.start(['--data', tmpDir('aether-fuzz-'), '--token', TOKEN], env)
// a failed assertion must not leave the hub running
process.on('exit', () => {
  if (hub.child.exitCode === null && hub.child.signalCode === null) hub.child.kill('SIGKILL')
})
const port = Number(new URL(hub.url).port)
const table: RouteTable = await (await fetch(`${hub.url}/api/routes`)).json()
const gc = await V8Gc.attach(hub.output)
const tally = new Tally()
const url = (s: RouteTable['sockets'][number], token = true) => socketUrl(s, token ? TOKEN : undefined)

async function metric(line: RegExp): Promise<number> {
  const text = await (await fetch(`${hub.url}/metrics`)).text()
  return Number(line.exec(text)?.[1] ?? 0)
}

/** The counter of sockets closed at `endpoint` for `reason` with `code`, from /metrics. */
function wsClosed(endpoint: string, reason: string, code: number): Promise<number> {
  const labels = `endpoint="${endpoint}",reason="${reason}",code="${code}"`.replace(/[/.]/g, '\\$&')
  return metric(new RegExp(`^aether_ws_closed_total\\{${labels}\\} (\\d+)$`, 'm'))
}

/** The hub process is running and answers; nothing so far broke a rule. */
async function healthy(where: string): Promise<void> {
  assert.is(hub.child.exitCode, null, `the hub exited (${where}):\n${hub.output.slice(-3000)}`)
  assert.is(hub.child.signalCode, null, `the hub was killed (${where})`)
  const r = await fetch(`${hub.url}/api/health`)
  assert.is(r.status, 200, `health after ${where}`)
  assert.equal(tally.failures, [], `5xx answers or unrefused rebinding (${where})`)
  assert.equal(tally.stacks, [], `stack traces (${where})`)
  const handlerFailures = tally.closeCodes.get(1011) ?? 0
  assert.is(
    handlerFailures,
    0,
    `sockets closed with 1011 (a handler threw) after ${where}:\n${hub.output.slice(-3000)}`,
  )
}

/** A raw HTTP request (any method, path bytes and headers); never throws. */
function send(
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, agent: keepAlive }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (d) => (text += d))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
      res.on('error', () => resolve({ status: res.statusCode ?? 0, text }))
    })
    req.on('error', (err) => resolve({ status: 0, text: String(err) }))
    req.end(body)
  })
}
const keepAlive = new Agent({ keepAlive: true, maxSockets: 16 })

/** Prints each test's duration (the suite must stay within its CI budget). */
function timed<T extends ReturnType<typeof suite>>(s: T): T {
  let t0 = 0
  s.before.each(() => {
    t0 = performance.now()
  })
  s.after.each((ctx: any) => {
    console.log(`[edges fuzz] ${((performance.now() - t0) / 1000).toFixed(1)} s: ${ctx.__test__}`)
  })
  return s
}

const mb = (n: number) => `${(n / 2 ** 20).toFixed(1)} MB`

// ---- oversized frames (a test per socket) ------------------------------------------------------

const oversized = timed(suite('hub edges - one 2 MB and one 64 MB frame to each WebSocket endpoint'))

oversized('the route table lists the sockets and mutating routes', () => {
  const paths = table.sockets.map((s) => s.path)
  for (const p of ['/ws', '/ws/agent', '/chan', '/yws', '/inspector/feed', '/inspector/stately'])
    assert.ok(paths.includes(p), p)
  assert.ok(table.routes.some((r) => r.method === 'POST' && r.path === '/api/actors/:path*'))
})

for (const s of table.sockets) {
  oversized(`${s.path}: each closes the socket with 1009, is counted, and the hub stays up`, async () => {
    for (const [size, op] of [
      [2 << 20, OP.text],
      [64 << 20, OP.binary],
    ] as const) {
      const before = await wsClosed(s.path, 'too_big', 1009)
      const closed = await sendOversized(port, url(s), size, op)
      tally.inputs++
      assert.is(closed.status, 101, closed.reason)
      assert.is(closed.code, 1009, `${s.path} ${size}: ${JSON.stringify(closed)}`)
      tally.noStack(closed.reason, s.path)
      await until(async () => (await wsClosed(s.path, 'too_big', 1009)) === before + 1, 5000, 'the 1009 counter')
    }
    await healthy(`oversized frames to ${s.path}`)
  })
}

// ---- many connections opened and dropped -------------------------------------------------------

const churn = timed(suite('hub edges - 500 connections opened and dropped on each WebSocket endpoint'))

// The inspector's sockets send the state of every actor to each new client, and agent sockets leave
// a resumable session actor each: measure the inspector's first, while the hub holds few actors.
const churnOrder = [...table.sockets].sort(
  (a, b) => Number(b.path.startsWith('/inspector/')) - Number(a.path.startsWith('/inspector/')),
)
for (const s of churnOrder) {
  churn(`${s.path}: RSS within 20 MB and the fd count back where it started`, async () => {
    // warm up first, so that what is measured is what stays, not what is built once
    await openAndDrop(port, url(s), 40, tally)
    await settledFds(hub.pid)
    const start = await gc.retained(hub.pid)
    await openAndDrop(port, url(s), 500, tally)
    const fds = await settledFds(hub.pid, start.fds)
    const end = await gc.retained(hub.pid)
    console.log(
      `[edges fuzz] ${s.path}: 500 connections; rss ${mb(start.rss)} -> ${mb(end.rss)}, fds ${start.fds} -> ${fds}`,
    )
    assert.ok(fds <= start.fds, `fds ${start.fds} -> ${fds}`)
    assert.ok(end.rss - start.rss <= 20 * 2 ** 20, `rss grew ${mb(end.rss - start.rss)}`)
    await healthy(`connection churn on ${s.path}`)
  })
}

// ---- fuzz ------------------------------------------------------------------------------------------

const fuzz = timed(suite('hub edges - fuzzed input at every edge'))
let baseline = { rss: 0, fds: 0 }

fuzz.before(async () => {
  baseline = await gc.retained(hub.pid)
})

fuzz('every WebSocket endpoint: garbage, wrong fields, fragments, deep JSON, then a protocol break', async () => {
  const per = 60
  for (const [i, s] of table.sockets.entries()) {
    const t0 = performance.now()
    const scripts = fc.sample(arbScript, { seed: SEED + i, numRuns: per })
    // one connection in eight without the token: refused by the handler, after the upgrade
    await pool(
      scripts.map((sc, k) => ({ sc, token: k % 8 !== 0 })),
      8,
      ({ sc, token }) => runScript(port, url(s, token), sc, tally),
    )
    await healthy(`fuzzing ${s.path}`)
    console.log(`[edges fuzz] ${s.path}: ${per} scripts in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
  }
  const { rss, fds } = await gc.retained(hub.pid)
  console.log(
    `[edges fuzz] ${tally.ws} frames; close codes ${JSON.stringify(Object.fromEntries(tally.closeCodes))}; rss ${mb(rss)} (start ${mb(baseline.rss)}), fds ${fds} (start ${baseline.fds})`,
  )
  assert.ok(rss < baseline.rss + 100 * 2 ** 20, `rss ${mb(rss)} vs ${mb(baseline.rss)} at the start`)
  assert.ok(fds <= baseline.fds + 8, `fds ${fds} vs ${baseline.fds} at the start`)
})

// ---- REST ------------------------------------------------------------------------------------------

const BAD_SEGMENTS = ['%zz', '%E0%A4%A', '%', '%%', '%C0%AF', '..', '%2e%2e', '%00', 'a%2Fb', 'x'.repeat(2000)]
const arbSegment = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...BAD_SEGMENTS) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      'link',
      'reliability',
      'fz-c',
      'job-x',
      'default',
      'pause',
      'resume',
      'stop',
      'retry',
      'events',
      'm1',
    ),
  },
  { weight: 2, arbitrary: fc.string({ maxLength: 30 }).map((s) => encodeURIComponent(s)) },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z0-9_.:-]{1,20}$/) },
)
const arbBody = fc.oneof(
  { weight: 4, arbitrary: arbShaped },
  { weight: 2, arbitrary: arbValue.map((v) => JSON.stringify({ type: typeof v === 'string' ? v : 'x', value: v })) },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom(
        'xstate.error.actor.x',
        'xstate.done.actor.a',
        'xstate.init',
        'xstate.after.10.counter',
        'xstate.stop',
        'xstate.',
      )
      .map((type) => JSON.stringify({ type, output: 1, error: 'x' })),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 300 }) },
  { weight: 1, arbitrary: fc.constantFrom('', '{', 'null', '[]', '"x"', '{"type":1}', '\u0000') },
  { weight: 1, arbitrary: fc.constant(`{"type":"x","input":${'['.repeat(200)}${']'.repeat(200)}}`) },
)
/** Bodies too big to send thousands of times: each route gets each once, with the token. */
const HEAVY = [
  `{"path":"deep","machine":"counter","input":${'['.repeat(100_000)}${']'.repeat(100_000)}}`,
  `{"type":"x","pad":"${'y'.repeat((1 << 20) + 10)}"}`,
]
const arbHost = fc.oneof(
  { weight: 6, arbitrary: fc.constant(`127.0.0.1:${port}`) },
  { weight: 1, arbitrary: fc.constant(`evil.example:${port}`) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('localhost.evil.example', '127.0.0.1.nip.io', '[::1', 'a b', `localhost:${port}`),
  },
)

interface Call {
  method: string
  path: string
  host: string
  token: boolean
  body: string | undefined
  contentType: string
}

function arbCall(route: { method: string; path: string }): fc.Arbitrary<Call> {
  const parts = route.path.split('/').filter(Boolean)
  const segs = parts.map((p) =>
    p.startsWith(':') && p.endsWith('*')
      ? fc
          .tuple(
            fc.array(arbSegment, { minLength: 1, maxLength: 3 }),
            fc.constantFrom('events', 'stop', 'log', 'history', 'x'),
          )
          .map(([a, end]) => [...a, end].join('/'))
      : p.startsWith(':')
        ? arbSegment
        : fc.constant(p),
  )
  return fc.record({
    method: fc.constant(route.method),
    path: fc
      .tuple(
        fc.tuple(...segs),
        fc.option(fc.constantFrom('?after=-1', '?limit=x', '?token=wrong', '?a=%zz', '?snapshots=all'), { freq: 3 }),
      )
      .map(([s, q]) => `/${s.join('/')}${q ?? ''}`),
    host: arbHost,
    token: fc.boolean(),
    body: route.method === 'GET' ? fc.constant(undefined) : arbBody,
    contentType: fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded'),
  })
}

fuzz(
  'every mutating route (and every GET with parameters): bad escapes, rebinding Hosts, garbage, reserved events',
  async () => {
    // an actor of our own to send events to, beside the hub's (link, reliability)
    await fetch(`${hub.url}/api/actors`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ path: 'fz-c', machine: 'counter' }),
    })
    const routes = table.routes.filter((r) => r.mutating || r.path.includes(':'))
    const n = Math.ceil(8_000 / routes.length)
    for (const [i, route] of routes.entries()) {
      const calls = fc.sample(arbCall(route), { seed: SEED * 7 + i, numRuns: n })
      if (route.mutating) for (const [k, body] of HEAVY.entries()) calls[k] = { ...calls[k], body, token: true }
      await pool(calls, 12, async (c) => {
        const headers: Record<string, string> = { Host: c.host, 'content-type': c.contentType }
        if (c.host.startsWith('evil')) headers.Origin = `http://${c.host}`
        if (c.token) headers.authorization = `Bearer ${TOKEN}`
        const r = await send(c.method, c.path, headers, c.body)
        tally.inputs++
        tally.http++
        if (r.status >= 500 || r.status === 0)
          tally.failures.push(`${r.status} ${c.method} ${c.path.slice(0, 120)}: ${r.text.slice(0, 200)}`)
        if (c.host.startsWith('evil') && r.status !== 403)
          tally.failures.push(`rebinding Host not refused: ${c.method} ${c.path} -> ${r.status}`)
        tally.noStack(r.text, `${c.method} ${c.path.slice(0, 80)}`)
      })
      await healthy(`${route.method} ${route.path}`)
    }
    const { rss, fds } = await gc.retained(hub.pid)
    console.log(`[edges fuzz] ${tally.http} requests over ${routes.length} routes; rss ${mb(rss)}, fds ${fds}`)
    // what the fuzz created (actors, jobs) is kept on purpose; the bound is for what leaks
    assert.ok(rss < baseline.rss + 200 * 2 ** 20, `rss ${mb(rss)} vs ${mb(baseline.rss)} at the start`)
    assert.ok(fds <= baseline.fds + 8, `fds ${fds} vs ${baseline.fds} at the start`)
  },
)

fuzz('slow clients that never read are closed (1008) once their queue passes the limit; the hub stays up', async () => {
  const echo = table.sockets.find((s) => s.path === '/api/runtime/ws')!
  const before = await wsClosed(echo.path, 'slow_client', 1008)
  const slow = await RawWs.open(port, url(echo), {}, { readFrames: false })
  slow.socket.pause()
  const text = frame(OP.text, 'e'.repeat(4000))
  // every frame is echoed back (4 KB): far more than the 8 MiB a client may leave unread
  // (not counted as inputs: how many are sent before the hub closes it depends on timing)
  for (let i = 0; i < 6000 && !slow.ended; i++) await slow.write(text)
  await until(async () => (await wsClosed(echo.path, 'slow_client', 1008)) > before, 15_000, 'the slow client closed')
  slow.destroy()
  // a non-reading client on every socket, sending what makes servers answer, then left hanging
  const idle = await Promise.all(
    table.sockets.map(async (s) => {
      const ws = await RawWs.open(port, url(s), {}, { readFrames: false })
      ws.socket.pause()
      for (let i = 0; i < 50; i++) await ws.write(frame(OP.text, JSON.stringify({ cmd: 'ping', type: 'ping', id: i })))
      tally.inputs += 50
      return ws
    }),
  )
  await sleep(300)
  await healthy('slow clients')
  for (const ws of idle) ws.destroy()
  assert.ok(procStats(hub.pid).rss < baseline.rss + 300 * 2 ** 20)
})

fuzz('in all: at least 20,000 inputs, no exit, no 5xx, no stack trace', async () => {
  console.log(
    `[edges fuzz] total: ${tally.inputs} inputs (${tally.ws} WebSocket frames, ${tally.http} HTTP requests), ${tally.connections} connections`,
  )
  const stat = readFileSync(`/proc/${hub.pid}/stat`, 'utf8').split(') ')[1].split(' ')
  console.log(`[edges fuzz] the hub used ${((Number(stat[11]) + Number(stat[12])) / 100).toFixed(1)} s of CPU`)
  assert.ok(tally.inputs >= 20_000, `${tally.inputs} inputs`)
  await healthy('the whole run')
  gc.close()
  await hub.kill('SIGTERM')
  const { code } = await hub.exited
  assert.is(code, 0, 'a clean shutdown at the end')
})

oversized.run()
churn.run()
fuzz.run()
