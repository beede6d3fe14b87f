/**
 * What the journal can hold: values that survive `JSON.stringify` then `JSON.parse` unchanged.
 *
 * The journal, its snapshots and exported logs are JSON, so a value JSON cannot carry would be
 * journaled as something else (Infinity and NaN become null, a Date a string, a Map `{}`, an
 * `undefined` in an array null, a BigInt throws) and the actor would come back from its journal
 * in another state than it had. The host refuses such values instead, naming where they are:
 * - an event or spawn input from outside: refused at once (`UNJOURNALABLE`, HTTP 400);
 * - the context a step produced (or a done actor's output): the step is an actor error, handled as
 *   if the event had thrown: journaled as rejected, the actor restarted without it, an incident
 *   and an `EVENT_REJECTED` answer naming the path (`context.count is Infinity`);
 * - an event from inside (an effect's result, a child's completion) cannot be refused, so the
 *   host delivers and journals what JSON makes of it: the live actor sees what replay will see.
 *
 * Accepted although JSON changes them, because nothing that reads them can tell: an object
 * property whose value is `undefined` (it reads `undefined` after the round trip too), `-0` (it
 * is `=== 0`; only `Object.is` and `1/x` differ), and an actor ref kept in context, which XState
 * persists as a reference and revives (the `actorRefInContext` seam). Refused: non-finite numbers,
 * BigInt, functions, symbols, `undefined` in an array, objects that are not plain (Date, Map, Set,
 * RegExp, Error, class instances), and nesting deeper than MAX_DEPTH (which also catches cycles).
 *
 * Cost: one walk of the value, no allocation when it is fine. Per step the host walks only the
 * top-level context fields the step replaced (XState's assign keeps the others by reference).
 */
import { isPersistedActorRef } from './xstateSeams.ts'

/** Deeper values are refused: journaled data is not that deep, and a cycle is infinitely deep. */
export const MAX_DEPTH = 256

/**
 * Where in `value` the first value JSON cannot round-trip is, and what it is (`where` starts with
 * `root`, e.g. `event.by`, `context.items[3]`); undefined when all of it can.
 */
export function firstUnjournalable(value: unknown, root: string): { where: string; what: string } | undefined {
  const bad = walk(value, 0)
  return bad && found(root, bad)
}

/** What walk found: what it is, and the steps to it from the walked value, innermost first. */
interface Bad {
  what: string
  steps: (string | number)[]
}

function found(root: string, bad: Bad): { where: string; what: string } {
  let where = root
  for (let i = bad.steps.length - 1; i >= 0; i--) {
    const s = bad.steps[i]
    where += typeof s === 'number' ? `[${s}]` : `.${s}`
  }
  return { where, what: bad.what }
}

// No allocation while the value is fine: the path to a bad value is built on the way back.
function walk(v: unknown, depth: number): Bad | undefined {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return undefined
    case 'number':
      return Number.isFinite(v) ? undefined : { what: String(v), steps: [] }
    case 'object': {
      if (v === null) return undefined
      if (depth >= MAX_DEPTH) return { what: `nested deeper than ${MAX_DEPTH} levels (or cyclic)`, steps: [] }
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) {
          const x = v[i]
          if (x === undefined) return { what: 'undefined (an array element)', steps: [i] }
          const bad = walk(x, depth + 1)
          if (bad) {
            bad.steps.push(i)
            return bad
          }
        }
        return undefined
      }
      const proto = Object.getPrototypeOf(v)
      if (proto !== Object.prototype && proto !== null) {
        if (isPersistedActorRef(v)) return undefined
        const name = proto?.constructor?.name
        return { what: name ? `a ${name}` : 'an object that is not plain data', steps: [] }
      }
      for (const k in v) {
        const x = (v as Record<string, unknown>)[k]
        if (x === undefined) continue
        const bad = walk(x, depth + 1)
        if (bad) {
          bad.steps.push(k)
          return bad
        }
      }
      return undefined
    }
    case 'undefined':
      // no value: a record without the field reads the same (arrays and objects handle their own)
      return undefined
    case 'bigint':
      return { what: 'a BigInt', steps: [] }
    case 'function':
      return { what: 'a function', steps: [] }
    default:
      return { what: `a ${typeof v}`, steps: [] }
  }
}

/**
 * The first top-level field of `next` (a context) that differs from `prev`'s and cannot be
 * journaled; fields the step kept (the same reference) were checked when they were set.
 */
export function changedUnjournalable(
  prev: unknown,
  next: unknown,
  root: string,
): { where: string; what: string } | undefined {
  if (next === prev) return undefined
  if (
    typeof next !== 'object' ||
    next === null ||
    typeof prev !== 'object' ||
    prev === null ||
    Object.getPrototypeOf(next) !== Object.prototype
  )
    return firstUnjournalable(next, root)
  const p = prev as Record<string, unknown>
  const n = next as Record<string, unknown>
  for (const k in n) {
    const x = n[k]
    if (x === p[k] || x === undefined) continue
    const bad = walk(x, 1)
    if (bad) {
      bad.steps.push(k)
      return found(root, bad)
    }
  }
  return undefined
}
