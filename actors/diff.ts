/** A small structural diff for readable "expected vs replayed" reports. */

export interface DiffEntry {
  path: string
  expected: unknown
  actual: unknown
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null

/** Lists the differing leaves of two JSON values (at most `limit`). */
export function diffJson(
  expected: unknown,
  actual: unknown,
  path = '',
  out: DiffEntry[] = [],
  limit = 20,
): DiffEntry[] {
  if (out.length >= limit) return out
  if (Object.is(expected, actual)) return out
  if (isObj(expected) && isObj(actual) && Array.isArray(expected) === Array.isArray(actual)) {
    const keys = new Set([...Object.keys(expected), ...Object.keys(actual)])
    for (const k of keys) {
      const p = Array.isArray(expected) ? `${path}[${k}]` : path ? `${path}.${k}` : k
      if (!(k in expected)) out.push({ path: p, expected: undefined, actual: actual[k] })
      else if (!(k in actual)) out.push({ path: p, expected: expected[k], actual: undefined })
      else diffJson(expected[k], actual[k], p, out, limit)
      if (out.length >= limit) break
    }
    return out
  }
  out.push({ path: path || '(root)', expected, actual })
  return out
}

/** Deep equality of JSON values (what the journal and the log hold). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true
  if (!isObj(a) || !isObj(b) || Array.isArray(a) !== Array.isArray(b)) return false
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  if (ka.length !== kb.length) return false
  for (const k of ka) if (!(k in b) || !jsonEqual(a[k], b[k])) return false
  return true
}

/** Renders diff entries as lines: `context.count: expected 3, replayed 4`. */
export function formatDiff(entries: DiffEntry[]): string {
  const show = (v: unknown) => (v === undefined ? '(absent)' : JSON.stringify(v))
  return entries.map((d) => `  ${d.path}: expected ${show(d.expected)}, replayed ${show(d.actual)}`).join('\n')
}
