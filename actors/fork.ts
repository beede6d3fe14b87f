/**
 * What-if forks of a recorded log: replay to a seq, change what happened there (another event,
 * none, or one more), continue with the rest of the recording where it still applies, and compare
 * the two paths step by step. Pure: XState's transitions through ReplayState; nothing is run.
 *
 * What "still applies" means for the recorded events after the fork point:
 * - a sent event is delivered as recorded (the fork's machine may take no transition for it);
 * - an effect's result (`xstate.done.actor.X` / `xstate.error.actor.X`) is delivered only when the
 *   fork has the effect X running under the same idempotency key (`<path>/<X>@<seq>`); the fork
 *   keeps the recorded seqs (an inserted event shares the seq of the event it precedes), so an
 *   effect the fork starts on the same recorded event has the recorded key. An effect the fork
 *   runs under a key the recording never completed is reported `missing`: the fork would need a
 *   result nobody recorded, and waits for it;
 * - a timer fire is delivered when the fork has the same timer pending with the same due time; a
 *   timer the fork armed that the recording never fired fires at its due time, before the first
 *   recorded event after it (`synthesized`); one still pending at the end is reported.
 *
 * The paths rejoin at the first seq from which their states (value, context, status) are equal to
 * the end of the log.
 */
import type { AnyStateMachine } from 'xstate'
import { diffJson, jsonEqual } from '../protocol/jsonDiff.ts'
import { isSnapshotLine, type LogEventLine, type LogHeader, type LogLine } from '../protocol/log.ts'
import { pureSpecOf } from './PureActor.ts'
import { ReplayState } from './ReplayState.ts'
import { activeNodes } from './xstateSeams.ts'

/** The change at the fork point. */
export type ForkChange =
  | { kind: 'replace'; event: { type: string; [k: string]: unknown } }
  | { kind: 'drop' }
  | { kind: 'insert'; event: { type: string; [k: string]: unknown } }

/** A bad fork request: `code` names what is wrong. */
export class ForkError extends Error {
  constructor(
    readonly code: 'FORK_SEQ' | 'FORK_MACHINE',
    message: string,
  ) {
    super(message)
    this.name = 'ForkError'
  }
}

/** A path's state at one step: what a snapshot line records. */
export interface ForkState {
  value: unknown
  context: unknown
  status: string
}

/** What the fork did with one step. */
export type ForkAction =
  | 'same' // delivered as recorded (before the fork point, or after it where it still applies)
  | 'replaced'
  | 'dropped'
  | 'inserted'
  | 'ignored' // delivered, but the fork's machine took no transition for it
  | 'not-running' // an effect result for an effect the fork does not run under that key
  | 'stale-timer' // a timer fire the fork has no pending instance for
  | 'synthesized' // a timer the fork armed, fired at its due time

/** One step of the fork, beside the original at the same seq. */
export interface ForkRow {
  seq: number
  /** The recorded event at this seq (absent for a synthesized timer or an inserted event). */
  recorded?: { type: string; [k: string]: unknown }
  /** The event the fork applied, when it differs from the recorded one. */
  applied?: { type: string; [k: string]: unknown }
  action: ForkAction
  original: ForkState
  fork: ForkState
  /** The fork's state differs from the original's at this seq. */
  differs: boolean
  /** Fork vs original (`before` is the original), when they differ. */
  diff?: { path: string; original: unknown; fork: unknown }[]
}

/** Both paths side by side, the verdict, and what the fork did with effects and timers. */
export interface ForkResult {
  actor: string
  machine: string
  forkAt: number
  change: ForkChange
  /** One row per step from the fork point on. */
  rows: ForkRow[]
  /** The seq from which both paths agree to the end; null when they do not rejoin. */
  rejoinedAt: number | null
  final: { original: ForkState; fork: ForkState; diff: { path: string; original: unknown; fork: unknown }[] }
  effects: {
    /** Recorded results the fork used (same key). */
    reused: string[]
    /** Recorded results the fork had no use for: its effect was not running under that key. */
    notRunning: string[]
    /** Effects the fork runs whose result was never recorded, with the seq the fork started them at. */
    missing: { key: string; child: string }[]
  }
  timers: { synthesized: { id: string; due: number }[]; pending: { id: string; due: number }[] }
}

/** Timers the fork fires itself after the end of the recording, at most. */
const END_FIRES = 20

const stateOf = (rs: ReplayState): ForkState => {
  const p = rs.persisted()
  return { value: p.value, context: p.context, status: p.status }
}

