/**
 * The channels' direct path and webspace sync over the member's peer session (issue 20.3, "one
 * WebRTC stack"): no peer of its own, no signaling of its own. For each peer session the hub's
 * RtcNode opens with a member, it bridges the session's two data channels
 * (runtime/rtc/peerChannels.ts):
 * - `events`: the member's channel frames into ChannelFeature as the path `direct`, attached while
 *   the session's `link` region is `open` and detached when it leaves it (the session's probe and
 *   ladder are the path's only ones);
 * - `sync`: binary y-protocols frames of any webspace into YjsWebspaces, one sync session per
 *   (webspace, attachment), as a `/yws` socket would have.
 */
import type { Hub, HubFeature } from '../Hub.ts'
import type { PeerExecutor } from '../rtc/PeerExecutor.ts'
import { decodeSyncMessage, encodeSyncMessage } from '../rtc/peerChannels.ts'
import type { RtcFeature } from '../rtc/rtcFeature.ts'
import type { WebspaceFeature } from '../webspace/webspaceFeature.ts'
import { WEBSPACE_NAME_RE } from '../webspace/YjsWebspaces.ts'
import type { ChannelFeature } from './channelFeature.ts'
import { zeroCounters } from '../counters.ts'

type SyncSession = ReturnType<WebspaceFeature['host']['connect']>

export class PeerLinkFeature implements HubFeature {
  readonly name = 'peerLink'
  readonly counters = zeroCounters('bridges links badFrames syncFrames syncSessions syncSendFailed')
  private bridges = new Map<string, { close(): void }>()

  constructor(
    readonly rtc: RtcFeature,
    readonly channels: ChannelFeature,
    readonly webspaces: WebspaceFeature,
  ) {}

  install(_hub: Hub): void {
    this.rtc.node?.onExecutor((member, exec) => {
      this.bridges.get(member)?.close()
      this.counters.bridges++
      this.bridges.set(member, this.bridge(member, exec))
    })
  }

  close(): void {
    for (const b of this.bridges.values()) b.close()
    this.bridges.clear()
  }

  /** Bridges one session's executor: `events` to the member's channels, `sync` to the webspaces. */
  bridge(member: string, exec: PeerExecutor): { close(): void } {
    let events: ReturnType<ChannelFeature['attachPath']> | null = null
    const sync = new Map<string, { attachment: string; session: SyncSession }>()
    let closed = false
    const detach = () => {
      events?.closed()
      events = null
      for (const s of sync.values()) s.session.closed()
      sync.clear()
    }
    const attach = () => {
      if (events) return
      this.counters.links++
      events = this.channels.attachPath(member, 'direct', (text) => void exec.sendChannelFrame(text))
    }
    const offLink = exec.onLink((up) => {
      if (closed) return
      if (up) attach()
      else detach()
    })
    // the member's first frames can come before the hub's machine announces the link up
    const offFrames = exec.onChannelFrame((text) => {
      if (closed) return
      attach()
      if (!events?.receive(text)) this.counters.badFrames++
    })
    const offSync = exec.onSync((bytes) => {
      const m = decodeSyncMessage(bytes)
      if (!m || !WEBSPACE_NAME_RE.test(m.name) || m.attachment.length < 1 || m.attachment.length > 32)
        return void this.counters.badFrames++
      const { attachment, name } = m
      let s = sync.get(name)
      if (!s || s.attachment !== attachment) {
        s?.session.closed()
        const session = this.webspaces.host.connect(
          name,
          {
            send: (frame) =>
              void (exec.sendSync(encodeSyncMessage(attachment, name, frame)) || this.counters.syncSendFailed++),
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
      s.session.receive(m.frame)
    })
    if (exec.linkUp) attach()
    return {
      close: () => {
        if (closed) return
        closed = true
        offLink()
        offFrames()
        offSync()
        detach()
      },
    }
  }
}
