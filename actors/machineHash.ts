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

const codeCache = new WeakMap<AnyStateMachine, string>()

/**
 * A fingerprint of a machine's code: its config and its implementations (`setup`'s actions,
 * guards, actors, delays) with every function as its source text. Unlike `machineHash` (the
 * definition the inspector draws, unchanged when only an action's body changes) it changes with
 * the code, so the migration check knows which stored actors to replay. A change that only a
 * closure sees (an imported constant) is not seen; the check replays those actors when asked.
 */
export function codeHash(machine: AnyStateMachine): string {
  let h = codeCache.get(machine)
  if (h) return h
  const seen = new WeakSet<object>()
  const text = JSON.stringify({ config: machine.config, implementations: machine.implementations }, (_k, v) => {
    if (typeof v === 'function') {
      if (seen.has(v)) return '[seen]'
      seen.add(v)
      // built-in action creators (assign, raise, ...) keep what varies as properties (`assignment`)
      const props: Record<string, unknown> = {}
      for (const k of Object.getOwnPropertyNames(v))
        if (k !== 'length' && k !== 'name' && k !== 'prototype' && k !== 'arguments' && k !== 'caller') props[k] = v[k]
      return { fn: v.toString(), props }
    }
    if (v && typeof v === 'object') {
      if (seen.has(v)) return '[seen]'
      seen.add(v)
      // an actor logic (fromPromise, fromCallback, ...) keeps its creator as `config`
      if (typeof v.transition === 'function' && typeof v.config === 'function') return `logic:${v.config.toString()}`
    }
    return v
  })
  h = textHash(text)
  codeCache.set(machine, h)
  return h
}
