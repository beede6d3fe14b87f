import { existsSync, statSync } from 'node:fs'
import { LogReplayer, formatDiff, type ReplayResult } from '../../actors/index.ts'
import { LogFormatError, LogReader, parseLogHeader } from '../../protocol/log.ts'
import { UsageError, type Command } from '../args.ts'
import { Progress, readLines } from '../lines.ts'
import { loadMachine } from '../loadMachine.ts'

export interface ReplayRun {
  code: 0 | 1 | 2
  result?: ReplayResult
  error?: { line: number; reason: string }
}

/** Replays a log file; exit code 0 ok, 1 divergence, 2 malformed log. */
export async function replayFile(
  file: string,
  machine: import('xstate').AnyStateMachine,
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
      const line = reader.line(text, lineNo)
      let ok: boolean
      try {
        ok = replayer.line(line, lineNo)
      } catch (err) {
        throw new LogFormatError(lineNo, `the machine could not take this line: ${(err as Error).message}`)
      }
      if (!ok) break
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
  return { code: result.ok ? 0 : 1, result }
}

export const replayCommand: Command = {
  name: 'replay',
  summary: 'replay a log through a machine with pure transitions; --verify checks every snapshot',
  usage: 'aether replay LOG --machine MODULE [--export NAME] [--verify] [--until SEQ] [--json]',
  positionals: [{ name: 'LOG', help: 'an aether.log/1 file', required: true }],
  flags: {
    machine: { type: 'string', arg: 'MODULE', help: 'ES module (.js/.mjs/.ts) that exports the machine' },
    export: { type: 'string', arg: 'NAME', help: 'the export to use', default: 'default' },
    verify: {
      type: 'boolean',
      help: 'compare value and context at every snapshot line; exit 1 at the first difference',
    },
    until: { type: 'number', arg: 'SEQ', help: 'stop after the event with this seq' },
    json: { type: 'boolean', help: 'print a machine-readable result' },
  },
  async run({ flags, positionals }) {
    const [file, extra] = positionals
    if (!file) throw new UsageError('missing LOG')
    if (extra) throw new UsageError(`unexpected argument "${extra}"`)
    if (!existsSync(file)) throw new UsageError(`no such log file ${file}`)
    if (!flags.machine) throw new UsageError('--machine MODULE is required')
    if (flags.until !== undefined && !(Number.isInteger(flags.until) && (flags.until as number) >= 0))
      throw new UsageError('--until must be a non-negative integer')
    const machine = await loadMachine(String(flags.machine), String(flags.export))
    const started = performance.now()
    const run = await replayFile(file, machine, { verify: !!flags.verify, until: flags.until as number | undefined })
    const ms = performance.now() - started
    const json = !!flags.json
    if (run.code === 2) {
      if (json) console.log(JSON.stringify({ ok: false, code: 2, error: run.error }))
      else console.error(`aether replay: malformed log ${file}, line ${run.error!.line}: ${run.error!.reason}`)
      return 2
    }
    const r = run.result!
    if (json) {
      console.log(JSON.stringify({ ...r, code: run.code, ms: Math.round(ms) }))
      return run.code
    }
    for (const w of r.warnings) console.error(`warning: ${w}`)
    if (r.divergence) {
      const d = r.divergence
      console.log(`DIVERGED at seq ${d.seq} (line ${d.line})`)
      if (d.event !== undefined) console.log(`  after event ${JSON.stringify(d.event)}`)
      console.log('  expected (log) vs replayed:')
      console.log(formatDiff(d.diff))
      return 1
    }
    const rate = r.events / (ms / 1000)
    console.log(
      `${flags.verify ? 'verified' : 'replayed'} ${r.events} events of ${r.actor} (${r.machine})${flags.verify ? `, ${r.snapshotsChecked} snapshots match` : ''}${r.rejectedSkipped ? `, ${r.rejectedSkipped} rejected events skipped` : ''} in ${ms.toFixed(0)} ms (${Math.round(rate)} events/s)`,
    )
    console.log(`final state: ${JSON.stringify(r.final.value)}  status ${r.final.status}`)
    console.log(`context: ${JSON.stringify(r.final.context)}`)
    return 0
  },
}
