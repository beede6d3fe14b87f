// The supervisor with real processes: a supervisor child process, hub runtimes started from slot
// images, a steady HTTP client and open WebSockets through the supervisor. Covers the warm switch
// and stop_and_switch under load (0 failed requests, the gap), a candidate failing validation, a
// candidate SIGKILLed during prewarm, the transition log replaying with `aether replay --verify`,
// and bad input to the API refused with no state change.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import WebSocket from 'ws'
import { LoadClient } from '../../helpers/loadClient.ts'
import { buildVersion } from '../../helpers/slotFixture.ts'
import {
  freePort,
  reapRuntimes,
  runtimesOf,
  startSupervisor,
  until,
  type SupervisorHandle,
  updateResolved,
} from '../../helpers/supervisorProcess.ts'

interface Env {
  dir: string
  slots: string
  data: string
  port: number
  slotPorts: [number, number]
  sup?: SupervisorHandle
}

async function setup(): Promise<Env> {
  const dir = mkdtempSync(join(tmpdir(), 'aether-sup-'))
  buildVersion(join(dir, 'slots', 'A'), '1.0.0')
  buildVersion(join(dir, 'v2'), '2.0.0')
  buildVersion(join(dir, 'broken'), '2.1.0-broken', 'crash-at-start')
  buildVersion(join(dir, 'mute'), '2.2.0-mute', 'never-good')
  return {
    dir,
    slots: join(dir, 'slots'),
    data: join(dir, 'data'),
    port: await freePort(),
    slotPorts: [await freePort(), await freePort()],
  }
}

async function teardown(e: Env) {
  await e.sup?.stop()
  reapRuntimes(e.slots)
  rmSync(e.dir, { recursive: true, force: true })
}

const start = (e: Env, args: string[] = [], env?: Record<string, string>) =>
  startSupervisor({
    slots: e.slots,
    data: e.data,
    port: e.port,
    slotPorts: e.slotPorts,
    args: ['--countdown-ms', '100', '--min-interval-ms', '0', ...args],
    env,
  })

/** A WebSocket client that records what it gets and how it closed. */
function socket(url: string) {
  const ws = new WebSocket(url)
  const messages: any[] = []
  let closed: { code: number; reason: string } | undefined
  ws.on('message', (d) => messages.push(JSON.parse(String(d))))
  ws.on('close', (code, reason) => (closed = { code, reason: String(reason) }))
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
  })
  return { ws, messages, opened, closed: () => closed }
}

const resolved = (sup: SupervisorHandle) => updateResolved(sup, 40_000)

