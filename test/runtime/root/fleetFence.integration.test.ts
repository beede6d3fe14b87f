/**
 * The fence of the shared inbox stream, with a real nats-server: two roots that both believe they
 * own a hub (a membership change one has seen and the other not yet) get the same frames; each
 * cursor is appended once, the loser acks nothing, and after it reads the stream again it answers
 * the hub's resends as duplicates.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { join } from 'node:path'
import { NatsServer } from '../../helpers/natsServer.ts'
import { tmpDir } from '../../helpers/tmp.ts'
import { LevelStore } from '../../../runtime/LevelStore.ts'
import { FleetStore } from '../../../runtime/nats/NatsTransport.ts'
import { RootService } from '../../../runtime/root/RootService.ts'
import type { RootFleet } from '../../../runtime/root/RootFleet.ts'
import { FLEET_STORE } from '../../../runtime/root/rootFeature.ts'
import { checkExactlyOnce, readShared } from '../../../runtime/root/fleetCheck.ts'
import { decodeFrame, encodeFrame, envelope, type Envelope } from '../../../protocol/index.ts'
import { waitFor } from '../../helpers/linkProcs.ts'

const Fence = suite('RootService fleet mode - the fence lets one root apply a cursor')
const dir = tmpDir('aether-fence-')
let nats: NatsServer
let log: FleetStore

Fence.before(async () => {
  nats = await NatsServer.start()
  log = await FleetStore.connect(nats.url, 'fence-test', FLEET_STORE)
})
Fence.after(async () => {
  await log?.close()
  await nats?.close()
})

/** Membership that says this root owns every hub (both roots think so: the split brain). */
const ownsAll = { owns: () => true, onChange: () => () => {}, stop: async () => {} } as unknown as RootFleet

function fakeLink() {
  const acks: Array<{ upTo: number; applied: number; gaps: number }> = []
  return {
    acks,
    publish: (_s: string, data: Uint8Array) => {
      for (const e of decodeFrame(data)) acks.push(e.payload as any)
      return true
    },
  } as any
}
const rec = (cursor: number) =>
  envelope('stream.record', 'h1', { c: cursor }, { streamId: 's', cursor, id: `h1.${cursor}` })
const frame = (envs: Envelope[]) => ({ subject: 'aether.root.h1.stream', data: encodeFrame(envs), reply: 'ack' })

Fence('two owners, the same frames: each cursor applied once, the loser re-reads and sees duplicates', async () => {
  const roots: Array<{ svc: RootService; store: LevelStore; link: ReturnType<typeof fakeLink> }> = []
  for (const id of ['root-x', 'root-y']) {
    const store = await LevelStore.open(join(dir, id))
    const svc = new RootService(store, { rootId: id, fleet: { membership: ownsAll, log } })
    await svc.start()
    roots.push({ svc, store, link: fakeLink() })
  }
  const [x, y] = roots
  for (let c = 1; c <= 20; c += 2) {
    const f = frame([rec(c), rec(c + 1)])
    x.svc.onStream(f, x.link)
    y.svc.onStream(f, y.link)
    await waitFor(
      async () => x.svc.counters.frames === y.svc.counters.frames && (await settled(x.svc, y.svc)),
      5000,
      'both roots done',
    )
  }
  const fenced = x.svc.counters.fenced + y.svc.counters.fenced
  assert.ok(fenced > 0, 'the second root to append was fenced at least once')
  const shared = await readShared(log)
  const r = checkExactlyOnce(shared, new Map([['h1/s', 20]]))
  assert.equal([r.lost, r.duplicated, r.outOfOrder, r.total], [0, 0, 0, 20])
  // what the hub saw: the highest ack from either root covers all 20 cursors
  const upTo = Math.max(...[...x.link.acks, ...y.link.acks].map((a: any) => a.upTo))
  assert.is(upTo, 20)
  // a resend of everything now: both roots answer duplicates (the loser read the stream again)
  for (const root of roots) {
    root.link.acks.length = 0
    root.svc.onStream(frame(Array.from({ length: 20 }, (_, i) => rec(i + 1))), root.link)
  }
  await waitFor(async () => roots.every((r) => r.link.acks.length > 0) || undefined, 5000, 'acks to the resend')
  for (const root of roots) assert.equal([root.link.acks[0].upTo, root.link.acks[0].applied], [20, 0])
  assert.is(checkExactlyOnce(await readShared(log), new Map([['h1/s', 20]])).total, 20)
  // provenance from either root: every record, each naming the root that applied it
  const page = await y.svc.applied('h1', 's', 0, 100)
  assert.equal(
    page.map((m) => m.cursor),
    Array.from({ length: 20 }, (_, i) => i + 1),
  )
  assert.ok(page.every((m) => m.root === 'root-x' || m.root === 'root-y'))
  for (const root of roots) {
    await root.svc.close()
    await root.store.close()
  }
})

/** Both roots have no hub batch in flight. */
async function settled(...svcs: RootService[]): Promise<boolean> {
  await new Promise((r) => setTimeout(r, 20))
  return svcs.every((s) => ![...(s as any).queues.values()].some((q: any) => q.busy || q.frames.length))
}

Fence.run()
