/**
 * External apps on a hub, without installing an app: frames in the shapes @statelyai/inspect and
 * @xstate/inspect send (test/protocol/externalInspect.test.ts holds real ones), written by the
 * test over real WebSockets to a hub on LevelDB. The real apps run in external.e2e.test.ts.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import WebSocket, { WebSocketServer } from 'ws'
import { LogReplayer } from '../../../actors/index.ts'
import { counter } from '../../../machines/counter.ts'
import { parseLog } from '../../../protocol/log.ts'
import { Hub } from '../../../runtime/Hub.ts'
import { InspectorServer, type InspectorOptions } from '../../../runtime/inspector/InspectorServer.ts'
import { v4DefinitionJSON, v5DefinitionJSON } from '../../../runtime/inspector/externalDefinition.ts'
import { aether } from '../../helpers/cli.ts'
import { until } from '../../helpers/externalApps.ts'

const TOKEN = 'ext-token'
let data = ''
let hub: Hub
let inspector: InspectorServer

async function start(opts: InspectorOptions = {}) {
  inspector = new InspectorServer(opts)
  hub = await Hub.start({ data, token: TOKEN, port: 0 }, [inspector])
}

const ingestUrl = (app = 'counters', token = TOKEN) =>
  `${hub.url.replace(/^http/, 'ws')}/inspector/ingest?app=${app}&token=${token}`

/** An app's socket: sends frames, remembers how it was closed. */
async function connect(url: string) {
  const ws = new WebSocket(url)
  const closed = new Promise<{ code: number; reason: string }>((r) =>
    ws.once('close', (code, reason) => r({ code, reason: reason.toString() })),
  )
  await new Promise<void>((res, rej) => {
    ws.once('open', () => res())
    ws.once('error', rej)
  })
  return { ws, closed, send: (f: unknown) => ws.send(typeof f === 'string' ? f : JSON.stringify(f)) }
}

const v5 = {
  actor: (sessionId: string, name = 'counter', parentId?: string) => ({
    type: '@xstate.actor',
    sessionId,
    name,
    parentId,
    definition: JSON.stringify(counter.config),
    snapshot: { value: 'open', context: { count: 0 }, status: 'active' },
    _version: '0.7.2',
  }),
  event: (sessionId: string, event: object, sourceId?: string) => ({
    type: '@xstate.event',
    sessionId,
    event,
    sourceId,
  }),
  snapshot: (sessionId: string, event: object, value: unknown, context: unknown, status = 'active') => ({
    type: '@xstate.snapshot',
    sessionId,
    event,
    snapshot: { value, context, status, children: {}, tags: [] },
  }),
}

/** A counter's run as the v5 inspector reports it: events are sent before the mailbox answers. */
const counterRun = [
  v5.actor('x:0'),
  v5.event('x:0', { type: 'xstate.init', input: { owner: 'ann' } }),
  v5.snapshot('x:0', { type: 'xstate.init', input: { owner: 'ann' } }, 'open', { count: 0 }),
  v5.event('x:0', { type: 'inc', by: 2 }),
  v5.snapshot('x:0', { type: 'inc', by: 2 }, 'open', { count: 2 }),
  v5.event('x:0', { type: 'lock' }),
  v5.event('x:0', { type: 'inc' }),
  v5.snapshot('x:0', { type: 'lock' }, 'locked', { count: 2 }),
  v5.snapshot('x:0', { type: 'inc' }, 'locked', { count: 2 }),
  v5.event('x:0', { type: 'unlock' }),
  v5.snapshot('x:0', { type: 'unlock' }, 'open', { count: 2 }),
]

async function actorState(path: string) {
  const r = await fetch(`${hub.url}/api/external/actors/${path}`)
  return r.ok ? ((await r.json()) as any) : undefined
}

const recorded = (path: string, seq: number) =>
  until(`${path} at seq ${seq}`, async () => {
    const a = await actorState(path)
    return a && a.seq === seq ? a : undefined
  })

const ingest = suite('external apps - ingest of @statelyai/inspect frames')
ingest.before.each(async () => {
  data = mkdtempSync(join(tmpdir(), 'aether-ext-'))
  await start()
})
ingest.after.each(async () => {
  await hub.close()
  rmSync(data, { recursive: true, force: true })
})

