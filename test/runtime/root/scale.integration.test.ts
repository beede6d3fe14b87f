/**
 * Scale check (the full 60 s run is `npm run bench -- protocol`): one `aether root` child process
 * and 1,000 simulated hubs in this process, each with a Class A stream and heartbeats, appending
 * for a few seconds. Every record is applied exactly once, per hub in cursor order, and the root
 * tracks every hub.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { join } from 'node:path'
import { NatsServer } from '../../helpers/natsServer.ts'
import { type AetherProc, startRoot, waitFor } from '../../helpers/linkProcs.ts'
import { tmpDir } from '../../helpers/tmp.ts'
import { HubSimulator } from '../../../runtime/link/HubSimulator.ts'

const Scale = suite('root scale - 1,000 hubs with a Class A stream each')
const dir = tmpDir('aether-scale-')
let nats: NatsServer
let root: AetherProc
let sim: HubSimulator

Scale.before(async () => {
  nats = await NatsServer.start()
  root = await startRoot(nats.url, join(dir, 'root'))
})

Scale.after(async () => {
  await sim?.close()
  await root?.stop()
  await nats?.close()
})

Scale('every record of every hub applied once, in order', async () => {
  const HUBS = 1000
  sim = await HubSimulator.start({
    nats: nats.url,
    dir: join(dir, 'hubs'),
    hubs: HUBS,
    connections: 4,
    prefix: 'scale',
    heartbeatMs: 1000,
  })
  const appended = await sim.steady(5000, 500, 2, (h, k) => ({ h, k }))
  assert.ok(await sim.drained(30_000), `drained (pending ${sim.pending()})`)
  const streams = (await root.get('/api/streams')).streams.filter((s: any) => s.hub.startsWith('scale-'))
  assert.is(streams.length, HUBS)
  let applied = 0
  for (const s of streams) {
    const hub = sim.hubs[Number(s.hub.slice(6))]
    const st = hub.outbox.stream('sim')
    assert.is(s.cursor, st.next - 1, `${s.hub}: root cursor equals the hub's last cursor`)
    assert.is(s.applied, s.cursor, `${s.hub}: each cursor applied once`)
    applied += s.applied
  }
  assert.is(applied, appended)
  // One hub's records in full: payloads in the order they were appended.
  const page = await root.get('/api/streams/scale-7/sim?limit=10000&refused=0')
  const ks = page.messages.map((m: any) => m.payload.k)
  assert.equal(
    ks,
    [...ks].sort((a: number, b: number) => a - b),
  )
  await waitFor(
    async () =>
      Object.keys((await root.get('/api/reliability')).hubs).filter((h) => h.startsWith('scale-')).length === HUBS,
    10_000,
    'the root to know every hub',
  )
  const lat = [...sim.latencies].sort((a, b) => a - b)
  const r = await root.get('/api/reliability')
  console.log(
    `  scale: ${appended} records from ${HUBS} hubs in 5 s; ack p50 ${Math.round(lat[lat.length >> 1])} ms, p99 ${Math.round(lat[Math.floor(lat.length * 0.99)])} ms; root rss ${Math.round(r.root.memory.rss / 1048576)} MB`,
  )
})

Scale.run()
