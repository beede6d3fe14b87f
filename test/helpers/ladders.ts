/**
 * Model-based ladder tests (issue 21.4): a ladder is a set of a machine's transitions (by their
 * coverage id, actors/coverage.ts). Real executors run with faults injected; their journals are
 * exported and counted with the same CoverageRecorder `aether coverage` uses, and the ladder's
 * transitions no run took get paths from `pathsToUncovered` (xstate/graph) to drive next.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { AnyActorRef, AnyStateMachine } from 'xstate'
import { MemoryLevel } from 'memory-level'
import { ActorSystem, exportLog, SimulatedClock } from '../../actors/index.ts'
import { LevelStore } from '../../runtime/LevelStore.ts'
import { CoverageRecorder, pathsToUncovered, type CoveragePath } from '../../actors/coverage.ts'
import { parseLog, type ParsedLog } from '../../protocol/log.ts'
import { mediaSubflow, peerSession, updateTransition } from '../../machines/index.ts'

type Sample = { type: string; [k: string]: unknown }

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

  /**
   * Exports the journal of the actor at `path` from the system's store and counts it. Returns the
   * log (a snapshot line after every event), for the test's invariants.
   */
  async addActor(system: ActorSystem, path: string): Promise<ParsedLog> {
    await system.flush()
    let text = ''
    for await (const chunk of exportLog(system.store!, path, { snapshots: 'all', machine: this.machine })) text += chunk
    const log = parseLog(text)
    this.rec.addLog(log.header, log.lines)
    return log
  }

  /** Counts the recorded logs of this machine in the project's corpus (test/corpus). */
  addCorpus(): ParsedLog[] {
    const mine = corpusLogs().filter((g) => g.header.machine === this.name)
    for (const g of mine) this.rec.addLog(g.header, g.lines)
    return mine
  }

  /**
   * Counts a live (non-durable) actor from the events the system's inspection feed showed it
   * deliver, from `listen` until the returned stop function is called.
   */
  listen(system: ActorSystem, path: string, input: unknown): () => void {
    // the actor may have taken events before this: the log opens with its state now
    const start = system.hosted(path)?.actor?.getPersistedSnapshot()
    const events: { type: string; [k: string]: unknown }[] = []
    const off = system.feed.listen((e) => {
      if (e.type === '@xstate.event' && e.path === path) events.push(e.event)
    })
    return () => {
      off()
      this.rec.addLog({ format: 'aether.log/1', actor: path, machine: this.name, at: 0, input }, [
        ...(start ? [{ seq: 0, at: 0, snapshot: start as any }] : []),
        ...events.map((event, i) => ({ seq: i + 1, at: i, event })),
      ])
    }
  }

  /**
   * Counts a plain XState actor (not hosted, e.g. MemberChannels' channels) from the events its
   * system's inspection shows it receive, starting at its state now (the log opens with its
   * snapshot), until the returned stop function is called.
   */
  listenActor(actor: AnyActorRef, path: string): () => void {
    const start = actor.getPersistedSnapshot()
    const events: { type: string; [k: string]: unknown }[] = []
    const sub = actor.system.inspect((e: any) => {
      if (e.type === '@xstate.event' && e.actorRef === actor && e.event.type !== 'xstate.init') events.push(e.event)
    })
    return () => {
      sub.unsubscribe()
      this.rec.addLog({ format: 'aether.log/1', actor: path, machine: this.name, at: 0, input: null }, [
        { seq: 0, at: 0, snapshot: start as any },
        ...events.map((event, i) => ({ seq: i + 1, at: i, event })),
      ])
    }
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

  /**
   * Paths from the initial state (`input`) to each ladder transition no run took yet. Every
   * recorded payload of a type is tried (CoverageRecorder.variants), then the `extra` events of
   * that type.
   */
  paths(input: unknown, extra: Sample[] = []): { paths: CoveragePath[]; unreachable: string[] } {
    const samples = new Map<string, Sample[]>(this.rec.variants)
    for (const e of extra) samples.set(e.type, [...(samples.get(e.type) ?? []), e])
    return pathsToUncovered(
      this.machine,
      this.transitions().filter((t) => !t.taken),
      { input, samples },
    )
  }

  /**
   * For each ladder transition no executor run took: a path from the graph (`paths`), run through
   * the hosted actor (an ActorSystem journaling to memory-level, pure transitions, no executor),
   * its journal counted; a path with a timer or an effect result (`xstate.*` events, which the host
   * refuses from outside) is replayed with pure transitions instead. Returns the transitions each
   * way covered and those without a path. `inputs`: the machine's inputs to start from, each tried
   * in turn for what the ones before left without a path (e.g. a file subflow after a camera one).
   * `extra`: sample events of the test's fault alphabet, tried after the recorded ones of their
   * type (e.g. a cancel with a reason, never recorded).
   */
  async runPathsHosted(
    inputs: unknown[],
    extra: Sample[] = [],
  ): Promise<{ hosted: string[]; pure: string[]; refused: string[]; unreachable: string[] }> {
    const hosted: string[] = []
    const pure: string[] = []
    const refused: string[] = []
    let unreachable: string[] = []
    for (const [k, input] of inputs.entries()) {
      const r = await this.runPathsFrom(input, extra, `ladder-${k}`)
      hosted.push(...r.hosted)
      pure.push(...r.pure)
      refused.push(...r.refused)
      unreachable = r.unreachable
    }
    // refused on one input and taken from another: not refused
    const left = new Set(this.report().uncovered)
    return { hosted, pure, refused: refused.filter((r) => left.has(r.split(' (')[0])), unreachable }
  }

  private async runPathsFrom(
    input: unknown,
    extra: Sample[],
    prefix: string,
  ): Promise<{ hosted: string[]; pure: string[]; refused: string[]; unreachable: string[] }> {
    const { paths, unreachable } = this.paths(input, extra)
    const store = new LevelStore(new MemoryLevel({ keyEncoding: 'utf8', valueEncoding: 'utf8' }) as any)
    const system = new ActorSystem({ store, clock: new SimulatedClock(1_000_000) })
    await system.recover()
    const hosted: string[] = []
    const pure: string[] = []
    const refused: string[] = []
    for (const [i, p] of paths.entries()) {
      if (p.events.some((e) => e.type.startsWith('xstate.'))) {
        // a timer or an effect's result: the host refuses them from outside (reserved), so the
        // path is replayed with pure transitions, as `aether coverage` replays logs
        this.rec.addLog(
          { format: 'aether.log/1', actor: `${prefix}-path-${i}`, machine: this.name, at: 0, input },
          p.events.map((event, k) => ({ seq: k + 1, at: k, event })),
        )
        pure.push(p.transition)
        continue
      }
      const path = `${prefix}-path-${i}`
      await system.spawn(path, this.machine, { durable: true, input })
      try {
        for (const e of p.events) await system.sendCommitted(path, e)
      } catch (err) {
        // the host refused an event of the path (e.g. a bare sample event that leaves NaN in the
        // context): the transition stays uncovered, named with why
        refused.push(`${p.transition} (${(err as Error).message.split(':')[0]})`)
        continue
      }
      await this.addActor(system, path)
      hosted.push(p.transition)
    }
    await system.close()
    return { hosted, pure, refused, unreachable }
  }

  /** One line for the test's output: `job:ladder ladder transitions 19/20 (95%); uncovered: ...`. */
  line(): string {
    const r = this.report()
    return `${r.machine}: ladder transitions ${r.covered}/${r.total} (${r.pct}%)${r.uncovered.length ? `; uncovered: ${r.uncovered.join(', ')}` : ''}`
  }
}

