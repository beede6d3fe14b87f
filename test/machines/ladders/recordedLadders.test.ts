/**
 * Ladder coverage of `peerSession`, `mediaSubflow` and `updateTransition` (issue 21.4). Their real
 * executors ran with the faults injected when the corpus was recorded (scripts/corpus/scenarios.ts:
 * werift pairs on 127.0.0.1 with the UDP path cut by test/helpers/udpRelay.ts and the old session
 * blocked, media tracks ended, an explicit rebuild; real `aether supervisor` processes doing warm
 * and stop updates and a rollback from a candidate that never comes up); those journals are
 * counted here. The ladder transitions they never took get paths from the graph, run through the
 * hosted actor (ActorSystem on memory-level) or, where the path holds a timer or an effect result
 * the host refuses from outside, replayed with pure transitions. The figures (per source) are
 * printed and listed in docs/coverage.md.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { AnyStateMachine } from 'xstate'
import { mediaSubflow, peerSession, updateTransition } from '../../../machines/index.ts'
import { parseLog, type ParsedLog } from '../../../protocol/log.ts'
import { LadderCoverage } from '../../helpers/ladders.ts'

const corpus = new URL('../../corpus/', import.meta.url).pathname
const logs: ParsedLog[] = []
for (const d of readdirSync(corpus, { withFileTypes: true }))
  if (d.isDirectory())
    for (const f of readdirSync(join(corpus, d.name)))
      if (f.endsWith('.log')) logs.push(parseLog(readFileSync(join(corpus, d.name, f), 'utf8')))

const source = (id: string) => id.slice(0, id.indexOf(' '))

/**
 * The ladders: the transitions that recover a link or a track, or cut a runtime over (or back).
 * `floor`: the percentage measured when this test was written (issue 21.4's goal of 90% is not met
 * for these three: docs/coverage.md says which transitions stay uncovered and why).
 */
const ladders: {
  machine: AnyStateMachine
  name: string
  inLadder: (id: string) => boolean
  floor: number
  /** Fault events the corpus never recorded, for the generated paths. */
  extra?: (cov: LadderCoverage) => { type: string; [k: string]: unknown }[]
}[] = [
  {
    machine: peerSession,
    name: 'peerSession',
    // the link ladder (probe -> ICE restart -> renegotiate -> rebuild -> failed; following), the
    // probes that drive it, and the cross-cutting rebuild and supersede
    inLadder: (id) =>
      /^peerSession\.active\.(link|probe)/.test(source(id)) ||
      /^peerSession\.active (peer\.rebuild|rtc\.supersede)#/.test(id),
    floor: 50,
  },
  {
    machine: mediaSubflow,
    name: 'mediaSubflow',
    // a track or its peer lost and recovered: degraded, recovering, and the ways in
    inLadder: (id) =>
      /^mediaSubflow\.(degraded|recovering) /.test(id) ||
      / (peer\.down|peer\.up|media\.track\.ended|file\.channel\.closed)#/.test(id) ||
      /xstate\.after\.deadline\.mediaSubflow\.negotiating/.test(id),
    floor: 73,
  },
  {
    machine: updateTransition,
    name: 'updateTransition',
    // from the admission gate to committed / rolled back / failed
    inLadder: (id) =>
      /^updateTransition\.(gate|preparing|validating|admission|prewarm|cutover|verifying|rollingBack|failed|rootPromotionPending|rootRestarting) /.test(
        id,
      ),
    floor: 71,
    // an operator's cancel and defer (with a reason), the candidate exiting while verified
    extra: (cov) => {
      const good = cov.rec.samples.get('runtime.good')
      return [
        { type: 'update.cancel', reason: 'operator cancels', at: 0 },
        { type: 'update.defer', reason: 'operator defers', ms: 1000, at: 0 },
        ...(good ? [{ ...good, type: 'runtime.exited', role: 'active', code: 137 }] : []),
      ]
    },
  },
]

const test = suite('ladders of peerSession, mediaSubflow, updateTransition: recorded executor runs + graph paths')

for (const l of ladders) {
  test(`${l.name}: ladder coverage`, async () => {
    const cov = new LadderCoverage(l.machine, l.name, l.inLadder)
    const mine = logs.filter((g) => g.header.machine === l.name)
    assert.ok(mine.length > 0, `corpus logs of ${l.name}`)
    for (const g of mine) cov.rec.addLog(g.header, g.lines)
    console.log(`recorded executor runs (${mine.length} logs): ${cov.line()}`)
    // every distinct input the executors started from (a camera, a loopback, a file subflow)
    const inputs = [...new Map(mine.map((g) => [JSON.stringify(g.header.input), g.header.input])).values()]
    const { hosted, pure, refused, unreachable } = await cov.runPathsHosted(inputs, l.extra?.(cov))
    console.log(`+ hosted paths: ${hosted.length}, pure-replayed paths: ${pure.length}: ${cov.line()}`)
    if (refused.length) console.log(`  refused by the host: ${refused.join(', ')}`)
    if (unreachable.length) console.log(`  no path from the graph: ${unreachable.join(', ')}`)
    assert.ok(cov.report().pct >= l.floor, cov.line())
  })
}

test.run()
