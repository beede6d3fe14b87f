import { existsSync, statSync } from 'node:fs'
import type { AnyStateMachine } from 'xstate'
import { LogReplayer, type DiffEntry, type ReplayResult } from '../../actors/index.ts'
import { LogFormatError, LogReader, parseLogHeader, type LogHeader } from '../../protocol/log.ts'
import { UsageError, type Command } from '../args.ts'
import { Progress, readLines } from '../lines.ts'
import { loadMachine } from '../loadMachine.ts'
import { appMachine } from '../app.ts'
import { isBundleFile, replayBundleFile } from './replayBundle.ts'

/** The outcome of a replay and its exit code. */
export interface ReplayRun {
  /** 0 ok; 1 divergence; 2 malformed log, or `verify` with nothing (or not the final state) to compare. */
  code: 0 | 1 | 2
  result?: ReplayResult
  error?: { line: number; reason: string }
}

/** Reads and checks a log's header line (the first non-empty one); throws LogFormatError. */
export async function readLogHeader(file: string): Promise<LogHeader> {
  let lineNo = 0
  for await (const text of readLines(file)) {
    lineNo++
    if (text.trim() !== '') return parseLogHeader(text, lineNo)
  }
  throw new LogFormatError(1, 'the log is empty')
}

/** Replays a log file through `machine`; see ReplayRun for the exit codes. */
export async function replayFile(
  file: string,
  machine: AnyStateMachine,
  opts: { verify?: boolean; until?: number },
): Promise<ReplayRun> {
  const size = statSync(file).size
  const progress = new Progress('replaying', size)
  let bytes = 0
  let lineNo = 0
  let replayer: LogReplayer | undefined
  const reader = new LogReader()
  try {
    for await (const text of readLines(file, (n) => (bytes += n))) {
      lineNo++
      if (text.trim() === '') continue
      if (!replayer) {
        replayer = new LogReplayer(machine, opts)
        replayer.start(parseLogHeader(text, lineNo))
        continue
      }
      if (!replayer.line(reader.line(text, lineNo), lineNo)) break
      if ((lineNo & 4095) === 0) progress.update(bytes, `${lineNo} lines`)
    }
  } catch (err) {
    progress.end()
    if (err instanceof LogFormatError) return { code: 2, error: { line: err.line, reason: err.reason } }
    throw err
  }
  progress.end()
  if (!replayer) return { code: 2, error: { line: 1, reason: 'the log is empty' } }
  const result = replayer.result()
  return { code: result.divergence ? 1 : result.unverified ? 2 : 0, result }
}

/** Renders diff entries as lines: `context.count: expected 3, replayed 4`. */
export function formatDiff(entries: DiffEntry[]): string {
  const show = (v: unknown) => (v === undefined ? '(absent)' : JSON.stringify(v))
  return entries.map((d) => `  ${d.path}: expected ${show(d.expected)}, replayed ${show(d.actual)}`).join('\n')
}

const EXPORT_HINT =
  'export it with a snapshot after every event: `aether log export ID` (--snapshots all is the default) or GET /api/actors/ID/log'