let corpus: ParsedLog[] | undefined
/** Every log of test/corpus (recorded from real runs), parsed once. */
export function corpusLogs(): ParsedLog[] {
  if (corpus) return corpus
  const dir = new URL('../corpus/', import.meta.url).pathname
  corpus = []
  for (const d of readdirSync(dir, { withFileTypes: true }))
    if (d.isDirectory())
      for (const f of readdirSync(join(dir, d.name)))
        if (f.endsWith('.log')) corpus.push(parseLog(readFileSync(join(dir, d.name, f), 'utf8')))
  return corpus
}

const source = (id: string) => id.slice(0, id.indexOf(' '))

/**
 * The ladders of the machines whose executors are werift peers and supervisor processes: the
 * transitions that recover a link or a track, or cut a runtime over (or back).
 */
export const ladders = {
  // the link ladder (probe -> ICE restart -> renegotiate -> rebuild -> failed; following), the
  // probes that drive it, and the cross-cutting rebuild and supersede
  peerSession: {
    machine: peerSession,
    inLadder: (id: string) =>
      /^peerSession\.active\.(link|probe)/.test(source(id)) ||
      /^peerSession\.active (peer\.rebuild|rtc\.supersede)#/.test(id),
  },
  // a track or its peer lost and recovered: degraded, recovering, and the ways in
  mediaSubflow: {
    machine: mediaSubflow,
    inLadder: (id: string) =>
      /^mediaSubflow\.(degraded|recovering) /.test(id) ||
      / (peer\.down|peer\.up|media\.track\.ended|file\.channel\.closed)#/.test(id) ||
      /xstate\.after\.deadline\.mediaSubflow\.negotiating/.test(id),
  },
  // from the admission gate to committed / rolled back / failed
  updateTransition: {
    machine: updateTransition,
    inLadder: (id: string) =>
      /^updateTransition\.(gate|preparing|validating|admission|prewarm|cutover|verifying|rollingBack|failed|rootPromotionPending|rootRestarting) /.test(
        id,
      ),
  },
} as const

