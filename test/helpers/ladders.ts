/**
 * Model-based ladder tests (issue 21.4): a ladder is a set of a machine's transitions (by their
 * coverage id, actors/coverage.ts). Real executors run with faults injected; their journals are
 * exported and counted with the same CoverageRecorder `aether coverage` uses, and the ladder's
 * transitions no run took get paths from `pathsToUncovered` (xstate/graph) to drive next.
 */
import type { AnyStateMachine } from 'xstate'
import { type ActorSystem, exportLog } from '../../actors/index.ts'
import { CoverageRecorder, pathsToUncovered, type CoveragePath } from '../../actors/coverage.ts'
import { parseLog } from '../../protocol/log.ts'

export interface LadderReport {
  machine: string
  total: number
  covered: number
  pct: number
  uncovered: string[]
}

/** Counts the ladder transitions of one machine over the journals of real runs. */
export class LadderCoverage {
  readonly rec: CoverageRecorder

  constructor(
    readonly machine: AnyStateMachine,
    readonly name: string,
    /** Which transitions (coverage ids, `<source> <event>#<i>`) belong to the ladder. */
    readonly inLadder: (id: string) => boolean = () => true,
  ) {
    this.rec = new CoverageRecorder(machine, name)
  }

  /** Exports the journal of the actor at `path` from the system's store and counts it. */
  async addActor(system: ActorSystem, path: string): Promise<void> {
    await system.flush()
    let text = ''
    for await (const chunk of exportLog(system.store!, path, { snapshots: 'all', machine: this.machine })) text += chunk
    const log = parseLog(text)
    this.rec.addLog(log.header, log.lines)
  }

  /** The ladder's transitions and whether any run took them. */
  transitions() {
    return this.rec.result().transitions.filter((t) => this.inLadder(t.id))
  }

  report(): LadderReport {
    const ts = this.transitions()
    const covered = ts.filter((t) => t.taken > 0).length
    return {
      machine: this.name,
      total: ts.length,
      covered,
      pct: ts.length ? Math.round((covered / ts.length) * 1000) / 10 : 100,
      uncovered: ts.filter((t) => !t.taken).map((t) => t.id),
    }
  }

  /** Paths from the initial state (`input`) to each ladder transition no run took yet. */
  paths(input: unknown): { paths: CoveragePath[]; unreachable: string[] } {
    return pathsToUncovered(
      this.machine,
      this.transitions().filter((t) => !t.taken),
      { input, samples: this.rec.samples },
    )
  }

  /** One line for the test's output: `job:ladder ladder transitions 19/20 (95%); uncovered: ...`. */
  line(): string {
    const r = this.report()
    return `${r.machine}: ladder transitions ${r.covered}/${r.total} (${r.pct}%)${r.uncovered.length ? `; uncovered: ${r.uncovered.join(', ')}` : ''}`
  }
}
