import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { counter } from '../../machines/counter.ts'
import { LevelStore } from '../../runtime/LevelStore.ts'
import { crash, openSystem } from '../helpers/system.ts'
import { tmpDir } from '../helpers/tmp.ts'

const machines = { counter }

const cleanKeys = async (store: LevelStore) => store.db.keys({ gte: 'c!', lt: 'c"' }).all()

/** A data folder closed cleanly with live, stopped and child actors; returns each live count. */
async function populate(dir: string, n = 3): Promise<Record<string, number>> {
  const { system } = await openSystem(dir, { machines })
  const counts: Record<string, number> = {}
  await system.spawn('p', 'counter', { durable: true })
  for (let i = 0; i < n; i++) await system.spawn(`p/c${i}`, 'counter', { durable: true })
  await system.spawn('gone', 'counter', { durable: true })
  for (let i = 0; i < n * 4; i++) system.send(`p/c${i % n}`, { type: 'inc', by: i })
  system.send('p', { type: 'inc', by: 7 })
  await system.stop('gone')
  await system.flush()
  for (const a of system.list()) counts[a.path] = system.get(a.path)!.getSnapshot().context.count
  await system.close()
  return counts
}

const image = suite('LevelStore - the recovery image of a clean close')

image('a clean close writes the image; the next start recovers every live actor from it and removes it', async () => {
  const dir = tmpDir()
  const counts = await populate(dir)
  const store = await LevelStore.open(dir)
  const keys = await cleanKeys(store)
  assert.equal(keys, ['c!clean', 'c!image!000000'])
  const entries = await store.recoveryState()
  assert.equal(
    entries.map((e) => e.meta.path).sort(),
    Object.keys(counts).sort(),
    'the stopped actor is not in the image',
  )
  assert.ok(entries.every((e) => e.tail.length === 0 && e.snapshot && !e.error))
  await store.close()

  const { system, store: s2 } = await openSystem(dir, { machines })
  for (const [path, count] of Object.entries(counts))
    assert.is(system.get(path)!.getSnapshot().context.count, count, path)
  assert.is(system.list().find((a) => a.path === 'p/c0')!.parent, 'p')
  assert.equal(await cleanKeys(s2), [], 'marker and image are gone once the store is written again')
  system.send('p/c0', { type: 'inc', by: 100 })
  await system.flush()
  await crash(system, s2)
  // After a crash the per-actor records (and the tail) are what recovery reads.
  const again = await openSystem(dir, { machines })
  assert.is(again.system.get('p/c0')!.getSnapshot().context.count, counts['p/c0'] + 100)
  await again.system.close()
})

image('an image of many actors is written in chunks and read back in order', async () => {
  const dir = tmpDir()
  const { system } = await openSystem(dir, { machines })
  const N = 5000
  await Promise.all(Array.from({ length: N }, (_, i) => system.spawn(`a${i}`, 'counter', { durable: true })))
  for (let i = 0; i < N; i++) system.send(`a${i}`, { type: 'inc', by: i })
  await system.close()
  const store = await LevelStore.open(dir)
  assert.equal(await cleanKeys(store), ['c!clean', 'c!image!000000', 'c!image!000001'])
  await store.close()
  const again = await openSystem(dir, { machines })
  assert.is(again.system.list().length, N)
  for (let i = 0; i < N; i += 499) assert.is(again.system.get(`a${i}`)!.getSnapshot().context.count, i)
  await again.system.close()
})

for (const [what, value] of [
  ['a truncated chunk', '[[{"path":"p","machine":"coun'],
  ['an entry of the wrong shape', '[[{"path":1}]]'],
  ['a snapshot without a seq', '[[{"path":"p","machine":"counter","status":"live","createdAt":1},{"snapshot":{}}]]'],
  ['not an array', '{"p":1}'],
] as const) {
  image(`${what} in the image: recovery falls back to the per-actor records and loses nothing`, async () => {
    const dir = tmpDir()
    const counts = await populate(dir)
    const store = await LevelStore.open(dir)
    await store.db.put('c!image!000000', value)
    await store.close()
    const { system } = await openSystem(dir, { machines })
    assert.equal(
      system
        .list()
        .map((a) => a.path)
        .sort(),
      Object.keys(counts).sort(),
    )
    for (const [path, count] of Object.entries(counts))
      assert.is(system.get(path)!.getSnapshot().context.count, count, path)
    assert.ok(system.list().every((a) => a.status === 'active'))
    await system.close()
  })
}

image('a missing chunk makes the image unusable: the per-actor records are read', async () => {
  const dir = tmpDir()
  const { system } = await openSystem(dir, { machines })
  await Promise.all(Array.from({ length: 4100 }, (_, i) => system.spawn(`a${i}`, 'counter', { durable: true })))
  system.send('a4099', { type: 'inc', by: 3 })
  await system.close()
  const store = await LevelStore.open(dir)
  await store.db.del('c!image!000000')
  await store.close()
  const again = await openSystem(dir, { machines })
  assert.is(again.system.list().length, 4100)
  assert.is(again.system.get('a4099')!.getSnapshot().context.count, 3)
  await again.system.close()
})

image('a corrupt actor meta at a clean close: no image, and recovery fails that actor with an incident', async () => {
  const dir = tmpDir()
  await populate(dir)
  const store = await LevelStore.open(dir)
  await store.db.put('m!p/c1', '{"path":"p/c1","mach')
  // Close cleanly again with the corrupt meta in place.
  await store.markClean(true)
  assert.equal(await cleanKeys(store), ['c!clean'])
  await store.close()
  const { system } = await openSystem(dir, { machines })
  assert.is(system.list().find((a) => a.path === 'p/c1')!.status, 'failed')
  assert.is(system.list().find((a) => a.path === 'p/c0')!.status, 'active')
  await system.close()
})

image.run()
