/** The jobs feature's machines by registry name, for the hub's recovery (runtime/builtinMachines.ts). */
import type { AnyStateMachine } from 'xstate'
import { jobQueueMachine } from './JobQueue.ts'
import { boundScheduleMachine } from './Schedules.ts'
import { builtinJobTypes, type JobType } from './jobTypes.ts'

/** Registry entries for job types (`job:<name>`), so their actors are recovered at start. */
export function jobMachinesFor(types: JobType[]): Record<string, AnyStateMachine> {
  return Object.fromEntries(types.map((t) => [t.machineName, t.machine]))
}

export const jobMachines: Record<string, AnyStateMachine> = {
  ...jobMachinesFor(builtinJobTypes),
  jobQueue: jobQueueMachine,
  schedule: boundScheduleMachine,
}
