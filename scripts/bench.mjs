#!/usr/bin/env node
// Runs benchmarks: `npm run bench` runs every bench/*.bench.ts; `npm run bench -- actors --json`
// runs bench/actors.bench.ts and passes the flags through. Each bench prints a table with its
// baseline measured in the same run and the ratio; with --json, one JSON line per figure.
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const args = process.argv.slice(2)
const names = args.filter((a) => !a.startsWith('-'))
const flags = args.filter((a) => a.startsWith('-'))
const all = readdirSync(new URL('../bench', import.meta.url))
  .filter((f) => f.endsWith('.bench.ts'))
  .map((f) => f.replace(/\.bench\.ts$/, ''))
  .sort()
const run = names.length ? names : all
let failed = 0
for (const name of run) {
  if (!all.includes(name)) {
    console.error(`no benchmark "${name}"; there are: ${all.join(', ')}`)
    process.exit(2)
  }
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', `bench/${name}.bench.ts`, ...flags], {
    cwd: root,
    stdio: 'inherit',
  })
  if (r.status !== 0) failed++
}
process.exitCode = failed ? 1 : 0
