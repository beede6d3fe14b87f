/**
 * A network of UDP relays on 127.0.0.1 between two werift peers, for path-loss tests. Every
 * local candidate a peer signals is rewritten to a relay port (the host candidates are not
 * signaled at all), so every packet between the peers crosses a relay. `breakAll()` makes the
 * current relays drop everything: the path is lost. New candidates (an ICE restart, a rebuilt
 * peer) get new relays, unless their session was blocked with `blockSession()`.
 */
import { createSocket, type Socket } from 'node:dgram'
import type { IceCandidateInit } from '../../protocol/signaling.ts'

/** A STUN packet (ICE checks): its first byte is 0-3; DTLS records start at 20-63 (RFC 7983). */
const isStun = (msg: Buffer) => msg.length > 0 && msg[0] <= 3

class Relay {
  dead = false
  /** Drops everything but STUN: ICE connects, DTLS (and so every data channel) never does. */
  stunOnly = false
  forwarded = 0
  dropped = 0
  readonly outer: Socket
  private inner = new Map<string, Socket>()
  port = 0

  target = 0
  constructor() {
    this.outer = createSocket('udp4')
    this.outer.on('message', (msg, from) => {
      // a relay still in the pool has no target: a packet to its port is a stray one (a port
      // number another process's peer used before, whose remote still sends to it)
      if (this.dead || !this.target || (this.stunOnly && !isStun(msg))) return void this.dropped++
      const key = `${from.address}:${from.port}`
      let s = this.inner.get(key)
      if (!s) {
        s = createSocket('udp4')
        s.on('message', (back) => {
          if (this.dead || (this.stunOnly && !isStun(back))) return void this.dropped++
          this.forwarded++
          this.outer.send(back, from.port, from.address)
        })
        s.on('error', () => {})
        s.bind(0, '127.0.0.1')
        this.inner.set(key, s)
      }
      this.forwarded++
      s.send(msg, this.target, '127.0.0.1')
    })
    this.outer.on('error', () => {})
  }

  async bind(): Promise<void> {
    await new Promise<void>((r) => this.outer.bind(0, '127.0.0.1', () => r()))
    this.port = this.outer.address().port
  }

  close(): void {
    this.dead = true
    for (const s of this.inner.values()) s.close()
    this.outer.close()
  }
}

export class RelayNet {
  readonly relays: Relay[] = []
  private byKey = new Map<string, Relay>()
  private blocked = new Set<string>()
  private pool: Relay[] = []
  private stunOnly = false
  /** Candidates that found no relay left in the pool (the test made too few). */
  exhausted = 0

  /** A net with `size` relays bound in advance (rewriting is synchronous, binding is not). */
  static async create(size = 24): Promise<RelayNet> {
    const net = new RelayNet()
    for (let i = 0; i < size; i++) {
      const r = new Relay()
      await r.bind()
      net.pool.push(r)
    }
    return net
  }

  /** For `rewriteCandidate` of the werift adapter (both peers use the same net). */
  rewrite = (c: IceCandidateInit, peerSessionId: string): IceCandidateInit | null => {
    const m = / 127\.0\.0\.1 (\d+) typ host/.exec(c.candidate)
    if (!m) return null
    if (this.blocked.has(peerSessionId)) return null
    const ufrag = / ufrag (\S+)/.exec(c.candidate)?.[1] ?? ''
    const key = `${peerSessionId}|${m[1]}|${ufrag}`
    let r = this.byKey.get(key)
    if (!r) {
      r = this.pool.shift()
      if (!r) {
        this.exhausted++
        return null
      }
      r.target = Number(m[1])
      r.stunOnly = this.stunOnly
      this.byKey.set(key, r)
      this.relays.push(r)
    }
    return { ...c, candidate: c.candidate.replace(` 127.0.0.1 ${m[1]} typ host`, ` 127.0.0.1 ${r.port} typ host`) }
  }

  /** The path is lost: every relay so far drops all packets. */
  breakAll(): void {
    for (const r of this.relays) r.dead = true
  }

  /**
   * With `on`, every relay (those so far and those to come) forwards STUN only: ICE finds a path,
   * DTLS never completes, the data channels never open. Off again: everything passes.
   */
  onlyStun(on: boolean): void {
    this.stunOnly = on
    for (const r of this.relays) r.stunOnly = on
  }

  /** New candidates of this session get no relay (it can only come back as a new session). */
  blockSession(peerSessionId: string): void {
    this.blocked.add(peerSessionId)
  }

  /** Sessions blocked so far get relays again for their new candidates. */
  unblockAll(): void {
    this.blocked.clear()
  }

  get forwarded(): number {
    return this.relays.reduce((n, r) => n + r.forwarded, 0)
  }

  close(): void {
    for (const r of [...this.relays, ...this.pool]) r.close()
  }
}
