/**
 * What the inspector knows: every actor (from the feed's snapshot and live events, from journal
 * history pages, or from a loaded log file), each with its entries (one per event, with the
 * snapshot it led to) for time travel, and a cross-actor timeline. Bounded: each actor keeps at
 * most `liveCap` live entries (the selected one up to `historyCap`), the timeline `timelineCap`
 * rows; what falls off is still in the hub's journal. Pure; runs in Node (tests) and the browser.
 */
import type { FeedEvent, FeedSnapshot } from '../../protocol/inspection.ts'
import type { FeedActorState, HistoryEntry, WireEvent } from '../../protocol/inspectorFeed.ts'
import { isSnapshotLine, parseLog, type LogHeader } from '../../protocol/log.ts'

export interface Entry {
  /** The actor's journal seq (or its event count for memory actors). */
  seq: number
  at: number
  event?: { type: string; [k: string]: unknown }
  source?: string
  timer?: string
  rejected?: string
  /** The snapshot after this entry; absent when a log recorded none here. */
  snapshot?: FeedSnapshot
}

export interface ActorView {
  path: string
  machine: string
  status: string
  durable: boolean
  parent?: string
  /**
   * The app of an external actor (an app the hub watches but does not host): read-only, its
   * history and log come from the hub's recording of it.
   */
  node?: string
  /**
   * The node hosting the actor when it is not the hub the page talks to (`supervisor`): its path
   * in the model is `@<host>/<path>` (hostPath), `remotePath` the path on that node.
   */
  host?: string
  remotePath?: string
  kind: 'live' | 'log'
  current?: FeedSnapshot
  actorSeq: number
  at: number
  entries: Entry[]
  /** Entries before the first kept one exist (in the journal) but are not loaded. */
  truncated: boolean
  /** Seq of the first state the hub's journal holds, when its head was compacted away (`--retain`). */
  journalFrom?: number
  history: 'none' | 'loading' | 'loaded' | 'unavailable'
  /** Why history is unavailable, or notes about a loaded log. */
  note?: string
  log?: { file: string; header: LogHeader; events: number; snapshots: number; text: string }
  /** Bumped on every change, so views redraw only what changed. */
  version: number
}

export type TimelineRow =
  | {
      kind: 'event'
      feedSeq: number
      path: string
      at: number
      type: string
      source?: string
      actorSeq?: number
      value: unknown
    }
  | { kind: 'dropped'; at: number; count: number }

export interface ModelOptions {
  liveCap?: number
  historyCap?: number
  timelineCap?: number
}

export class InspectorModel {
  readonly actors = new Map<string, ActorView>()
  timeline: TimelineRow[] = []
  received = 0
  dropped = 0
  lastFeedSeq = 0
  /** Event types seen (for the timeline filter's suggestions). */
  readonly eventTypes = new Set<string>()
  selected?: string
  readonly liveCap: number
  readonly historyCap: number
  readonly timelineCap: number
  treeVersion = 0
  /** The last feed seq of each other node's feed (`host`). */
  private hostSeq = new Map<string, number>()

  constructor(opts: ModelOptions = {}) {
    this.liveCap = opts.liveCap ?? 2000
    this.historyCap = opts.historyCap ?? 20_000
    this.timelineCap = opts.timelineCap ?? 5000
  }

