/**
 * Several `aether root` processes serving one fleet on one NATS server: who is a member and which
 * root owns which hub.
 *
 * Membership is a JetStream KV bucket (`aether-roots`): each root puts its entry every
 * `leaseMs / 4` and watches the bucket; a member whose last put is older than `leaseMs` is gone
 * (a root that stops cleanly deletes its entry, so it is gone at once). Every root computes the
 * same owner for a hub from the same member set: rendezvous hashing (the member with the highest
 * hash of `member/hub`), so a member leaving moves only its own hubs and a member joining takes
 * about 1/n of everyone's.
 *
 * Two roots may briefly disagree (one has seen a change the other has not yet): both may then try
 * to apply a hub's frame, and the fence on the shared inbox stream lets one of them through
 * (RootService, fleet mode). Ownership decides who tries; the fence decides who succeeds.
 */
import type { FleetStore } from '../nats/NatsTransport.ts'

export interface FleetOptions {
  rootId: string
  /** A member silent this long is gone. Default 1500 ms. */
  leaseMs?: number
  /** What the entry says about this root (its HTTP url), shown by `GET /api/fleet`. */
  info?: Record<string, unknown>
  now?: () => number
}

export interface FleetChange {
  at: number
  members: string[]
  joined: string[]
  left: string[]
}

/** 32-bit FNV-1a then murmur3's finaliser: cheap, and well spread for ids that differ in one digit. */
export function hash32(s: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}

/** The member that owns `hub` (rendezvous hashing); undefined with no members. */
export function ownerOf(hub: string, members: readonly string[]): string | undefined {
  let best: string | undefined
  let bestH = -1
  for (const m of members) {
    const h = hash32(`${m}/${hub}`)
    if (h > bestH || (h === bestH && m < best!)) (best = m), (bestH = h)
  }
  return best
}

export class RootFleet {
  readonly leaseMs: number
  /** member id -> last put seen (ms) and what it said. */
  private seen = new Map<string, { at: number; info: Record<string, unknown> }>()
  private live: string[] = []
  private owners = new Map<string, string | undefined>()
  private timer?: ReturnType<typeof setInterval>
  private listeners = new Set<(c: FleetChange) => void>()
  readonly changes: FleetChange[] = []
  readonly counters = { puts: 0, putErrors: 0, changes: 0 }
  private now: () => number

  constructor(
    private store: FleetStore,
    readonly opts: FleetOptions,
  ) {
    this.leaseMs = opts.leaseMs ?? 1500
    this.now = opts.now ?? Date.now
  }

  /** Joins: puts this root's entry and reads the others before answering `owns`. */
  async start(): Promise<void> {
    await this.put()
    await this.store.watchMembers((e) => {
      if (e.deleted) this.seen.delete(e.key)
      else {
        let info: Record<string, unknown> = {}
        try {
          info = JSON.parse(new TextDecoder().decode(e.value))
        } catch {}
        // the entries there already: the server's write time (a root dead before we came is not
        // live); updates: when they reach us, so a put that waited behind our own busy event loop
        // does not look old
        this.seen.set(e.key, { at: this.timer ? this.now() : Math.min(this.now(), e.createdAt), info })
      }
      this.recompute()
    })
    this.recompute()
    this.timer = setInterval(() => {
      void this.put()
      this.recompute()
    }, this.leaseMs / 4)
    this.timer.unref?.()
  }

  private async put(): Promise<void> {
    try {
      const body = JSON.stringify({ ...this.opts.info, at: this.now() })
      await this.store.putMember(this.opts.rootId, new TextEncoder().encode(body))
      this.counters.puts++
    } catch {
      this.counters.putErrors++
    }
  }

  private recompute(): void {
    const now = this.now()
    const members = [...this.seen]
      .filter(([id, s]) => id === this.opts.rootId || now - s.at < this.leaseMs)
      .map(([id]) => id)
    if (!members.includes(this.opts.rootId) && this.timer) members.push(this.opts.rootId)
    members.sort()
    if (members.join() === this.live.join()) return
    const change: FleetChange = {
      at: now,
      members,
      joined: members.filter((m) => !this.live.includes(m)),
      left: this.live.filter((m) => !members.includes(m)),
    }
    this.live = members
    this.owners.clear()
    this.counters.changes++
    this.changes.push(change)
    if (this.changes.length > 100) this.changes.shift()
    for (const fn of this.listeners) fn(change)
  }

  onChange(fn: (c: FleetChange) => void): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  get members(): readonly string[] {
    return this.live
  }

  owner(hub: string): string | undefined {
    let o = this.owners.get(hub)
    if (o === undefined && !this.owners.has(hub)) {
      o = ownerOf(hub, this.live)
      this.owners.set(hub, o)
    }
    return o
  }

  owns(hub: string): boolean {
    return this.owner(hub) === this.opts.rootId
  }

  /** `GET /api/fleet`: members with their age and info, and the recent changes. */
  view() {
    const now = this.now()
    return {
      self: this.opts.rootId,
      leaseMs: this.leaseMs,
      members: this.live.map((id) => ({
        id,
        lastSeenAgoMs: id === this.opts.rootId ? 0 : now - (this.seen.get(id)?.at ?? now),
        ...this.seen.get(id)?.info,
      })),
      changes: this.changes.slice(-20),
      counters: this.counters,
    }
  }

  /** Leaves: deletes this root's entry so the others take its hubs at once. */
  async stop(): Promise<void> {
    clearInterval(this.timer)
    this.timer = undefined
    await this.store.deleteMember(this.opts.rootId).catch(() => {})
  }
}
