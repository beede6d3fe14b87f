/**
 * Quiet timelines: periodic events (probe ticks, pongs, heartbeats) fold into one row per kind
 * with a count and a rate, so what an actor did stands out from what it keeps doing. Which event
 * types are periodic is declared by the machine, in its root `meta.periodic` (a list of event
 * types; a trailing `*` matches a prefix), and so reaches the page with the definition. A periodic
 * event that changed the state value is not folded (the heartbeat that brought a link back is
 * news). Folding is a view: the model, the time travel, the journal and downloads keep every event.
 * Pure; runs in Node (tests) and the browser.
 */

/** One event as the fold sees it (an actor's entry, or a row of the all-actors timeline). */
export interface FoldItem {
  /** The actor it belongs to. */
  path: string
  /** The event type ('' for a row that is no event: a start, a checkpoint, a drop marker). */
  type: string
  at: number
  /** Stable across redraws (the actor seq, or the feed seq): names a fold so it stays open. */
  id: number
  /** Declared periodic and the state value did not change. */
  periodic: boolean
}

/** A display row: an item as it is, or the fold of a run of periodic events of one kind. */
export type FoldRow =
  | { kind: 'item'; index: number; nested?: true }
  | {
      kind: 'fold'
      key: string
      path: string
      type: string
      count: number
      first: number
      last: number
      /** Events per second over the run (undefined for a run within one millisecond). */
      rate?: number
      open: boolean
      /** Item indexes, oldest first. */
      members: number[]
    }

/**
 * The display rows of `n` items (oldest first, read by `get`), newest first. Periodic events of an
 * actor fold per type until that actor's next other event; a run of one stays a plain row. A fold
 * whose key is in `open` is followed by its members (newest first, `nested`).
 */
export function foldRows(n: number, get: (i: number) => FoldItem, open: ReadonlySet<string>): FoldRow[] {
  type Run = { path: string; type: string; key: string; members: number[]; first: number; last: number }
  // the run ending at item i (placed where its newest member is)
  const runAt = new Map<number, Run>()
  const running = new Map<string, Map<string, Run>>()
  for (let i = 0; i < n; i++) {
    const it = get(i)
    if (!it.periodic) {
      running.delete(it.path)
      continue
    }
    let byType = running.get(it.path)
    if (!byType) running.set(it.path, (byType = new Map()))
    let run = byType.get(it.type)
    if (run) runAt.delete(run.members[run.members.length - 1])
    else {
      run = {
        path: it.path,
        type: it.type,
        key: `${it.path}\u0000${it.type}\u0000${it.id}`,
        members: [],
        first: it.at,
        last: it.at,
      }
      byType.set(it.type, run)
    }
    run.members.push(i)
    run.last = it.at
    runAt.set(i, run)
  }
  const out: FoldRow[] = []
  const folded = new Set<number>()
  for (const run of runAt.values()) if (run.members.length > 1) for (const m of run.members) folded.add(m)
  for (let i = n - 1; i >= 0; i--) {
    const run = runAt.get(i)
    if (run && run.members.length > 1) {
      const isOpen = open.has(run.key)
      const span = run.last - run.first
      out.push({
        kind: 'fold',
        key: run.key,
        path: run.path,
        type: run.type,
        count: run.members.length,
        first: run.first,
        last: run.last,
        rate: span > 0 ? ((run.members.length - 1) * 1000) / span : undefined,
        open: isOpen,
        members: run.members,
      })
      if (isOpen)
        for (let k = run.members.length - 1; k >= 0; k--)
          out.push({ kind: 'item', index: run.members[k], nested: true })
    } else if (!folded.has(i)) out.push({ kind: 'item', index: i })
  }
  return out
}

/** The event types a machine definition (`machine.toJSON()`) declares periodic in `meta.periodic`. */
export function periodicTypes(definition: unknown): string[] {
  const p = (definition as { meta?: { periodic?: unknown } } | null)?.meta?.periodic
  return Array.isArray(p) ? p.filter((x): x is string => typeof x === 'string') : []
}

/** A test for event types against a declared list (`'peer.pong'`, `'link.heartbeat.*'`). */
export function periodicMatcher(types: readonly string[]): (type: string) => boolean {
  const exact = new Set(types.filter((t) => !t.endsWith('*')))
  const prefixes = types.filter((t) => t.endsWith('*')).map((t) => t.slice(0, -1))
  return (type) => exact.has(type) || prefixes.some((p) => type.startsWith(p))
}

/** `240× · 4.0/s` */
export function foldSummary(count: number, rate: number | undefined): string {
  return `${count}×${rate === undefined ? '' : ` · ${rate >= 10 ? Math.round(rate) : rate.toFixed(1)}/s`}`
}
