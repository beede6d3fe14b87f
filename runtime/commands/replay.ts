import { existsSync, statSync } from 'node:fs'
import type { AnyStateMachine } from 'xstate'
import type { DiffEntry } from '../../actors/index.ts'
import { LogFormatError, parseLogHeader, type LogHeader } from '../../protocol/log.ts'
import { UsageError, type Command, type ParsedArgs } from '../args.ts'
import { readLines } from '../lines.ts'
import { loadMachine } from '../loadMachine.ts'
import { appMachine } from '../app.ts'
import { isGlob, logFiles } from '../corpus/logFiles.ts'
import { machineSource, sourceFlags } from '../corpus/machineSource.ts'
import { formatCorpusLine, formatCorpusSummary, replayCorpus } from '../corpus/replayCorpus.ts'
import { replayFile } from '../corpus/replayFile.ts'
import { runFork } from './replayFork.ts'
import { isBundleFile, replayBundleFile } from './replayBundle.ts'

export { replayFile, type ReplayRun } from '../corpus/replayFile.ts'

/** Reads and checks a log's header line (the first non-empty one); throws LogFormatError. */
export async function readLogHeader(file: string): Promise<LogHeader> {
  let lineNo = 0
  for await (const text of readLines(file)) {
    lineNo++
    if (text.trim() !== '') return parseLogHeader(text, lineNo)
  }
  throw new LogFormatError(1, 'the log is empty')
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
    'aether replay LOG [--machine MODULE [--export NAME] | --app FILE] [--verify] [--until SEQ] [--json]\n' +
    '       aether replay DIR|GLOB|LOG... [--machine MODULE [--export NAME] | --app FILE] [--json]\n' +
    '       aether replay LOG --fork-at SEQ (--event JSON | --drop | --insert JSON) [--then LOG2] [--json]\n' +
    '       aether replay BUNDLE [--app FILE | --machine MODULE] [--verify] [--json]',
  positionals: [
    {
      name: 'LOG | DIR | GLOB',
      help: 'one aether.log/1 file, or an aether.bundle/1 incident bundle; or a folder (its *.log and *.jsonl files, recursively), a glob, or several logs: a corpus',
      required: true,
    },
  ],
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
    'fork-at': { type: 'number', arg: 'SEQ', help: 'what-if: fork the log at the event with this seq' },
    event: { type: 'string', arg: 'JSON', help: 'with --fork-at: the event that happens instead' },
    drop: { type: 'boolean', help: 'with --fork-at: the event does not happen' },
    insert: { type: 'string', arg: 'JSON', help: 'with --fork-at: an event that happens just before it' },
    // biome-ignore lint/suspicious/noThenProperty: the flag is --then (flag specs are never awaited)
    then: {
      type: 'string',
      arg: 'LOG2',
      help: "with --fork-at: the fork continues with LOG2's events after SEQ instead of the log's",
    },
  },
  details: `
Each log's header names its machine. It is looked up in --machine MODULE (its export of that
name; --export NAME for every log), or --app FILE (the app's machines and job types), then among
the machines Aether hosts itself (counter, trafficLight, peerSession, mediaSubflow, job:<type>,
webspace, updateTransition, ...), which need no flag.

A corpus (a folder, a glob, or several logs) is always verified: one line per log (ok, DIVERGED at
seq N, MALFORMED at line L, UNVERIFIED, NO MACHINE; "machine hash changed" when the code differs
from the recorded one), then a summary; --json prints { logs, summary, code, ms }. A progress bar
shows on a terminal (stderr). Exit codes of a corpus: 0 every log ok; 1 one diverged (or more);
2 none diverged but one is malformed, unverifiable or has no machine, or a usage error.

--fork-at SEQ forks the log at the event SEQ (--event JSON instead of it, --drop it, --insert JSON
before it), continues with the rest of the log (or LOG2's events after SEQ) where it still applies
and prints both paths side by side: each step's action and states, where they rejoin or not. Nothing
runs: recorded effect results are reused where the fork runs the effect under the same key; effects
the fork needs that were never recorded are listed as missing. Exit codes of a fork: 0 the paths
rejoin; 1 they do not; 2 a usage error (a bad --fork-at, --event that is not JSON, a malformed log).

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
    const [file] = positionals
    if (!file) throw new UsageError('missing LOG (or DIR, GLOB, several logs)')
    if (positionals.length > 1 || isGlob(file) || (existsSync(file) && statSync(file).isDirectory()))
      return runCorpus({ flags, positionals })
    if (!existsSync(file)) throw new UsageError(`no such log file ${file}`)
    const forking = ['fork-at', 'event', 'drop', 'insert', 'then'].filter((f) => flags[f] !== undefined)
    if (forking.length && flags['fork-at'] === undefined)
      throw new UsageError(`--${forking[0]} goes with --fork-at SEQ`)
    if (forking.length && (flags.verify || flags.until !== undefined))
      throw new UsageError('--fork-at does not take --verify or --until')
    if (flags.machine && flags.app) throw new UsageError('give --machine MODULE or --app FILE, not both')
    if (isBundleFile(file)) return replayBundleFile(file, flags)
    if (flags.app && flags.export !== undefined) throw new UsageError('--export goes with --machine, not --app')
    if (flags['fork-at'] !== undefined) return runFork(file, (name, actor) => pickMachine(flags, name, actor), flags)
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
    const machine = await pickMachine(flags, header.machine, header.actor)
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

/** `aether replay DIR|GLOB|LOG...`: every log verified through the machine its header names. */
async function runCorpus({ flags, positionals }: ParsedArgs): Promise<number> {
  if (flags.until !== undefined) throw new UsageError('--until replays one log; not with DIR, GLOB or several logs')
  const files = logFiles(positionals)
  const source = await machineSource(sourceFlags(flags))
  const r = await replayCorpus(files, source)
  if (flags.json) {
    console.log(JSON.stringify(r))
    return r.code
  }
  for (const l of r.logs) {
    console.log(formatCorpusLine(l))
    if (l.status === 'diverged') {
      if (l.event !== undefined) console.log(`  after event ${JSON.stringify(l.event)}`)
      if (l.diff?.length) console.log(formatDiff(l.diff))
    }
  }
  console.log(formatCorpusSummary(r))
  return r.code
}

/** The machine of one log: --app's, --machine's (the header's name or --export), else a built-in one. */
async function pickMachine(flags: ParsedArgs['flags'], name: string, actor: string): Promise<AnyStateMachine> {
  if (flags.app) return appMachine(String(flags.app), name, actor)
  if (flags.machine)
    return flags.export !== undefined
      ? loadMachine(String(flags.machine), String(flags.export))
      : loadMachine(String(flags.machine), name, ` (the machine the log's header names; the log is of ${actor})`)
  const builtin = (await machineSource({})).find(name)
  if (!builtin)
    throw new UsageError(`the log's machine "${name}" is not built in: give --machine MODULE (or --app FILE)`)
  return builtin.machine
}
