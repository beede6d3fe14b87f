/**
 * Replaying a log (`aether.log/1`) through a machine with pure transitions, and verifying it
 * against the snapshot lines it carries. No side effect runs: XState's `transition()` semantics,
 * with one inert scope reused across events.
 *
 * Verification compares the state value, context and status at every snapshot line after the
 * starting one, and reports the first difference. An event whose processing throws in replay (or
 * leaves the replayed machine in status `error`) is a divergence too: the live actor accepted it
 * (a rejected one is marked and skipped). A verification that compared nothing, or not the final
 * state, is not a success: `result().unverified` says why.
 */
import type { AnyStateMachine } from 'xstate'
import { diffJson, jsonEqual } from '../protocol/jsonDiff.ts'
import { isSnapshotLine, LogFormatError, type LogHeader, type LogLine, type LogSnapshotLine } from '../protocol/log.ts'
import { machineHash } from './machineHash.ts'
import { ReplayState } from './ReplayState.ts'
import { isV4Machine, V4ReplayState, type V4Machine } from './replayV4.ts'

/** One differing leaf between the log's snapshot (`expected`) and the replayed one (`actual`). */
export interface DiffEntry {
  path: string
  expected: unknown
  actual: unknown
}

/**
 * Why replay diverged: `state` a snapshot line differs from the replayed state; `unaccepted` the
 * recorded actor changed on this event but the replayed machine took no transition for it;
 * `threw` the replayed machine threw on the event or ended in status `error`.
 */
export type DivergenceKind = 'state' | 'unaccepted' | 'threw'

export interface Divergence {
  kind: DivergenceKind
  seq: number
  /** 1-based line number of the line that disagreed (the snapshot line, or the event line for `threw`). */
  line: number
  /** The event that led to the differing state (absent when no event preceded it). */
  event?: unknown
  /** One sentence on what went wrong. */
  message: string
  diff: DiffEntry[]
}

export interface ReplayResult {
  /** True when replay went through without divergence and, with `verify`, compared the final state. */
  ok: boolean
  actor: string
  machine: string
  /** Events applied (rejected ones excluded). */
  events: number
  rejectedSkipped: number
  /** Snapshot lines compared with the replayed state (the starting checkpoint not counted). */
  snapshotsChecked: number
  /** Seq of the checkpoint the log started from (a compacted log), or 0 for the actor's creation. */
  startSeq: number
  /** Seq of the last event read. */
  lastSeq: number
  /** Seq of the last snapshot line compared (0: none). */
  lastCheckedSeq: number
  warnings: string[]
  divergence?: Divergence
  /** With `verify` and no divergence: why the log could not be verified (nothing compared, or not its end). */
  unverified?: string
  final: { value: unknown; context: unknown; status: string }
}

export interface ReplayOptions {
  verify?: boolean
  /** Stop after the event with this seq. */
  until?: number
}

export class LogReplayer {
  private rs?: ReplayState | V4ReplayState
  private header?: LogHeader
  private events = 0
  private rejected = 0
  private checked = 0
  private startSeq = 0
  private fromCheckpoint = false
  private lastSeq = 0
  private lastCheckedSeq = 0
  private lastEvent: unknown
  /** Whether the last event changed nothing in replay (XState found no enabled transition for it). */
  private lastUnaccepted = false
  /** The last snapshot line read, the recorded state before the next event. */
  private recorded?: LogSnapshotLine
  private done = false
  readonly warnings: string[] = []
  divergence?: Divergence

  constructor(
    private machine: AnyStateMachine | V4Machine,
    private opts: ReplayOptions = {},
  ) {}

  start(header: LogHeader): void {
    this.header = header
    const hash = machineHash(this.machine as AnyStateMachine)
    if (header.machineHash && header.machineHash !== hash) {
      this.warnings.push(
        `machineHash differs: the log was recorded with ${header.machineHash.slice(0, 12)}…, the module's machine is ${hash.slice(0, 12)}… (the machine changed since)`,
      )
    }
    // an XState v4 machine (an app watched over @xstate/inspect) replays with v4's own transition
    this.rs = isV4Machine(this.machine)
      ? new V4ReplayState(this.machine)
      : new ReplayState(this.machine as AnyStateMachine, header.actor, header.parent !== undefined)
  }

