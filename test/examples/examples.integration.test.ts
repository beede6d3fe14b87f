/**
 * examples/ - each example app run as its README comment says: `aether hub --app examples/.../app.ts`,
 * driven over HTTP, its log exported and replayed with `--verify`.
 */
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { HubProcess, runCli } from '../helpers/hubProcess.ts'
import { tmpDir, until } from '../helpers/tmp.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))

async function hubWith(app: string, data: string) {
  const hub = await HubProcess.start(['--app', join(root, app), '--data', data, '--token', 'T'])
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${hub.url}${path}`, {
      method: 'POST',
      headers: { authorization: 'Bearer T' },
      body: JSON.stringify(body),
    })
    return { status: res.status, body: (await res.json()) as any }
  }
  const get = async (path: string) => (await (await fetch(`${hub.url}${path}`)).json()) as any
  return { hub, post, get }
}

async function replays(hubUrl: string, id: string, app: string, dir: string): Promise<string> {
  const log = join(dir, `${id.replaceAll('/', '_')}.log`)
  const exported = await runCli(['log', 'export', id, '--url', hubUrl, '--out', log])
  assert.is(exported.code, 0, exported.stderr)
  const r = await runCli(['replay', log, '--app', join(root, app), '--verify'])
  assert.is(r.code, 0, r.stdout + r.stderr)
  return r.stdout
}

const checkout = suite('examples/checkout - guards, nested states, an invoked promise and a delayed after')

checkout('a paid order, a declined card and an empty cart; recovered after kill -9; the logs verify', async () => {
  const dir = tmpDir('aether-example-')
  const data = join(dir, 'data')
  let { hub, post, get } = await hubWith('examples/checkout/app.ts', data)
  try {
    const send = (id: string, event: unknown) => post(`/api/actors/${id}/events`, event)
    assert.is(
      (await post('/api/actors', { path: 'order-1', machine: 'checkout', input: { customer: 'ada' } })).status,
      201,
    )
    assert.is(
      (await post('/api/actors', { path: 'order-2', machine: 'checkout', input: { customer: 'bo' } })).status,
      201,
    )
    // the guard: an empty cart is not charged
    await send('order-1', { type: 'cart.review' })
    assert.equal((await send('order-1', { type: 'checkout' })).body.value, { shopping: 'reviewing' })
    await send('order-1', { type: 'cart.add', item: { sku: 'tea', qty: 2, price: 4 } })
    await send('order-1', { type: 'checkout' })
    await until(async () => (await get('/api/actors/order-1')).value === 'paid', 5000, 'order-1 paid')
    // the invoked charge fails over 1000: back to the review, with the reason
    await send('order-2', { type: 'cart.add', item: { sku: 'piano', qty: 1, price: 5000 } })
    await send('order-2', { type: 'cart.review' })
    await send('order-2', { type: 'checkout' })
    await until(async () => (await get('/api/actors/order-2')).context.declined !== null, 5000, 'order-2 declined')
    const two = await get('/api/actors/order-2')
    assert.equal(two.value, { shopping: 'reviewing' })
    assert.is(two.context.declined, 'card declined for 5000')
    assert.is(two.timers.length, 1, 'the abandonment timer is pending')

    await hub.kill('SIGKILL')
    ;({ hub, post, get } = await hubWith('examples/checkout/app.ts', data))
    const one = await get('/api/actors/order-1')
    assert.is(one.value, 'paid')
    assert.is(one.context.receipt, 'receipt-ada-8')
    assert.is((await get('/api/actors/order-2')).timers.length, 1, 'the timer survived the crash')
    await send('order-1', { type: 'ship' })
    assert.is((await get('/api/actors/order-1')).status, 'done')

    assert.match(await replays(hub.url, 'order-1', 'examples/checkout/app.ts', dir), /verified \d+ events of order-1/)
    assert.match(await replays(hub.url, 'order-2', 'examples/checkout/app.ts', dir), /verified \d+ events of order-2/)
  } finally {
    await hub.kill('SIGTERM')
  }
})

checkout.run()

const jobs = suite('examples/jobs - a job type that retries twice and completes')

jobs('the label step fails twice, retries after backoff, and the job completes; its log verifies', async () => {
  const dir = tmpDir('aether-example-')
  const { hub, post, get } = await hubWith('examples/jobs/app.ts', join(dir, 'data'))
  try {
    const submitted = await post('/api/jobs', { type: 'ship', input: { sku: 'tea' }, key: 'order-7' })
    assert.is(submitted.status, 201, JSON.stringify(submitted.body))
    const id = submitted.body.id
    await until(async () => (await get(`/api/jobs/${id}`)).status === 'COMPLETED', 10_000, 'the job completed')
    const job = await get(`/api/jobs/${id}`)
    assert.equal(job.output, { label: 'label-tea', attempts: 3 }, 'label succeeded on its third attempt')
    assert.is(job.attempts, 4, 'one attempt of reserve, three of label')
    const again = await post('/api/jobs', { type: 'ship', input: { sku: 'tea' }, key: 'order-7' })
    assert.is(again.body.id, id, 'the same key is the same job')
    const out = await replays(hub.url, id, 'examples/jobs/app.ts', dir)
    assert.match(out, /verified \d+ events/)
    const log = await (await fetch(`${hub.url}/api/actors/${id}/log`)).text()
    assert.is((log.match(/carrier busy/g) ?? []).length >= 2, true, 'two failed attempts are in the log')
  } finally {
    await hub.kill('SIGTERM')
  }
})

jobs.run()