ingest('a run is recorded as an aether.log/1 log that replays with --verify', async () => {
  const app = await connect(ingestUrl())
  for (const f of counterRun) app.send(f)
  await recorded('counters/1/counter', 4)
  const text = await (await fetch(`${hub.url}/api/external/actors/counters/1/counter/log`)).text()
  const { header, lines } = parseLog(text)
  assert.equal(
    [header.actor, header.machine, header.input, header.machineHash],
    ['counters/1/counter', 'counter', { owner: 'ann' }, undefined],
  )
  // each event line is followed by the snapshot after it, paired by the event even when two
  // events were sent before the first was answered
  assert.equal(
    lines.map((l: any) => (l.event ? `${l.seq} ${l.event.type}` : `${l.seq} = ${l.snapshot.value}`)),
    ['1 inc', '1 = open', '2 lock', '2 = locked', '3 inc', '3 = locked', '4 unlock', '4 = open'],
  )
  const r = new LogReplayer(counter, { verify: true })
  r.start(header)
  for (const [i, l] of lines.entries()) r.line(l, i + 2)
  const res = r.result()
  assert.ok(res.ok, JSON.stringify(res.divergence))
  assert.is(res.snapshotsChecked, 4)
  assert.equal(res.final.context, { count: 2 })
  app.ws.close()
  await app.closed
})

ingest('without the hub token or an app name the socket is closed 1008 and nothing is recorded', async () => {
  const noToken = await connect(ingestUrl('counters', 'wrong'))
  const c1 = await noToken.closed
  assert.is(c1.code, 1008)
  assert.match(c1.reason, /token/)
  const noApp = await connect(`${hub.url.replace(/^http/, 'ws')}/inspector/ingest?app=no%2Fslash&token=${TOKEN}`)
  const c2 = await noApp.closed
  assert.is(c2.code, 1008)
  assert.match(c2.reason, /app=NAME/)
  const ext = await (await fetch(`${hub.url}/api/external`)).json()
  assert.equal(ext.runs, [])
  assert.is(ext.counters.unauthorized, 1)
})

ingest('a frame that is not JSON closes 1007, one that breaks the protocol 1008; counted, the rest kept', async () => {
  const a = await connect(ingestUrl())
  a.send(counterRun[0])
  a.send(counterRun[1])
  a.send(counterRun[2])
  a.send(v5.event('x:0', { type: 'inc' }))
  a.send('{"type": nope')
  a.send(v5.snapshot('x:0', { type: 'inc' }, 'open', { count: 1 }))
  const c = await a.closed
  assert.is(c.code, 1007)
  assert.match(c.reason, /^MALFORMED: the frame is not valid JSON/)
  const s = await recorded('counters/1/counter', 1)
  // the event before the refused frame is kept; its answer came after it and was not taken
  assert.equal([s.status, s.snapshot.value, s.snapshot.context], ['stopped', 'open', { count: 0 }])
  const b = await connect(ingestUrl())
  b.send({ type: '@xstate.microstep', sessionId: 'x:0' })
  const c2 = await b.closed
  assert.is(c2.code, 1008)
  assert.match(c2.reason, /^UNKNOWN_TYPE/)
  const ext = await (await fetch(`${hub.url}/api/external`)).json()
  assert.is(ext.counters.badFrames, 2)
  assert.match(ext.runs.find((r: any) => r.run === 1).endReason, /refused a frame: MALFORMED/)
  const log = parseLog(await (await fetch(`${hub.url}/api/external/actors/counters/1/counter/log`)).text())
  assert.equal(
    log.lines.map((l: any) => l.seq + (l.event ? ' event' : ' snapshot')),
    ['1 event'],
    'the unanswered event keeps its line, without a snapshot',
  )
})

ingest('a run past its actor limit is closed 1008 (LIMIT)', async () => {
  await hub.close()
  await start({ external: { maxActorsPerRun: 2 } })
  const a = await connect(ingestUrl())
  a.send(v5.actor('x:0'))
  a.send(v5.actor('x:1', 'counter', 'x:0'))
  a.send(v5.actor('x:2', 'counter', 'x:0'))
  const c = await a.closed
  assert.is(c.code, 1008)
  assert.match(c.reason, /^LIMIT: a run has at most 2 actors/)
  assert.ok(await actorState('counters/1/counter/counter'), 'the child before the limit is kept')
  assert.not.ok(await actorState('counters/1/counter/counter-2'))
})

