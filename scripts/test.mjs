#!/usr/bin/env node
// Runs every test: the formatter's check, the linter and the type check, the prebuilt runtime's build
// (scripts/build-runtime.mjs), then each test/**/*.test.ts file in its own Node process (uvu suites,
// loaded through tsx), three at a time (AETHER_TEST_JOBS): fast suites first, then the slow
// ones (names containing `.integration.` or `.e2e.`), longest first.
// The last line of the output is always `N passed, N failed`.
//
//   npm test                  everything
//   npm test -- actors        only files whose path contains "actors" (the type check is skipped)
import { spawn, spawnSync } from 'node:child_process'
import { readdirSync, statSync, existsSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildRuntime } from './build-runtime.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))
const filters = process.argv.slice(2).filter((a) => !a.startsWith('-'))
// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI colour codes start with ESC
const ANSI = /\x1b\[[0-9;]*m/g

function walk(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) walk(p, out)
    else if (name.endsWith('.test.ts')) out.push(relative(root, p))
  }
  return out
}

function ensureChromium() {
  if (existsSync('/usr/bin/chromium')) return true
  console.log("[test] Chromium is missing; installing Debian's chromium (apt-get install -y chromium) ...")
  const r = spawnSync(
    'sh',
    ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium'],
    { stdio: 'inherit' },
  )
  if (r.status !== 0 || !existsSync('/usr/bin/chromium')) {
    console.log('[test] could not install Chromium. Run as root: apt-get update && apt-get install -y chromium')
    return false
  }
  return true
}

// The slow suites that take longest (about a minute each on a 2-core machine), started first.
const LONGEST = [
  'members.e2e',
  'updateLadder.integration',
  'sidecar/kill.integration',
  'bundle.e2e',
  'route.e2e',
  'liveMediaGate.integration',
  'Supervisor.crash.integration',
  'Supervisor.integration',
  'jobsNats.integration',
  'edges.fuzz.integration',
  'actors/crash.integration',
  'jobsCrash.integration',
]
// Suites that assert a latency bound (see main): run alone, at the end.
const ALONE = ['rtc/route.e2e', 'inspector/inspector.e2e', 'agent/agentFeature.integration']
const weight = (f) => {
  const i = LONGEST.findIndex((n) => f.includes(n))
  return i < 0 ? 0 : LONGEST.length - i
}

