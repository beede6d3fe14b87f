/**
 * Bad input on the wire: fast-check generates broken envelopes (malformed JSON, wrong types,
 * huge payloads, unknown kinds and subjects, unknown fields, wrong senders) and publishes them on
 * the root's subjects and on the hub's (its traffic classes and its Class A ack subject), with
 * `aether root` and `aether hub` as child processes. Each must be rejected and counted, neither
 * process may crash, and no state may change.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import fc from 'fast-check'
import { join } from 'node:path'
import { NatsServer } from '../../helpers/natsServer.ts'
import { type AetherProc, startHubProc, startRoot, waitFor, waitLinkReady } from '../../helpers/linkProcs.ts'
import { sleep, tmpDir } from '../../helpers/tmp.ts'
import { NatsLink } from '../../../runtime/nats/NatsTransport.ts'
import { envelope, subjects, TRAFFIC_CLASSES, TRAFFIC_SUBJECT, type MessageSubject } from '../../../protocol/index.ts'

const HUB = 'hub-fuzz'
const Fuzz = suite('wire fuzzing - bad envelopes are rejected, counted, change nothing')
const dir = tmpDir('aether-fuzz-')
let nats: NatsServer
let root: AetherProc
let hub: AetherProc
let link: NatsLink
const enc = new TextEncoder()

/** A valid message of `subject` from `from`, the base that mutations break. */
function base(subject: MessageSubject, from: string): Record<string, unknown> {
  const payloads: Record<string, unknown> = {
    'stream.record': { n: 1 },
    'stream.ack': { streamId: 'reports', upTo: 1, applied: 1, duplicates: 0, stale: 0, gaps: 0 },
    'link.heartbeat': { seq: 1, uptimeMs: 5, degraded: false },
    'hub.register': { hubId: from, version: '1', startedAt: 1 },
    'control.command': { op: 'ping' },
    'route.control': { routeId: 'r1', op: 'open' },
    'route.frame': { routeId: 'r1', seq: 1, data: 'x' },
    'integration.event': { source: 'door', body: { open: true } },
    'telemetry.sample': { name: 'temp', value: 21 },
  }
  return { ...envelope(subject, from, payloads[subject], { streamId: 'reports', cursor: 1, key: 'k1' }) } as Record<
    string,
    unknown
  >
}

/** Mutations that make a valid message invalid by the protocol's rules. */
function broken(subject: MessageSubject, from: string): fc.Arbitrary<Uint8Array> {
  const b = base(subject, from)
  const j = (o: unknown) => enc.encode(JSON.stringify(o))
  const notKind = fc.string({ maxLength: 20 }).filter((s) => !['command', 'event', 'state', 'ack'].includes(s))
  const notInt = fc.oneof(
    fc.string({ maxLength: 8 }),
    fc.double({ noInteger: true, noNaN: true }),
    fc.boolean(),
    fc.constant(null),
    fc.integer({ max: 0 }),
  )
  const wrongType = fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.integer(), { maxLength: 3 }))
  return fc.oneof(
    // malformed JSON (or not UTF-8)
    fc.string({ maxLength: 200 }).map((s) => enc.encode('{' + s)),
    fc.uint8Array({ minLength: 1, maxLength: 300 }).map((u) => Uint8Array.from([0xff, ...u])),
    // JSON that is no envelope at all
    fc
      .oneof(
        fc.integer(),
        fc.string({ maxLength: 30 }),
        fc.constant(null),
        fc.constant([]),
        fc.array(fc.integer(), { minLength: 1, maxLength: 3 }),
      )
      .map(j),
    // unknown kinds and subjects, wrong versions
    notKind.map((kind) => j({ ...b, kind })),
    fc
      .string({ minLength: 1, maxLength: 30 })
      .filter((s) => s !== subject && s !== 'error')
      .map((s) => j({ ...b, subject: s })),
    fc
      .oneof(
        fc.integer().filter((v) => v !== 1),
        fc.string(),
      )
      .map((v) => j({ ...b, v })),
    // wrong types of envelope fields
    fc.constantFrom('id', 'from', 'kind', 'class', 'subject').chain((f) => wrongType.map((v) => j({ ...b, [f]: v }))),
    fc
      .oneof(fc.string(), fc.boolean(), fc.double({ noInteger: true, noNaN: true }), fc.integer({ max: -1 }))
      .map((ts) => j({ ...b, ts })),
    notInt.map((cursor) => j({ ...b, cursor })),
    // wrong payloads: wrong type, missing, unknown field
    wrongType.map((payload) =>
      j({ ...b, payload: subject === 'stream.record' || subject === 'integration.event' ? undefined : payload }),
    ),
    fc
      .string({ minLength: 1, maxLength: 10 })
      .filter((k) => !(k in b))
      .map((k) => j({ ...b, [k]: 1 })),
    // huge: one field of 300-900 KB (frames stay under NATS's 1 MB message limit)
    fc
      .tuple(fc.constantFrom('id', 'from', 'streamId', 'key', 'to', 'payload'), fc.integer({ min: 300, max: 900 }))
      .map(([f, kb]) => {
        const big = 'x'.repeat(kb * 1024)
        // A Class A record's payload is the application's own JSON: huge is only wrong for the
        // other subjects' payloads and for the hub's 256 KB traffic frame limit.
        if (f === 'payload')
          return j({ ...b, payload: subject === 'stream.record' ? undefined : { ...(b.payload as object), big } })
        return j({ ...b, [f]: big })
      }),
  )
}