async function updateUnderLoad(e: Env, args: string[]) {
  e.sup = await start(e, args)
  const sup = e.sup
  const first = await sup.status()
  assert.is(first.phase, 'serving')
  assert.is(first.active.version, '1.0.0')
  // the status socket stays open for the whole update; a socket to the hub is tunnelled through
  const status = socket(`${sup.url.replace('http', 'ws')}/api/supervisor/ws`)
  const hubWs = socket(`${sup.url.replace('http', 'ws')}/api/runtime/ws`)
  await Promise.all([status.opened, hubWs.opened])
  await until(() => hubWs.messages.length > 0, 5000, 'the runtime hello')
  assert.is(hubWs.messages[0].runtimeInstanceId, first.active.runtimeInstanceId)
  assert.is(hubWs.messages[0].role, 'active')
  const load = new LoadClient(sup.url, 4, 5)
  load.start()
  await new Promise((r) => setTimeout(r, 300))
  const r = await sup.post('/api/supervisor/update', { source: join(e.dir, 'v2') })
  assert.is(r.status, 202, JSON.stringify(r.body))
  const done = await resolved(sup)
  await new Promise((r) => setTimeout(r, 300))
  await load.stop()
  const a = done.transition.attempt
  assert.is(a.outcome, 'committed', a.reason)
  assert.is(done.active.version, '2.0.0')
  assert.is(done.active.slot, 'B')
  assert.is(done.serving, 'B')
  assert.is(load.failed.length, 0, JSON.stringify(load.failed.slice(0, 3)))
  assert.equal(load.versionRuns(), ['1.0.0', '2.0.0'], 'the client saw the old version, then only the new one')
  // the tunnelled socket was closed with 1012 (service restart) and a reconnect reaches the new runtime
  await until(() => hubWs.closed(), 5000, 'the tunnelled socket to close')
  assert.is(hubWs.closed()!.code, 1012)
  const again = socket(`${sup.url.replace('http', 'ws')}/api/runtime/ws`)
  await again.opened
  await until(() => again.messages.length > 0, 5000, 'the new runtime hello')
  assert.is(again.messages[0].runtimeInstanceId, done.active.runtimeInstanceId)
  assert.is(again.messages[0].version, '2.0.0')
  again.ws.close()
  // the status socket never closed and saw the phases of the update pushed
  assert.is(status.closed(), undefined)
  const phases = status.messages.map((m) => m.status.phase).filter((p, i, arr) => arr[i - 1] !== p)
  assert.ok(phases.includes('applying'), phases.join(','))
  assert.is(phases.at(-1), 'serving')
  const states = new Set(status.messages.map((m) => m.status.transition.state))
  for (const s of ['countdown', 'validating', 'cutover', 'verifying'])
    assert.ok(states.has(s), `pushed ${s}: ${[...states].join(',')}`)
  status.ws.close()
  // exactly one runtime left, the active one
  const alive = runtimesOf(e.slots)
  assert.is(alive.length, 1, JSON.stringify(alive))
  assert.is(alive[0].id, done.active.runtimeInstanceId)
  return { done, load, states }
}

// ---------------------------------------------------------------------------------------------

const sw = suite('supervisor - update under load')
let env: Env
sw.before.each(async () => {
  env = await setup()
})
sw.after.each(() => teardown(env))

sw('supervisor - warm switch A -> B: 0 failed requests, sockets handled, gap measured', async () => {
  const { done, load, states } = await updateUnderLoad(env, [])
  const a = done.transition.attempt
  assert.is(a.mode, 'warm_switch')
  assert.match(a.admissionReason, /port \d+ free and memory headroom/)
  assert.ok(states.has('prewarm'))
  assert.ok(typeof a.gapMs === 'number' && a.gapMs >= 0)
  // the candidate waited for the old runtime's release, relayed by the supervisor: it opened the
  // data on its first try, without polling LevelDB's lock
  assert.is(done.runtime.lastCutover.tries, 1, JSON.stringify(done.runtime.lastCutover))
  console.log(
    `    warm switch: gap ${a.gapMs.toFixed(1)} ms (${JSON.stringify(done.runtime.lastCutover)}), ${load.samples.length} requests, 0 failed, slowest ${load.maxLatency().toFixed(1)} ms`,
  )
})

sw('supervisor - stop_and_switch forced by a low memory budget: 0 failed requests, gap measured', async () => {
  const { done, load, states } = await updateUnderLoad(env, ['--memory-budget-mb', '1'])
  const a = done.transition.attempt
  assert.is(a.mode, 'stop_and_switch')
  assert.match(a.admissionReason, /memory headroom .* < /)
  assert.not.ok(states.has('prewarm'))
  console.log(
    `    stop_and_switch: gap ${a.gapMs.toFixed(1)} ms (${JSON.stringify(done.runtime.lastCutover)}), ${load.samples.length} requests, 0 failed, slowest ${load.maxLatency().toFixed(1)} ms`,
  )
})

sw.run()

// ---------------------------------------------------------------------------------------------

const fail = suite('supervisor - failing candidates')
fail.before.each(async () => {
  env = await setup()
})
fail.after.each(() => teardown(env))

