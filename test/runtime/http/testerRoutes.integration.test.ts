import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Hub } from '../../../runtime/Hub.ts'
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
  hub = await Hub.start({ data: tmpDir(), token: TOKEN, port: 0 })
  for (const p of ['tl1', 'tl2'])
    assert.is((await post('/api/actors', { path: p, machine: 'trafficLight' })).status, 201)
  for (const type of ['tick', 'tick', 'emergency', 'resume'])
    assert.is((await post('/api/actors/tl1/events', { type })).status, 200)
  assert.is((await post('/api/actors/tl2/events', { type: 'tick' })).status, 200)
})
test.after(async () => {
  await hub.close()
})

test('coverage counts what the stored journals of the machine exercised; untaken transitions at 0', async () => {
  const { status, body } = await get('/api/coverage?machine=trafficLight')
  assert.is(status, 200)
  assert.is(body.machine, 'trafficLight')
  assert.is(body.logs, 2)
  assert.is(body.events, 5)
  assert.equal(body.capped, { actors: false, events: false })
  const t = (source: string, event: string) =>
    body.transitions.find((x: any) => x.source === source && x.event === event)
  assert.is(t('trafficLight.light.green', 'tick').taken, 2)
  assert.is(t('trafficLight.light.yellow', 'tick').taken, 1)
  assert.is(t('trafficLight.light', 'emergency').taken, 1)
  assert.is(t('trafficLight.pedestrian.idle', 'pedestrian.request').taken, 0)
  assert.is(body.states.find((s: any) => s.id === 'trafficLight.light.flashing').entered, 1)
})

test('coverage is bounded: the caps say which limit stopped the reading', async () => {
  let r = await get('/api/coverage?machine=trafficLight&actors=1')
  assert.is(r.body.actorsRead, 1)
  assert.is(r.body.actorsFound, 2)
  assert.equal(r.body.capped, { actors: true, events: false })
  r = await get('/api/coverage?machine=trafficLight&events=2')
  assert.is(r.body.events, 2)
  assert.is(r.body.capped.events, true)
  r = await get('/api/coverage?machine=trafficLight&events=0')
  assert.is(r.status, 400)
  assert.is(r.body.error, 'BAD_QUERY')
  r = await get('/api/coverage?machine=nope')
  assert.is(r.status, 404)
  r = await get('/api/coverage')
  assert.is(r.status, 400)
})

test('fork: the same fork code on the journal; a diverging fork and a drop', async () => {
  const hist = await get('/api/actors/tl1/history')
  const seqOf = (type: string) => hist.body.records.find((r: any) => r.event?.type === type).seq
  const em = seqOf('emergency')
  let r = await get(`/api/fork?actor=tl1&seq=${em}&event=${encodeURIComponent('{"type":"tick"}')}`)
  assert.is(r.status, 200)
  assert.is(r.body.forkAt, em)
  assert.is(r.body.rows[0].action, 'replaced')
  assert.is(r.body.rejoinedAt, null)
  assert.is(r.body.rows[0].fork.value.light, 'green')
  assert.is(r.body.rows[0].original.value.light, 'flashing')
  r = await get(`/api/fork?actor=tl1&seq=${em}&drop=1`)
  assert.is(r.status, 200)
  assert.is(r.body.rows[0].action, 'dropped')
})

test('fork: bad requests are typed 400/404 and change nothing', async () => {
  const paths = async () => (await get('/api/actors')).body.actors.map((a: any) => a.path)
  const before = await paths()
  for (const [q, status, code] of [
    ['actor=tl1&seq=999&drop=1', 400, 'FORK_SEQ'],
    ['actor=tl1&seq=2&event=notjson', 400, 'BAD_QUERY'],
    ['actor=tl1&seq=2', 400, 'BAD_QUERY'],
    ['actor=tl1&seq=2&drop=1&event={"type":"tick"}', 400, 'BAD_QUERY'],
    ['actor=tl1&seq=x&drop=1', 400, 'BAD_QUERY'],
    ['actor=nobody&seq=2&drop=1', 404, 'UNKNOWN_ACTOR'],
  ] as const) {
    const r = await get(`/api/fork?${q}`)
    assert.is(r.status, status, q)
    assert.is(r.body.error, code, q)
  }
  assert.equal(await paths(), before, 'no actor was spawned')
})

test.run()
