import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { fromPromise } from 'xstate'
import { ActorSystem, SimulatedClock } from '../../actors/index.ts'
import { backoffMs, integration, integrationStatus } from '../../machines/integration.ts'

const tick = () => new Promise((r) => setImmediate(r))

/** An integration whose probe outcomes the test scripts: 'ok', 'fail' or 'hang'. */
async function scripted(outcomes: Array<'ok' | 'fail' | 'hang' | 'later'>) {
  const clock = new SimulatedClock()
  const system = await ActorSystem.open({ clock })
  let probes = 0
  const machine = integration.provide({
    actors: {
      probe: fromPromise(async () => {
        const o = outcomes[probes++] ?? 'ok'
        if (o === 'fail') throw new Error('refused')
        if (o === 'hang') await new Promise(() => {})
        if (o === 'later') await new Promise((r) => setTimeout(r, 5))
      }),
    },
  })
  await system.spawn('i', machine, {
    input: { name: 'redis', probeTimeoutMs: 100, baseBackoffMs: 50, maxBackoffMs: 200, healthEveryMs: 1000 },
  })
  const status = () => integrationStatus(system.hosted('i')!.actor.getSnapshot().value)
  const ctx = () => system.hosted('i')!.actor.getSnapshot().context
  return { clock, system, status, ctx, probes: () => probes }
}

const lifecycle = suite('integration - lifecycle')

lifecycle('starts connecting, becomes ready when the probe answers', async () => {
  const t = await scripted(['later'])
  assert.is(t.status(), 'connecting')
  await new Promise((r) => setTimeout(r, 20))
  assert.is(t.status(), 'ready')
  await t.system.close()
})

lifecycle('a refused probe degrades it; retries back off 50, 100, 200, 200 ms', async () => {
  const t = await scripted(['fail', 'fail', 'fail', 'fail', 'ok'])
  await tick()
  assert.is(t.status(), 'degraded')
  assert.is(t.ctx().lastError, 'refused')
  const waits: number[] = []
  for (let i = 0; i < 4; i++) {
    const before = t.probes()
    let waited = 0
    while (t.probes() === before) {
      t.clock.increment(10)
      waited += 10
      await tick()
    }
    waits.push(waited)
    await tick()
  }
  assert.equal(waits, [50, 100, 200, 200])
  assert.is(t.status(), 'ready')
  assert.is(t.ctx().attempts, 0)
  assert.is(t.probes(), 5)
  await t.system.close()
})

lifecycle('a hanging probe times out into degraded (nobody waits on it)', async () => {
  const t = await scripted(['hang', 'ok'])
  await tick()
  assert.is(t.status(), 'connecting')
  t.clock.increment(100)
  assert.is(t.status(), 'degraded')
  assert.match(t.ctx().lastError, /no answer within 100 ms/)
  t.clock.increment(50)
  assert.is(t.status(), 'retrying')
  await tick()
  assert.is(t.status(), 'ready')
  await t.system.close()
})

lifecycle('ready re-checks periodically and degrades when the check fails', async () => {
  const t = await scripted(['ok', 'ok', 'fail'])
  await tick()
  t.clock.increment(1000)
  await tick()
  assert.is(t.status(), 'ready')
  assert.is(t.probes(), 2)
  t.clock.increment(1000)
  await tick()
  assert.is(t.status(), 'degraded')
  await t.system.close()
})

lifecycle('backoffMs caps at maxBackoffMs', () => {
  assert.is(backoffMs({ attempts: 1, baseBackoffMs: 500, maxBackoffMs: 30_000 }), 500)
  assert.is(backoffMs({ attempts: 4, baseBackoffMs: 500, maxBackoffMs: 30_000 }), 4000)
  assert.is(backoffMs({ attempts: 20, baseBackoffMs: 500, maxBackoffMs: 30_000 }), 30_000)
})

lifecycle.run()
