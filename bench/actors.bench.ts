/**
 * The actor host against bare XState 5, in the same run:
 * - actor.events.memory   events/s through a hosted memory actor vs bare `actor.send`
 * - actor.events.durable  events/s through 100 durable actors (fsync batch, LevelDB) vs bare `actor.send`
 * - replay.events         events/s of `aether replay --verify` on a 1M-event log vs the bare `transition()` helper
 * - actor.restore         durable actors recovered from LevelDB per second vs bare `createActor(machine, {snapshot})`
 * - actor.memory          heap bytes per live durable actor vs a bare started actor
 *
 *   npm run bench -- actors [--json] [--quick]
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, createWriteStream } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createActor, transition, initialTransition } from 'xstate'
import { ActorSystem } from '../actors/index.ts'
import { machineHash } from '../actors/machineHash.ts'
import { counter } from '../machines/counter.ts'
import { LevelStore } from '../runtime/LevelStore.ts'
import { gc, median, paired, printTable, quick, report } from './lib.ts'

const tmp = () => mkdtempSync(join(tmpdir(), 'aether-bench-'))
const dirs: string[] = []
process.on('exit', () =>
  dirs.forEach((d) => {
    rmSync(d, { recursive: true, force: true })
  }),
)
const newDir = () => {
  const d = tmp()
  dirs.push(d)
  return d
}
const inc = { type: 'inc' } as const

/** Seconds of this process's CPU (all threads, LevelDB's included) since `c0`. */
const cpuSeconds = (c0: NodeJS.CpuUsage) => {
  const c = process.cpuUsage(c0)
  return (c.user + c.system) / 1e6
}
/**
 * Information beside a wall-clock figure: the median of the rounds' own ratios of work per CPU
 * second. On this shared 2-core machine adjacent wall-clock trials swing with the neighbours'
 * load; CPU per unit of work is what the host itself costs.
 */
const cpuRatio = (c: { a: number[]; b: number[] }) => {
  const n = Math.min(c.a.length, c.b.length)
  const rs = Array.from({ length: n }, (_, i) => c.a[c.a.length - n + i] / c.b[c.b.length - n + i])
  return Math.round(median(rs) * 1000) / 1000
}

// ---- actor.memory (first, on a fresh heap) ---------------------------------------------------------------------------
{
  const ACTORS = quick ? 2000 : 10_000
  const heap = () => {
    gc()
    gc()
    return process.memoryUsage().heapUsed
  }
  const h0 = heap()
  const bare = Array.from({ length: ACTORS }, () => createActor(counter).start())
  const bareBytes = (heap() - h0) / ACTORS
  bare.forEach((a) => {
    a.stop()
  })
  bare.length = 0
  const store = await LevelStore.open(newDir())
  const sys = await ActorSystem.open({ store, machines: { counter } })
  const h1 = heap()
  for (let i = 0; i < ACTORS; i += 500)
    await Promise.all(Array.from({ length: 500 }, (_, k) => sys.spawn(`m${i + k}`, 'counter', { durable: true })))
  for (let i = 0; i < ACTORS; i++) sys.send(`m${i}`, inc)
  await sys.flush()
  const hostedBytes = (heap() - h1) / ACTORS
  await sys.close()
  report({
    figure: 'actor.memory',
    aether: hostedBytes,
    baseline: bareBytes,
    ratio: hostedBytes / bareBytes,
    unit: 'bytes/actor',
    goal: 'ratio <= 1.5',
    pass: hostedBytes / bareBytes <= 1.5,
    actors: ACTORS,
  })
}

// ---- actor.events.memory --------------------------------------------------------------------
{
  const N = quick ? 100_000 : 400_000
  const bare = () => {
    const a = createActor(counter).start()
    const t = performance.now()
    for (let i = 0; i < N; i++) a.send(inc)
    const dt = performance.now() - t
    a.stop()
    return N / (dt / 1000)
  }
  const hosted = async () => {
    const sys = new ActorSystem({ machines: { counter } })
    await sys.spawn('c', 'counter')
    const t = performance.now()
    for (let i = 0; i < N; i++) sys.send('c', inc)
    const dt = performance.now() - t
    await sys.close()
    return N / (dt / 1000)
  }
  bare()
  await hosted()
  const r = await paired(quick ? 3 : 7, hosted, bare)
  report({
    figure: 'actor.events.memory',
    aether: r.a,
    baseline: r.b,
    ratio: r.a / r.b,
    unit: 'events/s',
    goal: 'ratio >= 0.9',
    pass: r.a / r.b >= 0.9,
  })
}

