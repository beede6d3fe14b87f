/**
 * The hub's view of its members (issue 22): the last snapshot of each (protocol/memberLink.ts),
 * how fresh it is, and the last request the hub sent it with its result.
 *
 * Freshness of a member:
 * - `pending`: the hub asked it something (a request) and has no answer yet;
 * - `fresh`: its last snapshot arrived within `3 x heartbeatMs` (the heartbeat it states itself);
 * - `stale`: no snapshot within that time, or never one (a member known only by name).
 *
 * The cohort state, derived from the members and the rollouts:
 * - `degraded`: a member is stale or failed, or the latest rollout halted;
 * - `pressure`: a rollout runs and one of its members waits (live media, deferral) or has a
 *   request unanswered;
 * - `transitioning`: a rollout runs;
 * - `nominal`: none of these.
 */
import type { MemberAction, MemberSnapshot, ReadinessNode } from '../../protocol/index.ts'

export type Freshness = 'fresh' | 'pending' | 'stale'
export type CohortState = 'nominal' | 'transitioning' | 'pressure' | 'degraded'

/** Snapshots older than this many heartbeats are stale. */
export const STALE_HEARTBEATS = 3

export interface LastRequest {
  id: string
  action: MemberAction
  at: number
  /** `pending` until the member answered; then `accepted` or the refusal's code. */
  result: string
  message?: string
  answeredAt?: number
}

export interface MemberEntry {
  name: string
  snapshot: MemberSnapshot | null
  receivedAt: number | null
  inFlight: number
  lastRequest: LastRequest | null
}

/** What the cohort derivation needs to know of one rollout. */
export interface RolloutView {
  id: string
  done: boolean
  outcome: string | null
  startedAt: number
  /** Members of the running wave that are waiting for their attempt (deferred, or unanswered). */
  waiting: string[]
}

export class Members {
  private entries = new Map<string, MemberEntry>()
  readonly counters = { snapshots: 0, refused: 0, outOfOrder: 0 }

  constructor(readonly hub: string) {}

  entry(name: string): MemberEntry {
    let e = this.entries.get(name)
    if (!e) {
      e = { name, snapshot: null, receivedAt: null, inFlight: 0, lastRequest: null }
      this.entries.set(name, e)
    }
    return e
  }

  names(): string[] {
    return [...this.entries.keys()].sort()
  }

  /** Takes a decoded snapshot; an older one of the same boot is ignored. Returns whether it was new. */
  take(s: MemberSnapshot, now = Date.now()): boolean {
    const e = this.entry(s.member)
    if (e.snapshot && e.snapshot.boot === s.boot && s.seq <= e.snapshot.seq) {
      this.counters.outOfOrder++
      return false
    }
    this.counters.snapshots++
    e.snapshot = s
    e.receivedAt = now
    return true
  }

  freshness(e: MemberEntry, now = Date.now()): Freshness {
    if (e.inFlight > 0) return 'pending'
    if (!e.snapshot || e.receivedAt === null) return 'stale'
    return now - e.receivedAt <= STALE_HEARTBEATS * e.snapshot.heartbeatMs ? 'fresh' : 'stale'
  }

  /** Members matching a selector: names, or a version, or a name prefix (all when empty). */
  select(sel: { members?: string[]; version?: string; prefix?: string }): string[] {
    if (sel.members) return sel.members
    return this.names().filter(
      (n) =>
        (sel.version === undefined || this.entries.get(n)?.snapshot?.version === sel.version) &&
        (sel.prefix === undefined || n.startsWith(sel.prefix)),
    )
  }

  cohort(rollouts: RolloutView[], now = Date.now()): { state: CohortState; reason: string } {
    const list = [...this.entries.values()]
    const stale = list.filter((e) => this.freshness(e, now) === 'stale').map((e) => e.name)
    const failed = list.filter((e) => e.snapshot?.phase === 'failed').map((e) => e.name)
    const latest = [...rollouts].sort((a, b) => a.startedAt - b.startedAt).at(-1)
    if (stale.length) return { state: 'degraded', reason: `stale: ${stale.join(', ')}` }
    if (failed.length) return { state: 'degraded', reason: `failed: ${failed.join(', ')}` }
    if (latest?.done && latest.outcome === 'halted') return { state: 'degraded', reason: `rollout ${latest.id} halted` }
    const running = rollouts.filter((r) => !r.done)
    const waiting = running.flatMap((r) => r.waiting)
    const pending = list.filter((e) => e.inFlight > 0).map((e) => e.name)
    if (waiting.length || pending.length)
      return { state: 'pressure', reason: `waiting: ${[...new Set([...waiting, ...pending])].join(', ')}` }
    if (running.length)
      return { state: 'transitioning', reason: `rollout ${running.map((r) => r.id).join(', ')} running` }
    return { state: 'nominal', reason: `${list.length} member${list.length === 1 ? '' : 's'}, all fresh` }
  }

  /** The `members` node of the readiness tree. */
  node(rollouts: RolloutView[], now = Date.now()): ReadinessNode {
    const c = this.cohort(rollouts, now)
    return {
      id: 'members',
      label: 'members',
      status: c.state === 'degraded' ? 'degraded' : 'ready',
      ...(c.state === 'nominal' ? {} : { reason: `${c.state}: ${c.reason}` }),
      detail: { cohort: c.state, members: this.entries.size },
      children: [...this.entries.values()].map((e) => {
        const f = this.freshness(e, now)
        return {
          id: `members/${e.name}`,
          label: e.name,
          status: f === 'stale' || e.snapshot?.phase === 'failed' ? 'degraded' : 'ready',
          ...(f === 'stale' ? { reason: 'no snapshot within 3 heartbeats' } : {}),
          detail: {
            freshness: f,
            version: e.snapshot?.version ?? null,
            update: e.snapshot?.update.state ?? null,
          },
        }
      }),
    }
  }

  /** `GET /api/members`: every member with its freshness, snapshot and last request. */
  list(now = Date.now()) {
    return [...this.entries.values()]
      .sort((a, b) => (a.name < b.name ? -1 : 1))
      .map((e) => ({
        name: e.name,
        freshness: this.freshness(e, now),
        ageMs: e.receivedAt === null ? null : now - e.receivedAt,
        staleAfterMs: e.snapshot ? STALE_HEARTBEATS * e.snapshot.heartbeatMs : null,
        snapshot: e.snapshot,
        lastRequest: e.lastRequest && {
          ...e.lastRequest,
          // what became of the attempt it started, as the member's last snapshot says
          outcome: e.snapshot?.requests.find((r) => r.id === e.lastRequest?.id)?.result ?? null,
        },
      }))
  }
}
