#!/usr/bin/env node
// Records the regression corpus test/corpus/ from real runs (scripts/corpus/record.ts says which).
//   npm run corpus:refresh              every scenario
//   npm run corpus:refresh -- rtc jobs  the scenarios whose names contain "rtc" or "jobs"
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/corpus/record.ts', ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
})
process.exit(r.status ?? 1)
