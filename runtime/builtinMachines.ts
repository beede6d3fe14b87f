/**
 * The machines a hub knows by name: recovery finds each durable actor's machine here, and
 * `POST /api/actors` spawns them. Features add theirs with `hub.system.register(name, machine)`.
 */
import type { AnyStateMachine } from 'xstate'
import { counter, trafficLight } from '../machines/index.ts'
import { hostedAgentSession } from './agent/agentMachine.ts'
import { mediaRoute, mediaSubflow, peerSession, rtcMember } from '../machines/index.ts'
import { jobMachines } from './jobs/machines.ts'
import { webspaceHosted } from './webspace/webspaceHosted.ts'

export const builtinMachines: Record<string, AnyStateMachine> = {
  counter,
  trafficLight,
  agentSession: hostedAgentSession,
  // rtc: recovered after a restart only to be stopped by the rtc feature (their peers are gone)
  peerSession,
  mediaSubflow,
  rtcMember,
  mediaRoute,
  ...jobMachines,
  webspace: webspaceHosted,
}
