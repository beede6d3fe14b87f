/**
 * The agentSession machine as hubs host it: `runTask` is an effect (keyed like actors/effect.ts:
 * `<session path>/task@<seq>`, the same key when the host re-runs it after a crash) that hands
 * the task to the agent runtime bound to the actor's system. The binding is late on purpose:
 * durable sessions are recovered (and their running task re-started) while the hub opens its
 * store, before the agent feature has built its scheduler; the effect waits for the binding.
 */
import { fromPromise } from 'xstate'
import { hostedActorOf } from '../../actors/index.ts'
import { agentSession, type RunTaskInput, type TaskResult } from '../../machines/agentSession.ts'

export interface AgentRuntime {
  runTask(input: RunTaskInput, requestId: string, signal: AbortSignal): Promise<TaskResult>
}

interface Slot {
  runtime?: AgentRuntime
  waiters: Array<(rt: AgentRuntime) => void>
}

const slots = new WeakMap<object, Slot>()

function slotOf(system: object): Slot {
  let s = slots.get(system)
  if (!s) slots.set(system, (s = { waiters: [] }))
  return s
}

/** Binds the runtime that runs the tasks of `system`'s sessions (and releases waiting effects). */
export function bindAgentRuntime(system: object, runtime: AgentRuntime): void {
  const s = slotOf(system)
  s.runtime = runtime
  const w = s.waiters
  s.waiters = []
  for (const f of w) f(runtime)
}

export function unbindAgentRuntime(system: object): void {
  const s = slots.get(system)
  if (s) s.runtime = undefined
}

function runtimeFor(system: object, signal: AbortSignal): Promise<AgentRuntime> {
  const s = slotOf(system)
  if (s.runtime) return Promise.resolve(s.runtime)
  return new Promise((resolve, reject) => {
    s.waiters.push(resolve)
    signal.addEventListener('abort', () => reject(new Error('cancelled before the agent runtime was bound')), {
      once: true,
    })
  })
}

/** agentSession with the runTask effect bound to the hub's agent runtime. */
export const hostedAgentSession = agentSession.provide({
  actors: {
    runTask: fromPromise<TaskResult, RunTaskInput>(async ({ input, self, signal }) => {
      const host = hostedActorOf(self)
      if (!host) throw new Error('runTask runs inside a hosted agentSession actor')
      const requestId = host.effectKey(self.id)
      const rt = await runtimeFor(host.host, signal)
      return rt.runTask(input, requestId, signal)
    }),
  },
})
