import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { EdgeCounters, HostPolicy, hostname, jsonTooDeep, wsCloseFor } from '../../../runtime/http/edges.ts'

const ws = suite('edges - WebSocket errors to close codes')

ws('too big 1009, invalid UTF-8 1007, too many fragments 1008, other frame errors 1002, anything else 1011', () => {
  const e = (code: string) => Object.assign(new Error(code), { code })
  assert.equal(wsCloseFor(e('WS_ERR_UNSUPPORTED_MESSAGE_LENGTH')), { code: 1009, reason: 'too_big' })
  assert.equal(wsCloseFor(e('WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH')), { code: 1009, reason: 'too_big' })
  assert.equal(wsCloseFor(e('WS_ERR_INVALID_UTF8')), { code: 1007, reason: 'bad_data' })
  assert.equal(wsCloseFor(e('WS_ERR_TOO_MANY_BUFFERED_PARTS')), { code: 1008, reason: 'policy' })
  for (const c of [
    'WS_ERR_INVALID_OPCODE',
    'WS_ERR_EXPECTED_MASK',
    'WS_ERR_UNEXPECTED_RSV_1',
    'WS_ERR_INVALID_CLOSE_CODE',
  ])
    assert.equal(wsCloseFor(e(c)), { code: 1002, reason: 'protocol' }, c)
  assert.equal(wsCloseFor(new TypeError('x')), { code: 1011, reason: 'handler' })
  assert.equal(wsCloseFor(undefined), { code: 1011, reason: 'handler' })
})

const counters = suite('edges - counters')

counters('counted per kind, endpoint, reason and code; Prometheus text with escaped labels', () => {
  const c = new EdgeCounters()
  c.add('ws', '/chan', 'too_big', 1009)
  c.add('ws', '/chan', 'too_big', 1009)
  c.add('ws', '/yws', 'bad_data', 1007)
  c.add('http', 'POST /api/actors', 'BAD_"BODY', 400)
  assert.is(c.total({ kind: 'ws' }), 3)
  assert.is(c.total({ endpoint: '/chan', reason: 'too_big' }), 2)
  assert.is(c.total({ code: 400 }), 1)
  const text = c.prometheus()
  assert.match(text, 'aether_ws_closed_total{endpoint="/chan",reason="too_big",code="1009"} 2\n')
  assert.match(text, 'aether_http_refused_total{endpoint="POST /api/actors",reason="BAD_\\"BODY",code="400"} 1\n')
  assert.match(text, '# TYPE aether_ws_closed_total counter')
})

const host = suite('edges - Host names (DNS rebinding)')

host('loopback names with any port, the bound name, configured names and IP literals pass; other names do not', () => {
  const p = new HostPolicy('hub.lan', ['Extra.Example'])
  for (const h of [
    '127.0.0.1:7070',
    'localhost:7070',
    'LOCALHOST',
    '[::1]:7070',
    'hub.lan:80',
    'extra.example',
    'localhost.:1',
  ])
    assert.ok(p.allows(h), h)
  for (const h of ['192.168.1.5:7070', '[fe80::1]:80', '10.0.0.1']) assert.ok(p.allows(h), `IP literal ${h}`)
  for (const h of ['evil.example:7070', 'evil.example', 'localhost.evil.example', '127.0.0.1.evil.example:7070'])
    assert.not.ok(p.allows(h), h)
  for (const h of ['', 'a b', 'host:port', '[::1', 'x:99999999'])
    assert.not.ok(p.allows(h), `malformed ${JSON.stringify(h)}`)
  assert.ok(p.allows(undefined), 'no Host (HTTP/1.0 tools)')
  assert.not.ok(new HostPolicy('0.0.0.0').allows('evil.example'), 'a wildcard bind adds no name')
})

host('hostname() strips the port, brackets and a trailing dot', () => {
  assert.is(hostname('[::1]:7070'), '::1')
  assert.is(hostname('::1'), '::1')
  assert.is(hostname('Hub.Local.:80'), 'hub.local')
  assert.is(hostname('a:b'), undefined)
})

const depth = suite('edges - JSON depth')

depth('names the top-level field that nests too deep; any depth is checked without a stack overflow', () => {
  assert.is(jsonTooDeep({ a: 1, b: [1, { c: 2 }] }, 64), undefined)
  const deep = JSON.parse('['.repeat(100_000) + ']'.repeat(100_000))
  assert.is(jsonTooDeep({ path: 'x', input: deep }, 64), 'input')
  assert.is(jsonTooDeep(deep, 64), '')
  let nested: any = 0
  for (let i = 0; i < 64; i++) nested = { n: nested }
  assert.is(jsonTooDeep(nested, 64), undefined, '64 levels are allowed')
  assert.is(jsonTooDeep({ n: nested }, 64), 'n')
})

ws.run()
counters.run()
host.run()
depth.run()
