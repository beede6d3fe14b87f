/**
 * The machines' idiom (docs/architecture.md, Machines): every guard and action a transition or a
 * state names is declared in `setup`, so the definition the inspector draws carries names, never
 * an anonymous function, and the pure host's transition memo can read the job machine.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { AnyStateMachine } from 'xstate'
import { memoBlocker } from '../../actors/transitionMemo.ts'
import * as machines from '../../machines/index.ts'

const all: Record<string, AnyStateMachine> = {
  trafficLight: machines.trafficLight,
  counter: machines.counter,
  webspace: machines.webspace,
  peerSession: machines.peerSession,
  mediaSubflow: machines.mediaSubflow,
  rtcMember: machines.rtcMember,
  mediaRoute: machines.mediaRoute,
  hubLink: machines.hubLink,
  classAStream: machines.classAStream,
  reliabilityView: machines.reliabilityView,
  agentSession: machines.agentSession,
  circuitBreaker: machines.circuitBreaker,
  integration: machines.integration,
  updateTransition: machines.updateTransition,
  scenarioSwitch: machines.scenarioSwitch,
  memberRollout: machines.memberRollout,
  schedule: machines.scheduleMachine,
  semanticChannel: machines.semanticChannel,
  job: machines.createJobMachine({
    name: 'two',
    steps: [
      { name: 'a', timeoutMs: 100 },
      { name: 'b', retry: { maxAttempts: 2 } },
    ],
  }),
}

interface NodeLike {
  id: string
  entry: unknown[]
  exit: unknown[]
  transitions: Map<string, Array<{ guard?: unknown; actions: unknown[] }>>
  always?: Array<{ guard?: unknown; actions: unknown[] }>
  states: Record<string, NodeLike>
}

/** The raise and cancel XState itself puts in the entry and exit of a state with `after` timers. */
const timerAction = (a: unknown) =>
  typeof a === 'function' && ['xstate.raise', 'xstate.cancel'].includes((a as { type?: string }).type ?? '')

/** Every inline guard or action in the machine, as `state: what`. */
function inline(machine: AnyStateMachine): string[] {
  const found: string[] = []
  const walk = (node: NodeLike) => {
    for (const a of [...node.entry, ...node.exit])
      if (typeof a === 'function' && !timerAction(a)) found.push(`${node.id}: entry/exit`)
    for (const t of [...[...node.transitions.values()].flat(), ...(node.always ?? [])]) {
      if (typeof t.guard === 'function') found.push(`${node.id}: guard`)
      for (const a of t.actions) if (typeof a === 'function') found.push(`${node.id}: action`)
    }
    for (const child of Object.values(node.states ?? {})) walk(child)
  }
  walk(machine.root as unknown as NodeLike)
  return found
}

const named = suite('machines - guards and actions are named in setup')

named('no machine has an inline guard or action', () => {
  for (const [name, m] of Object.entries(all)) assert.equal(inline(m), [], name)
})

named('the definition the inspector draws names every action', () => {
  for (const [name, m] of Object.entries(all)) {
    const json = JSON.stringify(m.toJSON())
    assert.not.ok(/"(actions|entry|exit)":\[[^\]]*null/.test(json), `${name}: an action without a name`)
  }
})

named('the job machine stays readable by the transition memo', () => {
  assert.is(memoBlocker(all.job), undefined)
})

named.run()