  /**
   * The `snapshot` frame: the state of every actor now. Replaces the live actors (of `host`, when
   * the frame came from another node's feed). A feed that reconnects (the hub restarted, or a
   * supervisor switched runtimes) keeps what the page had of an actor whose journal goes on: its
   * entries stay, the new state is appended.
   */
  applySnapshot(actors: FeedActorState[], seq: number, host?: string): void {
    const before = new Map<string, ActorView>()
    for (const [p, a] of this.actors)
      if (a.kind === 'live' && a.host === host) {
        before.set(p, a)
        this.actors.delete(p)
      }
    for (const s of actors) {
      const path = host ? hostPath(host, s.path) : s.path
      const old = before.get(path)
      const last = old?.entries[old.entries.length - 1]
      const keep = !!old && old.machine === s.machine && old.durable && s.durable && !!last && last.seq <= s.actorSeq
      if (keep) this.actors.set(path, old!)
      const a = this.ensure(path, s.machine)
      if (host) {
        a.host = host
        a.remotePath = s.path
      }
      a.status = s.status
      a.durable = s.durable
      a.parent = s.parent && host ? hostPath(host, s.parent) : s.parent
      a.node = s.node
      a.current = s.snapshot
      a.actorSeq = s.actorSeq
      a.at = s.at
      if (keep && last!.seq < s.actorSeq) a.entries.push({ seq: s.actorSeq, at: s.at, snapshot: s.snapshot })
      else if (!keep) {
        a.entries = [{ seq: s.actorSeq, at: s.at, snapshot: s.snapshot }]
        a.truncated = s.actorSeq > 0
      }
      a.history = 'none'
      a.version++
    }
    if (host) this.hostSeq.set(host, seq)
    else this.lastFeedSeq = seq
    this.treeVersion++
  }

  /** An `events` frame (from `host`'s feed, when not the page's hub). */
  applyEvents(events: Array<FeedEvent | WireEvent>, dropped = 0, host?: string): void {
    if (host) return this.applyHostEvents(events, dropped, host)
    if (dropped) {
      this.dropped += dropped
      this.pushRow({ kind: 'dropped', at: events[0]?.at ?? Date.now(), count: dropped })
      // an actor may have missed entries: its time travel is incomplete until history is reloaded
      for (const a of this.actors.values())
        if (a.kind === 'live' && a.durable) a.history = a.history === 'loaded' ? 'none' : a.history
    }
    for (const e of events) {
      this.received++
      if (e.seq <= this.lastFeedSeq) continue
      this.lastFeedSeq = e.seq
      if (e.type === '@xstate.actor') {
        const known = this.actors.has(e.path)
        const a = this.ensure(e.path, e.machine)
        a.status = e.status
        a.parent = e.parentId
        a.node = e.node
        a.current = e.snapshot
        if (!known) {
          a.entries = [{ seq: 0, at: e.at, snapshot: e.snapshot }]
          a.durable = true
        }
        a.version++
        this.treeVersion++
        continue
      }
      const a = this.actors.get(e.path)
      if (!a) continue
      const status = e.snapshot.status
      if (status && status !== a.status) {
        a.status = status
        this.treeVersion++
      }
      a.current = e.snapshot
      a.at = e.at
      a.version++
      if (e.type === '@xstate.event') {
        const seq = e.actorSeq ?? a.actorSeq + 1
        a.actorSeq = Math.max(a.actorSeq, seq)
        const last = a.entries[a.entries.length - 1]
        if (!last || seq > last.seq) {
          const entry: Entry = { seq, at: e.at, event: e.event, snapshot: e.snapshot }
          if (e.sourceId !== undefined) entry.source = e.sourceId
          a.entries.push(entry)
          const cap = this.selected === a.path ? this.historyCap : this.liveCap
          if (a.entries.length > cap + (cap >> 3)) {
            a.entries.splice(0, a.entries.length - cap)
            a.truncated = true
          }
        }
        this.eventTypes.add(e.event.type)
        this.pushRow({
          kind: 'event',
          feedSeq: e.seq,
          path: e.path,
          at: e.at,
          type: e.event.type,
          source: e.sourceId,
          actorSeq: e.actorSeq,
          value: e.snapshot.value,
        })
      }
    }
  }

  /** The answer to `focus`: the focused actors' full state now (light events carried no context). */
  applyFocus(actors: FeedActorState[]): void {
    for (const s of actors) {
      const a = this.actors.get(s.path)
      if (a?.kind !== 'live') continue
      a.current = s.snapshot
      const last = a.entries[a.entries.length - 1]
      if (last && last.seq === s.actorSeq) last.snapshot = s.snapshot
      a.version++
    }
  }

  /** Whether any entry of `a` came from a light event (no context). */
  hasLightEntries(a: ActorView): boolean {
    for (let i = a.entries.length - 1; i >= 0; i--)
      if (a.entries[i].snapshot && !('context' in a.entries[i].snapshot!)) return true
    return false
  }

