import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { assign, setup } from 'xstate'
import {
  ActorSystem,
  defineService,
  effect,
  serviceOf,
  Services,
  ServiceMissingError,
  SimulatedClock,
} from '../../actors/index.ts'
import { counter } from '../../machines/counter.ts'
import { LevelStore } from '../../runtime/LevelStore.ts'
import { crash } from '../helpers/system.ts'
import { tmpDir, until } from '../helpers/tmp.ts'

interface Bell {
  ring(key: string): Promise<string>
}
const bell = defineService<Bell>('test.bell')
const clockService = defineService<{ now(): number }>('test.clock')

const code = (fn: () => unknown): string => {
  try {
    fn()
  } catch (err) {
    return (err as { code?: string }).code ?? String(err)
  }
  return 'no error'
}

// ---------------------------------------------------------------------------------------------
const registry = suite('Services - the typed registry')

registry('provide, get, find, has and withdraw, each lookup counted', () => {
  const s = new Services()
  const b: Bell = { ring: async (k) => k }
  assert.is(s.has(bell), false)
  assert.is(s.provide(bell, b), b, 'provide returns the value')
  assert.is(s.has(bell), true)
  assert.is(s.get(bell), b)
  assert.is(s.find(bell), b)
  assert.is(s.find(clockService), undefined, 'an optional service that is not there')
  assert.equal(s.names(), ['test.bell'])
  assert.equal(s.stats(), {
    lookups: 3,
    misses: 0,
    services: {
      'test.bell': { provided: true, lookups: 2, misses: 0 },
      'test.clock': { provided: false, lookups: 1, misses: 0 },
    },
  })
  s.withdraw(bell, { ring: async () => 'another' })
  assert.is(s.has(bell), true, 'withdrawing another value leaves the service')
  s.withdraw(bell)
  assert.is(s.has(bell), false)
})

registry('a missing service throws SERVICE_MISSING naming it and what is provided; counted as a miss', () => {
  const s = new Services()
  s.provide(clockService, { now: () => 1 })
  let err: unknown
  try {
    s.get(bell)
  } catch (e) {
    err = e
  }
  assert.instance(err, ServiceMissingError)
  const e = err as ServiceMissingError
  assert.is(e.code, 'SERVICE_MISSING')
  assert.is(e.service, 'test.bell')
  assert.match(e.message, /no service "test\.bell" is provided \(provided: test\.clock\)/)
  assert.match(e.message, /before the actor system recovers/)
  assert.equal(s.stats().services['test.bell'], { provided: false, lookups: 1, misses: 1 })
  assert.is(s.stats().misses, 1)
})

registry('a second value under a provided key is refused (SERVICE_TAKEN); the same value again is not', () => {
  const s = new Services()
  const b: Bell = { ring: async (k) => k }
  s.provide(bell, b)
  assert.is(
    code(() => s.provide(bell, { ring: async () => 'x' })),
    'SERVICE_TAKEN',
  )
  assert.is(s.get(bell), b, 'the first value stays')
  s.provide(bell, b)
  s.withdraw(bell)
  s.provide(bell, { ring: async () => 'x' })
})

registry('service names are dotted lowerCamel words', () => {
  assert.is(defineService('jobs.host').name, 'jobs.host')
  assert.throws(() => defineService('Jobs host'), /must be dotted lowerCamel words/)
  assert.throws(() => defineService('jobs.'), /must be dotted/)
})

