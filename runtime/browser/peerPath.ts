/**
 * The member's `direct` channel path over its peer session (issue 20.3, "one WebRTC stack"): the
 * session's `events` data channel carries the channel frames, its `sync` data channel the
 * webspaces' y-protocols frames as binary (runtime/rtc/peerChannels.ts). The path has no peer,
 * signaling, heartbeat or redial of its own: it is up while the session's `link` region is `open`
 * and down while it is not, so the session's liveness probe and recovery ladder are its only ones.
 */
import type { PeerExecutor } from '../rtc/PeerExecutor.ts'
import { decodeSyncMessage, encodeSyncMessage } from '../rtc/peerChannels.ts'
import type { ChannelPath } from './memberChannels.ts'
import type { SyncTransport } from './webspaceLink.ts'

type PathHandlers = Parameters<ChannelPath['connect']>[0]
type SyncHandlers = Parameters<SyncTransport['connect']>[0]

export class PeerSessionPath implements ChannelPath {
  readonly id = 'direct'
  /** The session's `sync` channel as a transport for WebspaceLink. */
  readonly sync: SyncTransport
  /** Sync frames sent, and dropped because the link was not open. */
  readonly syncCounters = { sent: 0, dropped: 0 }
  private h: PathHandlers | null = null
  private syncHandlers: SyncHandlers | null = null
  private offs: (() => void)[]

  constructor(readonly exec: PeerExecutor) {
    this.offs = [
      exec.onLink((up) => {
        if (up) {
          this.h?.up()
          this.syncHandlers?.up()
        } else {
          this.h?.down("the peer session's link is not open")
          this.syncHandlers?.down()
        }
      }),
      exec.onChannelFrame((text) => this.h?.frame(text)),
      exec.onSync((bytes) => {
        const m = decodeSyncMessage(bytes)
        if (m) this.syncHandlers?.frame(m.name, m.attachment, m.frame)
      }),
    ]
    const self = this
    this.sync = {
      id: 'direct',
      get open() {
        return exec.linkUp
      },
      send(name, attachment, bytes) {
        if (exec.sendSync(encodeSyncMessage(attachment, name, bytes))) self.syncCounters.sent++
        else self.syncCounters.dropped++
      },
      connect(h) {
        self.syncHandlers = h
      },
    }
  }

  get open(): boolean {
    return this.exec.linkUp
  }

  send(text: string): void {
    this.exec.sendChannelFrame(text)
  }

  connect(h: PathHandlers): void {
    this.h = h
  }

  close(): void {
    for (const off of this.offs.splice(0)) off()
  }
}
