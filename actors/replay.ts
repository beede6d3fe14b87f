/**
 * Replaying a log (`aether.log/1`) through a machine with pure transitions, and verifying it
 * against the snapshot lines it carries. No side effect runs: XState's `transition()` semantics,
 * with one inert scope reused across events.
 */
import type { AnyStateMachine } from 'xstate'
import { isSnapshotLine, type LogHeader, type LogLine } from '../protocol/log.ts'
import { diffJson, jsonEqual, type DiffEntry } from './diff.ts'
import { machineHash } from './machineHash.ts'
import { ReplayState } from './ReplayState.ts'
import { isV4Machine, V4ReplayState, type V4Machine } from './replayV4.ts'

export interface Divergence {
  seq: number
  /** 1-based line number of the snapshot line that disagreed. */
  line: number
  /** The event that led to the differing state (absent when the log's first snapshot differs). */
  event?: unknown
  diff: DiffEntry[]
}

export interface ReplayResult {
  ok: boolean
  actor: string
  machine: string
  events: number
  rejectedSkipped: number
  snapshotsChecked: number
  lastSeq: number
  warnings: string[]
  divergence?: Divergence
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
  private lastEvent: unknown
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

  /** Feeds one parsed line; returns false when replay should stop (divergence or `until`). */
  line(l: LogLine, lineNo: number): boolean {
    if (this.done) return false
    const rs = this.rs!
    if (isSnapshotLine(l)) {
      if (rs.snapshot === undefined) {
        // A compacted log starts at a checkpoint.
        rs.restore({ seq: l.seq, at: l.at, snapshot: l.snapshot })
        return true
      }
      if (!this.opts.verify) return true
      this.checked++
      const replayed = rs.persisted()
      if (
        !jsonEqual(l.snapshot.value, replayed.value) ||
        (l.snapshot.context !== undefined && !jsonEqual(l.snapshot.context, replayed.context))
      ) {
        const diff = [
          ...diffJson(l.snapshot.value, replayed.value, 'value'),
          ...(l.snapshot.context !== undefined ? diffJson(l.snapshot.context, replayed.context, 'context') : []),
        ]
        this.divergence = { seq: l.seq, line: lineNo, event: this.lastEvent, diff }
        this.done = true
        return false
      }
      return true
    }
    if (this.opts.until !== undefined && l.seq > this.opts.until) {
      this.done = true
      return false
    }
    if (rs.snapshot === undefined) rs.init(this.header!.input, this.header!.at)
    rs.apply(l)
    if (l.rejected !== undefined) this.rejected++
    else this.events++
    this.lastEvent = l.event
    return true
  }

  result(): ReplayResult {
    const rs = this.rs!
    if (rs.snapshot === undefined) rs.init(this.header!.input, this.header!.at)
    const s = rs.snapshot
    return {
      ok: !this.divergence,
      actor: this.header!.actor,
      machine: this.header!.machine,
      events: this.events,
      rejectedSkipped: this.rejected,
      snapshotsChecked: this.checked,
      lastSeq: rs.seq,
      warnings: this.warnings,
      ...(this.divergence ? { divergence: this.divergence } : {}),
      final: { value: s.value, context: rs.persisted().context, status: s.status },
    }
  }
}
