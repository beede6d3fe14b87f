/**
 * The fleet's exactly-once checker: reads every applied segment (the shared inbox stream, or a
 * root's own LevelDB copies) and compares them with what the hubs appended. Used by the fleet
 * test and benchmark; an operator can run it against a live fleet's stream too.
 */
import type { FleetStore } from '../nats/NatsTransport.ts'
import type { LevelStore } from '../LevelStore.ts'
import { range } from '../keyLayout.ts'
import type { SharedSegment } from './RootService.ts'

/** `hub/stream` -> the cursors applied, in the order read, each with the root that applied it. */
export type AppliedMap = Map<string, Array<{ cursor: number; id: string; root: string }>>

export interface CheckResult {
  /** Records appended by a hub and in no segment. */
  lost: number
  /** Cursors found more than once. */
  duplicated: number
  /** Cursors read out of order within one hub's stream. */
  outOfOrder: number
  /** Records applied per root. */
  byRoot: Record<string, number>
  total: number
}

/** Every segment of the shared inbox stream. */
export async function readShared(log: FleetStore): Promise<AppliedMap> {
  const out: AppliedMap = new Map()
  const dec = new TextDecoder()
  for await (const m of log.readAll(`${log.spec.subjectPrefix}.>`)) {
    const seg = JSON.parse(dec.decode(m.data)) as SharedSegment
    add(out, `${seg.hub}/${seg.stream}`, seg.root, seg.records)
  }
  return out
}

/** The applied segments one root keeps in its LevelDB (`R!a!<hub>!<stream>!<cursor>`), as root `root`. */
export async function readLocal(store: LevelStore, root: string): Promise<AppliedMap> {
  const out: AppliedMap = new Map()
  const p = 'R!a!'
  for await (const [key, value] of store.db.iterator(range(p))) {
    const rest = key.slice(p.length, key.lastIndexOf('!'))
    const i = rest.indexOf('!')
    add(out, `${rest.slice(0, i)}/${rest.slice(i + 1)}`, root, JSON.parse(value))
  }
  return out
}

function add(out: AppliedMap, key: string, root: string, records: Array<{ id: string; cursor: number }>): void {
  let l = out.get(key)
  if (!l) out.set(key, (l = []))
  for (const r of records) l.push({ cursor: r.cursor, id: r.id, root })
}

/** Merges several roots' maps (their local copies) into one. */
export function merge(maps: AppliedMap[]): AppliedMap {
  const out: AppliedMap = new Map()
  for (const m of maps)
    for (const [k, l] of m) {
      const o = out.get(k)
      if (o) o.push(...l)
      else out.set(k, [...l])
    }
  for (const l of out.values()) l.sort((a, b) => a.cursor - b.cursor)
  return out
}

/** Checks `applied` against each stream's last appended cursor (`expected`: `hub/stream` -> n). */
export function checkExactlyOnce(applied: AppliedMap, expected: Map<string, number>): CheckResult {
  const r: CheckResult = { lost: 0, duplicated: 0, outOfOrder: 0, byRoot: {}, total: 0 }
  for (const [k, n] of expected) {
    const l = applied.get(k) ?? []
    const seen = new Set<number>()
    let prev = 0
    for (const x of l) {
      r.total++
      r.byRoot[x.root] = (r.byRoot[x.root] ?? 0) + 1
      if (seen.has(x.cursor)) r.duplicated++
      else if (x.cursor < prev) r.outOfOrder++
      seen.add(x.cursor)
      prev = Math.max(prev, x.cursor)
    }
    for (let c = 1; c <= n; c++) if (!seen.has(c)) r.lost++
  }
  return r
}
