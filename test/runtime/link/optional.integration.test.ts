/**
 * NATS is optional for a hub: with no server reachable `aether hub --nats URL` starts at once,
 * runs degraded (the reliability report says so and why), serves local sessions, and keeps Class A
 * records in its outbox; when NATS and the root appear, the records drain and the hub is ready.
 * Also the operator's tools: `aether reliability` and `aether protocol schema`.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { join } from 'node:path'
import { NatsServer, freePort } from '../../helpers/natsServer.ts'
import { type AetherProc, startHubProc, startRoot, waitFor, TOKEN } from '../../helpers/linkProcs.ts'
import { aether } from '../../helpers/cli.ts'
import { tmpDir } from '../../helpers/tmp.ts'

const HUB = 'hub-alone'
const Optional = suite('hub without NATS - starts degraded, never blocks, keeps the outbox')
const dir = tmpDir('aether-optional-')
let natsPort = 0
let nats: NatsServer | undefined
let root: AetherProc | undefined
let hub: AetherProc

Optional.before(async () => {
  natsPort = await freePort()
})

Optional.after(async () => {
  await hub?.stop()
  await root?.stop()
  await nats?.close()
})

Optional('starts with NATS unreachable and says degraded, with the reason', async () => {
  const t0 = Date.now()
  // A tiny in-memory outbox: the backlog must come back from disk, in order, when the link returns.
  hub = await startHubProc(`nats://127.0.0.1:${natsPort}`, join(dir, 'hub'), HUB, undefined, {
    AETHER_OUTBOX_MEMORY: '4',
  })
  assert.ok(Date.now() - t0 < 15_000, 'startup did not wait for NATS')
  const r = await waitFor(
    async () => {
      const x = await hub.get('/api/reliability')
      return x.link.authority === 'missing' && x.status === 'degraded' ? x : undefined
    },
    5000,
    'a degraded report',
  )
  assert.is(r.degraded, true)
  const link = r.tree.children.find((c: any) => c.id === 'root-link')
  assert.is(link.status, 'degraded')
  assert.match(link.reason, /NATS/)
  assert.match(link.children.find((c: any) => c.id === 'transport').reason, new RegExp(`127.0.0.1:${natsPort}`))
  assert.ok(r.matrix.find((m: any) => m.capability === 'local sessions').allowed)
  assert.is(r.matrix.find((m: any) => m.capability === 'root control commands').allowed, false)
})

Optional('local sessions work; Class A records wait in the outbox', async () => {
  const spawned = await hub.post('/api/actors', { path: 'c1', machine: 'counter' })
  assert.is(spawned.status, 201)
  const ev = await hub.post('/api/actors/c1/events', { type: 'inc' })
  assert.is(ev.status, 200)
  const put = await hub.post('/api/streams/reports', { payloads: [{ a: 1 }, { a: 2 }] })
  assert.is(put.status, 201)
  assert.equal(put.body, { streamId: 'reports', from: 1, to: 2 })
  for (let i = 0; i < 5; i++) {
    const more = await hub.post('/api/streams/reports', {
      payloads: Array.from({ length: 6 }, (_, k) => ({ a: 3 + i * 6 + k })),
    })
    assert.is(more.status, 201)
  }
  const bad = await hub.post('/api/streams/bad.id', { payload: 1 })
  assert.is(bad.status, 400)
  const noToken = await fetch(hub.url + '/api/streams/reports', { method: 'POST', body: '{"payload":1}' })
  assert.is(noToken.status, 401)
  const r = await hub.get('/api/reliability')
  const streams = r.tree.children.find((c: any) => c.id === 'root-link').children.find((c: any) => c.id === 'streams')
  const node = streams.children.find((c: any) => c.id === 'stream:reports')
  assert.is(node.status, 'degraded')
  assert.match(node.reason, /held in the outbox/)
})

Optional('the CLI prints the tree; exit 1 while degraded', async () => {
  const out = await aether(['reliability', '--url', hub.url])
  assert.is(out.code, 1)
  assert.match(out.stdout, /hub hub-alone: DEGRADED/)
  assert.match(out.stdout, /root link/)
  assert.match(out.stdout, /NO +root control commands/)
  const json = await aether(['reliability', '--url', hub.url, '--json'])
  assert.is(JSON.parse(json.stdout).status, 'degraded')
  const down = await aether(['reliability', '--url', `http://127.0.0.1:${natsPort}`])
  assert.is(down.code, 1)
  assert.match(down.stderr, /cannot reach/)
})

Optional('when NATS and the root appear, the outbox drains and the hub is ready', async () => {
  nats = await NatsServer.start(natsPort)
  root = await startRoot(nats.url, join(dir, 'root'))
  await waitFor(
    async () => {
      const r = await hub.get('/api/reliability')
      return r.status === 'ready' && r.link.authority === 'fresh'
    },
    15_000,
    'a ready hub',
  )
  // Ready means the link is up; the held records are then sent in cursor order.
  await waitFor(
    async () => (await hub.get('/api/streams')).streams.reports.pending === 0,
    10_000,
    'the outbox to drain',
  )
  await waitFor(
    async () => (await hub.get('/api/streams')).streams.lifecycle.pending === 0,
    10_000,
    'the lifecycle stream to drain',
  )
  const p = await root.get(`/api/streams/${HUB}/reports`)
  assert.equal(
    p.messages.map((m: any) => [m.cursor, m.payload]),
    Array.from({ length: 32 }, (_, i) => [i + 1, { a: i + 1 }]),
  )
  assert.is(p.state.applied, 32)
  const lifecycle = await root.get(`/api/streams/${HUB}/lifecycle`)
  assert.is(lifecycle.messages[0].payload.event, 'hub.started')
  const ok = await aether(['reliability', '--url', hub.url])
  assert.is(ok.code, 0)
  assert.match(ok.stdout, /READY/)
  const rootTree = await aether(['reliability', '--url', root.url])
  assert.match(rootTree.stdout, /root root: READY/)
  assert.match(rootTree.stdout, new RegExp(HUB))
  // The report is mirrored into an actor, so the inspection feed carries it.
  const actor = await hub.get('/api/actors/reliability')
  assert.is(actor.value, 'ready')
  assert.is(actor.context.report.tree.status, 'ready')
  void TOKEN
})

const Schema = suite('aether protocol schema')

Schema('prints one JSON Schema document with every message', async () => {
  const out = await aether(['protocol', 'schema'])
  assert.is(out.code, 0)
  const s = JSON.parse(out.stdout)
  assert.ok(s.$defs['stream.record'] && s.$defs['link.heartbeat'] && s.$defs['route.frame'])
  const bad = await aether(['protocol', 'nope'])
  assert.is(bad.code, 2)
  const help = await aether(['root', '--help'])
  assert.match(help.stdout, /--nats URL/)
})

Optional.run()
Schema.run()
