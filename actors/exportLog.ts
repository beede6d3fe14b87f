/**
 * Writes a durable actor's journal as an `aether.log/1` log: the header, the checkpoint it starts
 * from when its head was compacted away (`journalStart`), every event, and snapshot lines.
 *
 * Snapshot lines: with `snapshots: 'all'` (the default) one after every event; with `'stored'`
 * the stored checkpoints only. Either way the log ends with the final state when it is known, so
 * `aether replay --verify` has something to compare. Where a line comes from, best first: a stored
 * checkpoint or the live actor's state (what the actor was), else pure replay with `machine` from
 * the last of those (what the machine computes; after a stored checkpoint replay continues from
 * it, so a disagreement between the hub's replay and its own recording shows at that seq).
 */
import type { AnyStateMachine } from 'xstate'
import { LOG_FORMAT, type LogHeader } from '../protocol/log.ts'
import { ActorError, unknownActor } from './errors.ts'
import { journalStart } from './journalStart.ts'
import { ReplayState } from './ReplayState.ts'
import type { SnapshotRecord, Store } from './Store.ts'

/** The state of a live actor: the export stops at `seq` and ends with this snapshot. */
export interface LiveState {
  seq: number
  snapshot: unknown
}

export interface ExportOptions {
  /** `all` (default): a snapshot line after every event (needs `machine`); `stored`: checkpoints only. */
  snapshots?: 'stored' | 'all'
  /** The actor's machine, for snapshots the store does not hold. */
  machine?: AnyStateMachine
  /** On a running hub: the actor's current state, the end of the export. */
  live?: LiveState
}

/** A snapshot at every step was asked for without the machine that computes them. */
export const machineNeeded = (path: string, machine: string) =>
  new ActorError(
    'MACHINE_NEEDED',
    `a snapshot after every event of "${path}" needs its machine "${machine}": provide it (aether log export --machine MODULE), or ask for the stored checkpoints only (--snapshots stored)`,
  )

/**
 * Streams the log of the durable actor at `path`, line by line (each chunk ends with "\n").
 * Throws ActorError UNKNOWN_ACTOR, MACHINE_NEEDED, or JournalGapError (JOURNAL_GAP).
 */
export async function* exportLog(store: Store, path: string, opts: ExportOptions = {}): AsyncGenerator<string> {
  const start = await journalStart(store, path)
  if (!start) throw unknownActor(path)
  const { meta, base } = start
  const all = (opts.snapshots ?? 'all') === 'all'
  if (all && !opts.machine) throw machineNeeded(path, meta.machine)
  const header: LogHeader = {
    format: LOG_FORMAT,
    actor: meta.path,
    machine: meta.machine,
    machineHash: meta.machineHash,
    input: meta.input,
    at: meta.createdAt,
  }
  yield JSON.stringify(header) + '\n'
  const line = (seq: number, at: number, snapshot: unknown) => JSON.stringify({ seq, at, snapshot }) + '\n'
  if (base) yield line(base.seq, base.at, base.snapshot)
  const stored = new Map<number, SnapshotRecord>()
  let lastStored = base?.seq ?? 0
  for await (const s of store.snapshots(path)) {
    if (s.seq < start.firstSeq) continue
    stored.set(s.seq, s)
    lastStored = s.seq
  }
  const live = opts.live
  // Replay runs from the start for `all`; for `stored` only past the last checkpoint, to compute
  // the final state when neither the store nor the live actor has it.
  const replayFrom = all ? start.firstSeq - 1 : live ? Infinity : lastStored
  let rs: ReplayState | undefined
  if (opts.machine && replayFrom !== Infinity) {
    rs = new ReplayState(opts.machine, path)
    if (replayFrom === start.firstSeq - 1) {
      if (base) rs.restore(base)
      else rs.init(meta.input, meta.createdAt)
    }
  }
  let lastSeq = start.firstSeq - 1
  let lastAt = base?.at ?? meta.createdAt
  let snapSeq = lastSeq
  for await (const rec of store.events(path, start.firstSeq - 1, live?.seq)) {
    yield JSON.stringify(rec) + '\n'
    lastSeq = rec.seq
    lastAt = rec.at
    const s = stored.get(rec.seq)
    if (rs) {
      if (rec.seq > replayFrom) rs.apply(rec)
      if (s && rec.seq >= replayFrom) rs.restore(s)
    }
    if (s) {
      yield line(s.seq, s.at, s.snapshot)
      snapSeq = rec.seq
    } else if (live && rec.seq === live.seq) {
      yield line(live.seq, rec.at, live.snapshot)
      snapSeq = rec.seq
    } else if (all) {
      yield line(rec.seq, rec.at, rs!.persisted())
      snapSeq = rec.seq
    }
  }
  // `stored`: the final state, when no checkpoint holds it, computed from the last one.
  if (snapSeq !== lastSeq && rs) yield line(lastSeq, lastAt, rs.persisted())
}
