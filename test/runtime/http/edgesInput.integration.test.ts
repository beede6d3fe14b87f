// Issue 16, points 3 and 4, on a real hub (`aether hub` as a child process, LevelDB in a temp dir):
// broken percent-escapes are 400s (never a dead hub or a stack trace in the log), a spawn the
// machine cannot start with is a 400 naming "input" that leaves no actor behind, a client that
// drops mid-body is no internal error, a DNS-rebound Host is refused (HTTP and WebSocket), and a
// tenant's job data is readable only with that tenant's token or the hub token (actor routes and
// the inspector's sockets).
import { writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { connect } from 'node:net'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import WebSocket from 'ws'
import { HubProcess } from '../../helpers/hubProcess.ts'
import { RawWs } from '../../helpers/rawWs.ts'
import { sleep, tmpDir, until } from '../../helpers/tmp.ts'

const TOKEN = 'edge-admin-token'
const STACK = /\n\s+at |\bat \S+ \(|\.ts:\d+:\d+/

const portOf = (h: HubProcess) => Number(new URL(h.url).port)

/** A request with any headers (fetch will not send a Host of our choosing). */
function raw(
  h: HubProcess,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: portOf(h), method, path, headers }, (res) => {
      let text = ''
      res.on('data', (d) => (text += d))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

const auth = (t = TOKEN) => ({ authorization: `Bearer ${t}`, 'content-type': 'application/json' })

// ---- bad paths and bad input -------------------------------------------------------------------

const input = suite('hub edges - bad paths and bad input (issue 16, point 3)')
let hub: HubProcess

input.before(async () => {
  hub = await HubProcess.start(['--data', tmpDir('aether-edges-'), '--token', TOKEN, '--allow-host', 'hub.example'])
})
input.after(async () => {
  await hub.kill('SIGTERM')
})

input('/yws/%zz is refused with 400 before any token check, and the hub stays up', async () => {
  for (const path of ['/yws/%zz', `/yws/%E0%A4%A?token=${TOKEN}`]) {
    const ws = await RawWs.open(portOf(hub), path)
    assert.is(ws.status, 400, path)
    ws.destroy()
  }
  assert.is((await fetch(`${hub.url}/api/health`)).status, 200)
})

input('%zz and %E0%A4%A in any route are 400 BAD_PATH, with no stack trace in the answer or the log', async () => {
  const paths = [
    '/api/actors/%zz',
    '/api/actors/a/%E0%A4%A/log',
    '/api/actors/%E0%A4%A/history',
    '/api/machines/%zz',
    '/api/jobs/%zz',
    '/inspector/%E0%A4%A',
    '/api/members/%zz/delivered',
  ]
  for (const path of paths) {
    const r = await fetch(hub.url + path, { headers: auth() })
    const body = await r.json()
    assert.is(r.status, 400, path)
    assert.is(body.error, 'BAD_PATH', path)
    assert.not.match(JSON.stringify(body), STACK)
  }
  const post = await fetch(`${hub.url}/api/actors/%zz/events`, {
    method: 'POST',
    headers: auth(),
    body: '{"type":"x"}',
  })
  assert.is(post.status, 400)
  assert.not.match(hub.output, /URIError|internal error/)
})

input('a spawn without the input its machine reads is a 400 naming "input", and leaves no actor', async () => {
  const r = await fetch(`${hub.url}/api/actors`, {
    method: 'POST',
    headers: auth(),
    body: JSON.stringify({ path: 'member-1', machine: 'rtcMember' }),
  })
  const body = await r.json()
  assert.is(r.status, 400)
  assert.is(body.error, 'BAD_INPUT')
  assert.match(body.message, /^field "input": machine "rtcMember" cannot start with no input/)
  assert.is((await fetch(`${hub.url}/api/actors/member-1`)).status, 404)
  const list = await (await fetch(`${hub.url}/api/actors`)).json()
  assert.not.ok(
    list.actors.some((a: any) => a.path === 'member-1'),
    'no failed actor left',
  )
  // the same machine with its input starts
  const ok = await fetch(`${hub.url}/api/actors`, {
    method: 'POST',
    headers: auth(),
    body: JSON.stringify({ path: 'member-2', machine: 'rtcMember', input: { nodeId: 'n2' } }),
  })
  assert.is(ok.status, 201)
})

input('input nested 100,000 deep is a 400 naming "input"; nothing is created', async () => {
  const deep = '['.repeat(100_000) + ']'.repeat(100_000)
  const r = await fetch(`${hub.url}/api/actors`, {
    method: 'POST',
    headers: auth(),
    body: `{"path":"deep","machine":"counter","input":${deep}}`,
  })
  const body = await r.json()
  assert.is(r.status, 400)
  assert.is(body.error, 'TOO_DEEP')
  assert.match(body.message, 'field "input" nests deeper than 64 levels')
  assert.is((await fetch(`${hub.url}/api/actors/deep`)).status, 404)
})

input('a client that drops mid-body is counted as aborted, not logged as an internal error', async () => {
  const before = await metric(hub, 'aether_http_aborted_total')
  await new Promise<void>((resolve) => {
    const s = connect({ host: '127.0.0.1', port: portOf(hub) }, () => {
      s.write(
        `POST /api/actors HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"path":"half`,
      )
      setTimeout(() => {
        s.destroy()
        resolve()
      }, 100)
    })
  })
  await until(async () => (await metric(hub, 'aether_http_aborted_total')) === before + 1, 5000, 'the aborted count')
  assert.not.match(hub.output, /internal error/)
})

input(
  'a DNS-rebound Host (Host and Origin evil.example:P) is refused for HTTP and WebSocket; named hosts pass',
  async () => {
    const P = portOf(hub)
    const evil = { Host: `evil.example:${P}`, Origin: `http://evil.example:${P}` }
    const r = await raw(hub, 'GET', '/api/health', evil)
    assert.is(r.status, 403)
    assert.is(JSON.parse(r.text).error, 'HOST_NOT_ALLOWED')
    const mutate = await raw(hub, 'POST', '/api/actors', { ...evil, ...auth() }, '{"path":"x","machine":"counter"}')
    assert.is(mutate.status, 403, 'even with the token')
    const ws = await RawWs.open(P, '/inspector/feed', evil)
    assert.is(ws.status, 403)
    ws.destroy()
    // loopback names and --allow-host names are served
    for (const name of [`127.0.0.1:${P}`, `localhost:${P}`, `hub.example:${P}`]) {
      assert.is((await raw(hub, 'GET', '/api/health', { Host: name })).status, 200, name)
      const ok = await RawWs.open(P, '/inspector/feed', { Host: name, Origin: `http://${name}` })
      assert.is(ok.status, 101, name)
      ok.destroy()
    }
    const m = await (await fetch(`${hub.url}/metrics`)).text()
    assert.match(m, /aether_http_refused_total\{endpoint="GET \(no route\)",reason="HOST_NOT_ALLOWED",code="403"\} 1/)
    assert.match(m, /aether_ws_closed_total\{endpoint="\/inspector\/feed",reason="HOST_NOT_ALLOWED",code="403"\} 1/)
  },
)

// ---- tenants ---------------------------------------------------------------------------------

const tenants = suite("hub edges - a tenant's job data (issue 16, point 4)")
let th: HubProcess
let jobId = ''
const SECRET = 'acme-secret-4711'

tenants.before(async () => {
  const dir = tmpDir('aether-tenants-')
  const config = join(dir, 'jobs.json')
  writeFileSync(
    config,
    JSON.stringify({ tenants: { acme: { token: 'acme-token' }, globex: { token: 'globex-token' } } }),
  )
  th = await HubProcess.start(['--data', join(dir, 'data'), '--token', TOKEN], { AETHER_JOBS_CONFIG: config })
  const r = await fetch(`${th.url}/api/jobs`, {
    method: 'POST',
    headers: auth('acme-token'),
    body: JSON.stringify({ type: 'echo', input: { secret: SECRET } }),
  })
  assert.is(r.status, 201)
  jobId = (await r.json()).id
})
tenants.after(async () => {
  await th.kill('SIGTERM')
})

tenants(
  'GET /api/actors/<job>, /log and /history: 401 without a token, 404 with another tenant, 200 for the owner and admin',
  async () => {
    await until(
      async () =>
        (await fetch(`${th.url}/api/jobs/${jobId}`, { headers: auth() }).then((r) => r.json())).status === 'COMPLETED',
      10_000,
      'the job to finish',
    )
    for (const suffix of ['', '/log', '/history', '/definition']) {
      const get = (t?: string) => fetch(`${th.url}/api/actors/${jobId}${suffix}`, { headers: t ? auth(t) : {} })
      const anon = await get()
      assert.is(anon.status, 401, `anonymous ${suffix}`)
      assert.not.match(await anon.text(), SECRET)
      const other = await get('globex-token')
      assert.is(other.status, 404, `other tenant ${suffix}`)
      assert.not.match(await other.text(), SECRET)
      for (const t of ['acme-token', TOKEN]) {
        const mine = await get(t)
        assert.is(mine.status, 200, `${t} ${suffix}`)
        if (suffix !== '/definition') assert.match(await mine.text(), SECRET)
      }
    }
    const list = (t?: string) =>
      fetch(`${th.url}/api/actors`, { headers: t ? auth(t) : {} })
        .then((r) => r.json())
        .then((b) => b.actors.map((a: any) => a.path))
    assert.not.ok((await list()).includes(jobId), 'the anonymous list hides it')
    assert.not.ok((await list('globex-token')).includes(jobId))
    assert.ok((await list('acme-token')).includes(jobId))
    assert.ok((await list()).includes('link'), 'actors of no tenant stay listed')
  },
)

tenants('the inspector feed and the Stately socket show the job only to its tenant and the admin', async () => {
  const frames = async (path: string, token?: string): Promise<string> => {
    const ws = new WebSocket(`${th.url.replace('http', 'ws')}${path}${token ? `?token=${token}` : ''}`)
    const got: Buffer[] = []
    ws.on('message', (d: Buffer) => got.push(Buffer.from(d)))
    await new Promise((r) => ws.once('open', r))
    // a second job of the tenant while connected: its live events too
    await fetch(`${th.url}/api/jobs`, {
      method: 'POST',
      headers: auth('acme-token'),
      body: JSON.stringify({ type: 'echo', input: { secret: `${SECRET}-live` } }),
    })
    await sleep(400)
    ws.close()
    return Buffer.concat(got).toString('latin1')
  }
  for (const path of ['/inspector/feed', '/inspector/stately']) {
    for (const t of [undefined, 'globex-token']) {
      const seen = await frames(path, t)
      assert.ok(seen.length > 0, `${path} ${t ?? 'anonymous'} got frames`)
      assert.not.match(seen, SECRET, `${path} ${t ?? 'anonymous'}`)
      assert.not.match(seen, jobId)
    }
    for (const t of ['acme-token', TOKEN]) {
      const seen = await frames(path, t)
      assert.match(seen, jobId, `${path} ${t}`)
      assert.match(seen, SECRET)
    }
  }
})

async function metric(h: HubProcess, name: string): Promise<number> {
  const text = await (await fetch(`${h.url}/metrics`)).text()
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text)
  return m ? Number(m[1]) : Number.NaN
}

input.run()
tenants.run()
