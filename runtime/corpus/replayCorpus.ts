/**
 * Regression corpora: many logs replayed and verified in one run, each through the machine its
 * header names (found by a MachineSource), with one outcome per log and a summary.
 *
 * Outcomes: `ok` (every snapshot line and the final state match), `diverged` (the first differing
 * seq, line, event and diff), `malformed` (the line and what is wrong), `unverified` (nothing, or not
 * the final state, to compare), `no-machine` (no source has the machine the header names). A
 * machine hash that differs from the recorded one is a flag on any outcome (`hashChanged`): the
 * code changed; whether its behaviour did is what the outcome says.
 */
import { statSync } from 'node:fs'
import { relative } from 'node:path'
import type { DiffEntry } from '../../actors/index.ts'
import type { LogHeader } from '../../protocol/log.ts'
import { replayFile } from './replayFile.ts'
import { Progress } from '../lines.ts'
import type { MachineSource } from './machineSource.ts'

/** The outcome of one log of a corpus (see the file's header). */
export type CorpusStatus = 'ok' | 'diverged' | 'malformed' | 'unverified' | 'no-machine'

/** One log's line of a corpus run. */
export interface CorpusLogResult {
  /** The file, relative to the working folder. */
  file: string
  status: CorpusStatus
  actor?: string
  machine?: string
  /** Where the machine came from: a module, an app, `built-in`. */
  source?: string
  hashChanged: boolean
  events: number
  snapshotsChecked: number
  /** diverged: the seq and line; malformed: the line. */
  seq?: number
  line?: number
  /** One sentence: why it diverged, is malformed, unverified or has no machine. */
  reason?: string
  event?: unknown
  diff?: DiffEntry[]
}

/** A corpus run: every log's result, the summary and the exit code. */
export interface CorpusResult {
  logs: CorpusLogResult[]
  summary: Record<CorpusStatus, number> & { total: number; events: number; hashChanged: number; machines: number }
  /** 0 every log ok; 1 a divergence; 2 none diverged but one is malformed, unverified or has no machine. */
  code: 0 | 1 | 2
  ms: number
}

class NoMachine extends Error {
  constructor(readonly header: LogHeader) {
    super(`no machine "${header.machine}"`)
  }
}

/** Replays and verifies every file; progress on a terminal (stderr). */
export async function replayCorpus(files: string[], source: MachineSource): Promise<CorpusResult> {
  const t0 = performance.now()
  const total = files.reduce((n, f) => n + statSync(f).size, 0)
  const progress = new Progress('corpus', total)
  let done = 0
  const logs: CorpusLogResult[] = []
  for (const [i, file] of files.entries()) {
    const rel = relative(process.cwd(), file) || file
    let header: LogHeader | undefined
    let where: string | undefined
    const pick = (h: LogHeader) => {
      header = h
      const found = source.find(h.machine)
      if (!found) throw new NoMachine(h)
      where = found.where
      return found.machine
    }
    const base = { file: rel, hashChanged: false, events: 0, snapshotsChecked: 0 }
    try {
      const run = await replayFile(file, pick, {
        verify: true,
        onBytes: (n) => progress.update((done += n), `${i + 1}/${files.length} logs`),
      })
      const r = run.result
      const head = header ? { actor: header.actor, machine: header.machine, source: where } : {}
      if (run.error) {
        logs.push({ ...base, ...head, status: 'malformed', line: run.error.line, reason: run.error.reason })
        continue
      }
      const common = {
        ...base,
        ...head,
        hashChanged: r!.warnings.some((w) => w.startsWith('machineHash differs')),
        events: r!.events,
        snapshotsChecked: r!.snapshotsChecked,
      }
      if (r!.divergence) {
        const d = r!.divergence
        logs.push({
          ...common,
          status: 'diverged',
          seq: d.seq,
          line: d.line,
          reason: d.message,
          event: d.event,
          diff: d.diff,
        })
      } else if (r!.unverified) logs.push({ ...common, status: 'unverified', reason: r!.unverified })
      else logs.push({ ...common, status: 'ok' })
    } catch (err) {
      if (!(err instanceof NoMachine)) throw err
      logs.push({
        ...base,
        actor: err.header.actor,
        machine: err.header.machine,
        status: 'no-machine',
        reason: `no machine "${err.header.machine}" in ${source.describe()}: give --machine MODULE or --app FILE`,
      })
    }
  }
  progress.end()
  const summary = {
    total: logs.length,
    ok: 0,
    diverged: 0,
    malformed: 0,
    unverified: 0,
    'no-machine': 0,
    events: 0,
    hashChanged: 0,
    machines: new Set(logs.map((l) => l.machine).filter(Boolean)).size,
  }
  for (const l of logs) {
    summary[l.status]++
    summary.events += l.events
    if (l.hashChanged) summary.hashChanged++
  }
  const code = summary.diverged ? 1 : summary.total === summary.ok ? 0 : 2
  return { logs, summary, code, ms: performance.now() - t0 }
}

/** One line per log, as `aether replay DIR` prints it. */
export function formatCorpusLine(l: CorpusLogResult): string {
  const hash = l.hashChanged ? ' (machine hash changed)' : ''
  const who = l.actor ? ` ${l.actor} (${l.machine})` : ''
  switch (l.status) {
    case 'ok':
      return `ok        ${l.file}${who}: ${l.events} events, ${l.snapshotsChecked} snapshots match${hash}`
    case 'diverged':
      return `DIVERGED  ${l.file}${who}: at seq ${l.seq} (line ${l.line}): ${l.reason}${hash}`
    case 'malformed':
      return `MALFORMED ${l.file}${who}: at line ${l.line}: ${l.reason}`
    case 'unverified':
      return `UNVERIFIED ${l.file}${who}: ${l.reason}${hash}`
    case 'no-machine':
      return `NO MACHINE ${l.file}${who}: ${l.reason}`
  }
}

/** The summary line. */
export function formatCorpusSummary(r: CorpusResult): string {
  const s = r.summary
  const parts = [`${s.ok} ok`]
  if (s.diverged) parts.push(`${s.diverged} diverged`)
  if (s.malformed) parts.push(`${s.malformed} malformed`)
  if (s.unverified) parts.push(`${s.unverified} unverified`)
  if (s['no-machine']) parts.push(`${s['no-machine']} without a machine`)
  if (s.hashChanged) parts.push(`${s.hashChanged} with a changed machine hash`)
  return `${s.total} log${s.total === 1 ? '' : 's'} of ${s.machines} machine${s.machines === 1 ? '' : 's'}, ${s.events} events in ${r.ms.toFixed(0)} ms: ${parts.join(', ')}`
}
