// The same edge guarantees for the other processes that accept sockets, each from its own route
// table: the root (`aether root` with its own nats-server; its /relay) and the supervisor (its
// /api/supervisor/ws, listed at /api/supervisor/routes, and the tunnels it pipes to a runtime).
// Per socket: a 2 MB and a 64 MB frame close it with 1009 (counted), fuzzed scripts never get a
// 1011 or a stack trace, connections opened and dropped leave the fd count where it started, and
// the process stays up.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import {
  arbScript,
  openAndDrop,
  oversized,
  pool,
  type RouteTable,
  runScript,
  settledFds,
  socketUrl,
  Tally,
} from '../../helpers/edgeFuzz.ts'
import { HubProcess } from '../../helpers/hubProcess.ts'
import { NatsServer } from '../../helpers/natsServer.ts'
import { OP, RawWs } from '../../helpers/rawWs.ts'
import { buildVersion } from '../../helpers/slotFixture.ts'
import {
  freePort,
  reapRuntimes,
  startSupervisor,
  until,
  type SupervisorHandle,
} from '../../helpers/supervisorProcess.ts'
import { tmpDir } from '../../helpers/tmp.ts'

const SEED = Number(process.env.AETHER_FUZZ_SEED ?? 20261115)
const TOKEN = 'roles-token'

/** Oversized frames, fuzzed scripts and dropped connections on every socket of `table`. */
async function edges(
  port: number,
  pid: number,
  table: RouteTable,
  token: string,
  counted: (endpoint: string) => Promise<number>,
  alive: () => Promise<void>,
): Promise<Tally> {
  const tally = new Tally()
  assert.ok(table.sockets.length > 0, 'the route table lists sockets')
  for (const [i, s] of table.sockets.entries()) {
    const url = socketUrl(s, token)
    for (const [size, op] of [
      [2 << 20, OP.text],
      [64 << 20, OP.binary],
    ] as const) {
      const before = await counted(s.path)
      const closed = await oversized(port, url, size, op)
      assert.is(closed.status, 101, closed.reason)
      assert.is(closed.code, 1009, `${s.path} ${size}`)
      await until(async () => (await counted(s.path)) === before + 1, 5000, `the 1009 counter of ${s.path}`)
    }
    const scripts = fc.sample(arbScript, { seed: SEED + 100 + i, numRuns: 40 })
    await pool(scripts, 8, (sc) => runScript(port, url, sc, tally))
    const fds = await settledFds(pid)
    await openAndDrop(port, url, 200, tally)
    assert.ok((await settledFds(pid, fds)) <= fds, `${s.path}: the fd count came back`)
    await alive()
  }
  assert.is(tally.closeCodes.get(1011) ?? 0, 0, 'no socket closed with 1011')
  assert.equal(tally.stacks, [])
  return tally
}

// ---- root --------------------------------------------------------------------------------------

const root = suite('root edges - /relay and the root routes')
let nats: NatsServer
let rootProc: HubProcess

root.before(async () => {
  nats = await NatsServer.start()
  rootProc = await HubProcess.start(
    ['--nats', nats.url, '--data', tmpDir('aether-root-edges-'), '--token', TOKEN],
    {},
    20_000,
    'root',
  )
})
root.after(async () => {
  await rootProc?.kill('SIGTERM')
  await nats?.close()
})

root('every root socket: 1009 for big frames (counted in /metrics), no 1011, fds back, the root stays up', async () => {
  const table: RouteTable = await (await fetch(`${rootProc.url}/api/routes`)).json()
  assert.ok(
    table.sockets.some((s) => s.path === '/relay'),
    'the relay is in the table',
  )
  // the relay refuses upgrades (503) until its NATS link is up
  await until(
    async () => (await (await fetch(`${rootProc.url}/api/relay`)).json()).nats === 'connected',
    15_000,
    'NATS',
  )
  const port = Number(new URL(rootProc.url).port)
  const counted = async (endpoint: string) => {
    const text = await (await fetch(`${rootProc.url}/metrics`)).text()
    const line = text
      .split('\n')
      .find((l) => l.startsWith(`aether_ws_closed_total{endpoint="${endpoint}",reason="too_big"`))
    return Number(line?.split(' ').pop() ?? 0)
  }
  const tally = await edges(port, rootProc.pid, table, TOKEN, counted, async () => {
    assert.is(rootProc.child.exitCode, null, rootProc.output.slice(-2000))
    assert.is((await fetch(`${rootProc.url}/api/health`)).status, 200)
  })
  console.log(`[edges roles] root: ${tally.ws} frames, ${tally.connections} connections`)
  const report = await (await fetch(`${rootProc.url}/api/reliability`)).json()
  assert.ok(
    report.edges.some((e: any) => e.endpoint === '/relay' && e.reason === 'too_big' && e.count >= 2),
    'the reliability report carries the counters',
  )
})

