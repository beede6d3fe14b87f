/**
 * The agentSession machine as hubs host it: `runTask` is an effect (actors/effect.ts: its key,
 * `<session path>/task@<seq>`, is the same when the host re-runs it after a crash) that hands the
 * task to the `agent.runtime` service of the actor's system. The agent feature provides that
 * service at install, before the system recovers, so a task re-run by recovery reaches it at once.
 */
import { defineService, effect, serviceOf } from '../../actors/index.ts'
import { agentSession, type RunTaskInput, type TaskResult } from '../../machines/agentSession.ts'

export interface AgentRuntime {
  runTask(input: RunTaskInput, requestId: string, signal: AbortSignal): Promise<TaskResult>
}

/** What runs the tasks of an actor system's agent sessions. */
export const agentRuntime = defineService<AgentRuntime>('agent.runtime')

/** agentSession with the runTask effect bound to the hub's agent runtime. */
export const hostedAgentSession = agentSession.provide({
  actors: {
    runTask: effect<TaskResult, RunTaskInput>(({ input, key, signal, self }) =>
      serviceOf(self, agentRuntime).runTask(input, key, signal),
    ),
  },
})