  /**
   * A `history` page asked for after `after`: merges journal entries (with `start`, the state
   * before them, at `startSeq`) into the actor. A `startSeq` past `after` is where the journal
   * begins (its head was compacted): nothing earlier can be loaded.
   */
  applyHistory(
    path: string,
    after: number,
    start: FeedSnapshot | null,
    entries: HistoryEntry[],
    startSeq = after,
  ): void {
    const a = this.actors.get(path)
    if (!a) return
    const bySeq = new Map<number, Entry>()
    for (const e of a.entries) bySeq.set(e.seq, e)
    if (start && (startSeq === 0 || !bySeq.has(startSeq)))
      bySeq.set(startSeq, { seq: startSeq, at: bySeq.get(startSeq)?.at ?? entries[0]?.at ?? a.at, snapshot: start })
    if (startSeq > after) a.journalFrom = startSeq
    for (const h of entries) {
      const e: Entry = { seq: h.seq, at: h.at, event: h.event, snapshot: h.snapshot }
      if (h.source !== undefined) e.source = h.source
      if (h.timer !== undefined) e.timer = h.timer
      if (h.rejected !== undefined) e.rejected = h.rejected
      bySeq.set(h.seq, e)
      this.eventTypes.add(h.event.type)
    }
    a.entries = [...bySeq.values()].sort((x, y) => x.seq - y.seq)
    if (a.entries.length > this.historyCap) a.entries.splice(0, a.entries.length - this.historyCap)
    a.truncated = a.entries[0].seq > (a.journalFrom ?? 0)
    a.version++
  }

  /** Loads an `aether.log/1` text as a read-only actor `log:<file>`; throws LogFormatError. */
  loadLog(file: string, text: string): ActorView {
    const { header, lines } = parseLog(text)
    const path = `log:${file}`
    this.actors.delete(path)
    const a = this.ensure(path, header.machine)
    a.kind = 'log'
    a.durable = false
    a.history = 'loaded'
    const entries: Entry[] = []
    let events = 0
    let snaps = 0
    for (const l of lines) {
      if (isSnapshotLine(l)) {
        snaps++
        const snap: FeedSnapshot = {
          value: l.snapshot.value,
          context: l.snapshot.context ?? null,
          status: String(l.snapshot.status ?? 'active'),
        }
        const last = entries[entries.length - 1]
        if (last && last.seq === l.seq) last.snapshot = snap
        else entries.push({ seq: l.seq, at: l.at, snapshot: snap })
      } else {
        events++
        const e: Entry = { seq: l.seq, at: l.at, event: l.event }
        if (l.source !== undefined) e.source = l.source
        if (l.timer !== undefined) e.timer = l.timer
        if (l.rejected !== undefined) e.rejected = l.rejected
        entries.push(e)
        this.eventTypes.add(l.event.type)
      }
    }
    if (entries.length === 0 || entries[0].event) entries.unshift({ seq: 0, at: header.at })
    a.entries = entries
    a.status = 'log'
    a.at = entries[entries.length - 1].at
    a.actorSeq = entries[entries.length - 1].seq
    a.current = lastKnown(entries, entries.length - 1)
    a.log = { file, header, events, snapshots: snaps, text }
    const missing = entries.filter((e) => e.event && !e.snapshot).length
    a.note = missing
      ? `${missing} of ${events} events have no snapshot line: the state shown there is the last recorded one. Logs from "aether log export", GET /api/actors/<path>/log or the inspector's download have a state at every step (unless exported with --snapshots stored).`
      : `${events} events, a snapshot at every step.`
    a.version++
    this.treeVersion++
    return a
  }

