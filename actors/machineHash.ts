/** A stable fingerprint of a machine definition: sha256 of its `toJSON()`, hex. */
import type { AnyStateMachine } from 'xstate'
import { digest } from 'lib0/hash/sha256'

const cache = new WeakMap<AnyStateMachine, string>()

export function machineHash(machine: AnyStateMachine): string {
  let h = cache.get(machine)
  if (h) return h
  const bytes = digest(new TextEncoder().encode(JSON.stringify(machine.toJSON())))
  h = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
  cache.set(machine, h)
  return h
}
