/**
 * Migration impact: what changed machine code does to the actors already stored.
 *
 * A durable actor is journaled with its machine's code hash (`codeHash`, actors/machineHash.ts: the
 * config and the implementations' source). When an app's machine code changes, every live actor of
 * that machine is checked before the hub serves: its journal
 * is replayed through the new code (XState's pure transitions, no effect runs) and compared with
 * every checkpoint the store recorded, and its current state and pending timers are looked up in
 * the new machine. Each actor is then one of:
 *
 * - `identical`: the new code replays its journal to the same states;
 * - `diverged`: at some checkpoint the new code computes another state (first seq, the event, a diff);
 * - `stranded`: it sits in a state the new code no longer has (recovery could not restore it);
 * - `timers`: it has timers pending in states the new code no longer has (they could never fire).
 *
 * `aether hub` refuses to start while any actor diverged, is stranded or has such timers, unless
 * started with `--migration accept`; `aether migrate check` prints the same report without starting.
 */
import type { AnyStateMachine } from 'xstate'
import { codeHash, exportLog, LogReplayer } from '../actors/index.ts'
import type { DiffEntry, Store } from '../actors/index.ts'
import { LogReader, parseLogHeader } from '../protocol/log.ts'
import type { HubFeature } from './Hub.ts'
import { LevelStore } from './LevelStore.ts'

export interface MigrationActor {
  path: string
  machine: string
}

export interface MigrationReport {
  /** Live actors whose machine's code hash differs from the code's (or was not kept): the ones checked. */
  checked: number
  identical: MigrationActor[]
  diverged: Array<MigrationActor & { seq: number; event?: unknown; message: string; diff: DiffEntry[] }>
  stranded: Array<MigrationActor & { state: string }>
  timers: Array<MigrationActor & { timer: string; state: string }>
  /** Actors of changed machines that could not be read (a journal gap): listed, never started silently. */
  unreadable: Array<MigrationActor & { message: string }>
}

/** Whether the report holds anything that stops a hub started with `--migration refuse`. */
export function migrationBlocks(r: MigrationReport): boolean {
  return r.diverged.length + r.stranded.length + r.timers.length + r.unreadable.length > 0
}

/**
 * Checks every live actor in `store` whose machine is one of `machines` and was journaled under
 * another hash. Reads only; the store is left as it was.
 */
export async function checkMigration(
  store: Store,
  machines: Record<string, AnyStateMachine>,
): Promise<MigrationReport> {
  const report: MigrationReport = { checked: 0, identical: [], diverged: [], stranded: [], timers: [], unreadable: [] }
  const hashes = new Map<string, string>()
  for (const meta of await store.listMeta()) {
    const machine = machines[meta.machine]
    if (!machine || meta.status !== 'live') continue
    let hash = hashes.get(meta.machine)
    if (hash === undefined) hashes.set(meta.machine, (hash = codeHash(machine)))
    // stores written before code hashes were kept: every actor of the machine is checked
    if (meta.codeHash === hash) continue
    report.checked++
    const who = { path: meta.path, machine: meta.machine }
    let bad = false
    // the state it is in, and its timers, as recorded at its latest checkpoint
    const latest = await store.latestSnapshot(meta.path)
    if (latest) {
      for (const state of statePaths(latest.snapshot?.value)) {
        if (!hasState(machine, state)) {
          report.stranded.push({ ...who, state })
          bad = true
        }
      }
      for (const t of latest.timers ?? []) {
        const state = afterState(t.event?.type)
        if (state !== undefined && !hasStateId(machine, state)) {
          report.timers.push({ ...who, timer: t.event.type, state })
          bad = true
        }
      }
    }
    if (bad) continue
    // its journal through the new code, compared with every recorded checkpoint
    try {
      const replayer = new LogReplayer(machine, { verify: true })
      const reader = new LogReader()
      let lineNo = 0
      for await (const chunk of exportLog(store, meta.path, { snapshots: 'stored' })) {
        const text = chunk.trimEnd()
        lineNo++
        if (lineNo === 1) {
          replayer.start(parseLogHeader(text, 1))
          continue
        }
        if (!replayer.line(reader.line(text, lineNo), lineNo)) break
      }
      const d = replayer.result().divergence
      if (d) report.diverged.push({ ...who, seq: d.seq, event: d.event, message: d.message, diff: d.diff })
      else report.identical.push(who)
    } catch (err) {
      report.unreadable.push({ ...who, message: (err as Error).message })
    }
  }
  return report
}

