// The hub's members feature against fake members on a real nats-server (no supervisors: fast):
// freshness from each member's own heartbeat (fresh, then stale), bad snapshots refused and
// counted at the edge, a single-member cancel, and a rollout halted by a member that refuses.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import {
  decodeMemberMessage,
  encodeMemberMessage,
  memberSubjects,
  type MemberReply,
  type MemberRequest,
  type MemberSnapshot,
} from '../../../protocol/index.ts'
import { NatsLink } from '../../../runtime/nats/NatsTransport.ts'
import { HubProcess } from '../../helpers/hubProcess.ts'
import { memberSnapshot } from '../../helpers/memberSnapshot.ts'
import { NatsServer } from '../../helpers/natsServer.ts'
import { until } from '../../helpers/supervisorProcess.ts'
import { tmpDir } from '../../helpers/tmp.ts'

const TOKEN = 'tok'
let nats: NatsServer
let hub: HubProcess
let link: NatsLink
const seen: MemberRequest[] = []

/** A fake member: publishes what it is told, answers requests with `answer`. */
let answer: (r: MemberRequest) => Partial<MemberReply> = () => ({ ok: true })

const snapshot = (member: string, seq: number, over: Partial<MemberSnapshot> = {}): MemberSnapshot =>
  memberSnapshot(member, { hub: 'h2', seq, at: Date.now(), update: { state: 'countdown', attempt: 1 }, ...over })

async function api(path: string, body?: unknown) {
  const r = await fetch(hub.url + path, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  return { status: r.status, body: (await r.json()) as any }
}

const test = suite('membersFeature')

test.before(async () => {
  nats = await NatsServer.start()
  hub = await HubProcess.start(
    ['--nats', nats.url, '--data', tmpDir(), '--token', TOKEN],
    { AETHER_HUB_ID: 'h2' },
    60_000,
  )
  link = new NatsLink({ url: nats.url, name: 'fake-members' })
  await link.connected()
  for (const m of ['f1', 'f2'])
    link.subscribe(memberSubjects.request('h2', m), (msg) => {
      const r = decodeMemberMessage(msg.data, ['request'])
      seen.push(r)
      const reply: MemberReply = { v: 1, t: 'reply', id: r.id, member: m, ok: true, state: 'idle', ...answer(r) }
      link.publish(msg.reply!, encodeMemberMessage(reply))
    })
})

test.after(async () => {
  await link?.close()
  await hub?.kill()
  await nats?.close()
})

test('membersFeature - fresh while it publishes, stale after 3 heartbeats; bad snapshots counted', async () => {
  // heartbeats every 100 ms (it claims 1000): fresh while they come
  let seq = 0
  const beat = setInterval(
    () => link.publish(memberSubjects.snapshot('h2'), encodeMemberMessage(snapshot('f1', ++seq))),
    100,
  )
  let m: any
  try {
    m = await until(
      async () => (await api('/api/members')).body.members.find((x: any) => x.name === 'f1'),
      10_000,
      'f1',
    )
  } finally {
    clearInterval(beat)
  }
  assert.is(m.freshness, 'fresh')
  assert.is(m.staleAfterMs, 3000)
  const stale = await until(
    async () => (await api('/api/members')).body.members.find((x: any) => x.freshness === 'stale'),
    10_000,
    'f1 stale',
  )
  assert.is(stale.name, 'f1')
  // refused at the edge: not JSON, a wrong version, another hub's; none is taken, each is counted
  const before = (await api('/api/members')).body
  link.publish(memberSubjects.snapshot('h2'), new TextEncoder().encode('{nope'))
  link.publish(memberSubjects.snapshot('h2'), encodeMemberMessage({ ...snapshot('f9', 1), v: 2 } as any))
  link.publish(memberSubjects.snapshot('h2'), encodeMemberMessage(snapshot('f8', 1, { hub: 'other' })))
  const after = await until(
    async () => {
      const b = (await api('/api/members')).body
      return b.counters.badMessages + b.counters.wrongHub >= before.counters.badMessages + 3 && b
    },
    10_000,
    'three refusals counted',
  )
  assert.equal(
    after.members.map((x: any) => x.name),
    ['f1'],
  )
  const metrics = await (await fetch(`${hub.url}/metrics`)).text()
  assert.match(metrics, /aether_member_link_refused_total\{what="message"\} 3/)
})

test('membersFeature - a single-member cancel reaches the member and is kept as its last request', async () => {
  const r = await api('/api/members/cancel', { member: 'f1', reason: 'operator says stop' })
  assert.is(r.status, 200, JSON.stringify(r.body))
  const req = seen.at(-1)!
  assert.is(req.action, 'cancel')
  assert.is(req.reason, 'operator says stop')
  assert.match(req.id, /^cancel-f1-\d+$/)
  const f1 = (await api('/api/members')).body.members.find((x: any) => x.name === 'f1')
  assert.is(f1.lastRequest.result, 'accepted')
  const bad = await api('/api/members/cancel', { member: 'f1' })
  assert.is(bad.status, 400)
})

test('membersFeature - a member that refuses halts the rollout; the cohort is degraded', async () => {
  link.publish(memberSubjects.snapshot('h2'), encodeMemberMessage(snapshot('f2', 1)))
  answer = (r) =>
    r.member === 'f2'
      ? { ok: false, state: 'countdown', code: 'BUSY', message: 'an update is in countdown' }
      : { ok: true }
  const started = await api('/api/rollouts', { action: 'update', members: ['f2', 'f1'], source: '/nowhere' })
  assert.is(started.status, 202)
  const r = await until(
    async () => (await api('/api/rollouts')).body.rollouts.find((x: any) => x.id === started.body.id && x.outcome),
    15_000,
    'the rollout to end',
  )
  assert.is(r.outcome, 'halted')
  assert.match(r.reason, /f2 refused \(BUSY: an update is in countdown\)/)
  assert.is(r.members.f1.status, 'waiting')
  assert.not.ok(seen.some((q) => q.member === 'f1' && q.action === 'update'))
  const rel = (await api('/api/reliability')).body
  assert.is(rel.cohort.state, 'degraded')
  assert.ok(JSON.stringify(rel.tree).includes('"id":"members"'))
})

test.run()
