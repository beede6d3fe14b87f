/**
 * The crash test: a child process runs a durable actor system with many actors receiving
 * events and running delayed transitions, and is killed with SIGKILL at seeded random points
 * (AETHER_CRASH_KILLS, default 50; `npm run soak` runs more). After every restart:
 * - each actor's recovered state equals what pure replay of its journal computes;
 * - no event whose send was reported committed is lost;
 * - timers fire exactly once (no instance fires twice) and none that fell due is left unfired.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { spawn } from 'node:child_process'
import { ReplayState } from '../../actors/index.ts'
import { LevelStore } from '../../runtime/LevelStore.ts'
import { crashy } from '../fixtures/crashy.ts'
import { bundle } from '../helpers/crash.ts'
import { tmpDir } from '../helpers/tmp.ts'

const KILLS = Number(process.env.AETHER_CRASH_KILLS ?? 50)
const ACTORS = 12
// the child bundled once (the same source): each of the many restarts then starts without tsx
const CHILD = bundle('test/helpers/crashChild.ts')
const SEED = Number(process.env.AETHER_CRASH_SEED ?? 20261121)

let seed = SEED
const rand = () => {
  seed = (seed + 0x6d2b79f5) >>> 0
  let t = seed
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

interface ChildRun {
  states: Map<string, { seq: number; state: any }>
  committed: Array<{ path: string; seq: number; id: string }>
  closed: boolean
}

function runChild(dir: string, childSeed: number, killAfterReadyMs: number | null, gracefulMs = 0): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const args = [CHILD, dir, String(childSeed), String(ACTORS)]
    if (gracefulMs) args.push('--graceful', String(gracefulMs))
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    const run: ChildRun = { states: new Map(), committed: [], closed: false }
    let buf = ''
    let err = ''
    child.stderr.on('data', (d) => (err += d))
    child.stdout.on('data', (d) => {
      buf += d
      let nl: number
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        if (line === 'READY' && killAfterReadyMs !== null) setTimeout(() => child.kill('SIGKILL'), killAfterReadyMs)
        else if (line === 'CLOSED') run.closed = true
        else if (line.startsWith('S ')) {
          const [, path, seq, ...rest] = line.split(' ')
          run.states.set(path, { seq: Number(seq), state: JSON.parse(rest.join(' ')) })
        } else if (line.startsWith('C ')) {
          const [, path, seq, id] = line.split(' ')
          run.committed.push({ path, seq: Number(seq), id })
        }
      }
    })
    const guard = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`child did not finish: ${err}`))
    }, 60_000)
    child.on('exit', (code, signal) => {
      clearTimeout(guard)
      if (killAfterReadyMs !== null && signal !== 'SIGKILL')
        return reject(new Error(`child exited early (${code}): ${err}`))
      if (killAfterReadyMs === null && code !== 0) return reject(new Error(`child failed (${code}): ${err}`))
      resolve(run)
    })
  })
}

async function replayAll(store: LevelStore, path: string, untilSeq?: number) {
  const meta = (await store.getMeta(path))!
  const rs = new ReplayState(crashy, path).init(meta.input, meta.createdAt)
  const fired = new Set<string>()
  let duplicates = 0
  let records = 0
  for await (const r of store.events(path, 0, untilSeq)) {
    records++
    if (r.timer !== undefined) {
      const live = rs.timers.get(r.timer)
      const applies = !!live && live.due === r.due
      const key = `${r.timer}@${r.due}`
      if (applies) {
        if (fired.has(key)) duplicates++
        fired.add(key)
      }
    }
    rs.apply(r)
  }
  return { rs, duplicates, records }
}

const crash = suite('crash test - SIGKILL at random points')

crash(`${KILLS} kills: recovered state = pure replay, 0 committed events lost, timers exactly once`, async () => {
  const dir = tmpDir('aether-crash-')
  const committed: ChildRun['committed'] = []
  let checkedStates = 0
  for (let k = 0; k < KILLS; k++) {
    const run = await runChild(dir, SEED + k, Math.floor(rand() * 150))
    committed.push(...run.committed)
    // The states reported right after recovery must equal pure replay of the journal up to them.
    if (run.states.size) {
      const store = await LevelStore.open(dir)
      try {
        for (const [path, { seq, state }] of run.states) {
          const { rs } = await replayAll(store, path, seq)
          assert.equal(state.value, rs.snapshot.value, `${path} value after restart ${k}`)
          assert.equal(state.context, rs.snapshot.context, `${path} context after restart ${k}`)
          checkedStates++
        }
      } finally {
        await store.close()
      }
    }
  }
  // A last run that stops cleanly after the timers have had time to fall due.
  const last = await runChild(dir, SEED + KILLS, null, 400)
  assert.ok(last.closed)
  committed.push(...last.committed)
  const store = await LevelStore.open(dir)
  try {
    let lost = 0
    let duplicateFires = 0
    let overdue = 0
    const byPath = new Map<string, Map<number, string>>()
    for (const path of [...new Set(committed.map((c) => c.path))]) {
      const seqs = new Map<number, string>()
      for await (const r of store.events(path)) seqs.set(r.seq, (r.event as any).id)
      byPath.set(path, seqs)
    }
    for (const c of committed) if (byPath.get(c.path)!.get(c.seq) !== c.id) lost++
    const metas = await store.listMeta()
    for (const m of metas) {
      const { rs, duplicates } = await replayAll(store, m.path)
      duplicateFires += duplicates
      // Everything that fell due well before the clean stop has fired.
      for (const t of rs.timers.values()) if (t.due < rs.at - 200) overdue++
    }
    console.log(
      `  kills ${KILLS}, committed sends ${committed.length}, states checked ${checkedStates}, lost ${lost}, duplicate timer fires ${duplicateFires}, overdue timers ${overdue}`,
    )
    assert.ok(committed.length > KILLS * 5, 'the children did real work between kills')
    assert.ok(checkedStates >= KILLS * ACTORS, 'every restart was checked')
    assert.is(lost, 0, 'committed events lost')
    assert.is(duplicateFires, 0, 'timer instances fired twice')
    assert.is(overdue, 0, 'timers that fell due and never fired')
  } finally {
    await store.close()
  }
})

crash.run()
