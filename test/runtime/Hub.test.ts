import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import fc from 'fast-check'
import WebSocket from 'ws'
import { defineService } from '../../actors/index.ts'
import { Hub, type HubFeature } from '../../runtime/Hub.ts'
import { parseLog } from '../../protocol/log.ts'
import { tmpDir } from '../helpers/tmp.ts'

const TOKEN = 'test-token-123'
let hub: Hub
const api = (path: string, init: RequestInit = {}, token: string | null = TOKEN) =>
  fetch(hub.url + path, {
    ...init,
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(init.headers as any),
    },
  })

const http = suite('Hub - HTTP API')
http.before(async () => {
  hub = await Hub.start({ data: tmpDir(), token: TOKEN, port: 0 })
})
http.after(async () => {
  await hub.close()
})

http('binds 127.0.0.1 by default and serves /api/health', async () => {
  assert.match(hub.url, /^http:\/\/127\.0\.0\.1:\d+$/)
  const res = await fetch(hub.url + '/api/health')
  assert.is(res.status, 200)
  const body = await res.json()
  assert.is(body.ok, true)
  assert.is(body.journal.fsync, 'batch')
})

http('spawn needs the token: 401 without it, and nothing is created', async () => {
  const res = await api(
    '/api/actors',
    { method: 'POST', body: JSON.stringify({ path: 'c1', machine: 'counter' }) },
    null,
  )
  assert.is(res.status, 401)
  const res2 = await api(
    '/api/actors',
    { method: 'POST', body: JSON.stringify({ path: 'c1', machine: 'counter' }) },
    'wrong-token-xyz',
  )
  assert.is(res2.status, 401)
  const list = await (await fetch(hub.url + '/api/actors')).json()
  assert.equal(list.actors, [])
})

http('spawn, send and list: GET /api/actors shows id path, machine, state value and status', async () => {
  let res = await api('/api/actors', { method: 'POST', body: JSON.stringify({ path: 'site/c1', machine: 'counter' }) })
  assert.is(res.status, 400, 'the parent must exist')
  res = await api('/api/actors', { method: 'POST', body: JSON.stringify({ path: 'site', machine: 'counter' }) })
  assert.is(res.status, 201)
  res = await api('/api/actors', { method: 'POST', body: JSON.stringify({ path: 'site/c1', machine: 'counter' }) })
  assert.is(res.status, 201)
  res = await api('/api/actors/site/c1/events', { method: 'POST', body: JSON.stringify({ type: 'inc', by: 3 }) })
  assert.is(res.status, 200)
  assert.is((await res.json()).seq, 1)
  res = await api('/api/actors/site/c1/events', { method: 'POST', body: JSON.stringify({ type: 'lock' }) })
  const list = (await (await fetch(hub.url + '/api/actors')).json()).actors
  const c1 = list.find((a: any) => a.path === 'site/c1')
  assert.equal(
    { machine: c1.machine, value: c1.value, status: c1.status, parent: c1.parent },
    { machine: 'counter', value: 'locked', status: 'active', parent: 'site' },
  )
  const detail = await (await fetch(hub.url + '/api/actors/site/c1')).json()
  assert.equal(detail.context, { count: 3 })
})

http('the log of an actor exports as aether.log/1 and the history pages', async () => {
  const text = await (await fetch(hub.url + '/api/actors/site/c1/log?snapshots=all')).text()
  const log = parseLog(text)
  assert.is(log.header.actor, 'site/c1')
  assert.is(log.lines.length, 4)
  const page = await (await fetch(hub.url + '/api/actors/site/c1/history?after=0&limit=1')).json()
  assert.is(page.records.length, 1)
  assert.is(page.next, 1)
  const def = await (await fetch(hub.url + '/api/actors/site/c1/definition')).json()
  assert.is(def.id, 'counter')
})

http('the log has a snapshot after every event by default; ?snapshots=stored ends with the live state', async () => {
  const all = parseLog(await (await fetch(hub.url + '/api/actors/site/c1/log')).text())
  assert.equal(
    all.lines.map((l) => ('event' in l ? `e${l.seq}` : `s${l.seq}`)),
    ['e1', 's1', 'e2', 's2'],
  )
  // no checkpoint is stored yet (one every 100 events): the last line is the live actor's state
  const stored = parseLog(await (await fetch(hub.url + '/api/actors/site/c1/log?snapshots=stored')).text())
  assert.equal(
    stored.lines.map((l) => ('event' in l ? `e${l.seq}` : `s${l.seq}`)),
    ['e1', 'e2', 's2'],
  )
  const live = hub.system.hosted('site/c1')!.actor.getPersistedSnapshot()
  assert.equal((stored.lines[2] as any).snapshot, JSON.parse(JSON.stringify(live)))
  const bad = await fetch(hub.url + '/api/actors/site/c1/log?snapshots=some')
  assert.is(bad.status, 400)
  assert.match((await bad.json()).message, /"all" or "stored"/)
  const rest = await (await fetch(hub.url + '/api/actors/site/c1/history')).json()
  assert.is(rest.base, null, 'a journal that was never compacted starts at the actor creation')
})

