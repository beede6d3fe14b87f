/** Replaying one log file through a machine: the loop `aether replay` and corpora share. */
import { statSync } from 'node:fs'
import type { AnyStateMachine } from 'xstate'
import { LogReplayer, type ReplayResult } from '../../actors/index.ts'
import { LogFormatError, LogReader, parseLogHeader, type LogHeader } from '../../protocol/log.ts'
import { Progress, readLines } from '../lines.ts'

/** The outcome of a replay and its exit code. */
export interface ReplayRun {
  /** 0 ok; 1 divergence; 2 malformed log, or `verify` with nothing (or not the final state) to compare. */
  code: 0 | 1 | 2
  result?: ReplayResult
  error?: { line: number; reason: string }
}

/**
 * Replays a log file through `machine` (or the machine `machine(header)` picks for it); see
 * ReplayRun for the exit codes. `onBytes` replaces the file's own progress bar (a corpus has one).
 */
export async function replayFile(
  file: string,
  machine: AnyStateMachine | ((header: LogHeader) => AnyStateMachine),
  opts: { verify?: boolean; until?: number; onBytes?: (n: number) => void },
): Promise<ReplayRun> {
  const progress = opts.onBytes ? undefined : new Progress('replaying', statSync(file).size)
  let bytes = 0
  let lineNo = 0
  let replayer: LogReplayer | undefined
  const reader = new LogReader()
  const counted = (n: number) => {
    bytes += n
    opts.onBytes?.(n)
  }
  try {
    for await (const text of readLines(file, counted)) {
      lineNo++
      if (text.trim() === '') continue
      if (!replayer) {
        const header = parseLogHeader(text, lineNo)
        replayer = new LogReplayer(typeof machine === 'function' ? machine(header) : machine, opts)
        replayer.start(header)
        continue
      }
      if (!replayer.line(reader.line(text, lineNo), lineNo)) break
      if ((lineNo & 4095) === 0) progress?.update(bytes, `${lineNo} lines`)
    }
  } catch (err) {
    progress?.end()
    if (err instanceof LogFormatError) return { code: 2, error: { line: err.line, reason: err.reason } }
    throw err
  }
  progress?.end()
  if (!replayer) return { code: 2, error: { line: 1, reason: 'the log is empty' } }
  const result = replayer.result()
  return { code: result.divergence ? 1 : result.unverified ? 2 : 0, result }
}
