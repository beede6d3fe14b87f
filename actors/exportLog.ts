/**
 * Writes a durable actor's journal as an `aether.log/1` log: the header, every event, and a
 * snapshot line at every stored snapshot, or after every event (`snapshots: 'all'`, computed by
 * pure replay, so it needs the machine).
 */
import type { AnyStateMachine } from 'xstate'
import { LOG_FORMAT, type LogHeader } from '../protocol/log.ts'
import { ReplayState } from './ReplayState.ts'
import type { SnapshotRecord, Store } from './Store.ts'
import { unknownActor } from './errors.ts'

export interface ExportOptions {
  snapshots?: 'stored' | 'all'
  machine?: AnyStateMachine
}

export async function* exportLog(store: Store, path: string, opts: ExportOptions = {}): AsyncGenerator<string> {
  const meta = await store.getMeta(path)
  if (!meta) throw unknownActor(path)
  const header: LogHeader = {
    format: LOG_FORMAT,
    actor: meta.path,
    machine: meta.machine,
    machineHash: meta.machineHash,
    input: meta.input,
    at: meta.createdAt,
  }
  yield JSON.stringify(header) + '\n'
  const snaps: SnapshotRecord[] = []
  for await (const s of store.snapshots(path)) snaps.push(s)
  const snapLine = (seq: number, at: number, snapshot: unknown) => JSON.stringify({ seq, at, snapshot }) + '\n'
  let i = 0
  let first = true
  let rs: ReplayState | undefined
  if (opts.snapshots === 'all') {
    if (!opts.machine) throw new Error(`--snapshots all needs the machine "${meta.machine}"`)
    rs = new ReplayState(opts.machine, path)
  }
  for await (const rec of store.events(path, 0)) {
    if (first) {
      first = false
      // Events before the first kept event were compacted: start from the checkpoint that covers them.
      if (rec.seq > 1) {
        const base = [...snaps].reverse().find((s) => s.seq < rec.seq)
        if (!base) throw new Error(`the journal of ${path} starts at seq ${rec.seq} with no snapshot before it`)
        yield snapLine(base.seq, base.at, base.snapshot)
        rs?.restore(base)
      } else {
        rs?.init(meta.input, meta.createdAt)
      }
      while (i < snaps.length && snaps[i].seq < rec.seq) i++
    }
    yield JSON.stringify(rec) + '\n'
    if (rs) {
      rs.apply(rec)
      yield snapLine(rec.seq, rec.at, rs.persisted())
      while (i < snaps.length && snaps[i].seq <= rec.seq) i++
    } else {
      while (i < snaps.length && snaps[i].seq <= rec.seq) {
        if (snaps[i].seq === rec.seq) yield snapLine(snaps[i].seq, snaps[i].at, snaps[i].snapshot)
        i++
      }
    }
  }
  if (first && snaps.length) {
    // every event was compacted away: the log is its last checkpoint
    const last = snaps[snaps.length - 1]
    yield snapLine(last.seq, last.at, last.snapshot)
  }
}
