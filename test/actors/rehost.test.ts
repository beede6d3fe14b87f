/** ActorSystem.rehost, ensure and unregister: what a skill refresh and a feature's first use rely on. */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createMachine } from 'xstate'
import { openSystem } from '../helpers/system.ts'
import { tmpDir } from '../helpers/tmp.ts'

const v1 = createMachine({
  id: 'door',
  initial: 'shut',
  states: { shut: { on: { open: 'open' } }, open: { on: { shut: 'shut' } } },
})
const v2 = createMachine({
  id: 'door',
  initial: 'shut',
  states: { shut: { on: { open: 'open' } }, open: { on: { shut: 'shut', lock: 'locked' } }, locked: {} },
})

const s = suite('ActorSystem - rehost, ensure, unregister')

s('rehost: the actor runs the machine now registered, in the state its journal gives', async () => {
  const { system } = await openSystem(tmpDir(), { machines: { door: v1 } })
  try {
    await system.spawn('d-1', 'door', { durable: true })
    await system.sendCommitted('d-1', { type: 'open' })
    system.register('door', v2)
    await system.rehost('d-1')
    assert.is(system.hosted('d-1')!.machine, v2)
    assert.is(system.list().find((a) => a.path === 'd-1')?.value, 'open')
    const seq = await system.sendCommitted('d-1', { type: 'lock' })
    assert.is(seq, 2, 'the journal goes on where it was')
    assert.is(system.list().find((a) => a.path === 'd-1')?.value, 'locked')
  } finally {
    await system.close()
  }
})

s('ensure spawns once for concurrent callers; unregister forgets a machine', async () => {
  const { system } = await openSystem(tmpDir(), { machines: { door: v1 } })
  try {
    await Promise.all([1, 2, 3].map(() => system.ensure('d-2', 'door', { durable: true })))
    assert.is(system.list().filter((a) => a.path === 'd-2').length, 1)
    await system.ensure('d-2', 'door', { durable: true })
    system.unregister('door')
    assert.is(system.machine('door'), undefined)
    try {
      await system.spawn('d-3', 'door', { durable: true })
      assert.unreachable('spawned an unregistered machine')
    } catch (err) {
      assert.match((err as Error).message, /door/)
    }
  } finally {
    await system.close()
  }
})

s.run()