// ---- actor.events.durable -------------------------------------------------------------------
{
  const ACTORS = 100
  const N = quick ? 100_000 : 300_000
  const cpu = { a: [] as number[], b: [] as number[] }
  const bare = () => {
    const actors = Array.from({ length: ACTORS }, () => createActor(counter).start())
    const c0 = process.cpuUsage()
    const t = performance.now()
    for (let i = 0; i < N; i++) actors[i % ACTORS].send(inc)
    const dt = performance.now() - t
    cpu.b.push(N / cpuSeconds(c0))
    actors.forEach((a) => {
      a.stop()
    })
    return N / (dt / 1000)
  }
  const durable = async () => {
    const store = await LevelStore.open(newDir())
    const sys = await ActorSystem.open({ store, machines: { counter }, fsync: 'batch' })
    const paths = Array.from({ length: ACTORS }, (_, i) => `c${i}`)
    await Promise.all(paths.map((p) => sys.spawn(p, 'counter', { durable: true })))
    const c0 = process.cpuUsage()
    const t = performance.now()
    // Many actors sending at once: producers in chunks, as a hub's sockets would deliver them.
    const CHUNK = 2000
    for (let i = 0; i < N; i += CHUNK) {
      for (let j = i; j < i + CHUNK && j < N; j++) sys.send(paths[j % ACTORS], inc)
      if ((i / CHUNK) % 8 === 7) await new Promise((r) => setImmediate(r))
    }
    await sys.flush()
    const dt = performance.now() - t
    cpu.a.push(N / cpuSeconds(c0))
    const total = paths.reduce((s, p) => s + sys.get(p)!.getSnapshot().context.count, 0)
    if (total !== N) throw new Error(`durable bench lost events: ${total} of ${N}`)
    await sys.close()
    return N / (dt / 1000)
  }
  bare()
  await durable()
  cpu.a.length = cpu.b.length = 0 // not the warm-up
  const r = await paired(quick ? 3 : 5, durable, bare)
  report({
    figure: 'actor.events.durable',
    aether: r.a,
    baseline: r.b,
    ratio: r.a / r.b,
    unit: 'events/s',
    goal: 'ratio >= 0.6',
    pass: r.a / r.b >= 0.6,
    actors: ACTORS,
    fsync: 'batch',
    cpuRatio: cpuRatio(cpu),
  })
}

