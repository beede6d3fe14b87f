/**
 * Model-based ladder test of `job` (issue 21.4) against its real executor: JobQueue + LocalWorker
 * on LevelDB (classic-level in a temp folder), a simulated clock. Faults injected: a step's disk
 * write fails (a real ENOTDIR from node:fs), a step hangs (its timeout fires), the worker process
 * dies (LocalWorker.kill: its lease runs out), operator pause/resume/stop/retry. The journals are
 * counted with actors/coverage.ts; the ladder's transitions are all of the machine's (every one is
 * a rung of the retry / dead-letter / lease ladder or an operator cutover).
 * Invariant checked after each scenario: nothing acknowledged lost (the store reopened gives the
 * same status and step results, every acknowledged write is on disk).
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { LocalWorker } from '../../../runtime/jobs/LocalWorker.ts'
import { defineJobType } from '../../../runtime/jobs/jobTypes.ts'
import { jobRig, type JobRig } from '../../helpers/jobs.ts'
import { LadderCoverage } from '../../helpers/ladders.ts'
import { sleep, tmpDir } from '../../helpers/tmp.ts'

type Outcome = 'ok' | 'diskError' | 'hang'
/** Per job name and step, the outcomes of its attempts in order. */
const plans = new Map<string, Outcome[]>()
let outDir = ''

const attempt = (step: string) => async (c: { key: string; input: any; signal: AbortSignal }) => {
  const o = plans.get(`${c.input.name}/${step}`)?.shift() ?? 'ok'
  if (o === 'hang') return new Promise(() => {})
  // 'diskError': the folder is a regular file, so the write fails in the kernel (ENOTDIR)
  const file = join(outDir, o === 'diskError' ? 'not-a-dir' : 'acked', c.key.replace(/\//g, '_'))
  await writeFile(file, step)
  return file
}

const ladderType = defineJobType('ladder', [
  { name: 'write', run: attempt('write'), retry: { maxAttempts: 2, baseMs: 100, jitter: 0 }, timeoutMs: 1000 },
  { name: 'ack', run: attempt('ack'), retry: { maxAttempts: 2, baseMs: 100, jitter: 0 } },
])

const coverage = new LadderCoverage(ladderType.machine, 'job:ladder')

async function rig(dir: string): Promise<JobRig> {
  return jobRig([ladderType], { dir, visibilityMs: 30_000 })
}

const settle = async (r: JobRig, n = 4) => {
  for (let i = 0; i < n; i++) await r.settle()
}

const tick = async (r: JobRig, ms: number) => {
  r.clock.increment(ms)
  await settle(r)
}

/**
 * Waits (real time: the steps write to disk) until the job shows `status`; the simulated clock
 * moves only while the job waits out a backoff, so no step timeout fires during real I/O.
 */
async function waitStatus(r: JobRig, id: string, status: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    await r.settle()
    if (r.queue.view(id)!.status === status) return
    const value = JSON.stringify(r.system.hosted(id)!.actor.getSnapshot().value)
    if (value.includes('$wait')) r.clock.increment(100)
    else await sleep(5)
  }
  assert.is(r.queue.view(id)!.status, status, id)
}

/** Waits (real time) until the job's state value names `text`. */
async function waitValue(r: JobRig, id: string, text: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    await r.settle()
    if (JSON.stringify(r.system.hosted(id)!.actor.getSnapshot().value).includes(text)) return
    await sleep(5)
  }
  assert.unreachable(`${id} never reached ${text}`)
}

/** Reopens the store and checks the job's status and results survived; every acknowledged write is on disk. */
async function nothingLost(dir: string, r: JobRig, id: string): Promise<string> {
  const before = r.queue.view(id)!
  await coverage.addActor(r.system, id)
  await r.close()
  const again = await rig(dir)
  const after = again.queue.view(id)!
  assert.is(after.status, before.status, `${id}: status after reopening`)
  assert.equal(after.results, before.results, `${id}: results after reopening`)
  for (const f of Object.values((after.results as Record<string, string>) ?? {}))
    assert.ok(existsSync(f), `${f} on disk`)
  await again.close()
  return after.status as string
}

const test = suite('job ladder under faults (real JobQueue, LevelDB)')

test.before(() => {
  outDir = tmpDir('ladder-job-out')
  mkdirSync(join(outDir, 'acked'))
  writeFileSync(join(outDir, 'not-a-dir'), 'a file where a folder should be')
})

