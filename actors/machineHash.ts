/** A stable fingerprint of a machine definition: sha256 of its `toJSON()`, hex. */
import type { AnyStateMachine } from 'xstate'
import { digest } from 'lib0/hash/sha256'

const cache = new WeakMap<AnyStateMachine, string>()

export function machineHash(machine: AnyStateMachine): string {
  let h = cache.get(machine)
  if (h) return h
  h = textHash(JSON.stringify(machine.toJSON()))
  cache.set(machine, h)
  return h
}

/** sha256 of a text, hex: `machineHash` of a definition received as JSON text (an external app's). */
export function textHash(text: string): string {
  const bytes = digest(new TextEncoder().encode(text))
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}
