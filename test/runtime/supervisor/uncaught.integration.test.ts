// A hub runtime that dies of an uncaught exception: its process guard records the incident (with
// the stack) and sends it to the supervisor over IPC, closes and exits with code 70; the supervisor
// restarts it and shows both the exception and the exit in GET /api/supervisor/status.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { buildVersion } from '../../helpers/slotFixture.ts'
import {
  freePort,
  reapRuntimes,
  startSupervisor,
  until,
  type SupervisorHandle,
} from '../../helpers/supervisorProcess.ts'

const test = suite('supervisor - a runtime that throws an uncaught exception')
let dir = ''
let sup: SupervisorHandle | undefined

test.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), 'aether-uncaught-'))
})
test.after.each(async () => {
  await sup?.stop()
  sup = undefined
  reapRuntimes(join(dir, 'slots'))
  rmSync(dir, { recursive: true, force: true })
})

test('is restarted, and the exception (with its stack) and the exit (code 70) are in /api/supervisor/status', async () => {
  const slots = join(dir, 'slots')
  buildVersion(join(slots, 'A'), '1.0.0', 'throws-once')
  const port = await freePort()
  sup = await startSupervisor({
    slots,
    data: join(dir, 'data'),
    port,
    slotPorts: [await freePort(), await freePort()],
  })
  const s = sup
  // the first runtime serves, throws 300 ms later, and a second one takes over
  const status = await until(
    async () => {
      const st = await s.status()
      const kinds = (st.incidents ?? []).map((i: any) => i.kind)
      return st.phase === 'serving' && kinds.includes('uncaughtException') && kinds.includes('exit') && st
    },
    30_000,
    'the restarted runtime and the incidents',
  )
  const [thrown] = status.incidents.filter((i: any) => i.kind === 'uncaughtException')
  assert.is(thrown.fatal, true)
  assert.match(thrown.message, 'fixture: an uncaught exception in the runtime')
  assert.match(thrown.stack, /at Timeout\._onTimeout|at listOnTimeout/)
  assert.is(thrown.slot, 'A')
  const [exit] = status.incidents.filter((i: any) => i.kind === 'exit')
  assert.is(exit.exitCode, 70, 'the guard exits with 70')
  assert.is(exit.runtimeInstanceId, thrown.runtimeInstanceId)
  assert.ok(status.active.alive)
  assert.is.not(status.active.runtimeInstanceId, thrown.runtimeInstanceId, 'a new runtime serves')
  // the new runtime answers through the proxy
  const h = await (await fetch(`${s.url}/api/health`)).json()
  assert.is(h.runtimeInstanceId, status.active.runtimeInstanceId)
  assert.match(s.output(), /aether supervisor/)
})

test.run()