  /** Another node's events: paths moved under `@<host>/`, feed seqs counted per node. */
  private applyHostEvents(events: Array<FeedEvent | WireEvent>, dropped: number, host: string): void {
    const main = this.lastFeedSeq
    this.lastFeedSeq = this.hostSeq.get(host) ?? 0
    try {
      this.applyEvents(
        events.map((e) => ({
          ...e,
          path: hostPath(host, e.path),
          ...(e.type === '@xstate.actor' && e.parentId ? { parentId: hostPath(host, e.parentId) } : {}),
        })) as Array<FeedEvent | WireEvent>,
        dropped,
      )
      for (const e of events) {
        const a = this.actors.get(hostPath(host, e.path))
        if (a && !a.host) {
          a.host = host
          a.remotePath = e.path
        }
      }
    } finally {
      this.hostSeq.set(host, this.lastFeedSeq)
      this.lastFeedSeq = main
    }
  }

  removeActor(path: string): void {
    this.actors.delete(path)
    this.treeVersion++
  }

  private ensure(path: string, machine: string): ActorView {
    let a = this.actors.get(path)
    if (!a) {
      a = {
        path,
        machine,
        status: 'active',
        durable: false,
        kind: 'live',
        actorSeq: 0,
        at: 0,
        entries: [],
        truncated: false,
        history: 'none',
        version: 0,
      }
      this.actors.set(path, a)
      this.treeVersion++
    }
    a.machine = machine
    return a
  }

  private pushRow(r: TimelineRow): void {
    this.timeline.push(r)
    if (this.timeline.length > this.timelineCap + (this.timelineCap >> 2))
      this.timeline.splice(0, this.timeline.length - this.timelineCap)
  }
}

/** The model path of `path` on another node: `@supervisor/supervisor.update`. */
export function hostPath(host: string, path: string): string {
  return `@${host}/${path}`
}

/** The snapshot at entry `i`, or the last one recorded before it (logs without every snapshot). */
export function lastKnown(entries: Entry[], i: number): FeedSnapshot | undefined {
  for (let k = Math.min(i, entries.length - 1); k >= 0; k--) if (entries[k].snapshot) return entries[k].snapshot
  return undefined
}

/** A readable state value: `light.green, pedestrian.idle`. */
export function formatValue(v: unknown): string {
  if (v === null || v === undefined) return '—'
  if (typeof v === 'string') return v
  if (typeof v !== 'object') return String(v)
  const parts: string[] = []
  const walk = (x: unknown, pre: string) => {
    if (typeof x === 'string') parts.push(pre + x)
    else if (x && typeof x === 'object') {
      const ks = Object.keys(x)
      if (!ks.length) parts.push(pre.replace(/\.$/, ''))
      for (const k of ks) walk((x as any)[k], `${pre}${k}.`)
    }
  }
  walk(v, '')
  return parts.join(', ')
}

/**
 * An `aether.log/1` text of an actor's entries (for actors without a journal on the hub). A log
 * has no gaps in its seqs and starts from a known state, so it holds the longest run of entries
 * without a gap (events this page missed make one), from the first entry of that run with a
 * snapshot: that snapshot is the log's starting checkpoint, every later entry an event line with
 * its snapshot line.
 */
export function entriesToLog(a: ActorView): string {
  const list = a.entries
  let from = -1
  for (let i = list.length - 1; i >= 0; i--) {
    if (list[i].snapshot) from = i
    if (i > 0 && list[i].seq !== list[i - 1].seq + 1) break
  }
  const header = { format: 'aether.log/1', actor: a.path, machine: a.machine, at: list[0]?.at ?? a.at }
  let out = JSON.stringify(header) + '\n'
  if (from < 0) return out
  const snapLine = (e: Entry) => {
    const { value, context, status } = e.snapshot!
    return JSON.stringify({ seq: e.seq, at: e.at, snapshot: { value, context, status } }) + '\n'
  }
  out += snapLine(list[from])
  for (let i = from + 1; i < list.length; i++) {
    const e = list[i]
    if (!e.event) continue
    // `timer` is left out: without the due time replay would take the fire as stale; as a plain
    // event it takes the same delayed transition.
    const line = { seq: e.seq, at: e.at, event: e.event, source: e.source, rejected: e.rejected }
    out += JSON.stringify(line) + '\n'
    if (e.snapshot) out += snapLine(e)
  }
  return out
}
