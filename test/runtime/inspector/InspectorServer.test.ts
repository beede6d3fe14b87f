import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import fc from 'fast-check'
import WebSocket from 'ws'
import { decodeFeedFrame, FeedDecoder, MAX_CLIENT_FRAME } from '../../../protocol/inspectorFeed.ts'
import { startInspectorHub, type TestHub } from '../../helpers/inspectorHub.ts'

/** A feed client that collects frames and can wait for one matching a predicate. */
class Client {
  frames: any[] = []
  private waiters: Array<{ pred: (f: any) => boolean; resolve: (f: any) => void }> = []
  closed = false
  private decoder = new FeedDecoder()
  constructor(readonly ws: WebSocket) {
    ws.on('message', (d, isBinary) => {
      const f: any = decodeFeedFrame(isBinary ? (d as Buffer) : String(d))
      // packed light events unpacked, in feed order, as the page does
      if (f.t === 'events') f.events = this.decoder.events(f)
      this.frames.push(f)
      for (const w of [...this.waiters])
        if (w.pred(f)) {
          this.waiters.splice(this.waiters.indexOf(w), 1)
          w.resolve(f)
        }
    })
    ws.on('close', () => (this.closed = true))
  }
  static async open(url: string, headers: Record<string, string> = {}): Promise<Client> {
    const ws = new WebSocket(url, { headers })
    const c = new Client(ws)
    await new Promise<void>((res, rej) => {
      ws.once('open', () => res())
      ws.once('error', rej)
    })
    return c
  }
  next(pred: (f: any) => boolean, ms = 3000): Promise<any> {
    const have = this.frames.find(pred)
    if (have) return Promise.resolve(have)
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('timed out waiting for a frame')), ms)
      this.waiters.push({ pred, resolve: (f) => (clearTimeout(t), resolve(f)) })
    })
  }
  ask(cmd: object): Promise<any> {
    const id = Math.floor(Math.random() * 1e9)
    this.ws.send(JSON.stringify({ ...cmd, id }))
    return this.next((f) => f.id === id)
  }
  events(): any[] {
    return this.frames.filter((f) => f.t === 'events').flatMap((f) => f.events)
  }
  close() {
    this.ws.close()
  }
}

const feed = suite('inspector feed - connect, snapshot, live events')
let h: TestHub
feed.before(async () => {
  h = await startInspectorHub()
  await h.hub.system.spawn('lamp', 'counter', { durable: true })
  await h.hub.system.spawn('tl', 'trafficLight', { durable: true })
})
feed.after(async () => h.stop())

feed('inspector feed - hello then a snapshot of every actor, then live events in order', async () => {
  const c = await Client.open(`${h.wsUrl}/inspector/feed`)
  const hello = await c.next((f) => f.t === 'hello')
  assert.is(hello.access, 'read-only')
  assert.is(c.frames[0].t, 'hello')
  const snap = await c.next((f) => f.t === 'snapshot')
  assert.is(c.frames[1], snap)
  const lamp = snap.actors.find((a: any) => a.path === 'lamp')
  assert.equal(lamp.snapshot.value, 'open')
  assert.is(lamp.machine, 'counter')
  assert.is(lamp.durable, true)
  const tl = snap.actors.find((a: any) => a.path === 'tl')
  assert.equal(tl.snapshot.value, { light: 'green', pedestrian: 'idle' })
  assert.ok(
    tl.snapshot.timers.some((t: any) => t.event === 'xstate.after.green.trafficLight.light.green'),
    'pending delays are in the snapshot',
  )
  await h.hub.system.sendCommitted('lamp', { type: 'inc', by: 2 }, 'test')
  await h.hub.system.sendCommitted('lamp', { type: 'lock' })
  await c.next((f) => f.t === 'events' && f.events.some((e: any) => e.event?.type === 'lock'))
  const evs = c.events().filter((e) => e.path === 'lamp')
  assert.equal(
    evs.map((e) => e.event.type),
    ['inc', 'lock'],
  )
  assert.is(evs[0].sourceId, 'test')
  assert.equal(evs[0].snapshot.context, { count: 2 })
  assert.equal(evs[1].snapshot.value, 'locked')
  assert.ok(evs[0].seq > snap.seq && evs[1].seq > evs[0].seq, 'feed seqs follow the snapshot')
  c.close()
})

feed('inspector feed - the token on the socket URL makes the connection an operator one', async () => {
  const c = await Client.open(`${h.wsUrl}/inspector/feed?token=${h.token}`)
  assert.is((await c.next((f) => f.t === 'hello')).access, 'operator')
  c.close()
  const d = await Client.open(`${h.wsUrl}/inspector/feed?token=wrong`)
  assert.is((await d.next((f) => f.t === 'hello')).access, 'read-only')
  d.close()
})

