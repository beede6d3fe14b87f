import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { performance } from 'node:perf_hooks'
import { FakeProvider, type RequestInfo } from '../../helpers/fakeProviders.ts'
import { closedPort } from '../../helpers/agentClient.ts'
import { validateHarness } from '../../../runtime/agent/harness.ts'
import { createProvider, ProviderError } from '../../../runtime/agent/providers.ts'
import { Secrets } from '../../../runtime/agent/redact.ts'

const KEY = 'sk-test-AETHER-SECRET-xyz'
let oa: FakeProvider
let an: FakeProvider

function providers(extra: Record<string, any> = {}) {
  const h = validateHarness({
    providers: {
      oa: { kind: 'openai', baseUrl: `${oa.url}/v1`, apiKeyEnv: 'OA_KEY' },
      an: { kind: 'anthropic', baseUrl: an.url, apiKeyEnv: 'AN_KEY', maxTokens: 64 },
      ...extra,
    },
    roles: { chat: [{ provider: 'oa', model: 'm' }] },
  })
  const secrets = Secrets.fromEnv(h, { OA_KEY: KEY, AN_KEY: KEY })
  return { h, secrets, get: (n: string) => createProvider(n, h.providers[n], secrets) }
}

async function rejects(p: Promise<unknown>): Promise<ProviderError> {
  try {
    await p
  } catch (err) {
    assert.instance(err, ProviderError)
    return err as ProviderError
  }
  throw new Error('expected a ProviderError')
}

const api = suite('providers - wire formats')
api.before(async () => {
  oa = await FakeProvider.start({ key: KEY })
  an = await FakeProvider.start({ key: KEY })
})
api.after(async () => {
  await oa.close()
  await an.close()
})

api('OpenAI-compatible: bearer key, request id, images as content parts', async () => {
  const seen: RequestInfo[] = []
  oa.on('request', (i) => seen.push(i))
  const p = providers().get('oa')
  const a = await p.chat({
    model: 'gpt-x',
    requestId: 'req-1',
    timeoutMs: 2000,
    messages: [
      { role: 'system', content: 'be brief' },
      { role: 'user', content: 'see. Reply with exactly: OK-1', images: ['data:image/png;base64,AAAA'] },
    ],
  })
  assert.is(a.text, 'OK-1')
  assert.is(a.model, 'gpt-x')
  assert.equal(seen, [
    { api: 'openai', model: 'gpt-x', requestId: 'req-1', prompt: 'see. Reply with exactly: OK-1', images: 1 },
  ])
  await p.probe(AbortSignal.timeout(1000))
  oa.removeAllListeners('request')
})

api('Anthropic messages: x-api-key, system apart, image blocks', async () => {
  const seen: RequestInfo[] = []
  an.on('request', (i) => seen.push(i))
  const p = providers().get('an')
  const a = await p.chat({
    model: 'claude-x',
    requestId: 'req-2',
    timeoutMs: 2000,
    messages: [
      { role: 'system', content: 'sys' },
      { role: 'user', content: 'Reply with exactly: OK-2', images: ['https://example.invalid/a.png'] },
    ],
  })
  assert.is(a.text, 'OK-2')
  assert.equal(seen, [
    { api: 'anthropic', model: 'claude-x', requestId: 'req-2', prompt: 'Reply with exactly: OK-2', images: 1 },
  ])
  await p.probe(AbortSignal.timeout(1000))
})

const errors = suite('providers - errors')
errors.before(async () => {
  oa = await FakeProvider.start({ key: KEY })
  an = await FakeProvider.start({ key: KEY })
})
errors.after(async () => {
  await oa.close()
  await an.close()
})

errors('429 is RATE_LIMITED, 500 is HTTP_ERROR, a bad body is BAD_RESPONSE', async () => {
  const p = providers().get('oa')
  const call = (model: string) =>
    p.chat({ model, requestId: 'r', timeoutMs: 2000, messages: [{ role: 'user', content: 'x' }] })
  const e1 = await rejects(call('rate-a'))
  assert.is(e1.code, 'RATE_LIMITED')
  assert.is(e1.status, 429)
  assert.match(e1.message, /retry after 1s/)
  const e2 = await rejects(call('fail-a'))
  assert.is(e2.code, 'HTTP_ERROR')
  assert.is(e2.status, 500)
})

errors('a hanging provider is a TIMEOUT at the deadline; a closed port is NETWORK', async () => {
  const p = providers().get('an')
  const t0 = performance.now()
  const e = await rejects(
    p.chat({ model: 'hang', requestId: 'r', timeoutMs: 150, messages: [{ role: 'user', content: 'x' }] }),
  )
  const took = performance.now() - t0
  assert.is(e.code, 'TIMEOUT')
  assert.ok(took >= 140 && took < 2000, `took ${took} ms`)
  const port = await closedPort()
  const dead = providers({ dead: { kind: 'openai', baseUrl: `http://127.0.0.1:${port}/v1` } }).get('dead')
  const e2 = await rejects(
    dead.chat({ model: 'm', requestId: 'r', timeoutMs: 1000, messages: [{ role: 'user', content: 'x' }] }),
  )
  assert.is(e2.code, 'NETWORK')
  assert.match(e2.message, /ECONNREFUSED/)
})

errors('an error body that quotes the key is redacted; a missing key variable is KEY_MISSING', async () => {
  oa.script('m', [{ status: 401, echoKey: true }])
  const p = providers().get('oa')
  const e = await rejects(
    p.chat({ model: 'm', requestId: 'r', timeoutMs: 1000, messages: [{ role: 'user', content: 'x' }] }),
  )
  assert.is(e.code, 'HTTP_ERROR')
  assert.match(e.message, /Incorrect API key provided: \[REDACTED:OA_KEY\]/)
  assert.not.match(e.message, KEY)
  const { h } = providers()
  const none = createProvider('oa', h.providers.oa, Secrets.fromEnv(h, {}))
  const e2 = await rejects(
    none.chat({ model: 'm', requestId: 'r', timeoutMs: 1000, messages: [{ role: 'user', content: 'x' }] }),
  )
  assert.is(e2.code, 'KEY_MISSING')
  assert.match(e2.message, /OA_KEY/)
})

api.run()
errors.run()
