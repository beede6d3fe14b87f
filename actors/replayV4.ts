/**
 * Replay of XState v4 machines, such as the ones an app reports over `@xstate/inspect`: the state a
 * `LogReplayer` steps when the log's machine is a v4 one. In v4 `machine.transition(state, event)`
 * is pure (it returns the next State with its actions listed, executing none: assigns are computed,
 * effects are not run), so the log replays through the app's own v4 machine; nothing of v4 is
 * imported here. It offers what `ReplayState` offers for v5 (`snapshot`, `init`, `restore`,
 * `apply`, `persisted`), so verification is the same code for both.
 */
import type { JournalRecord, SnapshotRecord } from './Store.ts'

/** The part of an XState v4 State replay reads. */
export interface V4State {
  value: unknown
  context: unknown
  done?: boolean
  /** False when the event took no transition and changed nothing. */
  changed?: boolean
}

/** XState v4's State class, as far as replay uses it. */
interface V4StateClass {
  from(value: unknown, context: unknown): V4State
}

/** The part of an XState v4 machine (a root StateNode) replay uses. */
export interface V4Machine {
  readonly id: string
  readonly initialState: V4State
  transition(state: V4State, event: { type: string; [k: string]: unknown }): V4State
  resolveState(state: V4State): V4State
  toJSON(): unknown
}

/** Whether `m` is an XState v4 machine (v5 machines have `getInitialSnapshot`, v4 ones `initialState`). */
export function isV4Machine(m: unknown): m is V4Machine {
  const x = m as Record<string, unknown> | null
  return (
    !!x &&
    x.__xstatenode === true &&
    typeof x.transition === 'function' &&
    typeof x.resolveState === 'function' &&
    typeof x.getInitialSnapshot !== 'function' &&
    'initialState' in x
  )
}

/** A v4 state as replay compares it: value, context and status (`done` in a final state). */
export interface V4Snapshot {
  value: unknown
  context: unknown
  status: 'active' | 'done'
  /** The v4 State itself, what the next transition starts from. */
  readonly state: V4State
}

const snapshotOf = (state: V4State): V4Snapshot => ({
  value: state.value,
  context: state.context,
  status: state.done ? 'done' : 'active',
  state,
})

/** One v4 actor replayed event by event (rejected events skipped, as the live actor skipped them). */
export class V4ReplayState {
  snapshot?: V4Snapshot
  /** Seq of the last event applied (or of the snapshot restored). */
  seq = 0
  at = 0

  constructor(readonly machine: V4Machine) {}

  /** The machine's initial state (v4 machines take no input). */
  init(_input: unknown, at: number): this {
    this.snapshot = snapshotOf(this.machine.initialState)
    this.seq = 0
    this.at = at
    return this
  }

  /** Starts from a recorded state (the app was already running when the hub attached). */
  restore(rec: Pick<SnapshotRecord, 'seq' | 'at' | 'snapshot'>): this {
    const s = rec.snapshot as { value: unknown; context?: unknown }
    // v4's own State.from (the class of the machine's states) fills what a transition reads
    // besides value and context (the init event, empty history and actions)
    const State = (this.machine.initialState as unknown as { constructor: V4StateClass }).constructor
    this.snapshot = snapshotOf(this.machine.resolveState(State.from(s.value, s.context)))
    this.seq = rec.seq
    this.at = rec.at
    return this
  }

  /** Applies one event; an event that takes no transition leaves the same snapshot (by identity). */
  apply(rec: Pick<JournalRecord, 'seq' | 'at' | 'event' | 'rejected'>): V4Snapshot {
    this.seq = rec.seq
    this.at = rec.at
    if (rec.rejected !== undefined) return this.snapshot!
    const next = this.machine.transition(this.snapshot!.state, rec.event)
    if (next.changed !== false) this.snapshot = snapshotOf(next)
    return this.snapshot!
  }

  /** The state as a snapshot line records it. */
  persisted(): { value: unknown; context: unknown; status: string } {
    const s = this.snapshot!
    return { value: s.value, context: s.context, status: s.status }
  }
}