feed('inspector feed - history of an actor from the journal, page by page, with snapshots', async () => {
  await h.hub.system.spawn('hist', 'counter', { durable: true })
  for (let i = 0; i < 25; i++) await h.hub.system.sendCommitted('hist', { type: 'inc' })
  const c = await Client.open(`${h.wsUrl}/inspector/feed`)
  const seen: any[] = []
  let after = 0
  let pages = 0
  for (;;) {
    const page = await c.ask({ cmd: 'history', path: 'hist', after, limit: 10 })
    assert.is(page.t, 'history', JSON.stringify(page))
    pages++
    if (after === 0) assert.equal(page.start.context, { count: 0 })
    seen.push(...page.entries)
    if (page.next === null) break
    after = page.next
  }
  assert.is(pages, 3)
  assert.equal(
    seen.map((e) => e.seq),
    Array.from({ length: 25 }, (_, i) => i + 1),
  )
  assert.equal(
    seen.map((e) => e.snapshot.context.count),
    Array.from({ length: 25 }, (_, i) => i + 1),
  )
  const mid = await c.ask({ cmd: 'history', path: 'hist', after: 12, limit: 1 })
  assert.equal(mid.start.context, { count: 12 })
  assert.is(mid.entries[0].seq, 13)
  c.close()
})

feed('inspector feed - definition of an actor and of a machine by name', async () => {
  const c = await Client.open(`${h.wsUrl}/inspector/feed`)
  const d = await c.ask({ cmd: 'definition', path: 'tl' })
  assert.is(d.machine, 'trafficLight')
  assert.is(d.definition.type, 'parallel')
  const m = await c.ask({ cmd: 'machine', name: 'counter' })
  assert.ok(m.definition.states.open)
  const bad = await c.ask({ cmd: 'machine', name: 'nope' })
  assert.is(bad.code, 'UNKNOWN_MACHINE')
  const none = await c.ask({ cmd: 'definition', path: 'ghost' })
  assert.is(none.code, 'UNKNOWN_ACTOR')
  await h.hub.system.spawn('mem', 'counter', { durable: false })
  const nd = await c.ask({ cmd: 'history', path: 'mem' })
  assert.is(nd.code, 'NOT_DURABLE')
  c.close()
})

feed('inspector feed - focus: full events for focused actors, light ones (type and value) for the rest', async () => {
  const c = await Client.open(`${h.wsUrl}/inspector/feed`)
  await c.next((f) => f.t === 'snapshot')
  const ans = await c.ask({ cmd: 'focus', paths: ['lamp'] })
  assert.is(ans.t, 'focus')
  assert.equal(
    ans.actors.map((a: any) => a.path),
    ['lamp'],
  )
  assert.ok('context' in ans.actors[0].snapshot, 'the focused actor comes with its full state')
  await h.hub.system.sendCommitted('tl', { type: 'pedestrian.request', note: 'x' }, 'someone')
  await h.hub.system.sendCommitted('lamp', { type: 'inc', by: 3 }, 'someone')
  await c.next((f) => f.t === 'events' && f.events.some((e: any) => e.path === 'lamp' && e.event.type === 'inc'))
  const tl = c.events().find((e) => e.path === 'tl' && e.event?.type === 'pedestrian.request')
  assert.equal(tl.event, { type: 'pedestrian.request' }, 'light: the event type only')
  assert.equal(
    tl.snapshot,
    { value: { light: 'green', pedestrian: 'waiting' }, status: 'active' },
    'light: value and status, no context',
  )
  assert.is(tl.sourceId, 'someone')
  assert.is(tl.light, true)
  const lamp = c.events().find((e) => e.path === 'lamp' && e.event?.type === 'inc' && e.event.by === 3)
  assert.ok(lamp && 'context' in lamp.snapshot && !lamp.light, 'the focused actor gets full events')
  const bad = await c.ask({ cmd: 'focus', paths: 'lamp' })
  assert.is(bad.code, 'BAD_FIELD')
  c.close()
})

feed('inspector feed - a held feed sends its events when released, in order (the warm switch hold)', async () => {
  const c = await Client.open(`${h.wsUrl}/inspector/feed`)
  await c.next((f) => f.t === 'snapshot')
  h.inspector.hold(true)
  await h.hub.system.sendCommitted('lamp', { type: 'inc', by: 1 }, 'held')
  await h.hub.system.sendCommitted('lamp', { type: 'inc', by: 1 }, 'held')
  // a command is still answered while the events wait
  const d = await c.ask({ cmd: 'definition', path: 'lamp' })
  assert.is(d.t, 'definition')
  assert.is(c.events().filter((e) => e.sourceId === 'held').length, 0, 'no event while held')
  h.inspector.hold(false)
  await c.next((f) => f.t === 'events' && f.events.filter((e: any) => e.sourceId === 'held').length === 2)
  assert.equal(
    c
      .events()
      .filter((e) => e.sourceId === 'held')
      .map((e) => e.event.type),
    ['inc', 'inc'],
  )
  c.close()
})

