/**
 * Records the project's regression corpus (test/corpus/): real runs of the runtime, each durable
 * actor's journal exported as an `aether.log/1` log with a snapshot after every event (the same
 * export as `aether log export`). Run on purpose, when a machine's recorded behaviour is meant to
 * change: `npm run corpus:refresh` (all scenarios) or `npm run corpus:refresh -- rtc jobs`.
 *
 * Scenarios (each a folder of logs):
 * - rtc-ice-restart, rtc-rebuild: two werift peers over UDP relays on 127.0.0.1, the path cut; the
 *   session recovers by the ICE restart rung, or climbs ice-restart -> renegotiate -> rebuild
 *   (with a live camera subflow that degrades and recovers);
 * - rtc-media, rtc-glare: subflows started, paused, lost and stopped; seeded glare rounds;
 * - jobs: retries with backoff, a dead letter then a retry, pause/resume, stop, echo and sleep jobs;
 * - supervisor-*: `aether supervisor` child processes with slot images: a warm switch, a
 *   stop_and_switch (low memory budget), a candidate that fails validation (rolled back);
 * - webspace: Yjs members, backup/restore/reload/reset; counter and trafficLight over the HTTP API;
 * - channels: a member's command channel whose direct path is cut or goes silent (failover to ws);
 * - actors: trafficLight and counter on a simulated clock (timers fired, locks, resets).
 */
import { readdirSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { scenarios } from './scenarios.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))
const corpusDir = join(root, 'test/corpus')
async function main() {
  const only = process.argv.slice(2)
  const picked = scenarios.filter((s) => !only.length || only.some((o) => s.name.includes(o)))
  if (!picked.length) {
    console.error(`no scenario matches ${only.join(' ')}; scenarios: ${scenarios.map((s) => s.name).join(', ')}`)
    process.exit(2)
  }
  for (const s of picked) {
    const dir = join(corpusDir, s.name)
    rmSync(dir, { recursive: true, force: true })
    const t0 = Date.now()
    await s.run(dir)
    const files = readdirSync(dir)
    const bytes = files.reduce((n, f) => n + statSync(join(dir, f)).size, 0)
    console.log(`${s.name}: ${files.length} logs, ${(bytes / 1024).toFixed(0)} KB in ${Date.now() - t0} ms`)
  }
  // werift can leave sockets open after close
  process.exit(0)
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main()
