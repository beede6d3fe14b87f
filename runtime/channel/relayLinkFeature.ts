/**
 * The hub's end of the root relay: members attached to the root (runtime/root/RootRelay.ts)
 * reach this hub's channels over NATS. Each relayed connection is attached to the ChannelFeature
 * as the member's `relay` path; frames the hub's channels send on that path go back to the root
 * (`aether.root.<hub>.relay`), which hands them to the member's socket.
 *
 * Uses the hub link's control connection (`aether hub --nats URL`); without NATS it does nothing.
 * Relay messages are validated at the edge (protocol/relayFrame.ts, then the channel frame inside
 * by the ChannelFeature): refused ones are counted by field and change nothing; a bad channel
 * frame closes that relayed connection (the root closes the member's socket). A frame for a
 * connection the hub does not know (the hub restarted, or the `open` was lost with a NATS outage)
 * attaches it: the root only forwards frames of connections it holds open.
 *
 * Webspaces: `sync` relay messages carry y-protocols frames of a webspace into YjsWebspaces, one
 * sync session per relayed connection, webspace and attachment (a new attachment from the
 * member starts a new session, with its own update count and acks, as on the direct path's `sync`
 * data channel). The session validates each frame (a bad one is refused, answered with the error
 * frame and ends the session, the document untouched) and acks updates after the LevelDB write.
 *
 *   GET /api/relay    counters and relayed connections
 */
import type { Hub, HubFeature } from '../Hub.ts'
import { rootLinkOf } from '../link/linkFeature.ts'
import type { NatsMessage } from '../nats/NatsTransport.ts'
import { ChannelFrameError, decodeChannelFrame } from '../../protocol/channelFrame.ts'
import {
  decodeRelayMessage,
  encodeRelayMessage,
  RelayMessageError,
  type RelayMessage,
} from '../../protocol/relayFrame.ts'
import { subjects } from '../../protocol/subjects.ts'
import type { WebspaceFeature } from '../webspace/webspaceFeature.ts'
import type { ChannelFeature } from './channelFeature.ts'
import { zeroCounters } from '../counters.ts'

type SyncSession = ReturnType<WebspaceFeature['host']['connect']>

export class RelayLinkFeature implements HubFeature {
  readonly name = 'relay-link'
  readonly counters = zeroCounters(
    'opened closed framesIn framesOut badMessages badFrames publishFailed syncIn',
    'syncOut syncSessions syncRefused',
  )
  readonly refusedBy: Record<string, number> = {}
  private conns = new Map<
    string,
    {
      member: string
      att: ReturnType<ChannelFeature['attachPath']>
      sync: Map<string, { attachment: string; session: SyncSession }>
    }
  >()
  private sub?: { unsubscribe(): void }

  constructor(
    readonly channels: ChannelFeature,
    readonly webspaces?: WebspaceFeature,
  ) {}

  install(hub: Hub): void {
    const rl = rootLinkOf(hub)
    hub.server.route('GET', '/api/relay', () => ({
      hubId: rl?.hubId ?? null,
      nats: rl?.control?.status ?? 'not configured',
      counters: this.counters,
      refusedBy: this.refusedBy,
      connections: [...this.conns.entries()].map(([id, c]) => ({ id, member: c.member })),
    }))
    const link = rl?.control
    if (!rl || !link) return
    const hubId = rl.hubId
    const toRoot = (m: RelayMessage) => {
      if (!link.publish(subjects.rootRelay(hubId), encodeRelayMessage(m))) this.counters.publishFailed++
    }
    const attach = (member: string, c: string) => {
      this.counters.opened++
      const att = this.channels.attachPath(member, 'relay', (text) => {
        this.counters.framesOut++
        toRoot({ v: 1, t: 'frame', m: member, c, f: text })
      })
      const conn = { member, att, sync: new Map<string, { attachment: string; session: SyncSession }>() }
      this.conns.set(c, conn)
      return conn
    }
    const drop = (c: string) => {
      const conn = this.conns.get(c)
      if (!conn) return
      this.conns.delete(c)
      this.counters.closed++
      conn.att.closed()
      for (const s of conn.sync.values()) s.session.closed()
      conn.sync.clear()
    }
    const sync = (
      conn: NonNullable<ReturnType<typeof this.conns.get>>,
      c: string,
      m: Extract<RelayMessage, { t: 'sync' }>,
    ) => {
      if (!this.webspaces) return void this.counters.syncRefused++
      let s = conn.sync.get(m.w)
      if (!s || s.attachment !== m.a) {
        s?.session.closed()
        const { a, w } = m
        const session = this.webspaces.host.connect(
          w,
          {
            send: (frame) => {
              this.counters.syncOut++
              toRoot({
                v: 1,
                t: 'sync',
                m: conn.member,
                c,
                a,
                w,
                y: Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength).toString('base64'),
              })
            },
            // the session ended (a refused frame, an unserved webspace): later frames of this
            // attachment open a new session, as on the direct path
            close: () => {
              if (conn.sync.get(w)?.attachment === a) conn.sync.delete(w)
            },
          },
          { aether: true },
        )
        void this.webspaces.ensure(w).catch(() => {})
        this.counters.syncSessions++
        s = { attachment: a, session }
        conn.sync.set(w, s)
      }
      this.counters.syncIn++
      s.session.receive(new Uint8Array(Buffer.from(m.y, 'base64')))
    }
    this.sub = link.subscribe(subjects.hubRelay(hubId), (msg: NatsMessage) => {
      let m: RelayMessage
      try {
        m = decodeRelayMessage(msg.data)
      } catch (err) {
        if (!(err instanceof RelayMessageError)) throw err
        this.counters.badMessages++
        this.refusedBy[`message:${err.field}`] = (this.refusedBy[`message:${err.field}`] ?? 0) + 1
        return
      }
      let conn = this.conns.get(m.c)
      if (conn && conn.member !== m.m) {
        this.counters.badMessages++
        this.refusedBy['message:m'] = (this.refusedBy['message:m'] ?? 0) + 1
        return
      }
      if (m.t === 'close') return drop(m.c)
      if (m.t === 'frame') {
        // validated before anything is attached: a bad frame leaves no member or path behind
        try {
          decodeChannelFrame(m.f)
        } catch (err) {
          if (!(err instanceof ChannelFrameError)) throw err
          this.counters.badFrames++
          this.refusedBy[`frame:${err.field}`] = (this.refusedBy[`frame:${err.field}`] ?? 0) + 1
          drop(m.c)
          toRoot({ v: 1, t: 'close', m: m.m, c: m.c, r: 'bad channel frame' })
          return
        }
      }
      if (!conn) conn = attach(m.m, m.c)
      if (m.t === 'open') return
      if (m.t === 'sync') return sync(conn, m.c, m)
      this.counters.framesIn++
      conn.att.receive(m.f)
    })
  }

  close(): void {
    this.sub?.unsubscribe()
    for (const c of [...this.conns.keys()]) {
      const conn = this.conns.get(c)!
      this.conns.delete(c)
      conn.att.closed()
      for (const s of conn.sync.values()) s.session.closed()
    }
  }
}
