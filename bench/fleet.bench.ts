/**
 * Roots that scale out (docs/architecture.md, "Roots that scale out"). Each configuration gets a
 * nats-server of its own and 300 simulated hubs appending as fast as their acks allow (10 records
 * every 100 ms each, 6,000/s offered) for 8 s (4 s with --quick), then drains:
 *
 * - scale.throughput: records/s applied by three `aether root --fleet` processes against one
 *   `aether root` (no fleet: its own LevelDB only), same run. A fleet root also appends every
 *   segment to the shared JetStream stream before its ack; `fleet.oneRoot` is one fleet root alone.
 * - fleet.handover: three fleet roots (lease 2000 ms, the hubs' retransmit 1500 ms), one killed
 *   with kill -9 mid-stream: the time until each of its hubs has a record acked by another root
 *   (max and median over its hubs). Every record is checked: applied exactly once, in order.
 */
import { join } from 'node:path'
import { printTable, quick, report } from './lib.ts'
import { NatsServer } from '../test/helpers/natsServer.ts'
import { appendUntilStopped } from '../test/helpers/fleet.ts'
import { type AetherProc, procTimeouts, startRoot, waitFor } from '../test/helpers/linkProcs.ts'
import { sleep, tmpDir } from '../test/helpers/tmp.ts'
import { HubSimulator } from '../runtime/link/HubSimulator.ts'
import { FleetStore } from '../runtime/nats/NatsTransport.ts'
import { FLEET_STORE } from '../runtime/root/rootFeature.ts'
import { ownerOf } from '../runtime/root/RootFleet.ts'
import { checkExactlyOnce, readShared } from '../runtime/root/fleetCheck.ts'

const HUBS = 300
const SECONDS = quick ? 4 : 8
const LEASE_MS = 2000
// four roots start one after the other; on a loaded 2-core machine tsx alone takes seconds
procTimeouts.startMs = 60_000
const dir = tmpDir('aether-bench-fleet-')
const started: Setup[] = []

interface Setup {
  nats: NatsServer
  roots: Record<string, AetherProc>
  sim: HubSimulator
}

async function setup(name: string, ids: string[], fleet: boolean): Promise<Setup> {
  const nats = await NatsServer.start()
  const roots: Record<string, AetherProc> = {}
  started.push({ nats, roots, sim: undefined as unknown as HubSimulator })
  for (const id of ids)
    roots[id] = await startRoot(
      nats.url,
      join(dir, name, id),
      undefined,
      fleet ? ['--id', id, '--fleet', '--lease', String(LEASE_MS)] : ['--id', id],
    )
  if (fleet)
    for (const r of Object.values(roots))
      await waitFor(async () => (await r.get('/api/fleet')).members.length === ids.length, 10_000, 'the members')
  const sim = await HubSimulator.start({
    nats: nats.url,
    dir: join(dir, name, 'hubs'),
    hubs: HUBS,
    connections: 4,
    prefix: name,
    retransmitMs: 1500,
  })
  started[started.length - 1].sim = sim
  return started[started.length - 1]
}

async function teardown(s: Setup): Promise<void> {
  await s.sim?.close()
  for (const r of Object.values(s.roots)) await r.stop()
  await s.nats.close()
}

/** Records/s applied: appended over the time to append and drain them all. */
async function throughput(s: Setup): Promise<{ rate: number; appended: number; drained: boolean }> {
  const t0 = performance.now()
  const appended = await s.sim.steady(SECONDS * 1000, 100, 2, (h, k) => ({ h, k }))
  const drained = await s.sim.drained(60_000)
  return { rate: appended / ((performance.now() - t0) / 1000), appended, drained }
}

/** Kill -9 one root while the hubs append (2 records every 500 ms each): ms until each of its hubs moves. */
async function handover(s: Setup, victim: string): Promise<{ max: number; median: number; hubs: number }> {
  const ids = Object.keys(s.roots)
  const mine = s.sim.hubs.filter((h) => ownerOf(h.id, ids) === victim)
  const appending = appendUntilStopped(s.sim)
  await sleep(2000)
  const acked0 = mine.map((h) => h.outbox.stream('sim').acked)
  const killedAt = Date.now()
  await s.roots[victim].kill9()
  const moved = mine.map(() => 0)
  await waitFor(
    async () => {
      mine.forEach((h, j) => {
        if (!moved[j] && h.outbox.stream('sim').acked > acked0[j]) moved[j] = Date.now() - killedAt
      })
      return moved.every((t) => t > 0)
    },
    20_000,
    `${victim}'s hubs acked by another root`,
  ).catch(async (err) => {
    const h = mine.find((_, j) => !moved[j])!
    const st = h.outbox.stream('sim')
    console.error(`${h.id} never moved:`, { acked: st.acked, persisted: st.persisted }, h.sender.counters)
    for (const id of ids.filter((x) => x !== victim)) {
      const f = await s.roots[id].get('/api/fleet')
      const r = await s.roots[id].get('/api/reliability')
      console.error(
        id,
        f.members.map((m: any) => m.id),
        r.root,
      )
    }
    throw err
  })
  appending.stop()
  await appending.done
  moved.sort((a, b) => a - b)
  return { max: moved[moved.length - 1], median: moved[moved.length >> 1], hubs: mine.length }
}

async function main(): Promise<void> {
  const one = await setup('one', ['root'], false)
  const r1 = await throughput(one)
  await teardown(one)

  const single = await setup('single', ['root-a'], true)
  const rs = await throughput(single)
  await teardown(single)

  const three = await setup('three', ['root-a', 'root-b', 'root-c'], true)
  const r3 = await throughput(three)
  report({
    figure: 'scale.throughput',
    aether: r3.rate,
    baseline: r1.rate,
    ratio: r3.rate / r1.rate,
    unit: `msgs/s applied, 3 fleet roots vs 1 root (${HUBS} hubs, ${SECONDS} s, 6,000/s offered)`,
    appended: { three: r3.appended, one: r1.appended },
    drained: r3.drained && r1.drained,
  })
  report({
    figure: 'fleet.oneRoot',
    aether: rs.rate,
    baseline: r1.rate,
    ratio: rs.rate / r1.rate,
    unit: 'msgs/s applied, 1 fleet root (shared stream) vs 1 root (LevelDB only)',
    drained: rs.drained,
  })
  const h = await handover(three, 'root-b')
  const drained = await three.sim.drained(60_000)
  const log = await FleetStore.connect(three.nats.url, 'bench-checker', FLEET_STORE)
  // lost: acked to a hub and in no segment (a record not yet acked is pending, not lost)
  const expected = new Map(three.sim.hubs.map((x) => [`${x.id}/sim`, x.outbox.stream('sim').acked]))
  const check = checkExactlyOnce(await readShared(log), expected)
  await log.close()
  report({
    figure: 'fleet.handover',
    aether: h.max,
    baseline: null,
    ratio: null,
    unit: `ms kill -9 -> every hub of the dead root acked by another (max over ${h.hubs} hubs; lease ${LEASE_MS} ms)`,
    median: h.median,
    drained,
    pending: three.sim.pending(),
    lost: check.lost,
    duplicated: check.duplicated,
    outOfOrder: check.outOfOrder,
    pass: drained && check.lost === 0 && check.duplicated === 0 && check.outOfOrder === 0,
  })
  await teardown(three)
  printTable('fleet: roots that scale out')
}

main().then(
  () => process.exit(0),
  async (err) => {
    console.error(err)
    for (const s of started) await teardown(s).catch(() => {})
    process.exit(1)
  },
)