/** A LadderCoverage of one of `ladders`. */
export function ladderCoverage(name: keyof typeof ladders): LadderCoverage {
  return new LadderCoverage(ladders[name].machine, name, ladders[name].inLadder)
}

/** The distinct inputs of some logs, in order (the starting points for generated paths). */
export function inputsOf(logs: ParsedLog[]): unknown[] {
  return [...new Map(logs.map((g) => [JSON.stringify(g.header.input), g.header.input])).values()]
}

/**
 * updateTransition's fault events and requests the corpus never recorded, for generated paths: an
 * operator's cancel and defer (with a reason), the candidate exiting while it is verified, the
 * live-media gate finding media, a root update and the supervisor coming back on its version.
 */
export function updateFaults(cov: LadderCoverage): Sample[] {
  const good = cov.rec.samples.get('runtime.good')
  const request = cov.rec.samples.get('update.request')
  const gate = cov.rec.samples.get('xstate.done.actor.0.updateTransition.gate')
  return [
    { type: 'update.cancel', reason: 'operator cancels', at: 0 },
    { type: 'update.defer', reason: 'operator defers', ms: 1000, at: 0 },
    ...(good ? [{ ...good, type: 'runtime.exited', role: 'active', code: 137 }] : []),
    ...(gate ? [{ ...gate, output: { ...(gate.output as object), live: 1 } }] : []),
    ...(request ? [{ ...request, kind: 'root' }] : []),
    ...(typeof request?.version === 'string' ? [{ type: 'supervisor.boot', version: request.version, at: 0 }] : []),
  ]
}

/**
 * Breaches of "one negotiation at a time" in a peerSession journal (a snapshot line after every
 * event): a negotiation that replaced the one in flight before that one was finished (answered,
 * rolled back in a glare, abandoned) on the same peer.
 */
export function negotiationOverlaps(log: ParsedLog): string[] {
  const out: string[] = []
  let prev: any
  for (const l of log.lines) {
    if (!('snapshot' in l)) continue
    const c = (l.snapshot as any).context
    if (
      prev?.neg &&
      c?.neg &&
      c.neg.id !== prev.neg.id &&
      c.generation === prev.generation &&
      !c.done.includes(prev.neg.id)
    )
      out.push(`${log.header.actor} seq ${l.seq}: ${c.neg.id} began while ${prev.neg.id} was in flight`)
    prev = c
  }
  return out
}
