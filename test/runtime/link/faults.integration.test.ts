/**
 * Fault tests with real processes: a nats-server started here, `aether root` and
 * `aether hub --nats` as child processes. While a producer appends Class A records to the hub
 * (HTTP, 201 = persisted in the outbox), each test injects one fault: kill -9 the nats-server
 * and restart it, SIGSTOP/SIGCONT it (a partition), kill -9 the hub, kill -9 the root. After
 * recovery the root must have applied every confirmed record exactly once and in cursor order
 * (0 lost, 0 duplicated), and control authority must have gone stale and back to fresh, as
 * `/api/reliability` shows.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { join } from 'node:path'
import { NatsServer, freePort } from '../../helpers/natsServer.ts'
import { type AetherProc, startHubProc, startRoot, waitFor } from '../../helpers/linkProcs.ts'
import { sleep, tmpDir } from '../../helpers/tmp.ts'

const HUB = 'hub-fault'
const STREAM = 'reports'

const Faults = suite('link faults - Class A exactly once, authority stale and fresh')

const dir = tmpDir('aether-faults-')
let nats: NatsServer
let root: AetherProc
let hub: AetherProc
let rootPort = 0
let hubPort = 0
let n = 0
/** Record numbers the hub confirmed (201) / attempted. */
const confirmed = new Set<number>()
const attempted = new Set<number>()

async function produceFor(ms: number): Promise<void> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    const batch = Array.from({ length: 5 }, () => ++n)
    for (const k of batch) attempted.add(k)
    try {
      const r = await hub.post(`/api/streams/${STREAM}`, { payloads: batch.map((k) => ({ n: k })) })
      if (r.status === 201) for (const k of batch) confirmed.add(k)
    } catch {
      // the hub is down (killed): these records were never confirmed
    }
    await sleep(20)
  }
}

async function hubReliability(): Promise<any> {
  return hub.get('/api/reliability')
}

/** Waits until the root applied everything the hub holds, then checks exactly-once order. */
async function verifyExactlyOnce(): Promise<{ applied: number; dupsIgnored: number }> {
  await waitFor(
    async () => {
      const s = await hub.get('/api/streams')
      const st = s.streams[STREAM]
      return st && st.pending === 0 && st.acked === st.next - 1
    },
    20_000,
    'the hub outbox to drain',
  )
  const records: Array<{ cursor: number; payload: { n: number } }> = []
  let after = 0
  for (;;) {
    const page = await root.get(`/api/streams/${HUB}/${STREAM}?after=${after}&limit=5000&refused=0`)
    records.push(...page.messages)
    if (page.next === null) break
    after = page.next
  }
  const state = (await root.get(`/api/streams/${HUB}/${STREAM}?limit=1&refused=0`)).state
  // Cursor order: 1..N without a gap or a repeat.
  records.forEach((r, i) => {
    assert.is(r.cursor, i + 1, `cursor at position ${i}`)
  })
  assert.is(state.cursor, records.length)
  assert.is(state.applied, records.length, 'applied count equals the records on disk (none applied twice)')
  // Exactly once per record number; order of numbers follows the order they were appended.
  const seen = new Map<number, number>()
  for (const r of records) seen.set(r.payload.n, (seen.get(r.payload.n) ?? 0) + 1)
  const dup = [...seen.values()].filter((c) => c > 1).length
  const lost = [...confirmed].filter((k) => !seen.has(k)).length
  const foreign = [...seen.keys()].filter((k) => !attempted.has(k)).length
  assert.is(dup, 0, 'duplicated records')
  assert.is(lost, 0, 'lost confirmed records')
  assert.is(foreign, 0, 'records nobody appended')
  for (let i = 1; i < records.length; i++)
    assert.ok(records[i].payload.n > records[i - 1].payload.n, 'records applied in append order')
  return { applied: records.length, dupsIgnored: state.duplicates + state.stale }
}

async function waitAuthority(which: () => Promise<string>, want: string, ms: number): Promise<void> {
  await waitFor(async () => (await which()) === want, ms, `authority ${want}`)
}
const hubAuthority = async () => (await hubReliability()).link.authority
const rootViewOfHub = async () => (await root.get('/api/reliability')).hubs?.[HUB]?.authority

Faults.before(async () => {
  nats = await NatsServer.start()
  rootPort = await freePort()
  hubPort = await freePort()
  root = await startRoot(nats.url, join(dir, 'root'), rootPort)
  hub = await startHubProc(nats.url, join(dir, 'hub'), HUB, hubPort)
  await waitAuthority(hubAuthority, 'fresh', 10_000)
})

Faults.after(async () => {
  await hub?.stop()
  await root?.stop()
  await nats?.close()
})