fail('supervisor - a candidate failing validation is rolled back; the previous slot keeps serving', async () => {
  env.sup = await start(env)
  const sup = env.sup
  const before = await sup.status()
  const status = socket(`${sup.url.replace('http', 'ws')}/api/supervisor/ws`)
  await status.opened
  const load = new LoadClient(sup.url, 2, 10)
  load.start()
  const r = await sup.post('/api/supervisor/update', { source: join(env.dir, 'broken') })
  assert.is(r.status, 202)
  const done = await resolved(sup)
  await load.stop()
  status.ws.close()
  const phases = status.messages.map((m) => m.status.phase)
  assert.ok(phases.includes('applying') && phases.includes('rolling_back'), phases.join(','))
  const a = done.transition.attempt
  assert.is(a.outcome, 'rolled_back')
  assert.match(
    a.reason,
    /^validation failed: .*exited with code 3.*broken build 2\.1\.0-broken: cannot start/,
    a.reason,
  )
  assert.is(done.serving, 'A')
  assert.is(done.active.runtimeInstanceId, before.active.runtimeInstanceId, 'the same runtime kept serving')
  assert.is(load.failed.length, 0)
  assert.equal(load.versionRuns(), ['1.0.0'])
  assert.is(runtimesOf(env.slots).length, 1)
})

fail(
  'supervisor - a candidate SIGKILLed during prewarm aborts the attempt; the previous slot keeps serving',
  async () => {
    env.sup = await start(env, ['--prewarm-settle-ms', '4000'])
    const sup = env.sup
    const before = await sup.status()
    await sup.post('/api/supervisor/update', { source: join(env.dir, 'v2') })
    const s = await until(
      async () => {
        const s = await sup.status()
        return s.transition.state === 'prewarm' && s.candidate?.alive && s.candidate.mode === 'prewarm' ? s : null
      },
      30_000,
      'a prewarmed candidate',
    )
    process.kill(s.candidate.pid, 'SIGKILL')
    const done = await resolved(sup)
    const a = done.transition.attempt
    assert.is(a.outcome, 'rolled_back')
    assert.match(a.reason, /^candidate prewarm failed: .*signal SIGKILL/)
    assert.is(done.active.runtimeInstanceId, before.active.runtimeInstanceId)
    assert.is(done.serving, 'A')
    const alive = runtimesOf(env.slots)
    assert.is(alive.length, 1)
    assert.is(alive[0].id, before.active.runtimeInstanceId)
  },
)

fail('supervisor - a new runtime that never marks itself good is rolled back at the verify deadline', async () => {
  env.sup = await start(env, ['--verify-deadline-ms', '2500'])
  const sup = env.sup
  const load = new LoadClient(sup.url, 2, 10)
  load.start()
  await sup.post('/api/supervisor/update', { source: join(env.dir, 'mute') })
  const verifying = await until(
    async () => {
      const s = await sup.status()
      return s.transition.state === 'verifying' ? s : null
    },
    30_000,
    'verifying',
  )
  assert.is(verifying.active.version, '2.2.0-mute', 'the new runtime serves while it is being verified')
  const done = await resolved(sup)
  await load.stop()
  const a = done.transition.attempt
  assert.is(a.outcome, 'rolled_back')
  assert.is(a.reason, 'the new runtime did not mark itself good before the verify deadline')
  assert.is(done.serving, 'A')
  assert.is(done.active.version, '1.0.0')
  assert.is(load.failed.length, 0, JSON.stringify(load.failed.slice(0, 2)))
  assert.equal(load.versionRuns(), ['1.0.0', '2.2.0-mute', '1.0.0'])
  assert.is(runtimesOf(env.slots).length, 1)
})

