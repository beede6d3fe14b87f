/**
 * Pure replay of one actor: XState's `machine.transition()` over journaled events, executing no
 * side effect, with one inert actor scope reused across calls (a fresh scope per call, as the
 * `transition()` helper makes, is several times slower).
 *
 * Besides the snapshot it derives what XState does not persist: the pending durable timers (from
 * delayed `raise`/`sendTo`-to-self actions and `cancel`s, due at the arming event's time plus the
 * delay) and the idempotency keys of invoked effects (`<path>/<childId>@<seq of the spawn>`).
 * Recovery, `aether replay` and the log exporter all use it, so they agree by construction.
 */
import type { AnyStateMachine } from 'xstate'
import { effectKeyFor } from './effect.ts'
import type { JournalRecord, SnapshotRecord, TimerRecord } from './Store.ts'
import {
  cancelledSendId,
  createInertScope,
  delayedSelfSend,
  type ExecutableAction,
  type InertScope,
  setScopeSnapshot,
  settleChildSnapshot,
  spawnedChildId,
} from './xstateSeams.ts'

/** The host's id for a timer that the machine did not name. Live scheduling uses the same. */
export const anonTimerId = (seq: number, k: number): string => `anon:${seq}:${k}`

export class ReplayState {
  snapshot: any
  /** Seq of the last event applied (or of the snapshot restored). */
  seq = 0
  at = 0
  readonly timers = new Map<string, TimerRecord>()
  readonly effects = new Map<string, string>()
  private actions: ExecutableAction[] = []
  private scope: InertScope

  constructor(
    readonly machine: AnyStateMachine,
    readonly path: string,
    /** The replayed actor was a child of another (its log's header names a `parent`). */
    child = false,
  ) {
    this.scope = createInertScope(machine, (a) => this.actions.push(a), child)
  }

  /** The initial state, as a fresh actor with this input would start. */
  init(input: unknown, at: number): this {
    this.actions.length = 0
    this.snapshot = this.machine.getInitialSnapshot(this.scope, input)
    setScopeSnapshot(this.scope, this.snapshot)
    this.seq = 0
    this.at = at
    this.absorb(0, at)
    return this
  }

  /** Starts from a checkpoint. */
  restore(rec: Pick<SnapshotRecord, 'seq' | 'at' | 'snapshot'> & Partial<SnapshotRecord>): this {
    this.snapshot = this.machine.restoreSnapshot(rec.snapshot, this.scope)
    setScopeSnapshot(this.scope, this.snapshot)
    this.seq = rec.seq
    this.at = rec.at
    this.timers.clear()
    for (const t of rec.timers ?? []) this.timers.set(t.id, t)
    this.effects.clear()
    for (const [k, v] of Object.entries(rec.effects ?? {})) this.effects.set(k, v)
    return this
  }

  /** Applies one journaled event; rejected events are skipped (the host skipped them too). */
  apply(rec: JournalRecord): any {
    this.seq = rec.seq
    this.at = rec.at
    if (rec.rejected !== undefined) return this.snapshot
    // A done (or stopped) actor takes no event: the host journals it and skips it, and XState's
    // transition() would still take root-level handlers on a done snapshot.
    if (this.snapshot.status !== 'active') return this.snapshot
    if (rec.timer !== undefined) {
      const t = this.timers.get(rec.timer)
      // A stale fire (the instance was cancelled or re-armed after it fired) is not delivered.
      if (!t || t.due !== rec.due) return this.snapshot
      this.timers.delete(rec.timer)
    }
    const type = rec.event.type
    const settles = type.startsWith('xstate.done.actor.') || type.startsWith('xstate.error.actor.')
    const childId = settles ? type.slice(type.indexOf('.actor.') + 7) : ''
    const before = settles ? this.snapshot.children?.[childId] : undefined
    this.actions.length = 0
    this.snapshot = this.machine.transition(this.snapshot, rec.event, this.scope)
    setScopeSnapshot(this.scope, this.snapshot)
    // A child whose completion was delivered must not be restarted by a restore. Only that child:
    // the same transition may have invoked a new child under the same id (the next task or step),
    // which is running and must be restarted.
    if (settles && before && this.snapshot.children?.[childId] === before) this.settleChild(childId, rec.event)
    this.absorb(rec.seq, rec.at)
    return this.snapshot
  }

  /** The persisted snapshot of the current state. */
  persisted(): any {
    return this.machine.getPersistedSnapshot(this.snapshot)
  }

  private settleChild(id: string, event: any): void {
    const child = this.snapshot.children?.[id]
    if (!child) return
    settleChildSnapshot(
      child,
      event.type.startsWith('xstate.done.') ? { output: event.output } : { error: event.error },
    )
  }

  private absorb(seq: number, at: number): void {
    let k = 0
    const self = this.scope.self
    for (const a of this.actions) {
      if (!a.params) continue
      const delayed = delayedSelfSend(a, self)
      if (delayed) {
        const id = delayed.id ?? anonTimerId(seq, k++)
        this.timers.set(id, { id, event: delayed.event, due: at + delayed.delay })
        continue
      }
      const sendId = cancelledSendId(a)
      if (sendId !== undefined) {
        this.timers.delete(sendId)
        continue
      }
      const child = spawnedChildId(a)
      if (child) this.effects.set(child, effectKeyFor(this.path, child, seq))
    }
    this.actions.length = 0
    if (this.snapshot.status !== 'active') this.timers.clear()
    const children = this.snapshot.children ?? {}
    for (const id of this.effects.keys()) if (!(id in children)) this.effects.delete(id)
  }
}
