/**
 * Benchmark helpers: every figure is measured beside its baseline in the same run (this machine
 * is shared and noisy), repeated, and reported as medians and their ratio.
 *
 * Output: a table, or with `--json` one line per figure:
 * `{"figure": NAME, "aether": N, "baseline": N, "ratio": N, "unit": TEXT, ...extra}`.
 */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'

export interface Figure {
  figure: string
  aether: number
  baseline: number | null
  ratio: number | null
  unit: string
  /** The goal, e.g. ">= 0.9" (ratio) or "<= 50" (aether). */
  goal?: string
  pass?: boolean
  [extra: string]: unknown
}

export const json = process.argv.includes('--json')
export const quick = process.argv.includes('--quick') || process.env.AETHER_BENCH_QUICK === '1'

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

/** Runs `a` and `b` alternately `rounds` times; returns the medians. */
export async function paired(
  rounds: number,
  a: () => Promise<number> | number,
  b: () => Promise<number> | number,
): Promise<{ a: number; b: number; as: number[]; bs: number[] }> {
  const as: number[] = []
  const bs: number[] = []
  for (let i = 0; i < rounds; i++) {
    gc()
    bs.push(await b())
    gc()
    as.push(await a())
  }
  return { a: median(as), b: median(bs), as, bs }
}

/**
 * Runs `node --expose-gc --import tsx SCRIPT ...args` (from the repository's root) in a process of
 * its own and resolves with the JSON object of its last stdout line. For a side whose heap must not
 * tax the other side's rounds.
 */
export function isolated(script: string, args: string[]): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', script, ...args], {
      cwd: new URL('..', import.meta.url),
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.once('error', reject)
    child.once('exit', (code) => {
      const last = out.trim().split('\n').pop() ?? ''
      if (code === 0 && last.startsWith('{')) resolve(JSON.parse(last))
      else reject(new Error(`${script} ${args.join(' ')} exited ${code}: ${last}`))
    })
  })
}

/**
 * CPU time so far (user + system, µs) from a /proc stat file: `/proc/PID/stat` for a process (all
 * its threads), `/proc/self/task/TID/stat` for one thread. Linux counts 100 ticks a second.
 */
export function procCpuUs(statFile: string): number {
  const stat = readFileSync(statFile, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return ((Number(f[11]) + Number(f[12])) * 1e6) / 100
}

export function gc(): void {
  ;(globalThis as any).gc?.()
}

const figures: Figure[] = []

/** Records a figure; `higherIsBetter` decides how the goal reads the ratio. */
export function report(f: Figure): void {
  const round = (n: number | null) =>
    n === null ? null : Math.abs(n) >= 100 ? Math.round(n) : Math.round(n * 1000) / 1000
  const out = { ...f, aether: round(f.aether)!, baseline: round(f.baseline), ratio: round(f.ratio) }
  figures.push(out)
  if (json) console.log(JSON.stringify(out))
}

/** Prints the table of recorded figures (not in --json mode). */
export function printTable(title: string): void {
  if (json) return
  const rows = figures.map((f) => [
    f.figure,
    String(f.aether),
    f.baseline === null ? '-' : String(f.baseline),
    f.ratio === null ? '-' : String(f.ratio),
    f.unit,
    f.goal ?? '',
    f.pass === undefined ? '' : f.pass ? 'ok' : 'MISSED',
  ])
  const head = ['figure', 'aether', 'baseline', 'ratio', 'unit', 'goal', '']
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))
  console.log(`\n${title}`)
  console.log(head.map((h, i) => h.padEnd(w[i])).join('  '))
  console.log(w.map((n) => '-'.repeat(n)).join('  '))
  for (const r of rows) console.log(r.map((c, i) => c.padEnd(w[i])).join('  '))
}
