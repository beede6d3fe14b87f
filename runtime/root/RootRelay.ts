/**
 * The root's member relay: a browser that cannot reach its hub directly attaches to the root
 * (`/relay?hub=H&member=M&token=T`, the root's token; pages from the root's own origin or from
 * `origins` only) and its channel frames travel to the hub over NATS (`aether.hub.<hub>.relay`)
 * and back (`aether.root.<hub>.relay`), as relay messages (protocol/relayFrame.ts).
 *
 * Edge rules: every frame a browser sends is validated (`decodeChannelFrame`) before it is
 * forwarded; a bad one is counted by field and the socket is closed with 1007 naming it. Relay
 * messages from NATS are validated too (`decodeRelayMessage`), must come from the hub the
 * connection belongs to (the subject names it), and are counted when refused. While the root's
 * NATS link is down the relay cannot carry anything: open sockets are closed with 1013 and new
 * upgrades answered 503, so the browser's channels fail over at once instead of waiting for
 * silence. The relay keeps no messages: what must arrive (commands) is acked by id and sent again
 * by the semantic channels at both ends.
 *
 * Webspaces ride the same socket: binary messages are y-protocols sync frames
 * (`encodeSyncFrame`: attachment, webspace, bytes), checked here (envelope and size; a bad one
 * closes with 1007 like a bad channel frame) and carried as `sync` relay messages; the hub's
 * YjsWebspaces validates the y-protocols frame and acks updates once they are in LevelDB.
 *
 *   GET /api/relay    counters and open connections
 */
import type { Hub } from '../Hub.ts'
import type { NatsLink, NatsMessage } from '../nats/NatsTransport.ts'
import { ChannelFrameError, decodeChannelFrame, MAX_CHANNEL_FRAME } from '../../protocol/channelFrame.ts'
import {
  decodeRelayMessage,
  decodeSyncFrame,
  encodeRelayMessage,
  encodeSyncFrame,
  MEMBER_ID,
  RelayMessageError,
  type RelayMessage,
} from '../../protocol/relayFrame.ts'
import { hubOfSubject, NODE_ID, subjects } from '../../protocol/subjects.ts'
import { zeroCounters } from '../counters.ts'

export interface RootRelayOptions {
  rootId: string
  /** Page origins allowed to attach besides the root's own (e.g. the hub's `/member` page). */
  origins?: string[]
}

interface Conn {
  id: string
  hub: string
  member: string
  send(data: string | Uint8Array): void
  /** Closes the member's socket; the hub is told unless it asked (`tellHub` false). */
  close(code: number, reason: string, tellHub?: boolean): void
}

export class RootRelay {
  readonly counters = zeroCounters(
    'connections refused framesToHub framesToMember syncToHub syncToMember badFrames',
    'badMessages wrongSender unknownConnection closedNatsDown refusedNatsDown',
    'publishFailed',
  )
  /** Refused inputs by field (`frame:k`, `message:m`, ...). */
  readonly refusedBy: Record<string, number> = {}
  readonly conns = new Map<string, Conn>()
  private n = 0
  private sub?: { unsubscribe(): void }
  private offStatus?: () => void

  constructor(
    readonly hub: Hub,
    readonly link: NatsLink,
    readonly opts: RootRelayOptions,
  ) {}

