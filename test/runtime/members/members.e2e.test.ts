// Members and rollouts with real processes: a nats-server of the test's own, a hub (`aether hub
// --nats`) and three member supervisors (`aether supervisor --member-of h1`) running slot images.
// One setup, steps in order (each leaves the members as the next expects):
// members fresh in GET /api/members; a rollout canary first, then the rest; a member failing
// validation rolls back and halts the rollout (the others keep their version); cancel mid-wave
// stops the next wave; a repeated request id acts once; kill -9 of the hub mid-rollout resumes it
// with no member updated twice; each member's updateTransition and the rollout replay with --verify.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { updateTransition } from '../../../machines/updateTransition.ts'
import { decodeMemberMessage, encodeMemberMessage, memberSubjects } from '../../../protocol/index.ts'
import { replayFile } from '../../../runtime/commands/replay.ts'
import { NatsLink } from '../../../runtime/nats/NatsTransport.ts'
import { HubProcess, runCli } from '../../helpers/hubProcess.ts'
import { NatsServer } from '../../helpers/natsServer.ts'
import { buildVersion } from '../../helpers/slotFixture.ts'
import {
  freePort,
  reapRuntimes,
  startSupervisor,
  until,
  type SupervisorHandle,
} from '../../helpers/supervisorProcess.ts'

const NAMES = ['m1', 'm2', 'm3']
const TOKEN = 'hub-token'

interface Env {
  dir: string
  nats: NatsServer
  hub: HubProcess
  hubData: string
  members: Record<string, SupervisorHandle>
  img: Record<string, string>
}

let env: Env
/** What setup started, stopped by `after` even when setup failed half-way. */
const cleanups: Array<() => Promise<unknown> | unknown> = []

const startHub = (e: { nats: NatsServer; hubData: string }) =>
  HubProcess.start(['--nats', e.nats.url, '--data', e.hubData, '--token', TOKEN], { AETHER_HUB_ID: 'h1' }, 60_000)

async function api(path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const r = await fetch(env.hub.url + path, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  return { status: r.status, body: await r.json() }
}

const members = async () => (await api('/api/members')).body
const version = async (name: string) =>
  (await env.members[name].status()).slots[(await env.members[name].status()).serving].version
// the number of the member's last update attempt: each update request starts one
const attempts = async (name: string) => (await env.members[name].status()).transition.attempt?.id ?? 0

/** Polls the rollout until it ends; records the order in which members left `waiting` and committed. */
async function follow(id: string, ms = 180_000) {
  const left: string[] = []
  const committed: string[] = []
  const r = await until(
    async () => {
      const x = (await api('/api/rollouts')).body.rollouts.find((r: any) => r.id === id)
      for (const [m, v] of Object.entries<any>(x.members)) {
        if (v.status !== 'waiting' && !left.includes(m)) left.push(m)
        if (v.status === 'committed' && !committed.includes(m)) committed.push(m)
      }
      return x.outcome ? x : undefined
    },
    ms,
    `rollout ${id} to end`,
    50,
  )
  return { r, left, committed }
}

const test = suite('members e2e')

test.before(async () => {
  try {
    await setup()
  } catch (err) {
    console.error('setup failed:', err)
    throw err
  }
})

async function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'aether-members-'))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  const img = {
    v2: join(dir, 'img', 'v2'),
    v3: join(dir, 'img', 'v3'),
    v4: join(dir, 'img', 'v4'),
    broken: join(dir, 'img', 'broken'),
  }
  buildVersion(img.v2, '2.0.0')
  buildVersion(img.v3, '3.0.0')
  buildVersion(img.v4, '4.0.0')
  buildVersion(img.broken, '2.9.0-broken', 'crash-at-start')
  const nats = await NatsServer.start()
  cleanups.push(() => nats.close())
  const hubData = join(dir, 'hub')
  const hub = await startHub({ nats, hubData })
  cleanups.push(() => env?.hub.kill() ?? hub.kill())
  // one at a time: each start waits for its runtime, and the machine is shared
  const sups: SupervisorHandle[] = []
  for (const name of NAMES) {
    buildVersion(join(dir, name, 'slots', 'A'), '1.0.0')
    const slots = join(dir, name, 'slots')
    cleanups.push(() => reapRuntimes(slots))
    sups.push(
      await startSupervisor({
        slots,
        data: join(dir, name, 'data'),
        port: await freePort(),
        slotPorts: [await freePort(), await freePort()],
        // a shared machine under load: a start waits for the slot's runtime to be healthy
        startMs: 90_000,
        args: [
          ...['--member-of', 'h1', '--member', name, '--nats', nats.url],
          ...['--countdown-ms', '100', '--min-interval-ms', '0'],
          // runtimes start slowly on a loaded machine: the deadlines are not what is tested here
          ...['--health-deadline-ms', '60000', '--verify-deadline-ms', '60000'],
        ],
      }),
    )
    const sup = sups.at(-1)!
    cleanups.push(() => sup.stop())
  }
  env = { dir, nats, hub, hubData, members: Object.fromEntries(NAMES.map((n, i) => [n, sups[i]])), img }
}