fail(
  'supervisor - a crashed active runtime is restarted: status says restarting, then serving; requests wait, none fail',
  async () => {
    env.sup = await start(env)
    const sup = env.sup
    const before = await sup.status()
    const status = socket(`${sup.url.replace('http', 'ws')}/api/supervisor/ws`)
    await status.opened
    const load = new LoadClient(sup.url, 2, 10)
    load.start()
    await new Promise((r) => setTimeout(r, 200))
    process.kill(before.active.pid, 'SIGKILL')
    const after = await until(
      async () => {
        const s = await sup.status()
        return s.phase === 'serving' && s.active?.runtimeInstanceId !== before.active.runtimeInstanceId ? s : null
      },
      30_000,
      'a new runtime',
    )
    await load.stop()
    status.ws.close()
    assert.ok(
      status.messages.some((m) => m.status.phase === 'restarting'),
      'restarting was pushed',
    )
    assert.is(after.active.slot, 'A')
    assert.is(after.transition.state, 'idle', 'a crash outside an update is not a transition')
    assert.is(load.failed.length, 0, JSON.stringify(load.failed.slice(0, 2)))
    assert.is(runtimesOf(env.slots).length, 1)
  },
)

fail(
  'supervisor - a slot that cannot start: phase failed, the status stays up, requests are refused at once',
  async () => {
    buildVersion(join(env.slots, 'A'), '1.0.0-broken', 'crash-at-start')
    // the product's health deadline (15 s): the broken runtime fails by its exits, and the good
    // version's cold start must fit the deadline on a loaded CI machine (5 s did not, at load 15+)
    env.sup = await start(env)
    const s = await until(
      async () => {
        const s = await env.sup!.status()
        return s.phase === 'failed' ? s : null
      },
      20_000,
      'phase failed',
    )
    assert.match(s.runtime.lastError, /exited with code 3.*broken build 1\.0\.0-broken/)
    assert.is(s.active, null)
    const t = performance.now()
    const r = await fetch(`${env.sup.url}/api/health`)
    assert.is(r.status, 503)
    assert.is((await r.json()).error, 'NO_RUNTIME')
    assert.ok(performance.now() - t < 1000, 'refused at once, not after the queue deadline')
    // an update to a good version is the way out, and it is accepted
    const u = await env.sup.post('/api/supervisor/update', { source: join(env.dir, 'v2') })
    assert.is(u.status, 202)
    const done = await resolved(env.sup)
    assert.is(done.transition.attempt.outcome, 'committed', done.transition.attempt.reason)
    assert.is(done.active.version, '2.0.0')
  },
)

fail.run()

// ---------------------------------------------------------------------------------------------

const api = suite('supervisor - API edges and the journal')
api.before.each(async () => {
  env = await setup()
})
api.after.each(() => teardown(env))