const settledChild = (type: string): string | undefined =>
  type.startsWith('xstate.done.actor.') || type.startsWith('xstate.error.actor.')
    ? type.slice(type.indexOf('.actor.') + 7)
    : undefined

/**
 * The effects a snapshot waits on that start as entry actions (machines hosted pure, such as the
 * job machine: `runStep` with `params.name`): child id -> key `<actor>/<name>`, the key the host
 * gives them whatever the attempt.
 */
function actionEffects(machine: AnyStateMachine, actor: string, snapshot: any): Map<string, string> {
  const out = new Map<string, string>()
  const types = pureSpecOf(machine)?.effects
  if (!types?.length || snapshot.status !== 'active') return out
  for (const node of activeNodes(snapshot)) {
    for (const def of node.entry ?? []) {
      const type = typeof def === 'string' ? def : def?.type
      if (!type || !types.includes(type)) continue
      const params = typeof def.params === 'function' ? undefined : def.params
      const name = String(params?.name ?? params?.id ?? type)
      out.set(name, `${actor}/${name}`)
    }
  }
  return out
}

function diffStates(o: ForkState, f: ForkState) {
  return diffJson(o, f, '', 20).map((d) => ({ path: d.path, original: d.before, fork: d.after }))
}

/**
 * Forks the log (`header` and its parsed `lines`) at the event `forkAt`. `then` replaces the
 * recorded events after the fork point (another recording's, or written by hand) for the fork.
 * Throws ForkError when `forkAt` is not an event of the log.
 */