// ---- replay.events --------------------------------------------------------------------------
{
  const N = quick ? 200_000 : 1_000_000
  const dir = newDir()
  const file = join(dir, 'big.log')
  const events: any[] = []
  {
    const out = createWriteStream(file)
    const header = { format: 'aether.log/1', actor: 'c', machine: 'counter', machineHash: machineHash(counter), at: 1 }
    out.write(JSON.stringify(header) + '\n')
    let [s] = initialTransition(counter)
    let buf = ''
    for (let seq = 1; seq <= N; seq++) {
      const ev = seq % 1000 === 500 ? { type: 'reset' } : { type: 'inc', by: seq % 7 }
      events.push(ev)
      buf += JSON.stringify({ seq, at: seq, event: ev }) + '\n'
      if (seq % 1000 === 0) {
        // a checkpoint every 1000 events, computed with the bare helper
        for (let k = seq - 999; k <= seq; k++) [s] = transition(counter, s, events[k - 1])
        buf += JSON.stringify({ seq, at: seq, snapshot: counter.getPersistedSnapshot(s) }) + '\n'
        if (!out.write(buf)) await new Promise<void>((r) => out.once('drain', () => r()))
        buf = ''
      }
    }
    await new Promise<void>((r) => out.end(() => r()))
  }
  const bareRate = () => {
    let [s] = initialTransition(counter)
    const t = performance.now()
    for (let i = 0; i < N; i++) [s] = transition(counter, s, events[i])
    return N / ((performance.now() - t) / 1000)
  }
  const cliRate = () => {
    const r = spawnSync(
      process.execPath,
      ['bin/aether.mjs', 'replay', file, '--machine', 'machines/counter.ts', '--verify', '--json'],
      { encoding: 'utf8', maxBuffer: 1 << 26 },
    )
    const res = JSON.parse(r.stdout)
    if (!res.ok || res.events !== N) throw new Error(`replay failed: ${r.stdout} ${r.stderr}`)
    return N / (res.ms / 1000)
  }
  const as: number[] = []
  const bs: number[] = []
  for (let i = 0; i < (quick ? 1 : 3); i++) {
    gc()
    bs.push(bareRate())
    as.push(cliRate())
  }
  const a = median(as)
  const b = median(bs)
  report({
    figure: 'replay.events',
    aether: a,
    baseline: b,
    ratio: a / b,
    unit: 'events/s',
    goal: 'ratio >= 0.9',
    pass: a / b >= 0.9,
    events: N,
    baselineIs: 'xstate transition() helper',
  })
  // For reference: the fastest bare loop, machine.transition with one reused inert scope.
  const scope = (await import('../actors/xstateSeams.ts')).createInertScope(counter, () => {})
  let s2 = counter.getInitialSnapshot(scope)
  const t2 = performance.now()
  for (let i = 0; i < N; i++) s2 = counter.transition(s2, events[i], scope)
  const reused = N / ((performance.now() - t2) / 1000)
  report({
    figure: 'replay.events.vs_reused_scope',
    aether: a,
    baseline: reused,
    ratio: a / reused,
    unit: 'events/s',
    note: 'informational: baseline is machine.transition with one reused scope, in memory, no parsing',
  })
}

// ---- actor.restore --------------------------------------------------------------------------
{
  const ACTORS = quick ? 2000 : 10_000
  const dir = newDir()
  {
    const store = await LevelStore.open(dir)
    const sys = await ActorSystem.open({ store, machines: { counter } })
    await Promise.all(Array.from({ length: ACTORS }, (_, i) => sys.spawn(`r${i}`, 'counter', { durable: true })))
    for (let i = 0; i < ACTORS * 5; i++) sys.send(`r${i % ACTORS}`, { type: 'inc', by: i % 3 })
    await sys.close() // writes a checkpoint per actor
  }
  const persisted = Array.from({ length: ACTORS }, (_, _i) =>
    JSON.stringify(counter.getPersistedSnapshot(createActor(counter).start().getSnapshot())),
  )
  const cpu = { a: [] as number[], b: [] as number[] }
  const bare = () => {
    const c0 = process.cpuUsage()
    const t = performance.now()
    const actors = persisted.map((p) => createActor(counter, { snapshot: JSON.parse(p) }).start())
    const dt = performance.now() - t
    cpu.b.push(ACTORS / cpuSeconds(c0))
    actors.forEach((a) => {
      a.stop()
    })
    return ACTORS / (dt / 1000)
  }
  const restore = async () => {
    const c0 = process.cpuUsage()
    const t = performance.now()
    const store = await LevelStore.open(dir)
    const sys = await ActorSystem.open({ store, machines: { counter } })
    const dt = performance.now() - t
    cpu.a.push(ACTORS / cpuSeconds(c0))
    if (sys.list().length !== ACTORS) throw new Error('restore lost actors')
    await sys.close() // a clean close again, outside the measured time
    return ACTORS / (dt / 1000)
  }
  bare()
  await restore()
  cpu.a.length = cpu.b.length = 0 // not the warm-up
  const r = await paired(quick ? 3 : 5, restore, bare)
  report({
    figure: 'actor.restore',
    aether: r.a,
    baseline: r.b,
    ratio: r.a / r.b,
    unit: 'actors/s',
    goal: 'ratio >= 0.5',
    pass: r.a / r.b >= 0.5,
    actors: ACTORS,
    cpuRatio: cpuRatio(cpu),
  })
}

printTable('actors: the host vs bare XState 5 (medians of paired runs)')