test.after(async () => {
  if (process.env.AETHER_TEST_DEBUG && env)
    console.error(env.hub.output, env.hub.child.exitCode, env.hub.child.signalCode)
  // supervisors first (they stop their runtimes), then runtimes left, the hub, NATS, the folder
  for (const c of cleanups.reverse()) await c()
})

test('members - each member publishes its snapshot; the hub lists them fresh', async () => {
  const m = await until(
    async () => {
      const b = await members()
      return b.members.length === 3 && b.members.every((x: any) => x.freshness === 'fresh' && x.snapshot.ready) && b
    },
    60_000,
    'three fresh, ready members',
  )
  assert.equal(
    m.members.map((x: any) => [x.name, x.snapshot.version, x.snapshot.slot, x.snapshot.update.state]),
    NAMES.map((n) => [n, '1.0.0', 'A', 'idle']),
  )
  assert.is(m.cohort.state, 'nominal')
  // bad input is refused with the field named and changes nothing
  const bad = await api('/api/rollouts', { action: 'update', members: ['m1'], source: env.img.v2, colour: 'red' })
  assert.is(bad.status, 400)
  assert.match(JSON.stringify(bad.body), /unknown field \\"colour\\"/)
  assert.is((await api('/api/rollouts')).body.rollouts.length, 0)
})

test('members - a rollout goes canary first, then the rest', async () => {
  const started = await api('/api/rollouts', { action: 'update', members: NAMES, source: env.img.v2, version: '2.0.0' })
  assert.is(started.status, 202)
  assert.equal(started.body.waves, [['m1'], ['m2', 'm3']])
  const { r, left, committed } = await follow(started.body.id)
  assert.is(r.outcome, 'completed', r.reason)
  assert.is(committed[0], 'm1')
  // m2 and m3 were asked only after the canary committed
  assert.is(left.indexOf('m2') > 0 && left.indexOf('m3') > 0, true)
  for (const n of NAMES) assert.is(await version(n), '2.0.0')
  const m = await members()
  assert.ok(m.members.every((x: any) => x.lastRequest.outcome === 'committed'))
})

test('members - a member failing validation rolls back and halts the rollout', async () => {
  const started = await api('/api/rollouts', { action: 'update', members: NAMES, source: env.img.broken })
  const { r } = await follow(started.body.id)
  assert.is(r.outcome, 'halted')
  assert.is(r.members.m1.status, 'rolled_back')
  assert.match(r.reason, /m1 rolled_back/)
  assert.is(r.members.m2.status, 'waiting')
  for (const n of NAMES) assert.is(await version(n), '2.0.0')
  const m = await until(async () => (await members()).cohort, 5000, 'the cohort')
  assert.is(m.state, 'degraded')
})

test('members - cancel mid-wave stops the next wave', async () => {
  const started = await api('/api/rollouts', { action: 'update', selector: { prefix: 'm' }, source: env.img.v3 })
  const c = await api('/api/rollouts/cancel', { id: started.body.id, reason: 'change freeze' })
  assert.is(c.status, 200)
  const { r } = await follow(started.body.id)
  assert.is(r.outcome, 'cancelled')
  assert.is(r.members.m1.status, 'committed')
  assert.is(await version('m1'), '3.0.0')
  assert.is(await version('m2'), '2.0.0')
  assert.is(await version('m3'), '2.0.0')
})

