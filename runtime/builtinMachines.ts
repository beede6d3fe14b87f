/**
 * The machines a hub knows by name: recovery finds each durable actor's machine here, and
 * `POST /api/actors` spawns them. Features add theirs with `hub.system.register(name, machine)`.
 */
import type { AnyStateMachine } from 'xstate'
import { counter, trafficLight } from '../machines/index.ts'
import { webspaceHosted } from './webspace/webspaceHosted.ts'

export const builtinMachines: Record<string, AnyStateMachine> = {
  counter,
  trafficLight,
  webspace: webspaceHosted,
}