feed('inspector feed - the feed is detached when the last client leaves', async () => {
  const c = await Client.open(`${h.wsUrl}/inspector/feed`)
  await c.next((f) => f.t === 'snapshot')
  assert.ok(h.hub.system.feed.active)
  c.close()
  await new Promise((r) => setTimeout(r, 50))
  assert.not.ok(h.hub.system.feed.active)
})

feed.run()

const bad = suite('inspector feed - bad input')
bad.before(async () => {
  h = await startInspectorHub()
  await h.hub.system.spawn('lamp', 'counter', { durable: true })
})
bad.after(async () => h.stop())

bad('inspector feed - malformed, unknown and oversized frames get error frames; the socket stays open', async () => {
  const c = await Client.open(`${h.wsUrl}/inspector/feed`)
  await c.next((f) => f.t === 'snapshot')
  const cases: Array<[string | Buffer, string]> = [
    ['{not json', 'MALFORMED'],
    ['[1,2,3]', 'MALFORMED'],
    ['"history"', 'MALFORMED'],
    ['{"id":1}', 'MALFORMED'],
    ['{"cmd":"send","path":"lamp","event":{"type":"inc"}}', 'UNKNOWN_COMMAND'],
    ['{"cmd":"rm -rf"}', 'UNKNOWN_COMMAND'],
    ['{"cmd":"history","path":""}', 'BAD_FIELD'],
    ['{"cmd":"history","path":"lamp","limit":1e9}', 'BAD_FIELD'],
    ['{"cmd":"history","path":"lamp","after":-1}', 'BAD_FIELD'],
    ['{"cmd":"ping","id":{"x":1}}', 'BAD_FIELD'],
    ['{"cmd":"ping","pad":"' + 'x'.repeat(MAX_CLIENT_FRAME) + '"}', 'TOO_LARGE'],
    [Buffer.from([1, 2, 3]), 'MALFORMED'],
  ]
  for (const [frame, code] of cases) {
    const before = c.frames.length
    c.ws.send(frame)
    const err = await c.next((f) => f.t === 'error' && c.frames.indexOf(f) >= before)
    assert.is(err.code, code, `frame ${String(frame).slice(0, 60)}`)
    assert.type(err.message, 'string')
  }
  assert.is((await c.ask({ cmd: 'ping' })).t, 'pong', 'the socket still answers')
  assert.is(h.hub.system.hosted('lamp')!.appliedSeq, 0, 'nothing reached the actor')
  assert.ok(h.inspector.counters.badFrames >= cases.length)
  c.close()
})

bad('inspector feed - a frame over the socket limit closes that socket (1009), the hub serves on', async () => {
  const c = await Client.open(`${h.wsUrl}/inspector/feed`)
  const code = await new Promise<number>((res) => {
    c.ws.on('close', (code) => res(code))
    c.ws.send('x'.repeat(MAX_CLIENT_FRAME * 4 + 1))
  })
  assert.is(code, 1009)
  const d = await Client.open(`${h.wsUrl}/inspector/feed`)
  assert.is((await d.ask({ cmd: 'ping' })).t, 'pong')
  d.close()
})

bad('inspector feed - fuzzed frames always get an answer and change nothing', async () => {
  const c = await Client.open(`${h.wsUrl}/inspector/feed`)
  await c.next((f) => f.t === 'snapshot')
  const frame = fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.json({ maxDepth: 3 }),
    fc
      .record(
        {
          cmd: fc.constantFrom('history', 'definition', 'machine', 'ping', 'x', ''),
          path: fc.oneof(fc.string(), fc.constant('lamp'), fc.integer()),
          after: fc.oneof(fc.integer(), fc.double(), fc.string()),
          limit: fc.oneof(fc.integer(), fc.constant(null)),
          name: fc.string(),
        },
        { requiredKeys: ['cmd'] },
      )
      .map((o) => JSON.stringify(o)),
  )
  await fc.assert(
    fc.asyncProperty(frame, async (text) => {
      const id = `fz${Math.random()}`
      let sent = text
      try {
        const v = JSON.parse(text)
        if (v && typeof v === 'object' && !Array.isArray(v)) sent = JSON.stringify({ ...v, id })
      } catch {}
      c.ws.send(sent)
      // every frame gets exactly one answer; frames without a readable id are answered by an error without one
      const ans = await c.next(
        (f) => (f.id === id || (f.t === 'error' && f.id === undefined && !f.seen)) && !f.seen,
        2000,
      )
      ans.seen = true
      assert.ok(['error', 'history', 'definition', 'pong'].includes(ans.t))
    }),
    { numRuns: 150 },
  )
  assert.is(h.hub.system.hosted('lamp')!.appliedSeq, 0)
  assert.is((await c.ask({ cmd: 'ping' })).t, 'pong')
  c.close()
})

