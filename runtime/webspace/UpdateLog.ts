/**
 * UpdateLog: where a webspace's bytes live in LevelDB, beside the actor journal (same database,
 * its own sublevels, so a hub has one data folder and one lock).
 *
 * Layout (the name is a webspace name, which holds no `!`, so a name's keys form one range):
 *   sublevel `yws`  (binary values)
 *     <name>!c               the compacted state: one Yjs update holding everything up to `through`
 *     <name>!u!<seq hex12>   an incremental update, appended in arrival order (group-committed)
 *   sublevel `ywsm` (JSON values)
 *     <name>                 { epoch, through, seq }
 *
 * Compaction writes the new state, the new `through` and deletes the covered updates in one atomic
 * batch, so a crash at any point leaves either the old or the new layout. Updates newer than
 * `through` are applied again on load, which Yjs makes harmless (applying an update twice is a
 * no-op). This file knows bytes only; runtime/webspace/YjsWebspaces.ts knows Yjs.
 */
import { openSublevel } from '../keyLayout.ts'
import type { LevelStore } from '../LevelStore.ts'

export interface SpaceMeta {
  /** Bumped by restore and reset. */
  epoch: number
  /** The compacted state holds every update with seq <= through. */
  through: number
  /** The last seq written. */
  seq: number
}

export interface StoredSpace {
  meta: SpaceMeta
  compacted: Uint8Array | null
  updates: Uint8Array[]
}

const hex = (n: number) => n.toString(16).padStart(12, '0')
const emptyMeta = (): SpaceMeta => ({ epoch: 0, through: 0, seq: 0 })

export class UpdateLog {
  private data: any
  private metas: any
  private cache = new Map<string, SpaceMeta>()

  /** In the `yws` and `ywsm` sublevels of the hub's store (runtime/keyLayout.ts); `sync` flushes each write to disk. */
  constructor(
    store: LevelStore,
    readonly sync = false,
  ) {
    this.data = openSublevel(store, 'yws')
    this.metas = openSublevel(store, 'ywsm')
  }

  async meta(name: string): Promise<SpaceMeta> {
    const cached = this.cache.get(name)
    if (cached) return cached
    const m: SpaceMeta = (await this.metas.get(name)) ?? emptyMeta()
    this.cache.set(name, m)
    return m
  }

  /** Everything stored for `name`, in the order to apply it. */
  async read(name: string): Promise<StoredSpace> {
    this.cache.delete(name)
    const meta = await this.meta(name)
    const compacted: Uint8Array | null = (await this.data.get(`${name}!c`)) ?? null
    const updates: Uint8Array[] = []
    for await (const [, v] of this.data.iterator({ gt: `${name}!u!${hex(meta.through)}`, lt: `${name}!u"` }))
      updates.push(v)
    return { meta: { ...meta }, compacted, updates }
  }

  /** Appends updates in one batch; resolves once written. Returns the last seq. */
  async append(name: string, updates: Uint8Array[]): Promise<number> {
    const meta = await this.meta(name)
    const ops: any[] = []
    let seq = meta.seq
    for (const u of updates) ops.push({ type: 'put', key: `${name}!u!${hex(++seq)}`, value: u })
    const next = { ...meta, seq }
    ops.push({ type: 'put', sublevel: this.metas, key: name, value: next })
    // the cache moves first so that a second append issued before this one resolves gets new seqs
    this.cache.set(name, next)
    await this.data.batch(ops, { sync: this.sync })
    return seq
  }

  /** Replaces the updates up to the last written seq with `state` (which must cover them). */
  async compact(name: string, state: Uint8Array, through: number): Promise<void> {
    const meta = await this.meta(name)
    const ops: any[] = [{ type: 'put', key: `${name}!c`, value: state }]
    // the covered updates are deleted in the same batch: a crash leaves old or new, never half
    for await (const k of this.data.keys({ gt: `${name}!u!`, lte: `${name}!u!${hex(through)}` }))
      ops.push({ type: 'del', key: k })
    const next = { ...(this.cache.get(name) ?? meta), through }
    ops.push({ type: 'put', sublevel: this.metas, key: name, value: next })
    this.cache.set(name, next)
    await this.data.batch(ops, { sync: this.sync })
  }

  /** Drops everything of `name` and stores `state` (or nothing) under a new epoch. */
  async replace(name: string, state: Uint8Array | null, epoch: number): Promise<void> {
    const ops: any[] = []
    for await (const k of this.data.keys({ gte: `${name}!`, lt: `${name}"` })) ops.push({ type: 'del', key: k })
    if (state) ops.push({ type: 'put', key: `${name}!c`, value: state })
    const next: SpaceMeta = { epoch, through: 0, seq: 0 }
    ops.push({ type: 'put', sublevel: this.metas, key: name, value: next })
    this.cache.set(name, next)
    await this.data.batch(ops, { sync: true })
  }

  /** Names with anything stored. */
  async names(): Promise<string[]> {
    const out: string[] = []
    for await (const k of this.metas.keys()) out.push(k)
    return out
  }
}
