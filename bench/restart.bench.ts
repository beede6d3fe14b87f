/**
 * Restart time of a hub that has run a million jobs (issue 16.7).
 *
 * The data folder: 1,000,000 finished `echo` jobs (100,000 with --quick). The last 1,000 are run
 * by a real hub process (`bench/restartHub.ts run 1000`, killed with SIGKILL when they are done),
 * so they are live finished jobs, as the default retention (1,000, 1 h) keeps them. The others
 * are archived jobs written in bulk: one real job is run and archived on a hub of the same code
 * (an ActorSystem and JobQueue on memory-level, retention 0), the store ops that wrote it (meta,
 * journal segment, final checkpoint, archive) are captured, and the bulk writes the same ops for
 * each job, its id, key, input and times changed, through `LevelStore.write` in batches: the code
 * path that wrote the real one, without running a million jobs.
 *
 * - `restart.hub`: `Hub.start` in the hub process (open LevelDB, recovery, every feature of
 *   `aether hub`, listening), after a SIGKILL, with the million jobs; baseline: the same on a data
 *   folder without jobs. Goal: under 2,000 ms.
 * - `restart.process`: from spawning the (bundled) hub process to its READY line; same baseline.
 * - `restart.leveldb-open` (information): opening and closing the LevelDB alone, both folders.
 *
 * `npm run bench -- restart [--json] [--quick]`. Medians of 5 restarts (3 with --quick). With
 * AETHER_BENCH_KEEP=1 the million-job folder is kept (its path on stderr), to profile a start:
 * `node --cpu-prof bench/.artifacts/restartHub.mjs DIR`.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, statSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildSync } from 'esbuild'
import { Level } from 'level'
import { MemoryLevel } from 'memory-level'
import { ActorSystem, SimulatedClock, type StoreOp } from '../actors/index.ts'
import { LevelStore } from '../runtime/LevelStore.ts'
import { JobQueue } from '../runtime/jobs/JobQueue.ts'
import { LocalWorker } from '../runtime/jobs/LocalWorker.ts'
import { builtinJobTypes } from '../runtime/jobs/jobTypes.ts'
import { median, printTable, quick, report } from './lib.ts'

const JOBS = quick ? 100_000 : 1_000_000
const LIVE = 1000
const ROUNDS = quick ? 3 : 5
const CHUNK = 2000
const root = fileURLToPath(new URL('..', import.meta.url))

/** The store ops that one archived echo job was written with, as JSON text, and its id. */
async function template(): Promise<{ text: string; id: string; at: number }> {
  const ops: StoreOp[][] = []
  class Capture extends LevelStore {
    override write(batch: StoreOp[], sync: boolean): Promise<void> {
      ops.push(batch)
      return super.write(batch, sync)
    }
  }
  const clock = new SimulatedClock(1_700_000_000_000)
  const store = new Capture(new MemoryLevel({ keyEncoding: 'utf8', valueEncoding: 'utf8' }) as any)
  const system = new ActorSystem({
    store,
    clock,
    machines: Object.fromEntries(builtinJobTypes.map((t) => [t.machineName, t.machine])),
  })
  const queue = new JobQueue(system, { seed: 1, retention: { maxCount: 0 } })
  for (const t of builtinJobTypes) queue.addType(t)
  await system.recover()
  queue.start()
  new LocalWorker(queue)
  const { id } = await queue.submit({ type: 'echo', key: 'KEY', input: { n: 'INPUT' } })
  for (let i = 0; i < 20 && queue.jobs.size; i++) {
    await system.flush()
    await queue.retirement!.run()
    await new Promise((r) => setImmediate(r))
  }
  if (queue.jobs.size) throw new Error('the template job was not archived')
  const mine = ops.flat().filter((op) => JSON.stringify(op).includes(id))
  // A job archived by count within a second of its finish writes no final checkpoint (ActorSystem.finished).
  const kinds = mine.map((op) => op.type).join(',')
  if (!/^meta(,event)+(,snapshot)?,archive$/.test(kinds)) throw new Error(`unexpected template ops: ${kinds}`)
  queue.close()
  await system.close()
  return { text: JSON.stringify(mine), id, at: clock.now() }
}

/** Writes `count` archived jobs made from the template into `dir`. */
async function bulk(dir: string, count: number): Promise<number> {
  const t = await template()
  const store = await LevelStore.open(dir)
  const t0 = performance.now()
  for (let i = 0; i < count; i += CHUNK) {
    const batch: StoreOp[] = []
    for (let k = i; k < Math.min(count, i + CHUNK); k++) {
      const id = `job-bulk-${k.toString(36).padStart(8, '0')}`
      const ops: StoreOp[] = JSON.parse(
        t.text.replaceAll(t.id, id).replaceAll('"KEY"', `"bulk-${k}"`).replaceAll('"INPUT"', String(k)),
      )
      const archive = ops[ops.length - 1] as Extract<StoreOp, { type: 'archive' }>
      archive.record.finishedAt = t.at + k * 10
      archive.record.archivedAt = t.at + k * 10 + 5
      archive.record.name = `default\u0000bulk-${k}`
      batch.push(...ops)
    }
    await store.write(batch, false)
  }
  await store.write([], true)
  await store.close()
  return (performance.now() - t0) / 1000
}