  /**
   * Feeds one parsed line (checked by LogReader: seqs in order, no gaps); returns false when
   * replay should stop (divergence or `until`).
   */
  line(l: LogLine, lineNo: number): boolean {
    if (this.done) return false
    const rs = this.rs!
    if (isSnapshotLine(l)) {
      if (rs.snapshot === undefined) {
        // A compacted log starts at a checkpoint.
        this.startSeq = this.lastSeq = l.seq
        this.fromCheckpoint = true
        this.recorded = l
        // (an XState v4 machine may have no context at all; a v5 snapshot always has one)
        if (l.snapshot.context === undefined && !isV4Machine(this.machine))
          throw new LogFormatError(lineNo, 'the starting snapshot has no "context": replay cannot start from it')
        try {
          // Logs written by hand or by the inspector may hold only value, context and status.
          rs.restore({ seq: l.seq, at: l.at, snapshot: { status: 'active', children: {}, ...l.snapshot } })
        } catch (err) {
          return this.threw(
            l,
            lineNo,
            `the replayed machine cannot start from this snapshot: ${(err as Error).message}`,
          )
        }
        return true
      }
      if (!this.opts.verify) return true
      this.checked++
      this.lastCheckedSeq = l.seq
      const before = this.recorded
      this.recorded = l
      const replayed = rs.persisted()
      const diff = snapshotDiff(l.snapshot, replayed)
      if (!diff.length) return true
      const changed =
        before !== undefined && before.seq === l.seq - 1 && snapshotDiff(before.snapshot, l.snapshot).length
      const unaccepted = this.lastUnaccepted && l.seq === this.lastSeq && !!changed
      const type = (this.lastEvent as { type?: string } | undefined)?.type
      return this.diverge({
        kind: unaccepted ? 'unaccepted' : 'state',
        seq: l.seq,
        line: lineNo,
        event: this.lastEvent,
        message: unaccepted
          ? `the replayed machine took no transition for "${type}" in state ${JSON.stringify(replayed.value)}, but the recorded actor changed`
          : 'the replayed state differs from the recorded one',
        diff,
      })
    }
    if (this.opts.until !== undefined && l.seq > this.opts.until) {
      this.done = true
      return false
    }
    if (rs.snapshot === undefined) rs.init(this.header!.input, this.header!.at)
    this.lastSeq = l.seq
    this.lastEvent = l.event
    if (l.rejected !== undefined) {
      this.rejected++
      rs.apply(l)
      this.lastUnaccepted = false
      return true
    }
    const before = rs.snapshot
    try {
      rs.apply(l)
    } catch (err) {
      return this.threw(l, lineNo, `the replayed machine threw on "${l.event.type}": ${(err as Error).message}`)
    }
    if (rs.snapshot.status === 'error' && before.status !== 'error') {
      const why = (rs.snapshot.error as Error | undefined)?.message ?? String(rs.snapshot.error)
      return this.threw(l, lineNo, `the replayed machine ended in status "error" on "${l.event.type}": ${why}`)
    }
    this.events++
    this.lastUnaccepted = rs.snapshot === before
    return true
  }

  result(): ReplayResult {
    const rs = this.rs!
    if (rs.snapshot === undefined) rs.init(this.header!.input, this.header!.at)
    const s = rs.snapshot
    let unverified: string | undefined
    if (this.opts.verify && !this.divergence) {
      if (this.lastSeq === this.startSeq)
        unverified = `the log has no event after ${this.fromCheckpoint ? `its starting checkpoint (seq ${this.startSeq})` : 'its header'}: there is nothing to replay and compare`
      else if (this.checked === 0)
        unverified = `the log has no snapshot line to compare with (${this.events} events replayed)`
      else if (this.lastCheckedSeq !== this.lastSeq)
        unverified = `the final state is not compared: the last snapshot line is at seq ${this.lastCheckedSeq}, the last event at seq ${this.lastSeq}`
    }
    return {
      ok: !this.divergence && !unverified,
      actor: this.header!.actor,
      machine: this.header!.machine,
      events: this.events,
      rejectedSkipped: this.rejected,
      snapshotsChecked: this.checked,
      startSeq: this.startSeq,
      lastSeq: this.lastSeq,
      lastCheckedSeq: this.lastCheckedSeq,
      warnings: this.warnings,
      ...(this.divergence ? { divergence: this.divergence } : {}),
      ...(unverified ? { unverified } : {}),
      final: { value: s.value, context: rs.persisted().context, status: s.status },
    }
  }

  private threw(l: LogLine, lineNo: number, message: string): false {
    return this.diverge({
      kind: 'threw',
      seq: l.seq,
      line: lineNo,
      event: (l as { event?: unknown }).event,
      message,
      diff: [],
    })
  }

  private diverge(d: Divergence): false {
    this.divergence = d
    this.done = true
    return false
  }
}

/** What differs between a recorded snapshot and a replayed one: value, context and status, where recorded. */
function snapshotDiff(expected: LogSnapshotLine['snapshot'], actual: any): DiffEntry[] {
  const out: DiffEntry[] = []
  const add = (name: 'value' | 'context' | 'status') => {
    if (name !== 'value' && expected[name] === undefined) return
    if (jsonEqual(expected[name], actual[name])) return
    for (const d of diffJson(expected[name], actual[name], name))
      out.push({ path: d.path, expected: d.before, actual: d.after })
  }
  add('value')
  add('context')
  add('status')
  return out
}
