/**
 * Real hubs in a root fleet: a nats-server of its own, two `aether root --fleet` and two
 * `aether hub --nats` child processes, both hubs owned by root-a. While Class A records stream
 * in, root-a is killed (kill -9): the hubs move to root-b. A hub accepts acks only from the root
 * its last heartbeat answer named, so root-b's first acks are refused; the hub then heartbeats at
 * once, learns its new owner and sends what is unacked again (instead of waiting a heartbeat
 * period). Every root's applied records (the shared inbox stream, each root's LevelDB copies)
 * hold each appended record exactly once, in cursor order.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { join } from 'node:path'
import { NatsServer } from '../../helpers/natsServer.ts'
import { type AetherProc, procTimeouts, startHubProc, startRoot, waitFor } from '../../helpers/linkProcs.ts'
import { sleep, tmpDir } from '../../helpers/tmp.ts'
import { FleetStore } from '../../../runtime/nats/NatsTransport.ts'
import { LevelStore } from '../../../runtime/LevelStore.ts'
import { FLEET_STORE } from '../../../runtime/root/rootFeature.ts'
import { ownerOf } from '../../../runtime/root/RootFleet.ts'
import { checkExactlyOnce, merge, readLocal, readShared } from '../../../runtime/root/fleetCheck.ts'

const STREAM = 'reports'
const ROOTS = ['root-a', 'root-b']
/** Heartbeats at the default period: a handover that waited for the next one would show it. */
const LINK = {
  AETHER_LINK_HEARTBEAT_MS: '1000',
  AETHER_AUTHORITY_AGING_MS: '3000',
  AETHER_AUTHORITY_STALE_MS: '6000',
  AETHER_RETRANSMIT_MS: '800',
}

const Hubs = suite('root fleet - real hubs move when their root is killed')
procTimeouts.startMs = 60_000
const dir = tmpDir('aether-fleethubs-')
let nats: NatsServer
const roots: Record<string, AetherProc> = {}
const hubs: Record<string, AetherProc> = {}
let log: FleetStore | undefined
let producing = false

Hubs.after(async () => {
  producing = false
  for (const h of Object.values(hubs)) await h.stop()
  for (const r of Object.values(roots)) await r.stop()
  await log?.close()
  await nats?.close()
})

/** Appends 5 records to each hub every 50 ms until stopped. */
async function produce(): Promise<void> {
  let i = 0
  while (producing) {
    i++
    await Promise.all(
      Object.values(hubs).map((h) =>
        h
          .post(`/api/streams/${STREAM}`, { payloads: Array.from({ length: 5 }, (_, k) => ({ i, k })) })
          .catch(() => null),
      ),
    )
    await sleep(50)
  }
}

Hubs('kill -9 the owning root: both hubs move to the other, 0 lost, 0 duplicated', async () => {
  nats = await NatsServer.start()
  for (const id of ROOTS)
    roots[id] = await startRoot(nats.url, join(dir, id), undefined, ['--id', id, '--fleet', '--lease', '1000'])
  for (const r of Object.values(roots))
    await waitFor(async () => (await r.get('/api/fleet')).members.length === 2, 10_000, 'two members')
  // two hub ids root-a owns while both roots live
  const ids: string[] = []
  for (let i = 0; ids.length < 2; i++) if (ownerOf(`hub-f${i}`, ROOTS) === 'root-a') ids.push(`hub-f${i}`)
  for (const id of ids) hubs[id] = await startHubProc(nats.url, join(dir, id), id, undefined, LINK)
  const link = async (id: string) => (await hubs[id].get('/api/reliability')).link
  for (const id of ids)
    await waitFor(async () => (await link(id)).rootId === 'root-a', 20_000, `${id} heartbeats answered by root-a`)

  producing = true
  const producer = produce()
  await sleep(1500)
  const acked0: Record<string, number> = {}
  for (const id of ids) acked0[id] = (await hubs[id].get('/api/streams')).streams[STREAM].acked
  const killedAt = Date.now()
  await roots['root-a'].kill9()
  const moved: Record<string, number> = {}
  await waitFor(
    async () => {
      for (const id of ids) {
        if (moved[id]) continue
        const l = await link(id)
        const acked = (await hubs[id].get('/api/streams')).streams[STREAM].acked
        if (l.rootId === 'root-b' && acked > acked0[id]) moved[id] = Date.now() - killedAt
      }
      return ids.every((id) => moved[id])
    },
    15_000,
    'both hubs acked by root-b',
  )
  await sleep(500)
  producing = false
  await producer
  for (const id of ids)
    await waitFor(
      async () => (await hubs[id].get('/api/streams')).streams[STREAM].pending === 0,
      15_000,
      `${id}'s outbox to drain`,
    )

  const expected = new Map<string, number>()
  const links: Record<string, any> = {}
  const refused: Record<string, number> = {}
  const resend: Record<string, { ms: number; srttMs: number }> = {}
  for (const id of ids) {
    expected.set(`${id}/${STREAM}`, (await hubs[id].get('/api/streams')).streams[STREAM].next - 1)
    const rel = await hubs[id].get('/api/reliability')
    links[id] = rel.link
    refused[id] = rel.classA.rejected.WRONG_SENDER ?? 0
    resend[id] = rel.classA.resend
    assert.is(links[id].rootId, 'root-b')
    assert.ok(links[id].heartbeat.rootChanges >= 1, `${id} saw its owner change`)
  }
  log = await FleetStore.connect(nats.url, 'fleet-hubs-checker', FLEET_STORE)
  const shared = checkExactlyOnce(await readShared(log), expected)
  assert.equal(
    { lost: shared.lost, duplicated: shared.duplicated, outOfOrder: shared.outOfOrder },
    { lost: 0, duplicated: 0, outOfOrder: 0 },
  )
  assert.ok(shared.byRoot['root-a'] > 0 && shared.byRoot['root-b'] > 0, JSON.stringify(shared.byRoot))
  // each root's own copies: root-b's are its shared segments; killed root-a's may miss its last ones
  for (const h of Object.values(hubs)) await h.stop()
  await roots['root-b'].stop()
  const locals = []
  for (const id of ROOTS) {
    const store = await LevelStore.open(join(dir, id))
    locals.push(await readLocal(store, id))
    await store.close()
  }
  const local = checkExactlyOnce(merge(locals), expected)
  assert.is(local.duplicated, 0, 'no record in two roots')
  assert.is(local.byRoot['root-b'], shared.byRoot['root-b'], 'root-b: local = shared')
  assert.ok(local.byRoot['root-a'] <= shared.byRoot['root-a'], 'root-a: local within shared')
  console.log(
    `  fleet hubs: ${shared.total} records, by root ${JSON.stringify(shared.byRoot)}; handover after kill -9 ${ids.map((id) => `${id} ${moved[id]} ms`).join(', ')}; forced heartbeats ${ids.map((id) => links[id].heartbeat.forced).join(', ')}, acks refused as from another root ${ids.map((id) => refused[id]).join(', ')}; resend timeout ${ids.map((id) => `${resend[id].ms} ms (srtt ${resend[id].srttMs})`).join(', ')}`,
  )
})

Hubs.run()