api(
  'supervisor - bad input, unknown actions, wrong tokens and actions outside their states change nothing',
  async () => {
    env.sup = await start(env, ['--countdown-ms', '600000'])
    const sup = env.sup
    const before = await sup.status()
    const same = async () => {
      const s = await sup.status()
      assert.is(s.transition.seq, before.transition.seq)
      assert.is(s.transition.state, before.transition.state)
    }
    // wrong or missing token
    for (const tok of ['', 'wrong', 'test-token2']) {
      const r = await sup.post('/api/supervisor/update', { source: join(env.dir, 'v2') }, tok)
      assert.is(r.status, 401)
      assert.is((await sup.post('/api/supervisor/actions', { action: 'cancel', reason: 'x' }, tok)).status, 401)
    }
    // unknown actions
    for (const action of ['rollback', 'promote ', 'CANCEL', '', 7, null]) {
      const r = await sup.post('/api/supervisor/actions', { action, reason: 'x' })
      assert.is(r.status, 400)
      assert.is(r.body.error, 'UNKNOWN_ACTION')
    }
    // actions outside their states (idle allows none), each refused with the states that allow it
    for (const [action, extra] of [
      ['cancel', { reason: 'x' }],
      ['defer', { reason: 'x' }],
      ['promote', {}],
    ] as const) {
      const r = await sup.post('/api/supervisor/actions', { action, ...extra })
      assert.is(r.status, 409)
      assert.match(r.body.message, new RegExp(`^${action} is allowed only in .*; the transition is in idle`))
    }
    // an update from a folder that is not a version
    assert.is((await sup.post('/api/supervisor/update', { source: env.dir })).status, 400)
    // fuzzed bodies
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string(),
          fc.json(),
          fc
            .record(
              {
                action: fc.oneof(fc.string(), fc.constantFrom('cancel', 'defer', 'promote')),
                reason: fc.anything(),
                ms: fc.anything(),
              },
              { requiredKeys: [] },
            )
            .map((o) => JSON.stringify(o)),
          fc
            .record({ source: fc.anything(), force: fc.anything(), kind: fc.anything() }, { requiredKeys: [] })
            .map((o) => JSON.stringify(o)),
        ),
        fc.constantFrom('/api/supervisor/update', '/api/supervisor/actions'),
        async (body, path) => {
          const r = await sup.post(path, body)
          assert.ok(r.status >= 400 && r.status < 500, `${path} ${body} -> ${r.status}`)
        },
      ),
      { numRuns: 150 },
    )
    await same()
    const s = await sup.status()
    assert.ok(s.refusals.badBody + s.refusals.unknownAction + s.refusals.notAllowed > 150)
    assert.is(s.refusals.unauthorized, 6)
    // now in countdown: defer/cancel/promote allowed; a second follow-up refused
    assert.is((await sup.post('/api/supervisor/update', { source: join(env.dir, 'v2') })).status, 202)
    assert.is(
      (await sup.post('/api/supervisor/update', { source: join(env.dir, 'v2') })).status,
      202,
      'the follow-up is queued',
    )
    const full = await sup.post('/api/supervisor/update', { source: join(env.dir, 'v2') })
    assert.is(full.status, 409)
    assert.is(full.body.error, 'QUEUE_FULL')
    const d = await sup.post('/api/supervisor/actions', { action: 'defer', reason: 'operator lunch', ms: 600000 })
    assert.is(d.status, 200)
    assert.is(d.body.state, 'deferred')
    assert.is(
      (await sup.post('/api/supervisor/actions', { action: 'promote' })).status,
      409,
      'promote is for countdown and root promotion',
    )
    assert.is((await sup.status()).transition.attempt.waitReason, 'deferred by operator: operator lunch')
    const c = await sup.post('/api/supervisor/actions', { action: 'cancel', reason: 'changed my mind' })
    assert.is(c.status, 200)
    const after = await sup.status()
    assert.is(after.transition.history.at(-1).outcome, 'cancelled')
    // the queued follow-up starts at once (interval 0)
    assert.is(after.transition.state, 'countdown')
    assert.is(after.active.version, '1.0.0')
  },
)

api('supervisor - the transition is journaled and its log replays with aether replay --verify', async () => {
  env.sup = await start(env)
  const sup = env.sup
  const from = Date.now()
  await sup.post('/api/supervisor/update', { source: join(env.dir, 'v2') })
  const done = await resolved(sup)
  assert.is(done.transition.attempt.outcome, 'committed')
  const log = await (await fetch(`${sup.url}/api/supervisor/log`)).text()
  const file = join(env.dir, 'update.aether.log')
  writeFileSync(file, log)
  const r = spawnSync(
    process.execPath,
    [
      'bin/aether.mjs',
      'replay',
      file,
      '--machine',
      'machines/updateTransition.ts',
      '--export',
      'updateTransition',
      '--verify',
      '--json',
    ],
    { encoding: 'utf8' },
  )
  assert.is(r.status, 0, r.stdout + r.stderr)
  const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!)
  assert.ok(out.ok)
  assert.ok(out.snapshotsChecked >= 10, JSON.stringify(out))
  assert.is(out.final.value, 'idle')
  assert.is(out.final.context.attempt.outcome, 'committed')
  assert.is(out.final.context.serving, 'B')

  // an incident bundle from the supervisor's URL: its own actors (node "supervisor") beside its
  // active runtime's, and the whole of it replays
  const bundle = join(env.dir, 'update.bundle')
  const ex = spawnSync(
    process.execPath,
    ['bin/aether.mjs', 'incident', 'export', '--from', String(from), '--url', sup.url, '--out', bundle],
    { encoding: 'utf8' },
  )
  assert.is(ex.status, 0, ex.stderr)
  const manifest = JSON.parse(readFileSync(bundle, 'utf8').split('\n')[0])
  const nodes = manifest.manifest?.nodes ?? manifest.nodes
  assert.equal(
    nodes.map((n: { id: string; role: string }) => n.role).sort(),
    ['hub', 'supervisor'],
    JSON.stringify(nodes),
  )
  const rb = spawnSync(process.execPath, ['bin/aether.mjs', 'replay', bundle, '--verify', '--json'], {
    encoding: 'utf8',
  })
  assert.is(rb.status, 0, rb.stdout + rb.stderr)
  const replayed = JSON.parse(rb.stdout)
  assert.ok(
    replayed.actors.some((a: { node: string; actor: string; ok: boolean }) => a.node === 'supervisor' && a.ok),
    rb.stdout,
  )
})

