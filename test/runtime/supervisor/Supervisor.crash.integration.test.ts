// The supervisor SIGKILLed in each state of an update (a loop over the states). After its restart
// the persisted attempt resolves deterministically (it finishes or rolls back, by the machine's
// rule for that state), exactly one hub runtime is alive and active, and the status agrees with
// what the proxy reaches. AETHER_SUPERVISOR_STEP_DELAY_MS slows every step of the first
// supervisor so that each state lasts long enough to be caught.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { buildVersion } from '../../helpers/slotFixture.ts'
import {
  freePort,
  reapRuntimes,
  runtimesOf,
  startSupervisor,
  until,
  type SupervisorHandle,
} from '../../helpers/supervisorProcess.ts'

// state to kill in -> [outcome after restart, slot serving after it]
const cases: Array<[string, 'committed' | 'rolled_back', 'A' | 'B', 'v2' | 'broken']> = [
  ['countdown', 'committed', 'B', 'v2'],
  ['gate', 'committed', 'B', 'v2'],
  ['preparing', 'rolled_back', 'A', 'v2'],
  ['validating', 'rolled_back', 'A', 'v2'],
  ['admission', 'rolled_back', 'A', 'v2'],
  ['prewarm', 'rolled_back', 'A', 'v2'],
  ['cutover', 'rolled_back', 'A', 'v2'],
  ['verifying', 'committed', 'B', 'v2'],
  ['rollingBack', 'rolled_back', 'A', 'broken'],
]

const crash = suite('supervisor - SIGKILL in each state of the transition')
let dir = ''
let slots = ''
let sup: SupervisorHandle | undefined

crash.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), 'aether-crash-'))
  slots = join(dir, 'slots')
  buildVersion(join(slots, 'A'), '1.0.0')
  buildVersion(join(dir, 'v2'), '2.0.0')
  buildVersion(join(dir, 'broken'), '2.1.0-broken', 'crash-at-start')
})
crash.after.each(async () => {
  await sup?.stop()
  sup = undefined
  reapRuntimes(slots)
  rmSync(dir, { recursive: true, force: true })
})

for (const [state, outcome, serving, source] of cases) {
  crash(
    `supervisor - killed in ${state}: after restart the attempt is ${outcome}, slot ${serving} serves, one runtime`,
    async () => {
      const port = await freePort()
      const slotPorts: [number, number] = [await freePort(), await freePort()]
      const data = join(dir, 'data')
      const args = [
        '--countdown-ms',
        '600',
        '--min-interval-ms',
        '0',
        '--prewarm-settle-ms',
        '0',
        '--verify-deadline-ms',
        '20000',
      ]
      sup = await startSupervisor({
        slots,
        data,
        port,
        slotPorts,
        args,
        env: { AETHER_SUPERVISOR_STEP_DELAY_MS: '300' },
      })
      await until(async () => (await sup!.status()).phase === 'serving', 20_000, 'the first runtime')
      const r = await sup.post('/api/supervisor/update', { source: join(dir, source) })
      assert.is(r.status, 202)
      await until(async () => (await sup!.status()).transition.state === state, 30_000, `state ${state}`, 5)
      await sup.kill()
      // a killed supervisor's runtimes see their IPC channel close and exit; the restart reaps the rest
      sup = await startSupervisor({ slots, data, port, slotPorts, args })
      const done = await until(
        async () => {
          const s = await sup!.status()
          return s.transition.state === 'idle' &&
            s.transition.attempt?.outcome &&
            s.phase === 'serving' &&
            s.active?.alive
            ? s
            : null
        },
        40_000,
        'the attempt to resolve',
      )
      const a = done.transition.attempt
      assert.is(a.outcome, outcome, a.reason)
      if (outcome === 'rolled_back' && source === 'v2')
        assert.is(a.reason, `the supervisor restarted during ${state === 'prewarm' ? 'candidate prewarm' : state}`)
      assert.is(done.serving, serving)
      assert.is(done.active.slot, serving)
      assert.is(done.active.version, serving === 'A' ? '1.0.0' : '2.0.0')
      // exactly one runtime alive, and it is the one the status names and the proxy reaches
      await until(() => runtimesOf(slots).length === 1, 5000, 'one runtime alive')
      const alive = runtimesOf(slots)
      assert.is(alive[0].id, done.active.runtimeInstanceId)
      const h = await (await fetch(`${sup.url}/api/health`)).json()
      assert.is(h.runtimeInstanceId, done.active.runtimeInstanceId)
      assert.is(h.role, 'active')
      assert.is(h.slot, serving)
    },
  )
}

crash.run()
