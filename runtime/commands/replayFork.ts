/**
 * `aether replay LOG --fork-at SEQ (--event JSON | --drop | --insert JSON) [--then LOG2]`: a what-if
 * fork of a recorded log (actors/fork.ts), printed as both paths side by side.
 */
import { readFileSync } from 'node:fs'
import type { AnyStateMachine } from 'xstate'
import { isV4Machine } from '../../actors/index.ts'
import { type ForkChange, ForkError, type ForkResult, forkLog } from '../../actors/fork.ts'
import { isSnapshotLine, type LogEventLine, LogFormatError, parseLog } from '../../protocol/log.ts'
import { jsonEqual } from '../../protocol/jsonDiff.ts'
import { UsageError } from '../args.ts'

/** The command-line flags of a fork. */
export interface ForkFlags {
  'fork-at'?: unknown
  event?: unknown
  drop?: unknown
  insert?: unknown
  then?: unknown
  json?: unknown
}

/** An event given on the command line: JSON, an object with a non-empty string `type`. */
export function parseEventFlag(flag: string, text: string): { type: string; [k: string]: unknown } {
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch (err) {
    throw new UsageError(`--${flag}: not JSON (${(err as Error).message}): ${text.slice(0, 80)}`)
  }
  if (!v || typeof v !== 'object' || Array.isArray(v) || typeof (v as any).type !== 'string' || !(v as any).type)
    throw new UsageError(
      `--${flag}: an event is a JSON object with a non-empty string "type", got ${text.slice(0, 80)}`,
    )
  return v as { type: string }
}

/** The change the flags ask for; a UsageError unless exactly one of --event, --drop, --insert. */
export function forkChange(flags: ForkFlags): ForkChange {
  const given = [flags.event !== undefined, !!flags.drop, flags.insert !== undefined].filter(Boolean).length
  if (given !== 1)
    throw new UsageError('--fork-at SEQ needs exactly one of --event JSON (replace), --drop, --insert JSON (before)')
  if (flags.event !== undefined) return { kind: 'replace', event: parseEventFlag('event', String(flags.event)) }
  if (flags.insert !== undefined) return { kind: 'insert', event: parseEventFlag('insert', String(flags.insert)) }
  return { kind: 'drop' }
}

const readLog = (file: string) => {
  try {
    return parseLog(readFileSync(file, 'utf8'))
  } catch (err) {
    if (err instanceof LogFormatError) throw new UsageError(`malformed log ${file}, line ${err.line}: ${err.reason}`)
    throw err
  }
}

/** Runs the fork and prints it; exit 0 the paths rejoin, 1 they do not, 2 a usage error. */
export async function runFork(
  file: string,
  pickMachine: (machineName: string, actor: string) => Promise<AnyStateMachine>,
  flags: ForkFlags,
): Promise<number> {
  const at = flags['fork-at']
  if (!(typeof at === 'number' && Number.isInteger(at) && at >= 1))
    throw new UsageError(`--fork-at must be a positive integer (the seq of an event), got ${String(at)}`)
  const change = forkChange(flags)
  const log = readLog(file)
  const machine = await pickMachine(log.header.machine, log.header.actor)
  if (isV4Machine(machine)) throw new UsageError('--fork-at replays XState v5 machines only')
  let then: LogEventLine[] | undefined
  if (flags.then !== undefined) {
    const other = readLog(String(flags.then))
    if (other.header.machine !== log.header.machine)
      throw new UsageError(
        `--then ${flags.then}: its machine is "${other.header.machine}", the log's is "${log.header.machine}"`,
      )
    then = other.lines.filter((l): l is LogEventLine => !isSnapshotLine(l) && l.seq > at)
  }
  let r: ForkResult
  try {
    r = forkLog(machine as AnyStateMachine, log.header, log.lines, at, change, then)
  } catch (err) {
    if (err instanceof ForkError) throw new UsageError(err.message)
    throw err
  }
  if (flags.json) console.log(JSON.stringify(r))
  else for (const line of formatFork(r)) console.log(line)
  return r.rejoinedAt === null ? 1 : 0
}

/** A state value as its leaf paths (`link.recovering.iceRestart probe.ticking`), a shared first segment dropped. */
function brief(v: unknown): string {
  const leaves: string[] = []
  const walk = (x: unknown, at: string) => {
    if (x && typeof x === 'object') for (const [k, y] of Object.entries(x)) walk(y, at ? `${at}.${k}` : k)
    else leaves.push(at ? `${at}.${String(x)}` : String(x))
  }
  walk(v, '')
  const first = leaves[0]?.split('.')[0]
  const shared = leaves.length > 1 && leaves.every((l) => l.startsWith(`${first}.`))
  return (shared ? leaves.map((l) => l.slice(first.length + 1)) : leaves).join(' ')
}
const show = (v: unknown) => (v === undefined ? '(absent)' : JSON.stringify(v))
const pad = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s.padEnd(n))

/** The fork as text: a header, one row per step (both states), the verdict, effects and timers. */
export function formatFork(r: ForkResult): string[] {
  const what =
    r.change.kind === 'drop'
      ? 'the event dropped'
      : r.change.kind === 'insert'
        ? `${JSON.stringify(r.change.event)} inserted before it`
        : `the event replaced by ${JSON.stringify(r.change.event)}`
  const out = [`fork of ${r.actor} (${r.machine}) at seq ${r.forkAt}: ${what}`]
  out.push(`${pad('seq', 5)} ${pad('event', 34)} ${pad('action', 12)} ${pad('original', 28)} fork (= the same state)`)
  for (const row of r.rows) {
    const ev = row.applied && row.action !== 'replaced' ? row.applied : (row.recorded ?? row.applied)
    const evText = row.action === 'replaced' ? `${row.recorded!.type} -> ${row.applied!.type}` : (ev?.type ?? '')
    out.push(
      `${pad(String(row.seq), 5)} ${pad(evText, 34)} ${pad(row.action, 12)} ${brief(row.original.value).padEnd(28)} ${jsonEqual(row.original.value, row.fork.value) ? '=' : brief(row.fork.value)}${row.differs ? '  *' : ''}`,
    )
    if (row.differs && row.diff)
      for (const d of row.diff.filter((x) => x.path.startsWith('context')).slice(0, 4))
        out.push(`        ${d.path}: original ${show(d.original)}, fork ${show(d.fork)}`)
  }
  if (r.rejoinedAt !== null) out.push(`rejoined at seq ${r.rejoinedAt}: the two paths agree from there to the end`)
  else {
    out.push('diverged for good: the paths end in different states')
    for (const d of r.final.diff) out.push(`  ${d.path}: original ${show(d.original)}, fork ${show(d.fork)}`)
  }
  const e = r.effects
  out.push(
    `effects: ${e.reused.length} recorded results reused, ${e.notRunning.length} not used (the fork does not run that effect)${e.missing.length ? '' : ', none missing'}`,
  )
  for (const m of e.missing) out.push(`  missing: ${m.key} (the fork runs "${m.child}"; no result was recorded for it)`)
  if (r.timers.synthesized.length)
    out.push(`timers the fork fired itself: ${r.timers.synthesized.map((t) => `${t.id}@${t.due}`).join(', ')}`)
  if (r.timers.pending.length)
    out.push(`timers pending in the fork at the end: ${r.timers.pending.map((t) => `${t.id}@${t.due}`).join(', ')}`)
  return out
}