/** The report as lines for a terminal: counts, then each actor that blocks, with its reason. */
export function formatMigration(r: MigrationReport): string {
  const lines = [
    `migration: ${r.checked} actor(s) of changed machines checked: ${r.identical.length} replay identically, ${r.diverged.length} diverge, ${r.stranded.length} stranded, ${r.timers.length} with timers in removed states${r.unreadable.length ? `, ${r.unreadable.length} unreadable` : ''}`,
  ]
  for (const a of r.diverged) {
    const ev = a.event && typeof a.event === 'object' ? ` on "${(a.event as { type?: string }).type}"` : ''
    lines.push(`  diverges  ${a.path} (${a.machine}) at seq ${a.seq}${ev}: ${a.message}`)
    for (const d of a.diff.slice(0, 5))
      lines.push(`            ${d.path}: expected ${JSON.stringify(d.expected)}, replayed ${JSON.stringify(d.actual)}`)
  }
  for (const a of r.stranded)
    lines.push(`  stranded  ${a.path} (${a.machine}) is in state "${a.state}", which the new code does not have`)
  for (const a of r.timers)
    lines.push(
      `  timer     ${a.path} (${a.machine}) has ${a.timer} pending in state "${a.state}", which the new code does not have`,
    )
  for (const a of r.unreadable) lines.push(`  unreadable ${a.path} (${a.machine}): ${a.message}`)
  return lines.join('\n')
}

/** Every leaf state path of a state value: `{ a: { b: 'c' }, d: 'e' }` -> `a.b.c`, `d.e`. */
function statePaths(value: unknown, prefix = ''): string[] {
  if (typeof value === 'string') return [prefix + value]
  if (!value || typeof value !== 'object') return []
  const out: string[] = []
  for (const [k, v] of Object.entries(value)) {
    const sub = statePaths(v, `${prefix}${k}.`)
    out.push(...(sub.length ? sub : [prefix + k]))
  }
  return out
}

function hasState(machine: AnyStateMachine, path: string): boolean {
  let node: any = machine.root
  for (const key of path.split('.')) {
    node = node?.states?.[key]
    if (!node) return false
  }
  return true
}

function hasStateId(machine: AnyStateMachine, id: string): boolean {
  try {
    return !!machine.getStateNodeById(id)
  } catch {
    return false
  }
}

/** The state id in a delayed transition's event type: `xstate.after.<delay>.<state id>`. */
function afterState(type: unknown): string | undefined {
  if (typeof type !== 'string' || !type.startsWith('xstate.after.')) return undefined
  const rest = type.slice('xstate.after.'.length)
  const dot = rest.indexOf('.')
  return dot < 0 ? undefined : rest.slice(dot + 1)
}

/** Checks the data folder `dir` (a hub that is not running) against `machines`. */
export async function checkDataFolder(
  dir: string,
  machines: Record<string, AnyStateMachine>,
): Promise<MigrationReport> {
  const store = await LevelStore.open(dir)
  try {
    return await checkMigration(store, machines)
  } finally {
    await store.close()
  }
}

/** `GET /api/migration`: the report the hub started with (null when no app machine changed). */
export function migrationFeature(report: MigrationReport | null): HubFeature {
  return {
    name: 'migration',
    install(hub) {
      hub.server.route('GET', '/api/migration', () => report)
    },
  }
}
