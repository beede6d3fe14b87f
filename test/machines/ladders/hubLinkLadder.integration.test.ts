/**
 * Model-based ladder test of `hubLink` (issue 21.4) against its real executor: an in-process hub
 * with the link feature (NatsLink transport, the `heartbeats` actor sending real requests) to a
 * nats-server started here on a free port; the root's heartbeat answer comes from a responder in
 * this test (the answer RootService sends). Faults: the root stops answering, NATS killed (-9)
 * and restarted, NATS paused (SIGSTOP/SIGCONT). The link actor is not durable: its events are
 * taken from the hub's inspection feed and counted with actors/coverage.ts. Transitions the
 * executor cannot produce get a path from the graph, run through the hosted actor.
 * Invariant: control authority is only renewed by an answer (fresh never follows a state without
 * an answer delivered in between).
 */
import { connect, type NatsConnection } from 'nats'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { hubLink } from '../../../machines/index.ts'
import { encodeFrame, envelope } from '../../../protocol/envelope.ts'
import { subjects } from '../../../protocol/subjects.ts'
import { Hub } from '../../../runtime/Hub.ts'
import { hubLinkFeature } from '../../../runtime/link/linkFeature.ts'
import { LadderCoverage } from '../../helpers/ladders.ts'
import { NatsServer } from '../../helpers/natsServer.ts'
import { sleep, tmpDir, until } from '../../helpers/tmp.ts'

const HUB = 'ladder-hub'
const input = { hubId: HUB, heartbeatMs: 100, agingMs: 400, staleMs: 800 }
const coverage = new LadderCoverage(hubLink, 'hubLink')

let nats: NatsServer
let root: NatsConnection
let hub: Hub
let answering = true
let stopListening: () => void
/** Authority values in the order the link actor showed them, with the event that led there. */
const authority: { value: string; event: string }[] = []

const value = () => hub.system.hosted('link')!.actor.getSnapshot().value as { connection: string; authority: string }
const waitLink = (connection: string | null, auth: string | null, ms = 10_000) =>
  until(
    () => (!connection || value().connection === connection) && (!auth || value().authority === auth),
    ms,
    `link ${connection ?? '*'} / ${auth ?? '*'}`,
  )

const test = suite('hubLink ladder under faults (in-process hub, real nats-server)')

test.before(async () => {
  nats = await NatsServer.start()
  root = await connect({ servers: nats.url, reconnectTimeWait: 100, maxReconnectAttempts: -1 })
  root.subscribe(subjects.rootLink(HUB), {
    callback: (_err, m) => {
      if (!answering) return
      const ack = envelope('link.heartbeat.ack', 'root-ladder', { seq: 0, rootId: 'root-ladder', rootTime: Date.now() })
      m.respond(encodeFrame({ ...ack, to: HUB }))
    },
  })
  await root.flush()
  // listening from before the link actor is spawned: its first events come during Hub.start
  const listen = {
    name: 'ladder-listen',
    install: (h: Hub) => void (stopListening = coverage.listen(h.system, 'link', input)),
  }
  hub = await Hub.start({ data: tmpDir('ladder-link'), token: 't', port: 0 }, [
    listen,
    hubLinkFeature({ nats: nats.url, ...input }),
  ])
  hub.system.feed.listen((e) => {
    if (e.type !== '@xstate.event' || !e.path.endsWith('link')) return
    const a = (e.snapshot as any)?.value?.authority
    if (a && authority.at(-1)?.value !== a) authority.push({ value: a, event: e.event.type })
  })
})

test.after(async () => {
  await hub?.close()
  await root?.close()
  await nats?.close()
})

test('connects; the root answers: authority fresh', async () => {
  await waitLink('connected', 'fresh')
})

test('the root stops answering: degraded, aging, stale; answers again: connected, fresh', async () => {
  answering = false
  await waitLink('degraded', 'stale')
  await sleep(600) // a miss while degraded
  answering = true
  await waitLink('connected', 'fresh')
})

test('a short silence: aging, then an answer before stale', async () => {
  answering = false
  await waitLink(null, 'aging')
  answering = true
  await waitLink('connected', 'fresh')
})

test('NATS killed: reconnecting, misses; restarted: connected, fresh', async () => {
  await nats.kill9()
  await waitLink('reconnecting', null)
  await sleep(300) // heartbeats missed while reconnecting
  await nats.restart()
  await waitLink('connected', 'fresh', 20_000)
})

test('NATS paused (SIGSTOP): requests time out, degraded; SIGCONT: back', async () => {
  nats.pause()
  await waitLink('degraded', null)
  nats.cont()
  await waitLink('connected', 'fresh', 20_000)
})

test('invariant: authority becomes fresh only on an answer', () => {
  for (const a of authority) if (a.value === 'fresh') assert.is(a.event, 'link.heartbeat.ack', JSON.stringify(a))
})

test('ladder coverage >= 90%: executor runs, then graph paths through the hosted actor', async () => {
  stopListening()
  console.log(`executor: ${coverage.line()}`)
  const { hosted, unreachable } = await coverage.runPathsHosted([input])
  console.log(`+ hosted paths (${hosted.join(', ') || 'none'}): ${coverage.line()}`)
  assert.equal(unreachable, [])
  assert.ok(coverage.report().pct >= 90, coverage.line())
})

test.run()
