// HubServer's own guards, on endpoints made to misbehave: a socket handler or listener that throws
// fails that one socket (1011, counted, logged) and nothing else; a route that throws is a 500
// without details; the route table lists what was registered; a client that stops reading is
// closed with 1008.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import WebSocket from 'ws'
import { HubServer } from '../../../runtime/http/HubServer.ts'
import { OP, RawWs, frame } from '../../helpers/rawWs.ts'
import { until } from '../../helpers/tmp.ts'

const test = suite('HubServer - guards on every route and socket')
let srv: HubServer
let port = 0
const failures: string[] = []

test.before(async () => {
  srv = new HubServer({ token: 't', sweepMs: 50 })
  srv.onInternalError = (where, err) => failures.push(`${where}: ${(err as Error).message}`)
  srv.ws('/throws-now', () => {
    throw new Error('handler bug')
  })
  srv.ws('/rejects', async () => {
    await Promise.resolve()
    throw new Error('async handler bug')
  })
  srv.ws('/throws-on-message', (ws) => {
    ws.on('message', () => {
      throw new RangeError('listener bug')
    })
  })
  srv.ws(
    '/echo',
    (ws) => {
      ws.on('message', (d, binary) => ws.send(d, { binary }))
    },
    { maxBuffered: 1 << 20, query: 'x=1' },
  )
  srv.route('GET', '/boom', () => {
    throw new TypeError('route bug')
  })
  srv.route('POST', '/things/:id', () => ({ ok: true }))
  port = (await srv.listen()).port
})
test.after(async () => {
  await srv.close()
})

const closeOf = (path: string, send?: string) =>
  new Promise<{ code: number; reason: string }>((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`)
    ws.on('open', () => send !== undefined && ws.send(send))
    ws.on('error', () => {})
    ws.on('close', (code, reason) => resolve({ code, reason: String(reason) }))
  })

test('a handler that throws, rejects, or a listener that throws: that socket closes with 1011, counted', async () => {
  for (const [path, send] of [
    ['/throws-now', undefined],
    ['/rejects', undefined],
    ['/throws-on-message', 'hi'],
  ] as const) {
    const c = await closeOf(path, send)
    assert.is(c.code, 1011, path)
    assert.is(c.reason, 'internal error; see the hub log')
    assert.is(srv.edges.total({ endpoint: path, reason: 'handler', code: 1011 }), 1, path)
  }
  assert.equal(failures, [
    'socket /throws-now: handler bug',
    'socket /rejects: async handler bug',
    'socket /throws-on-message: listener bug',
  ])
  // the others are unaffected
  const ws = new WebSocket(`ws://127.0.0.1:${port}/echo`)
  const got = await new Promise<string>((resolve) => {
    ws.on('open', () => ws.send('still here'))
    ws.on('message', (d) => resolve(String(d)))
  })
  assert.is(got, 'still here')
  ws.close()
})

test('a route that throws is a 500 with no detail; counted', async () => {
  const r = await fetch(`http://127.0.0.1:${port}/boom`)
  assert.is(r.status, 500)
  assert.equal(await r.json(), { error: 'INTERNAL', message: 'internal error; see the hub log' })
  assert.is(srv.edges.total({ endpoint: 'GET /boom', code: 500 }), 1)
  assert.ok(failures.includes('GET /boom: route bug'))
})

test('routeTable() lists routes (mutating or not) and sockets with their limits and query', () => {
  const t = srv.routeTable()
  assert.equal(t.routes, [
    { method: 'GET', path: '/boom', mutating: false },
    { method: 'POST', path: '/things/:id', mutating: true },
  ])
  assert.equal(
    t.sockets.find((s) => s.path === '/echo'),
    { path: '/echo', maxPayload: 1 << 20, subpaths: false, query: 'x=1' },
  )
})

test('a socket path gets no subpaths unless it asks; a broken escape is a 400 before the upgrade', async () => {
  const sub = await RawWs.open(port, '/echo/more')
  assert.is(sub.status, 404)
  sub.destroy()
  const bad = await RawWs.open(port, '/echo%zz')
  assert.is(bad.status, 400)
  bad.destroy()
  assert.is(srv.edges.total({ endpoint: '(no socket)', reason: 'BAD_PATH' }), 1)
})

test('a client that stops reading is closed (1008) once more than maxBuffered waits for it', async () => {
  const ws = await RawWs.open(port, '/echo', {}, { readFrames: false })
  ws.socket.pause()
  const big = frame(OP.binary, Buffer.alloc(60_000, 1))
  // the server keeps reading what it is sent (write resolves on drain or close) while its echo piles up
  for (let i = 0; i < 400 && !ws.ended; i++) await ws.write(big)
  await until(() => srv.edges.total({ endpoint: '/echo', reason: 'slow_client', code: 1008 }) === 1, 5000, 'the 1008')
  ws.destroy()
})

test.run()

const mw = suite('HubServer - middleware')

mw('use(): middlewares see requests and upgrades first, in order; one that answers ends them', async () => {
  const s = new HubServer({ token: 't' })
  const seen: string[] = []
  s.route('GET', '/plain', () => ({ routed: true }))
  s.ws('/sock', (ws) => ws.send('routed'))
  s.use({
    name: 'first',
    request: (req) => (seen.push(`first ${req.url}`), false),
    upgrade: (req) => (seen.push(`first up ${req.url}`), false),
  })
  s.use({
    name: 'closed',
    request: (req, res) => {
      if (!req.url?.startsWith('/closed')) return false
      res.writeHead(418).end('no')
      return true
    },
    upgrade: (req, socket) => {
      if (!req.url?.startsWith('/closed')) return false
      socket.end('HTTP/1.1 418 Teapot\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
      return true
    },
  })
  const { port: p } = await s.listen()
  try {
    const routed = await fetch(`http://127.0.0.1:${p}/plain`)
    assert.equal(await routed.json(), { routed: true })
    const answered = await fetch(`http://127.0.0.1:${p}/closed/x`)
    assert.is(answered.status, 418)
    assert.is(s.counters.requests, 2, 'a request a middleware answers is counted too')

    const ws = new WebSocket(`ws://127.0.0.1:${p}/sock`)
    const greeting = await new Promise<string>((resolve, reject) => {
      ws.once('message', (d) => resolve(String(d)))
      ws.once('error', reject)
    })
    assert.is(greeting, 'routed')
    ws.close()
    const refused = await RawWs.open(p, '/closed/sock')
    assert.is(refused.status, 418)
    refused.destroy()

    assert.equal(seen, ['first /plain', 'first /closed/x', 'first up /sock', 'first up /closed/sock'])
    // nothing rewired: the server keeps the one listener of each kind it was built with
    assert.is(s.server.listenerCount('request'), 1)
    assert.is(s.server.listenerCount('upgrade'), 1)
  } finally {
    await s.close()
  }
})

mw.run()