Faults('kill -9 the nats-server mid-stream and restart it', async () => {
  await produceFor(800)
  await nats.kill9()
  const during = produceFor(2500)
  await waitAuthority(hubAuthority, 'stale', 5000)
  const r = await hubReliability()
  assert.is(r.status, 'degraded')
  assert.ok(
    r.incidents.some((i: any) => i.class === 'transport'),
    'a transport incident',
  )
  assert.ok(
    r.incidents.some((i: any) => i.class === 'control authority' && /stale/.test(i.message)),
    'a control authority incident',
  )
  assert.ok(r.matrix.find((m: any) => m.capability === 'local sessions').allowed)
  await sleep(300)
  const held = (await hubReliability()).classA.streams[STREAM]
  assert.ok(held.pending > 0, `records held in the outbox while NATS is down: ${JSON.stringify(held)}`)
  await during
  await nats.restart()
  await produceFor(800)
  await waitAuthority(hubAuthority, 'fresh', 10_000)
  const v = await verifyExactlyOnce()
  assert.ok(v.applied > 100, `applied ${v.applied}`)
  const after = await hubReliability()
  const hist = after.link.authorityHistory.map((h: any) => h.to)
  assert.ok(hist.lastIndexOf('stale') < hist.lastIndexOf('fresh'), `authority history ${hist.join(',')}`)
})

Faults('SIGSTOP the nats-server (partition) and SIGCONT it', async () => {
  const before = (await hubReliability()).link.authorityHistory.length
  await produceFor(600)
  nats.pause()
  const during = produceFor(3000)
  await waitAuthority(hubAuthority, 'stale', 6000)
  assert.is((await hubReliability()).status, 'degraded')
  await during
  nats.cont()
  await produceFor(600)
  await waitAuthority(hubAuthority, 'fresh', 15_000)
  await verifyExactlyOnce()
  const hist = (await hubReliability()).link.authorityHistory.slice(before - 100).map((h: any) => h.to)
  assert.ok(hist.includes('stale') && hist[hist.length - 1] === 'fresh', `authority history ${hist.join(',')}`)
})

Faults('kill -9 the hub mid-stream', async () => {
  await produceFor(600)
  const during = produceFor(1500) // some requests hit the dead hub
  await sleep(300)
  await hub.kill9()
  await waitAuthority(rootViewOfHub, 'stale', 5000)
  await during
  hub = await startHubProc(nats.url, join(dir, 'hub'), HUB, hubPort)
  await produceFor(600)
  await waitAuthority(rootViewOfHub, 'fresh', 10_000)
  await waitAuthority(hubAuthority, 'fresh', 10_000)
  await verifyExactlyOnce()
  const rr = await root.get('/api/reliability')
  assert.ok(
    rr.incidents.some(
      (i: any) => i.class === 'control authority' && i.subject === `hub:${HUB}` && /stale/.test(i.message),
    ),
    'root saw the hub go stale',
  )
  const hist = (await hubReliability()).link.authorityHistory.map((h: any) => `${h.from}>${h.to}`)
  assert.ok(hist.includes('missing>fresh'), `the restarted hub: ${hist.join(',')}`)
})

Faults('kill -9 the root mid-stream', async () => {
  await produceFor(600)
  await root.kill9()
  const during = produceFor(2500)
  await waitAuthority(hubAuthority, 'stale', 5000)
  const r = await hubReliability()
  assert.is(r.status, 'degraded')
  assert.is(r.matrix.find((m: any) => m.capability === 'updates needing root authority').allowed, false)
  await during
  root = await startRoot(nats.url, join(dir, 'root'), rootPort)
  await produceFor(600)
  await waitAuthority(hubAuthority, 'fresh', 10_000)
  const v = await verifyExactlyOnce()
  const hist = (await hubReliability()).link.authorityHistory.map((h: any) => h.to)
  assert.ok(hist.lastIndexOf('stale') < hist.lastIndexOf('fresh'))
  assert.ok(hub.alive() && root.alive())
  // The hub's own view of its authority reached the root on its Class A lifecycle stream.
  await waitFor(
    async () => (await hub.get('/api/streams')).streams.lifecycle.pending === 0,
    10_000,
    'lifecycle drained',
  )
  const life = (await root.get(`/api/streams/${HUB}/lifecycle?refused=0`)).messages
  life.forEach((m: any, i: number) => {
    assert.is(m.cursor, i + 1)
  })
  const events = life.map((m: any) => (m.payload.event === 'link.authority' ? m.payload.to : m.payload.event))
  assert.is(events.filter((e: string) => e === 'hub.started').length, 2, `two hub starts: ${events.join(',')}`)
  assert.ok(
    events.lastIndexOf('stale') > 0 && events.lastIndexOf('fresh') > events.lastIndexOf('stale'),
    `lifecycle: ${events.join(',')}`,
  )
  console.log(
    `  faults: ${confirmed.size} confirmed of ${attempted.size} attempted, ${v.applied} applied once, ${v.dupsIgnored} resent copies ignored`,
  )
})

Faults.run()
