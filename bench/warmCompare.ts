/**
 * Before/after of the warm cutover, interleaved: one supervisor per checkout (each runs its own
 * code: supervisor, slot runtime, hub), ROUNDS warm updates each under the update bench's steady
 * client (4 loops of GET /api/health), alternating between checkouts round by round, so both see
 * the same machine. Prints each round's gap and parts (runtime.lastCutover), then per checkout the
 * median gap, hub start and old close. Not a figure of its own: `update.gap.warm` is
 * bench/update.bench.ts. A checkout needs its node_modules (a symlink to this one's will do).
 *
 *   npx tsx bench/warmCompare.ts ROUNDS /path/to/old-checkout /path/to/this-checkout
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { median } from './lib.ts'

const rounds = Number(process.argv[2])
const repos = process.argv.slice(3)
if (!Number.isInteger(rounds) || rounds < 1 || repos.length === 0) {
  console.error('usage: npx tsx bench/warmCompare.ts ROUNDS CHECKOUT...')
  process.exit(2)
}
const dir = mkdtempSync(join(tmpdir(), 'aether-warm-compare-'))
const sides: any[] = []
async function startSup(repo: string, o: any) {
  const token = 'test-token'
  const proc = spawn(
    process.execPath,
    [
      'bin/aether.mjs',
      'supervisor',
      '--slots',
      o.slots,
      '--data',
      o.data,
      '--port',
      String(o.port),
      '--token',
      token,
      '--slot-ports',
      o.slotPorts.join(','),
      ...o.args,
    ],
    { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let out = ''
  proc.stdout!.on('data', (d) => (out += d))
  proc.stderr!.on('data', (d) => (out += d))
  const url = `http://127.0.0.1:${o.port}`
  const exited = new Promise<void>((r) => proc.once('exit', () => r()))
  const until = Date.now() + 180_000
  while (!/aether supervisor http/.test(out)) {
    if (proc.exitCode !== null || Date.now() > until) throw new Error('no start: ' + out)
    await new Promise((r) => setTimeout(r, 50))
  }
  return {
    url,
    token,
    status: async () => (await fetch(`${url}/api/supervisor/status`)).json(),
    post: async (path: string, body: unknown) => {
      const r = await fetch(url + path, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
      return { status: r.status, body: await r.json().catch(() => null) }
    },
    stop: async () => {
      if (proc.exitCode !== null) return
      proc.kill('SIGTERM')
      const t = setTimeout(() => proc.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(t)
    },
  }
}
for (const [k, repo] of repos.entries()) {
  const sp = await import(`${repo}/test/helpers/supervisorProcess.ts`)
  const { buildVersion } = await import(`${repo}/test/helpers/slotFixture.ts`)
  const { LoadClient } = await import(`${repo}/test/helpers/loadClient.ts`)
  const base = join(dir, `r${k}`)
  buildVersion(join(base, 'img-1'), '1.0.0')
  buildVersion(join(base, 'img-2'), '2.0.0')
  const slots = join(base, 'slots')
  buildVersion(join(slots, 'A'), '1.0.0')
  const sup = await startSup(repo, {
    slots,
    data: join(base, 'data'),
    port: await sp.freePort(),
    slotPorts: [await sp.freePort(), await sp.freePort()],
    args: [
      '--countdown-ms',
      '50',
      '--min-interval-ms',
      '0',
      '--prewarm-settle-ms',
      '100',
      '--health-deadline-ms',
      '60000',
    ],
  })
  await sp.until(async () => (await sup.status()).phase === 'serving', 180_000, 'serving')
  sides.push({ repo, sp, sup, slots, base, LoadClient, gaps: [] as number[], parts: [] as any[] })
}
try {
  for (let i = 0; i < rounds; i++) {
    for (const s of sides) {
      const load = new s.LoadClient(s.sup.url, 4, 5)
      load.start()
      await new Promise((r) => setTimeout(r, 200))
      const r = await s.sup.post('/api/supervisor/update', { source: join(s.base, i % 2 === 0 ? 'img-2' : 'img-1') })
      if (r.status !== 202) throw new Error(JSON.stringify(r.body))
      const done = await s.sp.until(
        async () => {
          const st = await s.sup.status()
          return st.transition.state === 'idle' && st.transition.attempt?.id === i + 1 && st.transition.attempt.outcome
            ? st
            : null
        },
        180_000,
        'update',
        20,
      )
      await new Promise((r) => setTimeout(r, 300))
      await load.stop()
      const a = done.transition.attempt
      if (a.outcome !== 'committed' || a.mode !== 'warm_switch') throw new Error(`${a.outcome} ${a.mode} ${a.reason}`)
      const p = (await s.sup.status()).runtime.lastCutover
      s.gaps.push(a.gapMs)
      s.parts.push(p)
      const f = (x: number | undefined) => (x === undefined ? '-' : Math.round(x))
      console.log(
        `${s.repo.split('/').pop()} r${i} gap ${f(a.gapMs)} drain ${f(p.drainMs)} start ${f(p.startMs)} lock ${f(p.lockWaitMs)} hub ${f(p.hubStartMs)} tries ${p.tries} oldClose ${f(p.oldCloseMs)} failed ${load.failed.length} load ${loadavg()[0].toFixed(1)}`,
      )
    }
  }
} finally {
  for (const s of sides) {
    await s.sup.stop()
    s.sp.reapRuntimes(s.slots)
  }
  rmSync(dir, { recursive: true, force: true })
}
for (const s of sides)
  console.log(
    `${s.repo}: median gap ${median(s.gaps).toFixed(1)} (${s.gaps.map((g: number) => Math.round(g)).join(', ')}) hubStart median ${median(s.parts.map((p: any) => p.hubStartMs ?? 0))} oldClose median ${median(s.parts.map((p: any) => p.oldCloseMs ?? 0))}`,
  )
process.exit(0)
