import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Hub } from '../../../runtime/Hub.ts'
import { lamp } from '../../fixtures/lamp.ts'
import { tmpDir } from '../../helpers/tmp.ts'

const TOKEN = 'test-token-heat'
let hub: Hub
const post = (path: string, body: unknown) =>
  fetch(hub.url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify(body),
  })
const get = async (path: string) => {
  const res = await fetch(hub.url + path)
  return { status: res.status, body: (await res.json()) as any }
}

const test = suite('tester routes: GET /api/coverage and GET /api/fork')
test.before(async () => {
  // lamp has no timers: the journals hold exactly the events sent here
  hub = await Hub.start({ data: tmpDir(), token: TOKEN, port: 0, machines: { lamp } })
  for (const p of ['l1', 'l2']) assert.is((await post('/api/actors', { path: p, machine: 'lamp' })).status, 201)
  for (const e of [{ type: 'toggle' }, { type: 'dim', level: 9 }, { type: 'toggle' }, { type: 'toggle' }])
    assert.is((await post('/api/actors/l1/events', e)).status, 200)
  assert.is((await post('/api/actors/l2/events', { type: 'toggle' })).status, 200)
})
test.after(async () => {
  await hub.close()
})

const seqs = async (path: string) =>
  (await get(`/api/actors/${path}/history`)).body.records.filter((r: any) => r.event).map((r: any) => r.seq)

test('coverage counts what the stored journals of the machine exercised; untaken transitions at 0', async () => {
  const { status, body } = await get('/api/coverage?machine=lamp')
  assert.is(status, 200)
  assert.is(body.machine, 'lamp')
  assert.is(body.logs, 2)
  assert.is(body.events, 5)
  assert.equal(body.capped, { actors: false, events: false })
  const t = (source: string, event: string, i = 0) =>
    body.transitions.find((x: any) => x.source === source && x.event === event && x.id.endsWith(`#${i}`))
  assert.is(t('lamp.off', 'toggle').taken, 3)
  assert.is(t('lamp.on', 'dim', 0).taken, 1)
  assert.is(t('lamp.on', 'dim', 1).taken, 0)
  assert.is(t('lamp.off', 'break').taken, 0)
  assert.is(body.states.find((s: any) => s.id === 'lamp.broken').entered, 0)
  assert.is(body.states.find((s: any) => s.id === 'lamp.bright').entered, 1)
})

test('coverage is bounded: the caps say which limit stopped the reading', async () => {
  let r = await get('/api/coverage?machine=lamp&actors=1')
  assert.is(r.body.actorsRead, 1)
  assert.is(r.body.actorsFound, 2)
  assert.equal(r.body.capped, { actors: true, events: false })
  r = await get('/api/coverage?machine=lamp&events=2')
  assert.is(r.body.events, 2)
  assert.is(r.body.capped.events, true)
  for (const [q, status] of [
    ['machine=lamp&events=0', 400],
    ['machine=lamp&actors=1001', 400],
    ['machine=nope', 404],
    ['', 400],
  ] as const) {
    r = await get(`/api/coverage?${q}`)
    assert.is(r.status, status, q)
  }
})

test('fork: the same fork code on the journal; a fork that rejoins and one that does not', async () => {
  const [s1, s2, s3] = await seqs('l1')
  let r = await get(`/api/fork?actor=l1&seq=${s2}&event=${encodeURIComponent('{"type":"dim","level":1}')}`)
  assert.is(r.status, 200)
  assert.is(r.body.forkAt, s2)
  assert.is(r.body.rows[0].action, 'replaced')
  assert.is(r.body.rows[0].fork.value, 'dim')
  assert.is(r.body.rows[0].original.value, 'bright')
  assert.is(r.body.rejoinedAt, s3)
  r = await get(`/api/fork?actor=l1&seq=${s1}&drop=1`)
  assert.is(r.status, 200)
  assert.is(r.body.rows[0].action, 'dropped')
  assert.is(r.body.rejoinedAt, null)
})

test('fork: bad requests are typed 400/404 and change nothing', async () => {
  const before = await seqs('l1')
  for (const [q, status, code] of [
    ['actor=l1&seq=999&drop=1', 400, 'FORK_SEQ'],
    ['actor=l1&seq=2&event=notjson', 400, 'BAD_QUERY'],
    ['actor=l1&seq=2&event={"kind":1}', 400, 'BAD_QUERY'],
    ['actor=l1&seq=2', 400, 'BAD_QUERY'],
    ['actor=l1&seq=2&drop=1&event={"type":"toggle"}', 400, 'BAD_QUERY'],
    ['actor=l1&seq=x&drop=1', 400, 'BAD_QUERY'],
    ['actor=nobody&seq=2&drop=1', 404, 'UNKNOWN_ACTOR'],
  ] as const) {
    const r = await get(`/api/fork?${q}`)
    assert.is(r.status, status, q)
    assert.is(r.body.error, code, q)
  }
  assert.equal(await seqs('l1'), before, 'the journal is unchanged')
})

test.run()