Fuzz.before(async () => {
  nats = await NatsServer.start()
  root = await startRoot(nats.url, join(dir, 'root'))
  hub = await startHubProc(nats.url, join(dir, 'hub'), HUB)
  link = new NatsLink({ url: nats.url, name: 'fuzzer' })
  await link.connected()
  await waitLinkReady(hub)
  await hub.post('/api/streams/reports', { payloads: [1, 2, 3] })
  await waitFor(async () => (await hub.get('/api/streams')).streams.reports?.pending === 0, 10_000, 'stream acked')
})

Fuzz.after(async () => {
  await link?.close()
  await hub?.stop()
  await root?.stop()
  await nats?.close()
})

const rootState = async () => {
  const s = (await root.get('/api/streams')).streams
  const hubs = (await root.get('/api/hubs')).hubs.map((h: any) => ({ hub: h.hub, streams: h.streams }))
  return { s, hubs: hubs.filter((h: any) => h.hub !== HUB) }
}
const rootRejected = async () => (await root.get('/api/reliability')).root.rejected as number

Fuzz('root subjects: stream, link, cmd', async () => {
  const before = await rootState()
  const rejected0 = await rootRejected()
  let sent = 0
  const targets: Array<[string, MessageSubject]> = [
    [subjects.rootStream(HUB), 'stream.record'],
    [subjects.rootLink(HUB), 'link.heartbeat'],
    [subjects.rootCommand(HUB), 'hub.register'],
  ]
  for (const [subject, msg] of targets) {
    await fc.assert(
      fc.asyncProperty(broken(msg, HUB), async (data) => {
        await publish(subject, data, '_INBOX.fuzz')
        sent++
      }),
      { numRuns: 150, seed: 42 },
    )
  }
  // A valid envelope from the wrong sender, on every root subject.
  for (const [subject, msg] of targets) {
    link.publish(subject, enc.encode(JSON.stringify(base(msg, 'someone-else'))))
    sent++
  }
  await link.flush()
  await waitFor(
    async () => (await rootRejected()) - rejected0 === sent,
    15_000,
    `root to count ${sent} rejections`,
  ).catch(async (err) => {
    throw new Error(
      `${err.message}; counted ${(await rootRejected()) - rejected0}, publish errors ${link.counters.publishErrors}; ${JSON.stringify((await root.get('/api/reliability')).root)}`,
    )
  })
  assert.ok(root.alive(), 'root alive')
  assert.equal(await rootState(), before, 'no inbox or registration changed')
  const r = await root.get('/api/reliability')
  console.log(`  root: ${sent} bad frames, rejected by code ${JSON.stringify(r.root.rejectedByCode)}`)
})

Fuzz('hub subjects: every traffic class and the Class A ack subject', async () => {
  const rel0 = await hub.get('/api/reliability')
  const streams0 = (await hub.get('/api/streams')).streams
  let sent = 0
  const perClass: Record<string, number> = {}
  for (const c of TRAFFIC_CLASSES) {
    perClass[c] = 0
    await fc.assert(
      fc.asyncProperty(broken(TRAFFIC_SUBJECT[c] as MessageSubject, 'tester'), async (data) => {
        await publish(subjects.hubTraffic(HUB, c), data, '_INBOX.fuzz')
        perClass[c]++
        sent++
      }),
      { numRuns: 80, seed: 7 },
    )
  }
  let acks = 0
  await fc.assert(
    fc.asyncProperty(broken('stream.ack', 'root'), async (data) => {
      await publish(subjects.hubAck(HUB), data)
      acks++
    }),
    { numRuns: 100, seed: 9 },
  )
  await link.flush()
  await waitFor(
    async () => {
      const r = await hub.get('/api/reliability')
      return (
        TRAFFIC_CLASSES.every(
          (c) => r.traffic.classes[c].rejected - rel0.traffic.classes[c].rejected === perClass[c],
        ) && sumRejected(r.classA.rejected) - sumRejected(rel0.classA.rejected) === acks
      )
    },
    15_000,
    'the hub to count every rejection',
  )
  const r = await hub.get('/api/reliability')
  for (const c of TRAFFIC_CLASSES)
    assert.is(r.traffic.classes[c].processed, rel0.traffic.classes[c].processed, `${c}: nothing processed`)
  assert.equal((await hub.get('/api/streams')).streams, streams0, 'Class A streams unchanged')
  assert.ok(hub.alive(), 'hub alive')
  assert.is(r.link.authority, 'fresh')
  console.log(
    `  hub: ${sent} bad traffic frames, ${acks} bad acks; rejected by code ${JSON.stringify(r.traffic.rejectedByCode)} / ${JSON.stringify(r.classA.rejected)}`,
  )
})

/**
 * Paced for huge frames: a burst of 100 frames of 900 KB would exceed the server's pending limit
 * for the receiver (a slow consumer), and the server, not Aether, would drop some.
 */
async function publish(subject: string, data: Uint8Array, reply?: string): Promise<void> {
  link.publish(subject, data, reply)
  if (data.length > 64 * 1024) {
    await link.flush()
    await sleep(15)
  }
}

function sumRejected(o: Record<string, number>): number {
  return Object.values(o ?? {}).reduce((a, b) => a + b, 0)
}

Fuzz.run()