export function forkLog(
  machine: AnyStateMachine,
  header: LogHeader,
  lines: LogLine[],
  forkAt: number,
  change: ForkChange,
  then?: LogEventLine[],
): ForkResult {
  const events = lines.filter((l): l is LogEventLine => !isSnapshotLine(l))
  const start = lines[0] && isSnapshotLine(lines[0]) ? lines[0] : undefined
  if (!events.length) throw new ForkError('FORK_SEQ', 'the log has no event to fork at')
  const first = events[0].seq
  const last = events[events.length - 1].seq
  if (!Number.isInteger(forkAt) || forkAt < first || forkAt > last)
    throw new ForkError('FORK_SEQ', `--fork-at ${forkAt}: the log's events are seq ${first} to ${last}`)
  const fresh = () => {
    const rs = new ReplayState(machine, header.actor, header.parent !== undefined)
    if (start)
      rs.restore({ seq: start.seq, at: start.at, snapshot: { status: 'active', children: {}, ...start.snapshot } })
    else rs.init(header.input, header.at)
    return rs
  }
  // The original path, with the key of every effect result it received and every timer it fired.
  const orig = fresh()
  const origAt = new Map<number, ForkState>([[orig.seq, stateOf(orig)]])
  const recordedResults = new Set<string>()
  const recordedFires = new Set<string>()
  // the key each recorded effect result carried
  const origKeyAt = new Map<number, string>()
  for (const e of events) {
    const child = settledChild(e.event.type)
    if (child) {
      const key = orig.effects.get(child)
      if (key) {
        recordedResults.add(key)
        origKeyAt.set(e.seq, key)
      }
    }
    if (e.timer !== undefined) recordedFires.add(`${e.timer}|${e.due}`)
    orig.apply(e)
    origAt.set(e.seq, stateOf(orig))
  }
  // The fork: the same up to the fork point.
  const fork = fresh()
  for (const e of events) {
    if (e.seq >= forkAt) break
    fork.apply(e)
  }
  const rows: ForkRow[] = []
  const reused: string[] = []
  const notRunning: string[] = []
  const synthesized: { id: string; due: number }[] = []
  /** A row; `before` compares with the original before the event `seq` (a step the fork adds). */
  const row = (
    seq: number,
    action: ForkAction,
    recorded?: ForkRow['recorded'],
    applied?: ForkRow['applied'],
    before = false,
  ) => {
    const o = (before ? origAt.get(seq - 1) : origAt.get(seq)) ?? origAt.get(last)!
    const f = stateOf(fork)
    const differs = !jsonEqual(o, f)
    rows.push({
      seq,
      ...(recorded ? { recorded } : {}),
      ...(applied ? { applied } : {}),
      action,
      original: o,
      fork: f,
      differs,
      ...(differs ? { diff: diffStates(o, f) } : {}),
    })
  }
  /** Fires the fork's own timers (never fired in the recording) that fall due before `at`. */
  const fireDue = (at: number, seq: number) => {
    for (;;) {
      const due = [...fork.timers.values()]
        .filter((t) => t.due < at && !recordedFires.has(`${t.id}|${t.due}`))
        .sort((a, b) => a.due - b.due)[0]
      if (!due) return
      fork.apply({ seq, at: due.due, event: due.event as any, timer: due.id, due: due.due } as any)
      synthesized.push({ id: due.id, due: due.due })
      row(seq, 'synthesized', undefined, due.event as any, true)
    }
  }
  const deliver = (e: LogEventLine) => {
    fireDue(e.at, e.seq)
    const child = settledChild(e.event.type)
    const byAction = child && !fork.effects.has(child) && !origKeyAt.has(e.seq)
    if (child && byAction) {
      const key = actionEffects(machine, header.actor, fork.snapshot).get(child)
      if (!key) {
        notRunning.push(`${header.actor}/${child}`)
        return row(e.seq, 'not-running', e.event)
      }
      reused.push(key)
    } else if (child) {
      const key = fork.effects.get(child)
      // events of another recording (`then`) carry their own keys: the running child takes them
      const origKey = then ? key : origKeyAt.get(e.seq)
      if (!key || key !== origKey) {
        if (origKey) notRunning.push(origKey)
        return row(e.seq, 'not-running', e.event)
      }
      reused.push(key)
    }
    if (e.timer !== undefined) {
      const t = fork.timers.get(e.timer)
      if (!t || t.due !== e.due) return row(e.seq, 'stale-timer', e.event)
    }
    const before = fork.snapshot
    fork.apply(e)
    row(e.seq, fork.snapshot === before ? 'ignored' : 'same', e.event)
  }
  const at = events.find((e) => e.seq === forkAt)!
  if (change.kind === 'insert') {
    fireDue(at.at, forkAt)
    fork.apply({ seq: forkAt, at: at.at, event: change.event })
    row(forkAt, 'inserted', undefined, change.event, true)
    deliver(at)
  } else if (change.kind === 'replace') {
    fireDue(at.at, forkAt)
    fork.apply({ seq: forkAt, at: at.at, event: change.event })
    row(forkAt, 'replaced', at.event, change.event)
  } else row(forkAt, 'dropped', at.event)
  const rest = then ?? events.filter((e) => e.seq > forkAt)
  for (const e of rest) deliver(e)
  // After the recording: the fork's own timers fire in due order (not the ones the original has
  // pending too: both paths wait for those), at most END_FIRES of them, so that a fork that retries
  // shows the effect it then needs.
  const common = new Set([...orig.timers.values()].map((t) => `${t.id}|${t.due}`))
  for (let i = 0; i < END_FIRES; i++) {
    const t = [...fork.timers.values()]
      .filter((x) => !common.has(`${x.id}|${x.due}`) && !recordedFires.has(`${x.id}|${x.due}`))
      .sort((a, b) => a.due - b.due)[0]
    if (!t) break
    fork.apply({ seq: fork.seq, at: t.due, event: t.event as any, timer: t.id, due: t.due } as any)
    synthesized.push({ id: t.id, due: t.due })
    row(fork.seq, 'synthesized', undefined, t.event as any)
  }
  // rejoin: the first row from which every row agrees (and the final states agree)
  let rejoinedAt: number | null = null
  for (let i = rows.length - 1; i >= 0 && !rows[i].differs; i--) rejoinedAt = rows[i].seq
  const finalOrig = stateOf(orig)
  const finalFork = stateOf(fork)
  const finalDiff = diffStates(finalOrig, finalFork)
  if (finalDiff.length) rejoinedAt = null
  // an effect still running at the end of the recording is not one the fork alone needs
  const stillRunning = new Set(orig.effects.values())
  for (const key of actionEffects(machine, header.actor, orig.snapshot).values()) stillRunning.add(key)
  const missing = [...fork.effects.entries(), ...actionEffects(machine, header.actor, fork.snapshot).entries()]
    .filter(([, key]) => !recordedResults.has(key) && !stillRunning.has(key))
    .map(([child, key]) => ({ key, child }))
  return {
    actor: header.actor,
    machine: header.machine,
    forkAt,
    change,
    rows,
    rejoinedAt,
    final: { original: finalOrig, fork: finalFork, diff: finalDiff },
    effects: { reused, notRunning, missing },
    timers: {
      synthesized,
      pending: [...fork.timers.values()].map((t) => ({ id: t.id, due: t.due })).sort((a, b) => a.due - b.due),
    },
  }
}