function runFile(file) {
  return new Promise((resolve) => {
    const started = Date.now()
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      cwd: root,
      env: { ...process.env, FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    const limit = Number(process.env.AETHER_TEST_FILE_TIMEOUT_MS ?? 300_000)
    const timer = setTimeout(() => {
      out += `\n[test] ${file} exceeded ${limit} ms and was killed\n`
      child.kill('SIGKILL')
    }, limit)
    child.on('close', (code) => {
      clearTimeout(timer)
      const text = out.replace(ANSI, '')
      const total = Number(/Total:\s+(\d+)/.exec(text)?.[1] ?? NaN)
      const passed = Number(/Passed:\s+(\d+)/.exec(text)?.[1] ?? NaN)
      const skipped = Number(/Skipped:\s+(\d+)/.exec(text)?.[1] ?? 0)
      let p = 0,
        f = 0
      if (Number.isFinite(total) && Number.isFinite(passed)) {
        p = passed
        f = total - passed - skipped
        if (code !== 0 && f === 0) f = 1 // crashed after its totals (e.g. an unhandled rejection)
      } else {
        f = 1
      }
      resolve({ file, code, p, f, out, ms: Date.now() - started })
    })
  })
}

async function main() {
  const started = Date.now()
  let passed = 0,
    failed = 0
  if (filters.length === 0) {
    // The formatter's check and the linter first: a tree that does not pass them fails fast.
    for (const [name, args] of [
      ['format (biome format)', ['format', '.']],
      ['lint (biome lint)', ['lint', '.']],
    ]) {
      const t = Date.now()
      const r = spawnSync(process.execPath, [join(root, 'node_modules/@biomejs/biome/bin/biome'), ...args], {
        cwd: root,
        encoding: 'utf8',
      })
      const ok = r.status === 0
      console.log(`\n# ${name} ${ok ? 'ok' : 'FAILED (npm run format fixes formatting)'} in ${Date.now() - t} ms`)
      if (!ok) console.log(r.stdout + r.stderr)
      ok ? passed++ : failed++
    }
    const t0 = Date.now()
    const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', root], {
      encoding: 'utf8',
    })
    const ok = tsc.status === 0
    console.log(`\n# typecheck (tsc --noEmit) ${ok ? 'ok' : 'FAILED'} in ${Date.now() - t0} ms`)
    if (!ok) console.log(tsc.stdout + tsc.stderr)
    ok ? passed++ : failed++
  }
  // the prebuilt runtime, so the hubs, slots and commands the suites start load no TypeScript
  // (runtime/prebuilt.mjs); without it they run the source through tsx, only slower
  const tb = Date.now()
  try {
    const built = await buildRuntime({ quiet: true })
    console.log(`\n# build (scripts/build-runtime.mjs) ${built ? 'built' : 'up to date'} in ${Date.now() - tb} ms`)
  } catch (err) {
    console.log(`\n# build (scripts/build-runtime.mjs) failed, the source runs through tsx: ${err.message}`)
  }
  let files = walk(join(root, 'test')).sort()
  if (filters.length) files = files.filter((f) => filters.some((s) => f.includes(s)))
  const slow = files.filter((f) => /\.(integration|e2e)\./.test(f))
  const fast = files.filter((f) => !slow.includes(f))
  if (slow.some((f) => f.includes('.e2e.')) && !ensureChromium()) {
    console.log('[test] e2e suites will fail without Chromium')
  }
  const timings = []
  const report = (r) => {
    timings.push({ file: r.file, ms: r.ms })
    console.log(`\n# ${r.file} (${r.ms} ms): ${r.p} passed, ${r.f} failed`)
    if (r.f > 0 || process.env.AETHER_TEST_VERBOSE) console.log(r.out.trimEnd())
    passed += r.p
    failed += r.f
  }
  // Three at a time (on two cores), fast suites first, then slow ones longest first so that the
  // workers end together. With two workers the run was CPU-bound but for the moments both waited on
  // a process start, a socket or a timer at once (about a tenth of the run); a third fills those.
  // None asserts a duration (timing goals are benchmarks).
  // Suites that assert an issue's latency bound end to end (a route degraded within 1 s, a state
  // lit within 1 s, an agent's answers within 1 s) run after the others, one at a time, so that
  // what they measure is the product and not two other suites' start-ups on the same cores.
  const solo = slow.filter((f) => ALONE.some((n) => f.includes(n)))
  const queue = [...fast, ...slow.filter((f) => !solo.includes(f)).sort((a, b) => weight(b) - weight(a))]
  const workers = Array.from({ length: Number(process.env.AETHER_TEST_JOBS ?? 3) }, async () => {
    while (queue.length) report(await runFile(queue.shift()))
  })
  await Promise.all(workers)
  for (const f of solo) report(await runFile(f))
  // where the time went: the slowest files, and the run's wall time against its files' sum
  const sum = timings.reduce((n, t) => n + t.ms, 0)
  console.log(
    `\n# ${timings.length} files in ${Math.round((Date.now() - started) / 1000)} s (their sum ${Math.round(sum / 1000)} s); slowest:`,
  )
  for (const t of timings.sort((a, b) => b.ms - a.ms).slice(0, 12))
    console.log(`#   ${String(Math.round(t.ms / 1000)).padStart(4)} s  ${t.file}`)
  console.log(`\n${passed} passed, ${failed} failed`)
  process.exitCode = failed > 0 ? 1 : 0
}

main()