  install(): void {
    const { hub, link } = this
    this.sub = link.subscribe(subjects.rootRelayAll, (m) => this.fromHub(m))
    this.offStatus = link.onStatus((s) => {
      if (s === 'connected') return
      for (const c of [...this.conns.values()]) {
        this.counters.closedNatsDown++
        c.close(1013, `the root's NATS link is ${s}: the relay cannot reach hubs`)
      }
    })
    hub.server.ws(
      '/relay',
      (ws, req, url) => {
        const member = url.searchParams.get('member') ?? ''
        const to = url.searchParams.get('hub') ?? ''
        const refuse = (code: number, why: string, field: string) => {
          this.counters.refused++
          this.count(`connect:${field}`)
          ws.close(code, why)
        }
        if (!hub.server.hasToken(req, url)) return refuse(4401, 'the root token is required (?token=)', 'token')
        if (!MEMBER_ID.test(member)) return refuse(4400, 'member: 1-64 of A-Z a-z 0-9 _ . -', 'member')
        if (!NODE_ID.test(to)) return refuse(4400, `hub: must match ${NODE_ID.source}`, 'hub')
        // the hub hears of the connection with its first valid frame: a socket that only ever
        // sends garbage leaves nothing at the hub
        let announced = false
        const conn: Conn = {
          id: `${this.opts.rootId}-${Date.now().toString(36)}-${++this.n}`,
          hub: to,
          member,
          send: (data) => ws.readyState === ws.OPEN && ws.send(data),
          close: (code, reason, tellHub = true) => {
            if (this.conns.get(conn.id) !== conn) return
            this.conns.delete(conn.id)
            if (announced && tellHub)
              this.toHub(conn, { v: 1, t: 'close', m: member, c: conn.id, r: reason.slice(0, 200) }, true)
            ws.close(code, reason.slice(0, 120))
          },
        }
        this.conns.set(conn.id, conn)
        this.counters.connections++
        ws.on('message', (data: Buffer, isBinary: boolean) => {
          if (this.conns.get(conn.id) !== conn) return
          let m: RelayMessage
          try {
            if (isBinary) {
              const f = decodeSyncFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
              m = {
                v: 1,
                t: 'sync',
                m: member,
                c: conn.id,
                a: f.a,
                w: f.w,
                y: Buffer.from(f.y.buffer, f.y.byteOffset, f.y.byteLength).toString('base64'),
              }
            } else {
              const text = data.toString('utf8')
              decodeChannelFrame(text)
              m = { v: 1, t: 'frame', m: member, c: conn.id, f: text }
            }
          } catch (err) {
            if (!(err instanceof ChannelFrameError || err instanceof RelayMessageError)) throw err
            this.counters.badFrames++
            this.count(`${err instanceof ChannelFrameError ? 'frame' : 'sync'}:${err.field}`)
            conn.close(1007, err.message)
            return
          }
          if (!announced) {
            announced = true
            this.toHub(conn, { v: 1, t: 'open', m: member, c: conn.id })
          }
          if (m.t === 'sync') this.counters.syncToHub++
          else this.counters.framesToHub++
          this.toHub(conn, m)
        })
        ws.on('close', () => {
          if (this.conns.get(conn.id) === conn) {
            this.conns.delete(conn.id)
            if (announced) this.toHub(conn, { v: 1, t: 'close', m: member, c: conn.id, r: 'member left' }, true)
          }
        })
      },
      {
        query: 'hub=hub-1&member=m1',
        maxPayload: MAX_CHANNEL_FRAME * 4,
        origins: this.opts.origins,
        // no NATS, no relay: refuse before the socket opens (503), so the member's path stays down
        unavailable: () => {
          if (link.status === 'connected') return false
          this.counters.refusedNatsDown++
          return true
        },
      },
    )
    hub.server.route('GET', '/api/relay', () => ({
      counters: this.counters,
      refusedBy: this.refusedBy,
      nats: link.status,
      connections: [...this.conns.values()].map((c) => ({ id: c.id, hub: c.hub, member: c.member })),
    }))
  }

  close(): void {
    this.sub?.unsubscribe()
    this.offStatus?.()
    for (const c of [...this.conns.values()]) c.close(1001, 'the root is shutting down')
  }

  private count(key: string): void {
    this.refusedBy[key] = (this.refusedBy[key] ?? 0) + 1
  }

  private toHub(conn: Conn, m: RelayMessage, closing = false): void {
    if (!this.link.publish(subjects.hubRelay(conn.hub), encodeRelayMessage(m))) {
      this.counters.publishFailed++
      if (!closing) conn.close(1013, 'the relay could not publish to NATS')
    }
  }

  private fromHub(msg: NatsMessage): void {
    const from = hubOfSubject(msg.subject)
    let m: RelayMessage
    try {
      if (!from) throw new RelayMessageError('subject', `"${msg.subject.slice(0, 80)}" names no hub`)
      m = decodeRelayMessage(msg.data)
      if (m.t === 'frame') decodeChannelFrame(m.f)
    } catch (err) {
      if (!(err instanceof RelayMessageError || err instanceof ChannelFrameError)) throw err
      this.counters.badMessages++
      this.count(`${err instanceof ChannelFrameError ? 'frame' : 'message'}:${err.field}`)
      return
    }
    const conn = this.conns.get(m.c)
    if (!conn) {
      this.counters.unknownConnection++
      // the hub still thinks the member is here: tell it the connection is gone
      if (m.t === 'frame' || m.t === 'sync')
        this.link.publish(
          subjects.hubRelay(from!),
          encodeRelayMessage({ v: 1, t: 'close', m: m.m, c: m.c, r: 'no such connection at the root' }),
        )
      return
    }
    if (conn.hub !== from || conn.member !== m.m) {
      this.counters.wrongSender++
      this.count('message:from')
      return
    }
    if (m.t === 'close') return conn.close(1011, `the hub closed the relay: ${m.r ?? 'no reason'}`, false)
    if (m.t === 'frame') {
      this.counters.framesToMember++
      conn.send(m.f)
    } else if (m.t === 'sync') {
      this.counters.syncToMember++
      conn.send(encodeSyncFrame(m.a, m.w, Buffer.from(m.y, 'base64')))
    }
  }
}
