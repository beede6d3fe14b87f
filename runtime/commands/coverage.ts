/**
 * `aether coverage LOG|DIR|GLOB... [--machine MODULE | --app FILE] [--json | --html FILE] [--paths FILE]`:
 * which states and transitions recorded logs exercised, per machine (actors/coverage.ts), and, with
 * --paths, event sequences that reach the transitions they never took.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { relative } from 'node:path'
import { isV4Machine } from '../../actors/index.ts'
import { CoverageRecorder, type CoveragePath, type MachineCoverage, pathsToUncovered } from '../../actors/coverage.ts'
import { LogFormatError, parseLog } from '../../protocol/log.ts'
import { type Command, UsageError } from '../args.ts'
import { coverageHtml } from '../corpus/coverageHtml.ts'
import { logFiles } from '../corpus/logFiles.ts'
import { machineSource, sourceFlags } from '../corpus/machineSource.ts'

export interface CoverageReport {
  machines: (MachineCoverage & { paths?: CoveragePath[]; unreachable?: string[] })[]
  /** Logs that could not be read (line and reason) or whose machine was not found. */
  skipped: { file: string; reason: string }[]
}

/** Coverage of `files`, grouped by the machine each log names. */
export async function coverageOf(
  files: string[],
  flags: { machine?: string; export?: string; app?: string },
  opts: { paths?: boolean } = {},
): Promise<CoverageReport> {
  const source = await machineSource(flags)
  const recorders = new Map<string, CoverageRecorder>()
  const inputs = new Map<string, unknown>()
  const skipped: CoverageReport['skipped'] = []
  for (const file of files) {
    const rel = relative(process.cwd(), file) || file
    let log: ReturnType<typeof parseLog>
    try {
      log = parseLog(readFileSync(file, 'utf8'))
    } catch (err) {
      if (!(err instanceof LogFormatError)) throw err
      skipped.push({ file: rel, reason: `malformed at line ${err.line}: ${err.reason}` })
      continue
    }
    const found = source.find(log.header.machine)
    if (!found) {
      skipped.push({ file: rel, reason: `no machine "${log.header.machine}" in ${source.describe()}` })
      continue
    }
    if (isV4Machine(found.machine)) {
      skipped.push({
        file: rel,
        reason: `machine "${log.header.machine}" is an XState v4 machine: coverage reads v5 machines`,
      })
      continue
    }
    let rec = recorders.get(log.header.machine)
    if (!rec) {
      rec = new CoverageRecorder(found.machine, log.header.machine)
      recorders.set(log.header.machine, rec)
      inputs.set(log.header.machine, log.header.input)
    }
    try {
      rec.addLog(log.header, log.lines)
    } catch (err) {
      skipped.push({ file: rel, reason: `replay failed: ${(err as Error).message.split('\n')[0]}` })
    }
  }
  const machines = [...recorders.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, rec]) => {
      const c = rec.result()
      if (!opts.paths) return c
      const uncovered = c.transitions.filter((t) => t.taken === 0)
      return { ...c, ...pathsToUncovered(rec.machine, uncovered, { input: inputs.get(name), samples: rec.variants }) }
    })
  return { machines, skipped }
}

const pct = (n: number, d: number) => (d ? `${Math.round((100 * n) / d)}%` : '-')

/** One summary line per machine. */
export function coverageLine(c: MachineCoverage): string {
  const s = c.summary
  return `${c.machine}: ${c.logs} log${c.logs === 1 ? '' : 's'}, ${c.events} events; states ${s.statesCovered}/${s.states} (${pct(s.statesCovered, s.states)}), transitions ${s.transitionsCovered}/${s.transitions} (${pct(s.transitionsCovered, s.transitions)})`
}

/** `aether coverage`: see the file's header and its --help. */
export const coverageCommand: Command = {
  name: 'coverage',
  summary: 'which states and transitions of their machines recorded logs exercised, with counts',
  usage:
    'aether coverage LOG|DIR|GLOB... [--machine MODULE [--export NAME] | --app FILE] [--json | --html FILE] [--paths FILE]',
  positionals: [
    {
      name: 'LOG | DIR | GLOB',
      help: 'aether.log/1 files: files, folders (their *.log and *.jsonl, recursively) or globs',
      required: true,
    },
  ],
  flags: {
    machine: { type: 'string', arg: 'MODULE', help: 'ES module exporting machines by the names the logs give' },
    export: { type: 'string', arg: 'NAME', help: "use this export of --machine for every log's machine" },
    app: { type: 'string', arg: 'FILE', help: 'an app module (defineApp): its machines and job types' },
    json: { type: 'boolean', help: 'print the report as JSON' },
    html: { type: 'string', arg: 'FILE', help: 'write the report as one HTML page (a heatmap of counts)' },
    paths: {
      type: 'string',
      arg: 'FILE',
      help: 'write event paths (JSON) that take the transitions no log took (xstate/graph)',
    },
  },
  details: `
Each log is replayed with pure transitions through the machine its header names (found in
--machine, --app, or the built-in machines). A state counts each time it becomes active; a
transition (source state, event, position, targets, guard) each time it is taken; a guarded
transition also counts the times its guard said no. Eventless (always) transitions are not counted.

--paths FILE: for every transition no log took, the shortest sequence of bare events ({ type })
from the initial state that takes it (xstate/graph's getShortestPaths, states told apart by their
value); transitions no such sequence reaches (a guard on a payload or on context) are listed as
unreachable. The paths replay as tests: feed the events to the machine and the transition is taken.

exit codes:
  0  the report is printed (or written)
  2  usage error, or a log that could not be read or has no machine (one line each, on stderr;
     the report covers the others)`,
  async run({ flags, positionals }) {
    if (!positionals.length) throw new UsageError('missing LOG (or DIR, GLOB)')
    if (flags.json && flags.html) throw new UsageError('give --json or --html FILE, not both')
    const files = logFiles(positionals)
    const report = await coverageOf(files, sourceFlags(flags), { paths: flags.paths !== undefined })
    for (const s of report.skipped) console.error(`aether coverage: ${s.file}: ${s.reason}`)
    if (flags.paths !== undefined) {
      const all = report.machines.map((m) => ({
        machine: m.machine,
        paths: m.paths ?? [],
        unreachable: m.unreachable ?? [],
      }))
      writeFileSync(String(flags.paths), `${JSON.stringify(all, null, 1)}\n`)
    }
    if (flags.html !== undefined) {
      writeFileSync(String(flags.html), coverageHtml(report))
      for (const m of report.machines) console.log(coverageLine(m))
      console.log(`wrote ${flags.html}`)
    } else if (flags.json) console.log(JSON.stringify(report))
    else {
      for (const m of report.machines) {
        console.log(coverageLine(m))
        const never = m.transitions.filter((t) => t.taken === 0)
        for (const t of m.transitions.filter((x) => x.taken > 0).sort((a, b) => b.taken - a.taken))
          console.log(`  ${String(t.taken).padStart(6)}  ${describe(t)}`)
        for (const t of never) console.log(`       -  ${describe(t)}`)
        if (m.paths) console.log(`  paths: ${m.paths.length} generated, ${m.unreachable?.length ?? 0} unreachable`)
      }
    }
    return report.skipped.length ? 2 : 0
  },
}

function describe(t: MachineCoverage['transitions'][number]): string {
  const guard = t.guard ? ` [${t.guard}${t.guardFalse ? `: false ${t.guardFalse}` : ''}]` : ''
  return `${t.source} --${t.event}--> ${t.targets.join(', ') || '(stays)'}${guard}`
}
