/**
 * Hub -> root protocol benchmarks. A nats-server of its own (file-backed JetStream store in a
 * temp folder) and `aether root` as a child process.
 *
 * - classA.nats: Class A records/s from a hub's outbox to the root, persisted (fsync'd group
 *   commits) at both ends and acked, against JetStream publish with 256 in flight to a
 *   file-backed stream on the same server, same record size, same run. Goal: ratio >= 1.0.
 * - classA.sidecar: the same Class A stream with the hub's connection in `aether sidecar` (a child
 *   process, over its Unix socket) against the in-process connection, paired rounds in the same
 *   run. `--sidecar` runs only this figure.
 * - scale.*: one root and 1,000 simulated hubs (one process, 4 connections), each with a Class A
 *   stream and a heartbeat every second, appending steadily for 60 s (10 s with --quick):
 *   msgs/s, p50/p99 append -> ack latency, the root's peak RSS.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { median, paired, printTable, quick, report } from './lib.ts'
import { HubSimulator } from '../runtime/link/HubSimulator.ts'
import { NatsLink } from '../runtime/nats/NatsTransport.ts'
import { SidecarProcess } from '../runtime/supervisor/SidecarProcess.ts'
import { SidecarLink } from '../runtime/sidecar/SidecarLink.ts'
import type { Transport } from '../runtime/link/Transport.ts'

const repo = fileURLToPath(new URL('..', import.meta.url))
const tmp = mkdtempSync(join(tmpdir(), 'aether-bench-protocol-'))
const children: ChildProcess[] = []
const cleanup = () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL')
  rmSync(tmp, { recursive: true, force: true })
}
process.on('exit', cleanup)

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as any).port
      s.close(() => resolve(p))
    })
  })
const canConnect = (port: number) =>
  new Promise<boolean>((resolve) => {
    const c = connect(port, '127.0.0.1')
    c.once('connect', () => (c.destroy(), resolve(true)))
    c.once('error', () => resolve(false))
  })
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function startNats(): Promise<string> {
  const port = await freePort()
  const c = spawn('/usr/sbin/nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', join(tmp, 'js')], {
    stdio: 'ignore',
  })
  children.push(c)
  while (!(await canConnect(port))) await sleep(20)
  return `nats://127.0.0.1:${port}`
}

async function startRoot(nats: string, data: string): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort()
  const c = spawn(
    process.execPath,
    [join(repo, 'bin/aether.mjs'), 'root', '--nats', nats, '--data', data, '--port', String(port), '--token', 'bench'],
    { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  children.push(c)
  let out = ''
  c.stderr!.on('data', (d) => (out += d))
  await new Promise<void>((resolve, reject) => {
    c.stdout!.on('data', (d) => {
      out += d
      if (/aether root http/.test(out)) resolve()
    })
    c.once('exit', () => reject(new Error(`root exited: ${out}`)))
  })
  return { url: `http://127.0.0.1:${port}`, child: c }
}

const PAYLOAD = { kind: 'update.state', slot: 'B', step: 'validating', detail: 'x'.repeat(48) }

async function main() {
  const nats = await startNats()
  const root = await startRoot(nats, join(tmp, 'root'))
  const count = quick ? 10_000 : 30_000
  const rounds = quick ? 1 : 5

  // One hub with one Class A stream; a fresh outbox store per round.
  let round = 0
  const classA = async (transport?: () => Transport): Promise<number> => {
    const sim = await HubSimulator.start({
      nats,
      dir: join(tmp, `hub-${round}`),
      hubs: 1,
      connections: 1,
      prefix: `bench${round++}`,
      window: 8192,
      batch: 512,
      ...(transport ? { transport } : {}),
    })
    const t0 = performance.now()
    const chunk = 512
    const all: Promise<void>[] = []
    for (let i = 0; i < count; i += chunk)
      all.push(
        sim.append(
          0,
          Array.from({ length: Math.min(chunk, count - i) }, () => PAYLOAD),
        ),
      )
    await Promise.all(all)
    if (!(await sim.drained(120_000))) throw new Error('classA: the outbox did not drain')
    const rate = count / ((performance.now() - t0) / 1000)
    await sim.close()
    return rate
  }

  // The hub's connection in `aether sidecar` (a child process, its socket in the temp folder).
  const socket = join(tmp, 'sidecar.sock')
  const sidecar = new SidecarProcess({ nats, socket, token: 'bench', name: 'bench' })
  const viaSidecar = () => new SidecarLink({ socket, token: 'bench', channel: 'control', name: `bench-${round}` })
  await classA(viaSidecar) // warm up both paths once (and wait for the sidecar)
  await classA()
  const sc = await paired(
    rounds,
    () => classA(viaSidecar),
    () => classA(),
  )
  report({
    figure: 'classA.sidecar',
    aether: sc.a,
    baseline: sc.b,
    ratio: sc.a / sc.b,
    unit: 'msgs/s (Class A, persisted both ends, acked) through aether sidecar vs the in-process connection',
    goal: '>= 0.8',
    pass: sc.a / sc.b >= 0.8,
    runs: { aether: sc.as.map(Math.round), baseline: sc.bs.map(Math.round) },
    count,
  })
  await sidecar.stop()
  if (process.argv.includes('--sidecar')) {
    printTable('protocol: hub -> root over NATS')
    return
  }

  const link = new NatsLink({ url: nats, name: 'bench-js' })
  await link.connected()
  const jsBody = new TextEncoder().encode(
    JSON.stringify({
      v: 1,
      id: 'bench-x.sim.1.abcdef',
      kind: 'event',
      class: 'A',
      subject: 'stream.record',
      streamId: 'sim',
      cursor: 1,
      ts: Date.now(),
      from: 'bench',
      payload: PAYLOAD,
    }),
  )
  let jsRound = 0
  const jetstream = async (): Promise<number> => {
    const js = await link.jetStream(`BENCH${jsRound}`, `bench.js.${jsRound++}`)
    const t0 = performance.now()
    let next = 0
    const worker = async () => {
      while (next < count) {
        next++
        await js.publish(jsBody)
      }
    }
    await Promise.all(Array.from({ length: 256 }, worker))
    const rate = count / ((performance.now() - t0) / 1000)
    await js.remove()
    return rate
  }

  await jetstream() // warm up (classA warmed above)
  const r = await paired(rounds, () => classA(), jetstream)
  report({
    figure: 'classA.nats',
    aether: r.a,
    baseline: r.b,
    ratio: r.a / r.b,
    unit: 'msgs/s (Class A, persisted both ends, acked) vs JetStream publish x256 in flight, file store',
    goal: '>= 1.0',
    pass: r.a / r.b >= 1.0,
    runs: { aether: r.as.map(Math.round), baseline: r.bs.map(Math.round) },
    count,
  })
  await link.close()

  // Scale: 1,000 simulated hubs.
  const hubs = 1000
  const seconds = quick ? 10 : 60
  const sim = await HubSimulator.start({
    nats,
    dir: join(tmp, 'scale'),
    hubs,
    connections: 4,
    prefix: 'scale',
    heartbeatMs: 1000,
  })
  let peakRss = 0
  let rootHubs = 0
  const poll = setInterval(async () => {
    try {
      const rep = (await (await fetch(`${root.url}/api/reliability`)).json()) as any
      peakRss = Math.max(peakRss, rep.root.memory.rss)
      rootHubs = Object.keys(rep.hubs ?? {}).length
    } catch {}
  }, 2000)
  const t0 = performance.now()
  // Each hub appends 2 records every 200 ms: 10 records/s per hub, 10,000/s offered in all.
  const appended = await sim.steady(seconds * 1000, 200, 2, (h, k) => ({ hub: h, k }))
  const ok = await sim.drained(60_000)
  const elapsed = (performance.now() - t0) / 1000
  clearInterval(poll)
  const lat = [...sim.latencies].sort((a, b) => a - b)
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(lat.length * p))]
  const streams = (await (await fetch(`${root.url}/api/streams`)).json()) as any
  const applied = streams.streams
    .filter((s: any) => s.hub.startsWith('scale-'))
    .reduce((a: number, s: any) => a + s.applied, 0)
  report({
    figure: 'scale.throughput',
    aether: applied / elapsed,
    baseline: null,
    ratio: null,
    unit: `msgs/s applied (${hubs} hubs, ${seconds} s, 10/s per hub offered)`,
    hubs,
    seconds,
    appended,
    applied,
    drained: ok,
    lost: appended - applied,
    pass: ok && applied === appended,
  })
  report({ figure: 'scale.ackLatency.p50', aether: q(0.5), baseline: null, ratio: null, unit: 'ms append -> ack' })
  report({ figure: 'scale.ackLatency.p99', aether: q(0.99), baseline: null, ratio: null, unit: 'ms append -> ack' })
  report({
    figure: 'scale.rootMemory',
    aether: peakRss / 1048576,
    baseline: null,
    ratio: null,
    unit: `MB peak RSS of the root (${rootHubs} hubs tracked)`,
    heartbeats: sim.heartbeats,
  })
  await sim.close()
  printTable('protocol: hub -> root over NATS')
  void median
}

main().then(
  () => {
    cleanup()
    process.exit(0)
  },
  (err) => {
    console.error(err)
    cleanup()
    process.exit(1)
  },
)