ingest(
  'the feed shows external actors read-only with their app; history and definition come from the recording',
  async () => {
    const feed = new WebSocket(`${hub.url.replace(/^http/, 'ws')}/inspector/feed?token=${TOKEN}`)
    const frames: any[] = []
    feed.on('message', (d, bin) => {
      if (!bin) frames.push(JSON.parse(String(d)))
    })
    await new Promise((r) => feed.once('open', r))
    await until('the snapshot frame', async () => frames.find((f) => f.t === 'snapshot'))
    const app = await connect(ingestUrl())
    for (const f of counterRun) app.send(f)
    await recorded('counters/1/counter', 4)
    const events = await until('the last event in the feed', async () => {
      const es = frames.filter((f) => f.t === 'events').flatMap((f) => f.events)
      return es.some((e: any) => e.event?.type === 'unlock') ? es : undefined
    })
    const actor = events.find((e: any) => e.type === '@xstate.actor')
    assert.equal([actor.path, actor.node, actor.machine], ['counters/1/counter', 'counters', 'counter'])
    assert.equal(
      events
        .filter((e: any) => e.type === '@xstate.event')
        .map((e: any) => [e.actorSeq, e.event.type, e.snapshot.value]),
      [
        [1, 'inc', 'open'],
        [2, 'lock', 'locked'],
        [3, 'inc', 'locked'],
        [4, 'unlock', 'open'],
      ],
    )
    const ask = async (cmd: object) => {
      const id = frames.length + 1000
      feed.send(JSON.stringify({ ...cmd, id }))
      return until('an answer', async () => frames.find((f) => f.id === id))
    }
    const hist = await ask({ cmd: 'history', path: 'counters/1/counter', after: 1, limit: 2 })
    assert.equal([hist.t, hist.start.context, hist.next], ['history', { count: 2 }, 3])
    assert.equal(
      hist.entries.map((e: any) => [e.seq, e.event.type, e.snapshot.value]),
      [
        [2, 'lock', 'locked'],
        [3, 'inc', 'locked'],
      ],
    )
    const def = await ask({ cmd: 'definition', path: 'counters/1/counter' })
    assert.equal(
      [def.t, def.definition.id, Object.keys(def.definition.states)],
      ['definition', 'counter', ['open', 'locked']],
    )
    // a fresh client's snapshot names the app of each external actor
    const again = new WebSocket(`${hub.url.replace(/^http/, 'ws')}/inspector/feed`)
    const snap = await new Promise<any>((r) =>
      again.on('message', (d) => {
        const f = JSON.parse(String(d))
        if (f.t === 'snapshot') r(f)
      }),
    )
    const st = snap.actors.find((a: any) => a.path === 'counters/1/counter')
    assert.equal([st.node, st.status, st.snapshot.value, st.actorSeq], ['counters', 'active', 'open', 4])
    again.close()
    feed.close()
    app.ws.close()
    await app.closed
  },
)

ingest('each connection is a new run; recordings and the latest run survive a restart', async () => {
  for (let n = 1; n <= 2; n++) {
    const app = await connect(ingestUrl())
    for (const f of counterRun.slice(0, 5)) app.send(f)
    await recorded(`counters/${n}/counter`, 1)
    app.ws.close()
    await app.closed
  }
  const log = await (await fetch(`${hub.url}/api/external/actors/counters/2/counter/log`)).text()
  await hub.close()
  await start()
  assert.is(await (await fetch(`${hub.url}/api/external/actors/counters/2/counter/log`)).text(), log)
  const ext = await (await fetch(`${hub.url}/api/external`)).json()
  assert.equal(
    ext.runs.map((r: any) => `${r.app}/${r.run} ${r.live}`),
    ['counters/2 false', 'counters/1 false'],
  )
  const states = inspector.external.states()
  assert.equal(
    states.map((s) => [s.path, s.status, s.snapshot.value, s.actorSeq]),
    [['counters/2/counter', 'stopped', 'open', 1]],
    'the latest run is shown again, ended',
  )
  const app = await connect(ingestUrl())
  app.send(counterRun[0])
  await until('run 3', () => actorState('counters/3/counter'))
  app.ws.close()
  await app.closed
})

ingest.run()

const attach = suite('external apps - attaching to @xstate/inspect servers')
attach.before(async () => {
  data = mkdtempSync(join(tmpdir(), 'aether-ext-'))
  await start()
})
attach.after(async () => {
  await hub.close()
  rmSync(data, { recursive: true, force: true })
})

const post = (body: unknown, token = TOKEN) =>
  fetch(`${hub.url}/api/external/attach`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  })