export const replayCommand: Command = {
  name: 'replay',
  summary: 'replay a log through a machine with pure transitions; --verify compares it with the recorded states',
  usage:
    'aether replay LOG (--machine MODULE [--export NAME] | --app FILE) [--verify] [--until SEQ] [--json]\n       aether replay BUNDLE [--app FILE | --machine MODULE] [--verify] [--json]',
  positionals: [{ name: 'LOG', help: 'one aether.log/1 file, or an aether.bundle/1 incident bundle', required: true }],
  flags: {
    machine: { type: 'string', arg: 'MODULE', help: 'ES module (.js/.mjs/.ts) that exports the machine' },
    app: {
      type: 'string',
      arg: 'FILE',
      help: "instead of --machine: an app module (defineApp); the machine is the one the log's header names",
    },
    export: {
      type: 'string',
      arg: 'NAME',
      help: "the module's export to use (default: the machine named in the log's header)",
    },
    verify: {
      type: 'boolean',
      help: 'compare value, context and status at every snapshot line, the final state included',
    },
    until: { type: 'number', arg: 'SEQ', help: 'stop after the event with this seq' },
    json: { type: 'boolean', help: 'print a machine-readable result' },
  },
  details: `
--verify reports the first divergence: a snapshot line that differs from the replayed state (with
a diff), an event the replayed machine takes no transition for where the recorded actor changed,
or an event it throws on. It fails (exit 2) when it has nothing to compare: a log without snapshot
lines, or without one at its last event (the final state). Logs from \`aether log export ID\` and
GET /api/actors/ID/log have a snapshot after every event.

A BUNDLE (aether incident export) replays every actor in it, each with the machine its log's
header names (built in, or from --app / --machine first), and prints one line per actor: ok, or
FAIL with the actor, its node and the seq where it diverged. --until and --export do not apply.

exit codes:
  0  replayed (with --verify: every snapshot line and the final state match; for a bundle, of
     every actor)
  1  divergence: its seq, line, event and an expected-vs-replayed diff (for a bundle: any actor
     failed, each named with its node and seq)
  2  usage error, malformed log or bundle (its line and what is wrong, e.g. a gap in seqs), a
     machine the module does not export, or --verify with nothing to compare`,
  async run({ flags, positionals }) {
    const [file, ...extra] = positionals
    if (!file) throw new UsageError('missing LOG')
    if (extra.length)
      throw new UsageError(
        `aether replay takes one LOG, got ${positionals.length} (${positionals.join(', ')}); replay them one by one`,
      )
    if (!existsSync(file)) throw new UsageError(`no such log file ${file}`)
    if (statSync(file).isDirectory())
      throw new UsageError(`${file} is a folder; LOG is one log file (replaying a folder of logs is not supported yet)`)
    if (flags.machine && flags.app) throw new UsageError('give --machine MODULE or --app FILE, not both')
    if (isBundleFile(file)) return replayBundleFile(file, flags)
    if (!flags.machine && !flags.app) throw new UsageError('--machine MODULE (or --app FILE) is required')
    if (flags.app && flags.export !== undefined) throw new UsageError('--export goes with --machine, not --app')
    if (flags.until !== undefined && !(Number.isInteger(flags.until) && (flags.until as number) >= 0))
      throw new UsageError('--until must be a non-negative integer')
    const json = !!flags.json
    const malformed = (error: { line: number; reason: string }) => {
      if (json) console.log(JSON.stringify({ ok: false, code: 2, error }))
      else console.error(`aether replay: malformed log ${file}, line ${error.line}: ${error.reason}`)
      return 2
    }
    let header: LogHeader
    try {
      header = await readLogHeader(file)
    } catch (err) {
      if (err instanceof LogFormatError) return malformed({ line: err.line, reason: err.reason })
      throw err
    }
    const machine = flags.app
      ? await appMachine(String(flags.app), header.machine, header.actor)
      : flags.export !== undefined
        ? await loadMachine(String(flags.machine), String(flags.export))
        : await loadMachine(
            String(flags.machine),
            header.machine,
            ` (the machine the log's header names; the log is of ${header.actor})`,
          )
    const verify = !!flags.verify
    const started = performance.now()
    const run = await replayFile(file, machine, { verify, until: flags.until as number | undefined })
    const ms = performance.now() - started
    if (run.error) return malformed(run.error)
    const r = run.result!
    if (json) {
      console.log(JSON.stringify({ ...r, code: run.code, ms: Math.round(ms) }))
      return run.code
    }
    for (const w of r.warnings) console.error(`warning: ${w}`)
    const what = `${r.events} events of ${r.actor} (${r.machine})${r.startSeq ? ` from the checkpoint at seq ${r.startSeq}` : ''}${r.rejectedSkipped ? `, ${r.rejectedSkipped} rejected events skipped` : ''}`
    if (r.divergence) {
      const d = r.divergence
      console.log(`DIVERGED at seq ${d.seq} (line ${d.line}): ${d.message}`)
      if (d.event !== undefined) console.log(`  after event ${JSON.stringify(d.event)}`)
      if (d.diff.length) {
        console.log('  expected (log) vs replayed:')
        console.log(formatDiff(d.diff))
      }
      const matched = r.snapshotsChecked - (d.kind === 'threw' ? 0 : 1)
      console.log(`  (${r.events} events replayed; ${matched} snapshot lines before it matched)`)
      return 1
    }
    if (r.unverified) {
      console.error(`aether replay: cannot verify ${file}: ${r.unverified}; ${EXPORT_HINT}`)
      console.error(`(replayed ${what}; compared ${r.snapshotsChecked} snapshots)`)
      return 2
    }
    const rate = r.events / (ms / 1000)
    console.log(
      `${verify ? 'verified' : 'replayed'} ${what}${verify ? `: ${r.snapshotsChecked === 1 ? '1 snapshot matches' : `${r.snapshotsChecked} snapshots match`}, the final state (seq ${r.lastCheckedSeq}) included` : ''} in ${ms.toFixed(0)} ms (${Math.round(rate)} events/s)`,
    )
    console.log(`final state: ${JSON.stringify(r.final.value)}  status ${r.final.status}`)
    console.log(`context: ${JSON.stringify(r.final.context)}`)
    return 0
  },
}