const child = (() => {
  const out = join(root, 'bench/.artifacts/restartHub.mjs')
  buildSync({
    entryPoints: [join(root, 'bench/restartHub.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    outfile: out,
    target: 'node20',
    logLevel: 'error',
  })
  return out
})()

/** Starts the hub process on `dir`, waits for `until`, kills it with SIGKILL. */
function hubRun(
  dir: string,
  args: string[] = [],
  until = 'READY',
): Promise<{ wallMs: number; startMs: number; actors: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const p = spawn(process.execPath, [child, dir, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
    let buf = ''
    let ready: { wallMs: number; startMs: number; actors: number } | undefined
    let err = ''
    p.stderr.on('data', (d) => (err += d))
    p.stdout.on('data', (d) => {
      buf += d
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i)
        buf = buf.slice(i + 1)
        if (line.startsWith('READY ')) {
          const [, , ms, actors] = line.split(' ')
          ready = { wallMs: performance.now() - t0, startMs: Number(ms), actors: Number(actors) }
        }
        if (ready && line.startsWith(until)) {
          p.kill('SIGKILL')
          p.once('exit', () => resolve(ready!))
        }
      }
    })
    p.once('exit', (code) => {
      if (!ready) reject(new Error(`the hub process exited (${code}) before READY:\n${err}`))
    })
  })
}

async function openMs(dir: string): Promise<number> {
  const t0 = performance.now()
  const db = new Level(dir)
  await db.open()
  await db.close()
  return performance.now() - t0
}

function du(dir: string): number {
  let n = 0
  for (const f of readdirSync(dir)) n += statSync(join(dir, f)).size
  return n
}

const big = mkdtempSync(join(tmpdir(), 'aether-restart-bench-'))
const empty = mkdtempSync(join(tmpdir(), 'aether-restart-empty-'))
try {
  const buildS = await bulk(big, JOBS - LIVE)
  await hubRun(big, ['run', String(LIVE)], 'DONE')
  await hubRun(empty)
  const sizeMb = du(big) / 1e6
  if (!process.argv.includes('--json'))
    console.log(
      `data folder: ${JOBS.toLocaleString('en')} finished jobs (${(JOBS - LIVE).toLocaleString('en')} archived in bulk in ${buildS.toFixed(1)} s, ${LIVE} run live), ${sizeMb.toFixed(0)} MB`,
    )
  // The first restart after the live run also writes what a crash left to do; measured rounds follow.
  await hubRun(big)
  const a: Awaited<ReturnType<typeof hubRun>>[] = []
  const b: Awaited<ReturnType<typeof hubRun>>[] = []
  const oa: number[] = []
  const ob: number[] = []
  for (let i = 0; i < ROUNDS; i++) {
    b.push(await hubRun(empty))
    a.push(await hubRun(big))
    ob.push(await openMs(empty))
    oa.push(await openMs(big))
  }
  const start = { a: median(a.map((r) => r.startMs)), b: median(b.map((r) => r.startMs)) }
  const wall = { a: median(a.map((r) => r.wallMs)), b: median(b.map((r) => r.wallMs)) }
  const open = { a: median(oa), b: median(ob) }
  report({
    figure: 'restart.hub',
    aether: start.a,
    baseline: start.b,
    ratio: start.a / start.b,
    unit: `ms Hub.start after SIGKILL, ${JOBS.toLocaleString('en')} finished jobs vs none (${a[0].actors} actors live)`,
    goal: '< 2000 ms',
    pass: start.a < 2000,
    jobs: JOBS,
    runs: a.map((r) => Math.round(r.startMs)),
  })
  report({
    figure: 'restart.process',
    aether: wall.a,
    baseline: wall.b,
    ratio: wall.a / wall.b,
    unit: 'ms from spawning the hub process to READY',
    goal: '< 2000 ms',
    pass: wall.a < 2000,
    runs: a.map((r) => Math.round(r.wallMs)),
  })
  report({
    figure: 'restart.leveldb-open',
    aether: open.a,
    baseline: open.b,
    ratio: open.a / open.b,
    unit: 'ms to open and close the LevelDB alone (information)',
    sizeMb: Math.round(sizeMb),
  })
  printTable(`restart: a hub that has run ${JOBS.toLocaleString('en')} jobs (medians of ${ROUNDS})`)
} finally {
  if (process.env.AETHER_BENCH_KEEP) console.error(`restart: kept the data folder ${big}`)
  else rmSync(big, { recursive: true, force: true })
  rmSync(empty, { recursive: true, force: true })
}
