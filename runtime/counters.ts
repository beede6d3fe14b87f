/**
 * Counters of a component, all starting at zero, named in a few space-separated lists:
 * `zeroCounters('framesSent acks', 'badAcks')` is `{ framesSent: 0, acks: 0, badAcks: 0 }`, typed
 * with those names. One line per group of names keeps a long list readable, and the names are the
 * only thing that differs from one component's counters to another's.
 */

/** The names in a space-separated list, as a union of string literals. */
export type CounterNames<S extends string> = S extends `${infer Head} ${infer Tail}` ? Head | CounterNames<Tail> : S

export function zeroCounters<const S extends string[]>(...lists: S): Record<CounterNames<S[number]>, number> {
  const out: Record<string, number> = {}
  for (const list of lists) for (const name of list.split(' ')) if (name) out[name] = 0
  return out as Record<CounterNames<S[number]>, number>
}
