/**
 * The transport sidecar owned by `aether supervisor --sidecar`: a nats-server and `aether root`
 * started here, the supervisor as a child process with slot A (and an update to v2 in slot B).
 * While a producer appends Class A records through the supervisor, the sidecar is killed with
 * SIGKILL: the supervisor restarts it (its status counts the restart), the hub reports its
 * transport lost and is ready again. Then a warm update A -> B: the new runtime's hub attaches to
 * the same sidecar process, whose NATS connections never dropped. The root has applied every
 * confirmed record exactly once.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { join } from 'node:path'
import { NatsServer } from '../../helpers/natsServer.ts'
import { type AetherProc, FAST_LINK, startRoot, waitFor } from '../../helpers/linkProcs.ts'
import { aether } from '../../helpers/cli.ts'
import { buildVersion } from '../../helpers/slotFixture.ts'
import {
  freePort,
  reapRuntimes,
  startSupervisor,
  updateResolved,
  type SupervisorHandle,
} from '../../helpers/supervisorProcess.ts'
import { sleep, tmpDir } from '../../helpers/tmp.ts'
import { checkAtRoot, classAProducer } from '../../helpers/classAStream.ts'

const STREAM = 'reports'
const Owned = suite('transport sidecar owned by aether supervisor')
const dir = tmpDir('aether-supsidecar-')
const slots = join(dir, 'slots')
let nats: NatsServer
let root: AetherProc
let sup: SupervisorHandle

const get = async (path: string): Promise<any> => {
  const r = await fetch(sup.url + path)
  if (!r.ok) throw new Error(`GET ${path}: ${r.status} ${await r.text()}`)
  return r.json()
}

const producer = classAProducer((path, body) => sup.post(path, body).catch(() => null), STREAM, 20)

/** The hub's sidecar view once control and route are ready through the supervisor's sidecar. */
const ready = (what: string, ms = 20_000) =>
  waitFor(
    async () => {
      const [h, s] = await Promise.all([get('/api/sidecar'), get('/api/supervisor/sidecar')])
      if (h.control.ready && h.route.ready && s.pid && h.sidecar?.provenance.pid === s.pid) return { h, s }
      // not ready yet: the reason, for the timeout's message
      throw new Error(
        JSON.stringify({
          control: [h.control.status, h.control.lastError],
          route: [h.route.status, h.route.lastError],
          pid: s.pid,
          served: h.sidecar?.provenance.pid,
          output: s.output.slice(-400),
        }),
      )
    },
    ms,
    what,
  )

Owned.after(async () => {
  await producer.stop()
  await sup?.stop()
  reapRuntimes(slots)
  await root?.stop()
  await nats?.close()
})

Owned('kill -9 the sidecar: restarted by the supervisor; a warm update keeps the same sidecar', async () => {
  buildVersion(join(slots, 'A'), '1.0.0')
  buildVersion(join(dir, 'v2'), '2.0.0')
  nats = await NatsServer.start()
  root = await startRoot(nats.url, join(dir, 'root'))
  sup = await startSupervisor({
    slots,
    data: join(dir, 'data'),
    port: await freePort(),
    slotPorts: [await freePort(), await freePort()],
    args: ['--sidecar', '--nats', nats.url, '--countdown-ms', '100', '--min-interval-ms', '0'],
    env: FAST_LINK,
  })
  const first = await ready('the hub ready through the supervisor-owned sidecar', 60_000)
  assert.is(first.h.strategy.current, 'sidecar')
  assert.is(first.h.process, null, 'the hub owns no sidecar process')
  assert.is(first.s.socket, join(dir, 'data', 'sidecar.sock'))
  const hubId = first.h.hubId
  producer.start()
  await sleep(300)

  // kill -9: the supervisor restarts it; the hub degrades, then is ready on the new one
  const t0 = Date.now()
  process.kill(first.s.pid, 'SIGKILL')
  await waitFor(
    async () =>
      (await get('/api/reliability')).incidents.some(
        (x: any) => x.at >= t0 && x.class === 'transport' && x.subject === 'nats-control' && /lost/.test(x.message),
      ),
    5000,
    'the hub reports its transport lost (degraded)',
  )
  const back = await ready('the hub ready on the restarted sidecar')
  const recoveredMs = Date.now() - t0
  assert.is.not(back.s.pid, first.s.pid, 'a new sidecar')
  assert.is(back.s.restarts, 1)
  assert.is(back.s.lives.find((l: any) => l.pid === first.s.pid)?.end, 'SIGKILL')
  const st = await sup.status()
  assert.is(st.sidecar.pid, back.s.pid, "the supervisor's status names the sidecar")
  const notes = (await get(`/api/supervisor/incident?from=${t0 - 1000}&to=${Date.now() + 1000}`)).notes
  assert.ok(
    notes.some((x: any) => x.text.includes(`sidecar pid ${first.s.pid} ended (SIGKILL)`)),
    "the supervisor's incident part notes the death",
  )
  await sleep(300)

  // a warm update: the new runtime's hub attaches to the same sidecar, its NATS never dropped
  const before = await get('/api/sidecar')
  const r = await sup.post('/api/supervisor/update', { source: join(dir, 'v2') })
  assert.is(r.status, 202, JSON.stringify(r.body))
  const done = await updateResolved(sup)
  assert.is(done.transition.attempt.outcome, 'committed', done.transition.attempt.reason)
  assert.is(done.transition.attempt.mode, 'warm_switch')
  assert.is(done.active.version, '2.0.0')
  const after = await ready('the new runtime ready through the same sidecar')
  assert.is(after.s.pid, back.s.pid, 'the same sidecar process across the update')
  assert.is(after.s.restarts, 1, 'no restart during the update')
  assert.is(after.h.hubId, hubId)
  const sc = after.h.sidecar
  assert.is(sc.control.disconnects, before.sidecar.control.disconnects, 'control NATS connection stayed up')
  assert.is(sc.route.disconnects, before.sidecar.route.disconnects, 'data NATS connection stayed up')

  // by hand: `aether sidecar restart` at the supervisor's URL (the hub owns none; the supervisor does)
  const cli = await aether(['sidecar', 'restart', '--hub', sup.url, '--token', sup.token])
  assert.is(cli.code, 0, cli.stderr)
  const manual = await ready('the hub ready after a restart by hand')
  assert.is.not(manual.s.pid, after.s.pid)
  assert.is(manual.s.counters.manualRestarts, 1)
  await sleep(300)
  await producer.stop()

  // exactly once at the root
  await waitFor(async () => (await get('/api/streams')).streams[STREAM]?.pending === 0, 15_000, 'the outbox to drain')
  const records = await checkAtRoot(root, hubId, STREAM, producer)
  console.log(
    `  supervisor sidecar: killed -> hub ready again in ${recoveredMs} ms; warm update gap ${done.transition.attempt.gapMs?.toFixed?.(1)} ms, sidecar pid ${after.s.pid} kept; ${records.length} records, ${producer.confirmed.size} confirmed, 0 lost, 0 duplicated`,
  )
})

Owned.run()