http('bad input gets a 4xx naming what is wrong, and changes nothing', async () => {
  const cases: Array<[string, string, number, RegExp]> = [
    ['/api/actors', '{not json', 400, /JSON/],
    ['/api/actors', '[]', 400, /object/],
    ['/api/actors', '{"path":"x y","machine":"counter"}', 400, /path/],
    ['/api/actors', '{"path":"x","machine":"nope"}', 400, /machine/],
    ['/api/actors', '{"path":"site","machine":"counter"}', 409, /already/],
    ['/api/actors/site/c1/events', '{"by":1}', 400, /type/],
    ['/api/actors/none/events', '{"type":"inc"}', 404, /no actor/],
  ]
  for (const [path, body, status, re] of cases) {
    const res = await api(path, { method: 'POST', body })
    assert.is(res.status, status, `${path} ${body}`)
    assert.match((await res.json()).message, re)
  }
  const big = await api('/api/actors', {
    method: 'POST',
    body: JSON.stringify({ path: 'big', machine: 'counter', input: 'x'.repeat(2 << 20) }),
  })
  assert.is(big.status, 413)
  const list = (await (await fetch(hub.url + '/api/actors')).json()).actors
  assert.equal(
    list.map((a: any) => a.path),
    ['site', 'site/c1'],
  )
})

http('fuzzed POST bodies: only 201/400/401/404/409/413, no crash', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.string(),
        fc.jsonValue().map((v) => JSON.stringify(v)),
      ),
      fc.boolean(),
      async (body, auth) => {
        const res = await api('/api/actors', { method: 'POST', body }, auth ? TOKEN : null)
        assert.ok([201, 400, 401, 409, 413].includes(res.status), `${res.status} for ${body}`)
        await res.arrayBuffer()
      },
    ),
    { numRuns: 150, seed: 3 },
  )
  const health = await fetch(hub.url + '/api/health')
  assert.is(health.status, 200)
})

http('unknown routes are 404, wrong methods 405', async () => {
  assert.is((await fetch(hub.url + '/nope')).status, 404)
  assert.is((await fetch(hub.url + '/api/health', { method: 'DELETE' })).status, 405)
})

http('a WebSocket upgrade from a foreign Origin is refused', async () => {
  hub.server.ws('/test-ws', (ws) => ws.send('hi'))
  const port = new URL(hub.url).port
  const foreign = new WebSocket(`ws://127.0.0.1:${port}/test-ws`, { origin: 'http://evil.example' })
  const status = await new Promise<number>((resolve) =>
    foreign.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)),
  )
  assert.is(status, 403)
  const same = new WebSocket(`ws://127.0.0.1:${port}/test-ws`, { origin: `http://127.0.0.1:${port}` })
  const msg = await new Promise<string>((resolve) => same.on('message', (d) => resolve(String(d))))
  assert.is(msg, 'hi')
  same.close()
})

const restart = suite('Hub - restart keeps durable actors')

restart('actors spawned over HTTP come back after a restart on the same data folder', async () => {
  const data = tmpDir()
  let h = await Hub.start({ data, token: TOKEN })
  hub = h
  await api('/api/actors', { method: 'POST', body: JSON.stringify({ path: 'tl', machine: 'trafficLight' }) })
  await api('/api/actors/tl/events', { method: 'POST', body: JSON.stringify({ type: 'emergency' }) })
  await h.close()
  h = await Hub.start({ data, token: TOKEN })
  hub = h
  const list = (await (await fetch(h.url + '/api/actors')).json()).actors
  assert.equal(list[0].value, { light: 'flashing', pedestrian: 'idle' })
  await h.close()
})

const order = suite('Hub - features install before recovery and start after it')

order('install sees nothing recovered and may not spawn durable actors; start sees the recovered ones', async () => {
  const data = tmpDir()
  const seen: string[] = []
  const marker = defineService<string>('test.marker')
  const feature: HubFeature = {
    name: 'probe',
    async install(h) {
      h.system.services.provide(marker, 'provided at install')
      const err = await h.system.spawn('probe-x', 'counter', { durable: true }).catch((e) => e)
      seen.push(`install: recovered=${h.system.recovered} actors=${h.system.list().length} spawn=${err?.code}`)
    },
    start(h) {
      seen.push(`start: recovered=${h.system.recovered} actors=${h.system.list().length}`)
      seen.push(`start: ${h.system.services.get(marker)}`)
    },
  }
  let h = await Hub.start({ data, token: TOKEN }, [feature])
  await h.system.spawn('c', 'counter', { durable: true })
  await h.close()
  h = await Hub.start({ data, token: TOKEN }, [feature])
  hub = h
  assert.equal(seen, [
    'install: recovered=false actors=0 spawn=NOT_RECOVERED',
    'start: recovered=true actors=0',
    'start: provided at install',
    'install: recovered=false actors=0 spawn=NOT_RECOVERED',
    'start: recovered=true actors=1',
    'start: provided at install',
  ])
  const services = await (await fetch(h.url + '/api/services')).json()
  assert.equal(services.services['test.marker'], { provided: true, lookups: 1, misses: 0 })
  assert.match(
    await (await fetch(h.url + '/metrics')).text(),
    /aether_service_lookups_total\{service="test\.marker"\} 1\n/,
  )
  await h.close()
})

http.run()
restart.run()
order.run()