test('members - a repeated request id acts once', async () => {
  const link = new NatsLink({ url: env.nats.url, name: 'test' })
  await link.connected()
  try {
    const before = await attempts('m2')
    const req = { v: 1, t: 'request', id: 'test/once', hub: 'h1', member: 'm2', action: 'cancel' } as const
    const ask = async () =>
      decodeMemberMessage(await link.request(memberSubjects.request('h1', 'm2'), encodeMemberMessage(req), 5000), [
        'reply',
      ])
    const first = await ask()
    assert.is(first.ok, false)
    assert.is(first.code, 'NOT_ALLOWED')
    // an accepted one: a rollback of m2 (to 1.0.0, the inactive slot), asked twice
    const rb = { ...req, id: 'test/rollback', action: 'rollback' as const }
    const r1 = decodeMemberMessage(
      await link.request(memberSubjects.request('h1', 'm2'), encodeMemberMessage(rb), 5000),
      ['reply'],
    )
    const r2 = decodeMemberMessage(
      await link.request(memberSubjects.request('h1', 'm2'), encodeMemberMessage(rb), 5000),
      ['reply'],
    )
    assert.is(r1.ok, true)
    assert.is(r2.duplicate, true)
    assert.is(r2.attempt, r1.attempt)
    await until(
      async () => (await version('m2')) === '1.0.0' && (await attempts('m2')) === before + 1,
      30_000,
      'm2 rolled back',
    )
    // a bad message gets a typed refusal
    const bad = decodeMemberMessage(
      await link.request(memberSubjects.request('h1', 'm2'), new TextEncoder().encode('{"v":1,"t":"request"}'), 5000),
      ['reply'],
    )
    assert.is(bad.code, 'MISSING_FIELD')
  } finally {
    await link.close()
  }
})

test('members - kill -9 of the hub mid-rollout: it resumes, no member updated twice', async () => {
  const before = Object.fromEntries(await Promise.all(NAMES.map(async (n) => [n, await attempts(n)] as const)))
  const started = await api('/api/rollouts', { action: 'update', members: NAMES, source: env.img.v4, canary: 1 })
  const id = started.body.id
  await until(
    async () => (await api('/api/rollouts')).body.rollouts.find((r: any) => r.id === id).state === 'watching',
    10_000,
    'the canary wave to be watched',
    10,
  )
  await env.hub.kill()
  env.hub = await startHub(env)
  const { r } = await follow(id)
  assert.is(r.outcome, 'completed', r.reason)
  for (const n of NAMES) {
    assert.is(await version(n), '4.0.0')
    assert.is(await attempts(n), before[n] + 1, `${n} updated once`)
  }
  const m = await members()
  for (const x of m.members)
    assert.is(x.snapshot.requests.filter((q: any) => q.id.includes(`rollout:${id}/`)).length, 1)
})

test('members - each updateTransition and the rollout replay with --verify', async () => {
  for (const n of NAMES) {
    const file = join(env.dir, `${n}.update.aether.log`)
    writeFileSync(file, await (await fetch(`${env.members[n].url}/api/supervisor/log`)).text())
    const run = await replayFile(file, updateTransition, { verify: true })
    assert.is(run.code, 0, JSON.stringify(run.result?.divergence ?? run.error))
  }
  const rollouts = (await api('/api/rollouts')).body.rollouts
  const last = rollouts.find((r: any) => r.outcome === 'completed' && r.version === null) ?? rollouts.at(-1)
  const file = join(env.dir, 'rollout.aether.log')
  writeFileSync(
    file,
    await (
      await fetch(`${env.hub.url}/api/actors/${encodeURIComponent(last.actor)}/log`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      })
    ).text(),
  )
  const cli = await runCli(['replay', file, '--machine', 'machines/memberRollout.ts', '--verify'])
  assert.is(cli.code, 0, cli.stdout + cli.stderr)
})

test.run()