api.run()

// ---------------------------------------------------------------------------------------------

const root = suite('supervisor - root (supervisor) updates')
root.before.each(async () => {
  env = await setup()
})
root.after.each(() => teardown(env))

root(
  'supervisor - root update: promotion pending until promote, then root restarting; committed when it comes back on the new version',
  async () => {
    buildVersion(join(env.dir, 'root-2'), '0.2.0-root')
    env.sup = await start(env, [], { AETHER_SUPERVISOR_VERSION: '0.1.0-root' })
    const sup = env.sup
    await sup.post('/api/supervisor/update', { source: join(env.dir, 'root-2'), kind: 'root' })
    const pending = await until(
      async () => {
        const s = await sup.status()
        return s.phase === 'root_promotion_pending' ? s : null
      },
      20_000,
      'root promotion pending',
    )
    assert.is(pending.transition.state, 'rootPromotionPending')
    assert.equal(pending.operatorActions, { cancel: true, defer: false, promote: true })
    assert.is(pending.active.version, '1.0.0', 'the hub keeps serving while the root waits')
    const status = socket(`${sup.url.replace('http', 'ws')}/api/supervisor/ws`)
    await status.opened
    const exited = new Promise<number | null>((r) => sup.proc.once('exit', (code) => r(code)))
    assert.is((await sup.post('/api/supervisor/actions', { action: 'promote' })).status, 200)
    assert.is(await exited, 75, 'the supervisor exits 75 for its process manager to start the new version')
    assert.ok(
      status.messages.some((m) => m.status.phase === 'root_restarting'),
      'root restarting was pushed before the exit',
    )
    // the process manager starts the new supervisor version
    env.sup = await start(env, [], { AETHER_SUPERVISOR_VERSION: '0.2.0-root' })
    const done = await resolved(env.sup)
    assert.is(done.transition.attempt.kind, 'root')
    assert.is(done.transition.attempt.outcome, 'committed')
    assert.is(done.supervisor.version, '0.2.0-root')
    assert.is(done.serving, 'A', 'a root update leaves the hub slots alone')
    assert.is(runtimesOf(env.slots).length, 1)
  },
)

root('supervisor - root update that comes back on the old version is rolled back with the reason', async () => {
  buildVersion(join(env.dir, 'root-2'), '0.2.0-root')
  env.sup = await start(env, [], { AETHER_SUPERVISOR_VERSION: '0.1.0-root' })
  const sup = env.sup
  await sup.post('/api/supervisor/update', { source: join(env.dir, 'root-2'), kind: 'root' })
  await until(async () => (await sup.status()).phase === 'root_promotion_pending', 20_000, 'root promotion pending')
  const exited = new Promise<void>((r) => sup.proc.once('exit', () => r()))
  await sup.post('/api/supervisor/actions', { action: 'promote' })
  await exited
  env.sup = await start(env, [], { AETHER_SUPERVISOR_VERSION: '0.1.0-root' })
  const done = await resolved(env.sup)
  assert.is(done.transition.attempt.outcome, 'rolled_back')
  assert.is(done.transition.attempt.reason, 'the supervisor came back on another version')
})

root.run()