// ---- supervisor --------------------------------------------------------------------------------

const sup = suite('supervisor edges - its own socket and the tunnels it pipes')
let dir = ''
let handle: SupervisorHandle | undefined

sup.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'aether-sup-edges-'))
  buildVersion(join(dir, 'slots', 'A'), '1.0.0')
  handle = await startSupervisor({
    slots: join(dir, 'slots'),
    data: join(dir, 'data'),
    port: await freePort(),
    slotPorts: [await freePort(), await freePort()],
  })
  const h = handle
  await until(async () => (await h.status()).phase === 'serving', 30_000, 'the runtime')
})
sup.after(async () => {
  await handle?.stop()
  reapRuntimes(join(dir, 'slots'))
  rmSync(dir, { recursive: true, force: true })
})

sup(
  '/api/supervisor/ws: 1009 for big frames (counted in the status), no 1011, fds back, the supervisor stays up',
  async () => {
    const h = handle!
    const table: RouteTable = await (await fetch(`${h.url}/api/supervisor/routes`)).json()
    // its status socket and its own inspector feed (issue 19.1), each fuzzed below
    assert.equal(table.sockets.map((s) => s.path).sort(), [
      '/api/supervisor/inspector/feed',
      '/api/supervisor/inspector/stately',
      '/api/supervisor/ws',
    ])
    const port = Number(new URL(h.url).port)
    const counted = async (endpoint: string) => {
      const st = await h.status()
      return st.edges
        .filter((e: any) => e.endpoint === endpoint && e.reason === 'too_big')
        .reduce((n: number, e: any) => n + e.count, 0)
    }
    await edges(port, h.proc.pid!, table, h.token, counted, async () => {
      assert.is(h.proc.exitCode, null, h.output().slice(-2000))
      assert.is((await h.status()).phase, 'serving')
    })
  },
)

sup(
  'a tunnel to the runtime: its big frame closes with 1009 (the runtime refuses it), resets end one tunnel only',
  async () => {
    const h = handle!
    const port = Number(new URL(h.url).port)
    const url = `/api/runtime/ws?token=${h.token}`
    const closed = await oversized(port, url, 64 << 20, OP.binary)
    assert.is(closed.code, 1009)
    // clients that reset their tunnels (mid-frame and after the upgrade)
    const keep = await RawWs.open(port, url)
    assert.is(keep.status, 101)
    const tally = new Tally()
    await openAndDrop(port, url, 60, tally)
    for (let i = 0; i < 20; i++) {
      const ws = await RawWs.open(port, url)
      await ws.write(Buffer.from([0x82, 0xfe, 0x10, 0x00, 0, 0, 0, 0, 1, 2]))
      ws.destroy()
    }
    // the tunnel left open still works, and the supervisor and its runtime are up
    await keep.write(Buffer.from([0x81, 0x84, 0, 0, 0, 0, 0x70, 0x69, 0x6e, 0x67])) // "ping", zero mask
    await until(() => keep.texts.some((t) => t.includes('"runtime.echo"')), 5000, 'the echo through the kept tunnel')
    keep.close()
    const st = await h.status()
    assert.is(st.phase, 'serving')
    // 1 + 1 + 40 upgraded in openAndDrop (a third are cut mid-handshake) + 20
    assert.ok(st.proxy.wsTunnels >= 62, `${st.proxy.wsTunnels} tunnels`)
    await until(async () => (await h.status()).proxy.openWsTunnels === 0, 10_000, 'every tunnel closed')
  },
)

root.run()
sup.run()
