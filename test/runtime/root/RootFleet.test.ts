import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { ownerOf, RootFleet } from '../../../runtime/root/RootFleet.ts'
import type { FleetStore, MemberEntry } from '../../../runtime/nats/NatsTransport.ts'

const hubs = Array.from({ length: 3000 }, (_, i) => `hub-${i}`)

const Owner = suite('RootFleet - rendezvous hashing')

Owner('each of three roots owns about a third of the hubs', () => {
  const count: Record<string, number> = {}
  for (const h of hubs) {
    const o = ownerOf(h, ['root-a', 'root-b', 'root-c'])!
    count[o] = (count[o] ?? 0) + 1
  }
  for (const id of ['root-a', 'root-b', 'root-c']) assert.ok(count[id] > 800 && count[id] < 1200, `${id}: ${count[id]}`)
})

Owner('a root leaving moves only its own hubs; a root joining takes only from the others', () => {
  const abc = ['root-a', 'root-b', 'root-c']
  const ac = ['root-a', 'root-c']
  const acd = ['root-a', 'root-c', 'root-d']
  let taken = 0
  for (const h of hubs) {
    const before = ownerOf(h, abc)
    if (before !== 'root-b') assert.is(ownerOf(h, ac), before, `${h} stays where it was`)
    const after = ownerOf(h, acd)
    if (after !== 'root-d') assert.is(after, ownerOf(h, ac), `${h} moves only to the new root`)
    else taken++
  }
  assert.ok(taken > 800 && taken < 1200, `root-d takes about a third (${taken})`)
  assert.is(ownerOf('hub-1', []), undefined)
})

/** The KV side in memory: a watch gets the current entries first, then every put and delete. */
function fakeStore() {
  const watchers: Array<(e: MemberEntry) => void> = []
  const current = new Map<string, MemberEntry>()
  let now = 0
  const emit = (e: MemberEntry) => {
    current.set(e.key, e)
    for (const w of watchers) w(e)
  }
  const store = {
    async putMember(key: string, value: Uint8Array) {
      emit({ key, value, deleted: false, createdAt: now })
    },
    async deleteMember(key: string) {
      emit({ key, value: new Uint8Array(), deleted: true, createdAt: now })
    },
    async watchMembers(cb: (e: MemberEntry) => void) {
      for (const e of current.values()) cb(e)
      watchers.push(cb)
    },
  }
  return { store: store as unknown as FleetStore, clock: { set: (t: number) => (now = t), now: () => now } }
}

const Members = suite('RootFleet - membership from the KV watch')

Members('a silent member is gone after the lease, a stopped one at once', async () => {
  const { store, clock } = fakeStore()
  const a = new RootFleet(store, { rootId: 'root-a', leaseMs: 1000, now: clock.now })
  const b = new RootFleet(store, { rootId: 'root-b', leaseMs: 1000, now: clock.now })
  const c = new RootFleet(store, { rootId: 'root-c', leaseMs: 1000, now: clock.now })
  await a.start()
  await b.start()
  await c.start()
  // a joined first and saw b and c join through its watch
  assert.equal(a.members, ['root-a', 'root-b', 'root-c'])
  const owned = hubs.filter((h) => a.owns(h) || b.owns(h) || c.owns(h))
  assert.is(owned.length, hubs.length, 'every hub has exactly one owner among the members')
  // c stops putting (killed): a drops it once the lease is over, on its next tick
  clock.set(1200)
  await (b as any).put()
  ;(a as any).recompute()
  assert.equal(a.members, ['root-a', 'root-b'])
  assert.equal(a.changes.at(-1)!.left, ['root-c'])
  await b.stop()
  assert.equal(a.members, ['root-a'])
  assert.ok(hubs.every((h) => a.owns(h)))
  await a.stop()
  await c.stop()
})

Owner.run()
Members.run()
