import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ActorSystem, SimulatedClock, effect } from '../../actors/index.ts'
import { agentSession, sessionEvents, type RunTaskInput, type TaskResult } from '../../machines/agentSession.ts'
import { LevelStore } from '../../runtime/LevelStore.ts'

const tick = () => new Promise((r) => setTimeout(r, 5))

/** A session whose runTask answers when the test says so; records each call's key and input. */
function controlled() {
  const calls: Array<{ key: string; input: RunTaskInput; resolve: (r: TaskResult) => void }> = []
  const machine = agentSession.provide({
    actors: {
      runTask: effect<TaskResult, RunTaskInput>(
        ({ input, key }) => new Promise((resolve) => calls.push({ key, input, resolve })),
      ),
    },
  })
  const answer = (i: number, text: string): void =>
    calls[i].resolve({
      ok: true,
      text,
      provider: 'p',
      model: 'm',
      fallbacks: 0,
      cached: false,
      requestId: calls[i].key,
    })
  return { machine, calls, answer }
}

async function open(dir: string, machine: any, clock = new SimulatedClock()) {
  const store = await LevelStore.open(dir)
  return ActorSystem.open({ store, clock, machines: { agentSession: machine } })
}

async function until(cond: () => boolean, ms = 2000) {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await tick()
  }
}

const tasks = suite('agentSession - tasks')
let dir = ''
tasks.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), 'aether-session-'))
})
tasks.after.each(() => rmSync(dir, { recursive: true, force: true }))

tasks('runs tasks one at a time in order; history grows by completed tasks', async () => {
  const c = controlled()
  const system = await open(dir, c.machine)
  await system.spawn('s', 'agentSession', { durable: true, input: { sessionId: 'sess-0001' } })
  system.send('s', sessionEvents.task({ taskId: 't1', role: 'chat', prompt: 'one' }))
  system.send('s', sessionEvents.task({ taskId: 't2', role: 'planner', prompt: 'two' }))
  await until(() => c.calls.length === 1)
  assert.is(c.calls[0].input.task.taskId, 't1')
  c.answer(0, 'ONE')
  await until(() => c.calls.length === 2)
  assert.is(c.calls[1].input.task.taskId, 't2')
  assert.equal(
    c.calls[1].input.history.map((h) => h.content),
    ['one', 'ONE'],
    'the second task sees the first turn',
  )
  c.answer(1, 'TWO')
  await until(() => system.hosted('s')!.actor.getSnapshot().context.outcomes.length === 2)
  const ctx = system.hosted('s')!.actor.getSnapshot().context
  assert.equal(
    ctx.outcomes.map((o: any) => [o.n, o.taskId, o.text]),
    [
      [1, 't1', 'ONE'],
      [2, 't2', 'TWO'],
    ],
  )
  assert.is(ctx.history.length, 4)
  assert.not.equal(c.calls[0].key, c.calls[1].key, 'each task has its own request id')
  await system.close()
})

tasks('a task id is accepted once; a full queue refuses with an outcome', async () => {
  const c = controlled()
  const system = await open(dir, c.machine)
  await system.spawn('s', 'agentSession', { durable: true, input: { sessionId: 'sess-0002', maxQueue: 1 } })
  system.send('s', sessionEvents.task({ taskId: 'a', role: 'chat', prompt: 'x' }))
  await until(() => c.calls.length === 1)
  system.send('s', sessionEvents.task({ taskId: 'a', role: 'chat', prompt: 'x' }))
  system.send('s', sessionEvents.task({ taskId: 'b', role: 'chat', prompt: 'y' }))
  system.send('s', sessionEvents.task({ taskId: 'c', role: 'chat', prompt: 'z' }))
  await system.flush()
  await tick()
  const ctx = system.hosted('s')!.actor.getSnapshot().context
  assert.equal(
    ctx.queue.map((t: any) => t.taskId),
    ['b'],
  )
  assert.is(ctx.refused, 1)
  assert.is(ctx.outcomes[0].error.code, 'QUEUE_FULL')
  c.answer(0, 'A')
  await until(() => c.calls.length === 2)
  assert.is(c.calls.length, 2, 'the duplicate of "a" never ran')
  await system.close()
})

tasks('detached longer than the TTL closes the session (a durable timer)', async () => {
  const c = controlled()
  const clock = new SimulatedClock()
  const system = await open(dir, c.machine, clock)
  await system.spawn('s', 'agentSession', { durable: true, input: { sessionId: 'sess-0003', detachTtlMs: 10_000 } })
  await system.sendCommitted('s', sessionEvents.detach())
  clock.increment(5_000)
  await system.sendCommitted('s', sessionEvents.attach())
  await system.sendCommitted('s', sessionEvents.detach())
  clock.increment(9_999)
  await system.flush()
  assert.equal(system.hosted('s')!.actor.getSnapshot().value, { live: { connection: 'detached', work: 'idle' } })
  clock.increment(1)
  await until(() => system.hosted('s')!.status === 'done')
  assert.is(system.hosted('s')!.actor.getSnapshot().context.closedReason, 'detached too long')
  await system.close()
})

const restart = suite('agentSession - restart')
restart.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), 'aether-session-'))
})
restart.after.each(() => rmSync(dir, { recursive: true, force: true }))

restart('a restart restores the conversation and re-runs the running task with the same key', async () => {
  const c1 = controlled()
  let system = await open(dir, c1.machine)
  await system.spawn('s', 'agentSession', { durable: true, input: { sessionId: 'sess-0004' } })
  system.send('s', sessionEvents.task({ taskId: 't1', role: 'chat', prompt: 'first' }))
  await until(() => c1.calls.length === 1)
  c1.answer(0, 'FIRST')
  system.send('s', sessionEvents.task({ taskId: 't2', role: 'chat', prompt: 'second' }))
  await until(() => c1.calls.length === 2)
  const key = c1.calls[1].key
  await system.flush()
  // Simulate a crash: drop the system without a checkpoint (the journal is all there is).
  await (system.store as LevelStore).close()

  const c2 = controlled()
  system = await open(dir, c2.machine)
  await until(() => c2.calls.length === 1)
  assert.is(c2.calls[0].key, key, 'the re-run effect has the original idempotency key')
  assert.is(c2.calls[0].input.task.taskId, 't2')
  assert.equal(
    c2.calls[0].input.history.map((h) => h.content),
    ['first', 'FIRST'],
  )
  c2.answer(0, 'SECOND')
  await until(() => system.hosted('s')!.actor.getSnapshot().context.outcomes.length === 2)
  assert.equal(
    system
      .hosted('s')!
      .actor.getSnapshot()
      .context.history.map((h: any) => h.content),
    ['first', 'FIRST', 'second', 'SECOND'],
  )
  await system.close()
})

tasks.run()
restart.run()