bad('inspector feed - a foreign Origin is refused (403); the same origin is accepted', async () => {
  const port = new URL(h.url).port
  const status = await new Promise<number>((res) => {
    const ws = new WebSocket(`${h.wsUrl}/inspector/feed`, { headers: { origin: 'http://evil.example' } })
    ws.on('unexpected-response', (_req, r) => res(r.statusCode ?? 0))
    ws.on('open', () => res(101))
    ws.on('error', () => {})
  })
  assert.is(status, 403)
  const same = await Client.open(`${h.wsUrl}/inspector/feed`, { origin: `http://127.0.0.1:${port}` })
  assert.is((await same.next((f) => f.t === 'hello')).t, 'hello')
  same.close()
  const st = await new Promise<number>((res) => {
    const ws = new WebSocket(`${h.wsUrl}/inspector/stately`, { headers: { origin: 'http://localhost:1' } })
    ws.on('unexpected-response', (_req, r) => res(r.statusCode ?? 0))
    ws.on('open', () => res(101))
    ws.on('error', () => {})
  })
  assert.is(st, 403)
})

bad.run()

const bp = suite('inspector feed - backpressure')
bp.before(async () => {
  h = await startInspectorHub({}, { queueLimit: 1000, batch: 200 })
  await h.hub.system.spawn('fast', 'counter', { durable: false })
})
bp.after(async () => h.stop())

bp(
  'inspector feed - a client that stops reading loses the oldest events, counted, and memory stays bounded',
  async () => {
    const c = await Client.open(`${h.wsUrl}/inspector/feed`)
    await c.next((f) => f.t === 'snapshot')
    const sock = (c.ws as any)._socket
    sock.pause()
    const total = 60_000
    let maxQueued = 0
    for (let i = 0; i < total; i++) {
      h.hub.system.send('fast', { type: 'inc' })
      if (i % 1000 === 999) {
        await new Promise((r) => setImmediate(r))
        const q = (await (await fetch(`${h.url}/api/inspector`)).json()).queued
        maxQueued = Math.max(maxQueued, q)
      }
    }
    assert.ok(maxQueued <= 1000, `queue bounded (max ${maxQueued})`)
    sock.resume()
    const last = await c.next(
      (f) => f.t === 'events' && f.events.some((e: any) => e.snapshot?.context?.count === total),
      10_000,
    )
    assert.ok(last)
    const got = c.events().filter((e) => e.path === 'fast')
    const dropped = c.frames.filter((f) => f.t === 'events').reduce((n, f) => n + (f.dropped ?? 0), 0)
    assert.ok(dropped > 0, 'some events were dropped')
    assert.is(got.length + dropped, total, 'received + dropped = produced')
    const counts = got.map((e) => e.snapshot.context.count)
    for (let i = 1; i < counts.length; i++) assert.ok(counts[i] > counts[i - 1], 'order kept')
    c.close()
  },
)

bp.run()

const st = suite('inspector stately socket')
st.before(async () => {
  h = await startInspectorHub()
  await h.hub.system.spawn('lamp', 'counter', { durable: true })
})
st.after(async () => h.stop())

st('inspector stately - plain @statelyai/inspect shapes: actor with definition, then events', async () => {
  const ws = new WebSocket(`${h.wsUrl}/inspector/stately`)
  const got: any[] = []
  ws.on('message', (d) => got.push(JSON.parse(String(d))))
  await new Promise((r) => ws.once('open', r))
  await new Promise((r) => setTimeout(r, 50))
  await h.hub.system.sendCommitted('lamp', { type: 'inc' }, 'someone')
  const deadline = Date.now() + 2000
  while (!got.some((e) => e.type === '@xstate.event') && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 10))
  const actor = got.find((e) => e.type === '@xstate.actor')
  assert.is(actor.sessionId, 'lamp')
  assert.is(JSON.parse(actor.definition).id, 'counter')
  const ev = got.find((e) => e.type === '@xstate.event')
  assert.equal(ev.event, { type: 'inc' })
  assert.is(ev.sourceId, 'someone')
  for (const e of got) {
    for (const k of ['seq', 'path', 'at', 'actorSeq', 'machine', 'status'])
      assert.not.ok(k in e, `no Aether field "${k}" in ${e.type}`)
    for (const k of ['type', 'rootId', 'sessionId', 'id', 'createdAt', '_version']) assert.ok(k in e, `field ${k}`)
  }
  ws.close()
})

st.run()