test('happy path: both steps acknowledged', async () => {
  const dir = tmpDir('ladder-job')
  const r = await rig(dir)
  new LocalWorker(r.queue, { id: 'w1' })
  const { id } = await r.queue.submit({ type: 'ladder', input: { name: 'happy' } })
  await waitStatus(r, id, 'COMPLETED')
  assert.is(await nothingLost(dir, r, id), 'COMPLETED')
})

test('disk write errors: retry, dead letter at each step, operator retry resumes at the failed step', async () => {
  plans.set('disk/write', ['diskError', 'diskError', 'ok'])
  plans.set('disk/ack', ['diskError', 'diskError', 'ok'])
  const dir = tmpDir('ladder-job')
  const r = await rig(dir)
  new LocalWorker(r.queue, { id: 'w1' })
  const { id } = await r.queue.submit({ type: 'ladder', input: { name: 'disk' } })
  await waitStatus(r, id, 'FAILED') // two write errors
  assert.match(String((r.queue.view(id)!.error as any)?.message), /ENOTDIR/)
  await r.queue.act(id, 'retry')
  await waitStatus(r, id, 'FAILED') // two ack errors
  await r.queue.act(id, 'retry')
  await waitStatus(r, id, 'COMPLETED')
  assert.is(await nothingLost(dir, r, id), 'COMPLETED')
})

test('hanging step: timeouts retry then dead-letter; stop from the dead letter', async () => {
  plans.set('slow/write', ['hang', 'hang'])
  const dir = tmpDir('ladder-job')
  const r = await rig(dir)
  new LocalWorker(r.queue, { id: 'w1' })
  const { id } = await r.queue.submit({ type: 'ladder', input: { name: 'slow' } })
  await settle(r)
  await tick(r, 1000)
  await tick(r, 100)
  await tick(r, 1000)
  assert.is(r.queue.view(id)!.status, 'FAILED')
  await r.queue.act(id, 'stop')
  await settle(r)
  assert.is(await nothingLost(dir, r, id), 'STOPPED')
})

test('worker process dies: the lease runs out, once retried, then dead-lettered', async () => {
  plans.set('lease/ack', ['hang', 'hang'])
  const dir = tmpDir('ladder-job')
  const r = await rig(dir)
  const w1 = new LocalWorker(r.queue, { id: 'w1' })
  const { id } = await r.queue.submit({ type: 'ladder', input: { name: 'lease' } })
  await waitValue(r, id, 'ack')
  w1.kill()
  const w2 = new LocalWorker(r.queue, { id: 'w2' })
  await tick(r, 31_000)
  assert.is(r.queue.view(id)!.status, 'RUNNING', 'leased again to w2 at the unfinished step')
  assert.is(r.queue.view(id)!.worker, 'w2')
  w2.kill()
  await tick(r, 31_000)
  assert.is(r.queue.view(id)!.status, 'FAILED')
  assert.is(await nothingLost(dir, r, id), 'FAILED')
})

test('operator: pause/resume/stop while pending, running and paused', async () => {
  plans.set('op2/write', ['hang', 'hang'])
  const dir = tmpDir('ladder-job')
  const r = await rig(dir)
  // no worker yet: the jobs stay pending
  const a = (await r.queue.submit({ type: 'ladder', input: { name: 'op1' } })).id
  const b = (await r.queue.submit({ type: 'ladder', input: { name: 'op2' } })).id
  const c = (await r.queue.submit({ type: 'ladder', input: { name: 'op3' } })).id
  await r.queue.act(a, 'pause')
  await r.queue.act(a, 'stop')
  await r.queue.act(c, 'stop')
  new LocalWorker(r.queue, { id: 'w1' })
  await settle(r)
  assert.is(r.queue.view(b)!.status, 'RUNNING')
  await r.queue.act(b, 'pause')
  await r.queue.act(b, 'resume')
  await settle(r)
  assert.is(r.queue.view(b)!.status, 'RUNNING')
  await r.queue.act(b, 'stop')
  await settle(r)
  for (const id of [a, b]) await coverage.addActor(r.system, id)
  assert.is(await nothingLost(dir, r, c), 'STOPPED')
})

test('ladder coverage >= 90%, the rest reached by generated paths or named', async () => {
  const line = coverage.line()
  console.log(line)
  const rep = coverage.report()
  assert.ok(rep.pct >= 90, line)
})

test.run()
