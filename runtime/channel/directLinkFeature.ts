/**
 * The direct path on the hub: a WebRTC peer per member (werift, through issue 6's PeerBackend
 * adapter in runtime/rtc/werift.ts), whose two data channels carry
 * - `events`: channel frames (protocol/channelFrame.ts) into ChannelFeature as the path `direct`;
 * - `sync`: Yjs frames of any webspace into YjsWebspaces, as text (the adapter's channels are
 *   text): `<attachment> <webspace> <base64 y-protocols frame>`. A new attachment number from the
 *   member starts a new sync session (its own update count and acks), as a new /yws socket would.
 *
 * Signaling is a small WebSocket of its own, `/direct?member=ID&token=T`: JSON `{t:'offer',sdp}`,
 * `{t:'candidate',c}` from the member, `{t:'answer',sdp}`, `{t:'candidate',c}` back. It stands in
 * until issue 6's peer sessions are served by the hub (RtcNode over /ws); the bridge below
 * (`bridgePeer`) is what both need.
 *
 *   POST /api/direct/<member>/cut   (token) closes the member's peer: the direct path is lost.
 */
import type { Hub, HubFeature } from '../Hub.ts'
import { HttpError } from '../http/HubServer.ts'
import type { PeerBackend, PeerHandle } from '../rtc/PeerBackend.ts'
import { weriftBackend } from '../rtc/werift.ts'
import type { WebspaceFeature } from '../webspace/webspaceFeature.ts'
import { WEBSPACE_NAME_RE } from '../webspace/YjsWebspaces.ts'
import type { ChannelFeature } from './channelFeature.ts'
import { zeroCounters } from '../counters.ts'

const MEMBER_RE = /^[A-Za-z0-9_.-]{1,64}$/
const NO_MEDIA = { microphone: 'inactive', camera: 'inactive', screen: 'inactive' } as any

export class DirectLinkFeature implements HubFeature {
  readonly name = 'direct'
  readonly counters = zeroCounters('peers badSignals badSyncFrames candidates syncFrames syncSessions syncSendFailed')
  private peers = new Map<string, { peer: PeerHandle; close(): void }>()
  private backend: PeerBackend

  constructor(
    readonly channels: ChannelFeature,
    readonly webspaces: WebspaceFeature,
    backend?: PeerBackend,
  ) {
    this.backend = backend ?? weriftBackend()
  }

  install(hub: Hub): void {
    hub.server.ws(
      '/direct',
      (ws, req, url) => {
        const member = url.searchParams.get('member') ?? ''
        if (!hub.server.hasToken(req, url)) return void ws.close(4401, 'the hub token is required (?token=)')
        if (!MEMBER_RE.test(member)) return void ws.close(4400, 'member: 1-64 of A-Z a-z 0-9 _ . -')
        const signal = (m: unknown) => ws.readyState === ws.OPEN && ws.send(JSON.stringify(m))
        // The peer (DTLS keys, UDP sockets) is made with the first offer, not with the socket: a
        // client that opens sockets and says nothing costs the hub a socket only.
        let link: ReturnType<DirectLinkFeature['bridgePeer']> | undefined
        const open = () => {
          if (link) return link
          this.peers.get(member)?.close()
          this.counters.peers++
          link = this.bridgePeer(member, signal)
          this.peers.set(member, link)
          return link
        }
        ws.on('message', async (data: Buffer) => {
          let m: any
          try {
            m = JSON.parse(data.toString('utf8'))
            if (m?.t === 'offer' && typeof m.sdp === 'string')
              signal({ t: 'answer', sdp: await open().peer.applyOffer(m.sdp, { rollback: false, shape: NO_MEDIA }) })
            else if (m?.t === 'candidate' && typeof m.c?.candidate === 'string' && link) {
              // offline the hub cannot resolve a browser's mDNS (.local) candidates; the browser's
              // checks reach werift anyway and become peer-reflexive candidates
              if (/ 127\.0\.0\.1 /.test(m.c.candidate)) await link.peer.addCandidate(m.c)
            } else throw new Error('unknown signal')
          } catch {
            this.counters.badSignals++
          }
        })
        ws.on('close', () => {
          if (!link) return
          if (this.peers.get(member) === link) this.peers.delete(member)
          link.close()
        })
      },
      { query: 'member=m1' },
    )
    hub.server.route('POST', '/api/direct/:member/cut', (ctx) => {
      hub.server.requireToken(ctx)
      const link = this.peers.get(ctx.params.member)
      if (!link) throw new HttpError(404, `member "${ctx.params.member}" has no direct peer`, 'UNKNOWN_MEMBER')
      this.peers.delete(ctx.params.member)
      link.close()
      return { cut: ctx.params.member }
    })
  }

  close(): void {
    for (const l of this.peers.values()) l.close()
    this.peers.clear()
  }

  /** Bridges a member's peer: `events` to the member's channels, `sync` to the webspaces. */
  bridgePeer(member: string, signal: (m: unknown) => void): { peer: PeerHandle; close(): void } {
    let events: ReturnType<ChannelFeature['attachPath']> | null = null
    const sync = new Map<string, { attachment: string; session: ReturnType<WebspaceFeature['host']['connect']> }>()
    let closed = false
    const b64 = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength).toString('base64')
    const peer: PeerHandle = this.backend.createPeer(
      `direct-${member}-${Date.now()}`,
      {
        candidate: (c) => {
          this.counters.candidates++
          signal({ t: 'candidate', c })
        },
        channelOpen: (label) => {
          if (label === 'events' && !closed)
            events = this.channels.attachPath(member, 'direct', (text) => void peer.send('events', text))
        },
        channelClose: (label) => {
          if (label === 'events') {
            events?.closed()
            events = null
          }
        },
        message: (label, data) => {
          if (label === 'events') {
            if (events && !events.receive(data)) this.counters.badSyncFrames++
            return
          }
          // sync: "<attachment> <webspace> <base64>"
          const a = data.indexOf(' ')
          const b = data.indexOf(' ', a + 1)
          if (a < 1 || b < 0) return void this.counters.badSyncFrames++
          const attachment = data.slice(0, a)
          const name = data.slice(a + 1, b)
          if (!WEBSPACE_NAME_RE.test(name) || attachment.length > 32) return void this.counters.badSyncFrames++
          let s = sync.get(name)
          if (!s || s.attachment !== attachment) {
            s?.session.closed()
            const session = this.webspaces.host.connect(
              name,
              {
                send: (frame) =>
                  void (peer.send('sync', `${attachment} ${name} ${b64(frame)}`) || this.counters.syncSendFailed++),
                close: () => sync.get(name)?.attachment === attachment && sync.delete(name),
              },
              { aether: true },
            )
            void this.webspaces.ensure(name).catch(() => {})
            this.counters.syncSessions++
            s = { attachment, session }
            sync.set(name, s)
          }
          this.counters.syncFrames++
          s.session.receive(new Uint8Array(Buffer.from(data.slice(b + 1), 'base64')))
        },
        track: () => {},
        dataChannel: (ch) => ch.close(),
      },
      { ownsTransceivers: false },
    )
    return {
      peer,
      close: () => {
        if (closed) return
        closed = true
        events?.closed()
        events = null
        for (const s of sync.values()) s.session.closed()
        sync.clear()
        peer.close()
      },
    }
  }
}
