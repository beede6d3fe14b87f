import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { ActorSystem, SimulatedClock } from '../../actors/index.ts'
import { breakerEvents, canCall, circuitBreaker } from '../../machines/circuitBreaker.ts'

async function setupBreaker(threshold = 3, cooldownMs = 1000) {
  const clock = new SimulatedClock()
  const system = await ActorSystem.open({ clock })
  await system.spawn('b', circuitBreaker, { input: { provider: 'p', threshold, cooldownMs } })
  const snap = () => system.hosted('b')!.actor.getSnapshot()
  return { clock, system, snap }
}

const states = suite('circuitBreaker - states')

states('opens after threshold consecutive failures, a success resets the count', async () => {
  const { system, snap } = await setupBreaker(3)
  system.send('b', breakerEvents.failure('HTTP_ERROR'))
  system.send('b', breakerEvents.failure('HTTP_ERROR'))
  system.send('b', breakerEvents.success())
  assert.is(snap().value, 'closed')
  assert.is(snap().context.failures, 0)
  system.send('b', breakerEvents.failure('TIMEOUT'))
  system.send('b', breakerEvents.failure('TIMEOUT'))
  assert.is(snap().value, 'closed')
  system.send('b', breakerEvents.failure('RATE_LIMITED'))
  assert.is(snap().value, 'open')
  assert.is(snap().context.opened, 1)
  assert.is(snap().context.lastError, 'RATE_LIMITED')
  assert.is(canCall(snap().value, snap().context), 'no')
  await system.close()
})

states('open lets nothing through until the cooldown, then one trial in half-open', async () => {
  const { system, snap, clock } = await setupBreaker(1, 1000)
  system.send('b', breakerEvents.failure())
  assert.is(snap().value, 'open')
  clock.increment(999)
  assert.is(snap().value, 'open')
  clock.increment(1)
  assert.is(snap().value, 'halfOpen')
  assert.is(canCall(snap().value, snap().context), 'trial')
  system.send('b', breakerEvents.trial())
  assert.is(canCall(snap().value, snap().context), 'no', 'a second caller waits for the trial')
  system.send('b', breakerEvents.success())
  assert.is(snap().value, 'closed')
  assert.is(canCall(snap().value, snap().context), 'yes')
  await system.close()
})

states('a failed trial opens the breaker for another cooldown', async () => {
  const { system, snap, clock } = await setupBreaker(1, 500)
  system.send('b', breakerEvents.failure())
  clock.increment(500)
  system.send('b', breakerEvents.trial())
  system.send('b', breakerEvents.failure('TIMEOUT'))
  assert.is(snap().value, 'open')
  assert.is(snap().context.opened, 2)
  clock.increment(499)
  assert.is(snap().value, 'open')
  clock.increment(1)
  assert.is(snap().value, 'halfOpen')
  assert.not.ok(snap().context.trialInFlight)
  await system.close()
})

states.run()
