/**
 * The process the crash test kills. It opens a durable actor system on LevelDB, reports the
 * recovered state of every actor (`S <path> <seq> <json>`), then sends seeded random events
 * until it is killed, reporting each committed send (`C <path> <seq> <id>`).
 *
 *   node --import tsx test/helpers/crashChild.ts DIR SEED ACTORS [--graceful MS]
 */
import { ActorSystem } from '../../actors/index.ts'
import { LevelStore } from '../../runtime/LevelStore.ts'
import { crashy } from '../fixtures/crashy.ts'

const [dir, seedArg, actorsArg] = process.argv.slice(2)
const gracefulIdx = process.argv.indexOf('--graceful')
const graceful = gracefulIdx > 0 ? Number(process.argv[gracefulIdx + 1]) : 0
let seed = Number(seedArg) >>> 0
const rand = () => {
  // mulberry32
  seed = (seed + 0x6d2b79f5) >>> 0
  let t = seed
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
const out = (s: string) => process.stdout.write(s + '\n')

const store = await LevelStore.open(dir)
const system = await ActorSystem.open({ store, machines: { crashy }, fsync: 'batch', snapshotEvery: 7 })
const n = Number(actorsArg)
for (let i = 0; i < n; i++) {
  const path = `hub/a${i}`
  if (!system.get('hub')) await system.spawn('hub', 'crashy', { durable: true })
  if (!system.get(path)) await system.spawn(path, 'crashy', { durable: true })
}
for (const a of system.list()) {
  const h = system.hosted(a.path)!
  const s = h.actor.getSnapshot()
  out(`S ${a.path} ${h.appliedSeq} ${JSON.stringify({ value: s.value, context: s.context, status: h.status })}`)
}
out('READY')

let stop = false
if (graceful) {
  setTimeout(async () => {
    stop = true
    await system.close()
    out('CLOSED')
    process.exit(0)
  }, graceful)
}
let k = 0
while (!stop) {
  const batch: Promise<void>[] = []
  const m = 1 + Math.floor(rand() * 40)
  for (let j = 0; j < m; j++) {
    const path = `hub/a${Math.floor(rand() * n)}`
    const r = rand()
    const type = r < 0.6 ? 'inc' : r < 0.9 ? 'arm' : 'disarm'
    const id = `${seedArg}-${k++}`
    batch.push(system.sendCommitted(path, { type, id } as any).then((seq) => out(`C ${path} ${seq} ${id}`)))
  }
  await Promise.all(batch)
  await new Promise((r) => setTimeout(r, Math.floor(rand() * 8)))
}