attach('attach needs the token, a ws:// URL and a reachable app', async () => {
  assert.is((await post({ url: 'ws://127.0.0.1:9' }, 'wrong')).status, 401)
  const bad = await post({ url: 'http://127.0.0.1:9' })
  assert.equal([bad.status, (await bad.json()).error], [400, 'BAD_URL'])
  const badApp = await post({ url: 'ws://127.0.0.1:9', app: 'a b' })
  assert.equal([badApp.status, (await badApp.json()).error], [400, 'BAD_APP'])
  const gone = await post({ url: 'ws://127.0.0.1:9' })
  const body = await gone.json()
  assert.equal([gone.status, body.error], [502, 'CONNECT_FAILED'])
  assert.match(body.message, /@xstate\/inspect/)
})

attach('aether inspect: exit 1 when the app is unreachable, 2 without the token', async () => {
  const r = await aether(['inspect', 'ws://127.0.0.1:9', '--hub', hub.url, '--token', TOKEN])
  assert.is(r.code, 1, r.stderr)
  assert.match(r.stderr, /the hub did not attach \(502 CONNECT_FAILED\)/)
  const u = await aether(['inspect', 'ws://127.0.0.1:9', '--hub', hub.url])
  assert.is(u.code, 2)
  assert.match(u.stderr, /--token T is required/)
})

attach('a server that sends what @xstate/inspect does not is closed 1008 and its run ends', async () => {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' })
  await new Promise((r) => server.once('listening', r))
  const closed = new Promise<number>((resolve) =>
    server.on('connection', (ws) => {
      ws.on('message', (d) => {
        assert.equal(JSON.parse(String(d)), { type: 'xstate.inspecting' }, 'the hub asks for the services')
        ws.send(
          JSON.stringify({
            type: 'service.register',
            sessionId: 'x:1',
            machine: JSON.stringify({ id: 'm', key: 'm', initial: 'a', states: { a: { id: 'm.a', key: 'a' } } }),
            state: JSON.stringify({ value: 'a', context: {}, event: { type: 'xstate.init' } }),
          }),
        )
        ws.send('{"type":"service.explode","sessionId":"x:1"}')
      })
      ws.once('close', (code) => resolve(code))
    }),
  )
  const res = await post({ url: `ws://127.0.0.1:${(server.address() as any).port}`, app: 'odd' })
  assert.is(res.status, 201)
  assert.equal(await closed, 1008)
  const ext = await (await fetch(`${hub.url}/api/external`)).json()
  const run = ext.runs.find((r: any) => r.app === 'odd')
  assert.match(run.endReason, /UNKNOWN_TYPE/)
  assert.equal((await actorState('odd/1/m')).snapshot.value, 'a', 'the service registered before is kept')
  server.close()
})

attach.run()

const defs = suite('external apps - definitions the inspector draws')

defs('a v5 config becomes its machine toJSON(); one cut short by the depth limit gives none', () => {
  const json: any = v5DefinitionJSON(JSON.parse(JSON.stringify(counter.config)))
  assert.equal(Object.keys(json.states), ['open', 'locked'])
  assert.equal(json.states.open.on.lock[0].target, ['#counter.locked'])
  assert.is(v5DefinitionJSON({ id: 'p' }), undefined, 'logic that is not a machine')
  assert.is(v5DefinitionJSON({ id: 'm', initial: 'a', states: { a: { on: { go: '[Object]' } } } }), undefined)
})

defs('a v4 definition maps to the same shape: initial, guards by name, delays', () => {
  const json: any = v4DefinitionJSON({
    id: 'light',
    key: 'light',
    type: 'compound',
    initial: 'green',
    states: {
      green: {
        id: 'light.green',
        key: 'green',
        type: 'atomic',
        transitions: [
          {
            target: ['#light.red'],
            cond: { type: 'xstate.guard', name: 'ready' },
            eventType: 'TIMER',
            source: '#light.green',
          },
        ],
      },
      red: {
        id: 'light.red',
        key: 'red',
        type: 'atomic',
        transitions: [
          { target: ['#light.green'], delay: 50, eventType: 'xstate.after(50)#light.red', source: '#light.red' },
        ],
        invoke: [{ id: 'light.red:invocation[0]', src: { type: 'slow' } }],
      },
    },
  })
  assert.equal(json.initial, { target: ['#light.green'] })
  assert.equal(json.states.green.transitions[0].guard, 'ready')
  assert.equal(json.states.red.transitions[0].delay, 50)
  assert.equal(json.states.red.invoke, [{ id: 'light.red:invocation[0]', src: 'slow' }])
})

defs.run()