registry('prometheus text: lookups and misses per service', () => {
  const s = new Services()
  s.provide(bell, { ring: async (k) => k })
  s.get(bell)
  code(() => s.get(clockService))
  const text = s.prometheus()
  assert.match(text, /# TYPE aether_service_lookups_total counter\n/)
  assert.match(text, /aether_service_lookups_total\{service="test\.bell"\} 1\n/)
  assert.match(text, /aether_service_misses_total\{service="test\.bell"\} 0\n/)
  assert.match(text, /aether_service_misses_total\{service="test\.clock"\} 1\n/)
})

registry.run()

// ---------------------------------------------------------------------------------------------
/** Rings the bell once (an effect with its idempotency key); keeps the answer or the error code. */
const ringer = setup({
  types: { context: {} as { answer?: string; error?: string } },
  actors: {
    ring: effect<string>(async ({ key, self }) => serviceOf(self, bell).ring(key)),
  },
}).createMachine({
  id: 'ringer',
  context: {},
  initial: 'idle',
  states: {
    idle: { on: { go: 'ringing' } },
    ringing: {
      invoke: {
        src: 'ring',
        onDone: { target: 'rung', actions: assign({ answer: ({ event }) => event.output as string }) },
        onError: { target: 'failed', actions: assign({ error: ({ event }) => (event.error as any)?.code }) },
      },
    },
    rung: {},
    failed: {},
  },
})

const inSystem = suite('Services - owned by the ActorSystem, looked up by effects')

inSystem('an effect takes its service from the system hosting it; outside one it is NOT_HOSTED', async () => {
  const sys = new ActorSystem({ machines: { ringer } })
  sys.services.provide(bell, { ring: async (key) => `rang ${key}` })
  await sys.spawn('r', 'ringer')
  sys.send('r', { type: 'go' })
  await until(() => sys.get('r')!.getSnapshot().value === 'rung', 2000, 'the ring')
  assert.match(sys.get('r')!.getSnapshot().context.answer, /^rang r\/0\.ringer\.ringing@\d+$/)
  assert.is(
    code(() => serviceOf({}, bell)),
    'NOT_HOSTED',
  )
  await sys.close()
})

inSystem('systems do not share services', async () => {
  const a = new ActorSystem({ machines: { ringer } })
  const b = new ActorSystem({ machines: { ringer } })
  a.services.provide(bell, { ring: async () => 'a' })
  await b.spawn('r', 'ringer')
  b.send('r', { type: 'go' })
  await until(() => b.get('r')!.getSnapshot().value === 'failed', 2000, 'the miss')
  assert.is(b.get('r')!.getSnapshot().context.error, 'SERVICE_MISSING')
  assert.is(b.services.stats().misses, 1)
  assert.is(a.services.stats().lookups, 0)
  await a.close()
  await b.close()
})

inSystem('open, provide, recover: an effect restarted by recovery finds its service on the first lookup', async () => {
  const dir = tmpDir()
  const store1 = await LevelStore.open(dir)
  const sys1 = new ActorSystem({ store: store1, machines: { ringer } })
  const keys: string[] = []
  sys1.services.provide(bell, { ring: (key) => (keys.push(key), new Promise<string>(() => {})) })
  await sys1.recover()
  await sys1.spawn('r', 'ringer', { durable: true })
  await sys1.sendCommitted('r', { type: 'go' })
  await crash(sys1, store1)

  const store2 = await LevelStore.open(dir)
  const sys2 = new ActorSystem({ store: store2, machines: { ringer } })
  sys2.services.provide(bell, { ring: async (key) => (keys.push(key), `rang ${key}`) })
  assert.equal(sys2.list(), [], 'nothing is recovered before recover()')
  await sys2.recover()
  await until(() => sys2.get('r')!.getSnapshot().value === 'rung', 2000, 'the restarted ring')
  assert.is(keys.length, 2)
  assert.is(keys[1], keys[0], 'the restarted effect has its original idempotency key')
  assert.equal(sys2.services.stats(), {
    lookups: 1,
    misses: 0,
    services: { 'test.bell': { provided: true, lookups: 1, misses: 0 } },
  })
  await sys2.close()
})

inSystem('recovering before the services are provided: the restarted effect misses (typed, counted)', async () => {
  const dir = tmpDir()
  const store1 = await LevelStore.open(dir)
  const sys1 = new ActorSystem({ store: store1, machines: { ringer } })
  sys1.services.provide(bell, { ring: () => new Promise<string>(() => {}) })
  await sys1.recover()
  await sys1.spawn('r', 'ringer', { durable: true })
  await sys1.sendCommitted('r', { type: 'go' })
  await crash(sys1, store1)
  // ActorSystem.open recovers at once: for systems whose effects need no service
  const sys2 = await ActorSystem.open({ store: await LevelStore.open(dir), machines: { ringer } })
  await until(() => sys2.get('r')!.getSnapshot().value === 'failed', 2000, 'the miss')
  assert.is(sys2.get('r')!.getSnapshot().context.error, 'SERVICE_MISSING')
  assert.is(sys2.services.stats().misses, 1)
  await sys2.close()
})

inSystem('before recover() a durable spawn is refused (NOT_RECOVERED); recover() runs once', async () => {
  const store = await LevelStore.open(tmpDir())
  const sys = new ActorSystem({ store, machines: { counter }, clock: new SimulatedClock(0) })
  let err: any
  await sys.spawn('c', 'counter', { durable: true }).catch((e) => (err = e))
  assert.is(err?.code, 'NOT_RECOVERED')
  assert.match(err.message, /call system\.recover\(\) first/)
  await sys.spawn('m', 'counter')
  assert.is(sys.recovered, false)
  const p = sys.recover()
  assert.is(sys.recover(), p, 'a second call returns the first recovery')
  await p
  assert.is(sys.recovered, true)
  await sys.spawn('c', 'counter', { durable: true })
  await sys.close()
})

inSystem('a system closed without recovering leaves the store as it found it (its tails are read later)', async () => {
  const dir = tmpDir()
  const store1 = await LevelStore.open(dir)
  const sys1 = await ActorSystem.open({ store: store1, machines: { counter } })
  await sys1.spawn('c', 'counter', { durable: true })
  for (let i = 0; i < 3; i++) await sys1.sendCommitted('c', { type: 'inc' })
  await crash(sys1, store1)
  // a start that fails before recovery (a feature that cannot install) closes its system
  const sys2 = new ActorSystem({ store: await LevelStore.open(dir), machines: { counter } })
  await sys2.close()
  const sys3 = await ActorSystem.open({ store: await LevelStore.open(dir), machines: { counter } })
  assert.is(sys3.get('c')!.getSnapshot().context.count, 3, 'the journal tail was read')
  await sys3.close()
})

inSystem.run()
