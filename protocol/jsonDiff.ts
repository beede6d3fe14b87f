/**
 * Structural diff and equality of JSON values: what replay reports when a snapshot differs and what
 * the inspector shows between two states. Pure; runs in Node and in the browser.
 */

/** One differing leaf: where, and its value on each side (`undefined`: absent on that side). */
export interface JsonDiff {
  /** `context.items[2].name`; `(root)` when the values differ as a whole. */
  path: string
  before: unknown
  after: unknown
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null

/**
 * Lists the differing leaves of two JSON values, at most `limit`, in key order. Objects and arrays
 * are walked; anything else differs as a whole (`Object.is`).
 *
 * @example
 * diffJson({ count: 1, on: true }, { count: 2, on: true }, 'context')
 * // [{ path: 'context.count', before: 1, after: 2 }]
 */
export function diffJson(before: unknown, after: unknown, path = '', limit = 20): JsonDiff[] {
  const out: JsonDiff[] = []
  walk(before, after, path, out, limit)
  return out
}

function walk(before: unknown, after: unknown, path: string, out: JsonDiff[], limit: number): void {
  if (out.length >= limit || Object.is(before, after)) return
  if (isObj(before) && isObj(after) && Array.isArray(before) === Array.isArray(after)) {
    for (const k of new Set([...Object.keys(before), ...Object.keys(after)])) {
      const p = Array.isArray(after) ? `${path}[${k}]` : path ? `${path}.${k}` : k
      if (!(k in before)) out.push({ path: p, before: undefined, after: after[k] })
      else if (!(k in after)) out.push({ path: p, before: before[k], after: undefined })
      else walk(before[k], after[k], p, out, limit)
      if (out.length >= limit) return
    }
    return
  }
  out.push({ path: path || '(root)', before, after })
}

/** Deep equality of JSON values (what journals, logs and snapshots hold). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true
  if (!isObj(a) || !isObj(b) || Array.isArray(a) !== Array.isArray(b)) return false
  const ka = Object.keys(a)
  if (ka.length !== Object.keys(b).length) return false
  for (const k of ka) if (!(k in b) || !jsonEqual(a[k], b[k])) return false
  return true
}
