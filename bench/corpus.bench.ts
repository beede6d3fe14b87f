/**
 * corpus.replay: `aether replay DIR` on 1M events spread over 1000 logs of 1000 events, against
 * `aether replay LOG --verify` on one log of the same 1M events (the same machine, counter, and a
 * snapshot line every 1000 events in both), in the same run. Both rates are the command's own
 * timing (`ms` of --json: reading, parsing, replaying and verifying; not the process start).
 * Goal: the corpus at >= 0.9x the single log's events/s.
 *
 *   npm run bench -- corpus [--quick] [--json]
 */
import { spawnSync } from 'node:child_process'
import { createWriteStream, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { initialTransition, transition } from 'xstate'
import { machineHash } from '../actors/machineHash.ts'
import { counter } from '../machines/counter.ts'
import { paired, printTable, quick, report } from './lib.ts'

const N = quick ? 200_000 : 1_000_000
const PER_LOG = 1000
const dir = mkdtempSync(join(tmpdir(), 'aether-bench-corpus-'))
const header = (actor: string) =>
  `${JSON.stringify({ format: 'aether.log/1', actor, machine: 'counter', machineHash: machineHash(counter), at: 1 })}\n`

/** Writes `count` events (seq 1..count) of counter to `file`, a snapshot line every 1000. */
async function writeLog(file: string, actor: string, from: number, count: number): Promise<void> {
  const out = createWriteStream(file)
  out.write(header(actor))
  let [s] = initialTransition(counter)
  let buf = ''
  for (let seq = 1; seq <= count; seq++) {
    const k = from + seq
    const ev = k % 1000 === 500 ? { type: 'reset' } : { type: 'inc', by: k % 7 }
    ;[s] = transition(counter, s, ev as any)
    buf += `${JSON.stringify({ seq, at: seq, event: ev })}\n`
    if (seq % 1000 === 0) {
      buf += `${JSON.stringify({ seq, at: seq, snapshot: counter.getPersistedSnapshot(s) })}\n`
      if (!out.write(buf)) await new Promise<void>((r) => out.once('drain', () => r()))
      buf = ''
    }
  }
  out.write(buf)
  await new Promise<void>((r) => out.end(() => r()))
}

const single = join(dir, 'one.log')
const many = join(dir, 'corpus')
mkdirSync(many)
await writeLog(single, 'c', 0, N)
for (let i = 0; i < N / PER_LOG; i++)
  await writeLog(join(many, `c-${String(i).padStart(5, '0')}.log`), `c-${i}`, i * PER_LOG, PER_LOG)

const run = (args: string[]) => {
  const r = spawnSync(process.execPath, ['bin/aether.mjs', 'replay', ...args, '--json'], {
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  })
  if (r.status !== 0) throw new Error(`aether replay ${args.join(' ')} failed (${r.status}): ${r.stderr}`)
  return JSON.parse(r.stdout)
}
const singleRate = () => {
  const res = run([single, '--verify'])
  if (!res.ok || res.events !== N) throw new Error(`single replay: ${JSON.stringify(res).slice(0, 300)}`)
  return N / (res.ms / 1000)
}
const corpusRate = () => {
  const res = run([many])
  if (res.code !== 0 || res.summary.events !== N || res.summary.total !== N / PER_LOG)
    throw new Error(`corpus replay: ${JSON.stringify(res.summary)}`)
  return N / (res.ms / 1000)
}
const { a, b } = await paired(quick ? 1 : 3, corpusRate, singleRate)
report({
  figure: 'corpus.replay',
  aether: a,
  baseline: b,
  ratio: a / b,
  unit: 'events/s',
  goal: 'ratio >= 0.9',
  pass: a / b >= 0.9,
  events: N,
  logs: N / PER_LOG,
  baselineIs: 'aether replay LOG --verify, one log of the same events',
})
rmSync(dir, { recursive: true, force: true })
printTable('corpus: many logs vs one log of the same events (medians)')
