/**
 * `aether replay BUNDLE`: replays every actor's log of an incident bundle (protocol/bundle.ts) with
 * pure transitions and reports one line per actor. Machines: the built-in ones by the name in each
 * log's header, or those of `--app FILE` / `--machine MODULE` (by the same name) first.
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs'
import type { AnyStateMachine } from 'xstate'
import { LogReplayer, type ReplayResult } from '../../actors/index.ts'
import { BundleFormatError, isBundleText, parseBundle, type BundleLog } from '../../protocol/bundle.ts'
import { UsageError, type ParsedArgs } from '../args.ts'
import { appMachine } from '../app.ts'
import { knownMachines } from '../corpus/machineSource.ts'
import { loadMachine } from '../loadMachine.ts'
import { formatDiff } from './replay.ts'

/** Whether `file` starts with a bundle manifest. */
export function isBundleFile(file: string): boolean {
  const fd = openSync(file, 'r')
  try {
    const buf = Buffer.alloc(256)
    return isBundleText(buf.toString('utf8', 0, readSync(fd, buf, 0, 256, 0)))
  } finally {
    closeSync(fd)
  }
}

/** One actor's outcome. */
export interface BundleActorResult {
  node: string
  actor: string
  machine: string
  ok: boolean
  /** Why it failed: a divergence (with its seq), a machine not found, nothing to verify. */
  error?: string
  divergence?: ReplayResult['divergence']
  events: number
  snapshotsChecked: number
}

/** Replays one log of a bundle. */
export function replayBundleLog(log: BundleLog, machine: AnyStateMachine, verify: boolean): BundleActorResult {
  const base = { node: log.node, actor: log.header.actor, machine: log.header.machine }
  const r = new LogReplayer(machine, { verify })
  r.start(log.header)
  let lineNo = log.firstLine
  for (const l of log.lines) if (!r.line(l, ++lineNo)) break
  const res = r.result()
  if (res.divergence)
    return {
      ...base,
      ok: false,
      error: `DIVERGED at seq ${res.divergence.seq} (bundle line ${res.divergence.line}): ${res.divergence.message}`,
      divergence: res.divergence,
      events: res.events,
      snapshotsChecked: res.snapshotsChecked,
    }
  if (verify && res.unverified)
    return { ...base, ok: false, error: `cannot verify: ${res.unverified}`, events: res.events, snapshotsChecked: 0 }
  return { ...base, ok: true, events: res.events, snapshotsChecked: res.snapshotsChecked }
}

async function machineFor(name: string, actor: string, flags: ParsedArgs['flags']): Promise<AnyStateMachine> {
  if (flags.app) {
    try {
      return await appMachine(String(flags.app), name, actor)
    } catch (err) {
      if (!knownMachines[name]) throw err
    }
  }
  if (flags.machine) {
    try {
      return await loadMachine(String(flags.machine), name)
    } catch (err) {
      if (!knownMachines[name]) throw err
    }
  }
  const m = knownMachines[name]
  if (!m)
    throw new UsageError(
      `the machine "${name}" of ${actor} is not built in: pass --app FILE or --machine MODULE exporting "${name}"`,
    )
  return m
}

/** Runs `aether replay BUNDLE`; exit 0 all ok, 1 any actor failed, 2 a malformed bundle. */
export async function replayBundleFile(file: string, flags: ParsedArgs['flags']): Promise<number> {
  if (flags.until !== undefined) throw new UsageError('--until applies to one log, not a bundle')
  if (flags.export !== undefined) throw new UsageError('--export applies to one log; a bundle names each machine')
  const json = !!flags.json
  let bundle: ReturnType<typeof parseBundle>
  try {
    bundle = parseBundle(readFileSync(file, 'utf8'))
  } catch (err) {
    if (!(err instanceof BundleFormatError)) throw err
    const error = { line: err.line, reason: err.reason, ...(err.actor ? { actor: err.actor } : {}) }
    if (json) console.log(JSON.stringify({ ok: false, code: 2, error }))
    else console.error(`aether replay: malformed bundle ${file}, ${err.message}`)
    return 2
  }
  const verify = !!flags.verify
  const results: BundleActorResult[] = []
  for (const log of bundle.logs) {
    const machine = await machineFor(log.header.machine, log.header.actor, flags)
    results.push(replayBundleLog(log, machine, verify))
  }
  const failed = results.filter((r) => !r.ok).length
  const code = failed ? 1 : 0
  if (json) {
    console.log(JSON.stringify({ ok: !failed, code, nodes: bundle.manifest.nodes, actors: results }))
    return code
  }
  const { nodes, window } = bundle.manifest
  console.log(
    `bundle ${file}: ${nodes.length} nodes (${nodes.map((n) => `${n.id} ${n.role} ${n.offsetMs >= 0 ? '+' : ''}${Math.round(n.offsetMs)} ms`).join(', ')}), window ${new Date(window.from).toISOString()} .. ${new Date(window.to).toISOString()}`,
  )
  for (const r of results) {
    const what = `${r.node.padEnd(10)} ${r.actor} (${r.machine})`
    if (r.ok)
      console.log(
        `ok    ${what}: ${r.events} events${verify ? `, ${r.snapshotsChecked} snapshots match` : ' replayed'}`,
      )
    else {
      console.log(`FAIL  ${what}: ${r.error}`)
      if (r.divergence?.event !== undefined) console.log(`  after event ${JSON.stringify(r.divergence.event)}`)
      if (r.divergence?.diff.length) console.log(formatDiff(r.divergence.diff))
    }
  }
  console.log(
    `${results.length - failed} of ${results.length} actors ${verify ? 'verified' : 'replayed'}${failed ? `; ${failed} failed` : ''}`,
  )
  return code
}
