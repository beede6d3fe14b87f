/**
 * WebspaceLink: a webspace carried by the member's `sync` semantic channel. The channel's machine
 * picks the path (direct data channel, hub WebSocket, relay); the link attaches the
 * WebspaceClient to that path's SyncTransport, and on every switch attaches it again on the new
 * one: the y-protocols exchange there brings over what the old path lost. Frames from any other
 * path or an older attachment are dropped, so one path at a time feeds the document.
 *
 * A lossy transport (the root relay: core NATS delivers at most once, and frames sent before the
 * hub subscribed are gone) is watched: an attachment not synced within `syncTimeoutMs`, or whose
 * updates wait for their acks with no progress for `ackStallMs`, is attached again (a fresh
 * exchange of state vectors brings over what was lost towards the hub), and every `resyncMs` the
 * client sends a new step 1 (the hub answers with what was lost towards the member).
 */
import type { PathId } from '../../machines/semanticChannel.ts'
import type { MemberChannels, WebSocketPath } from './memberChannels.ts'
import { decodeSyncFrame, encodeSyncFrame } from '../../protocol/relayFrame.ts'
import type { WebspaceClient } from './webspaceClient.ts'

/** Carries Yjs frames of webspaces over one path. */
export interface SyncTransport {
  readonly id: PathId
  readonly open: boolean
  /** `attachment` tells the hub a new sync session starts when it changes. */
  send(name: string, attachment: string, bytes: Uint8Array): void
  connect(h: { frame(name: string, attachment: string, bytes: Uint8Array): void; up(): void; down(): void }): void
  /** Releases what the transport owns itself (not the path's socket). */
  close?(): void
  /** Frames may be lost while the transport stays open (the relay): the link watches acks and re-syncs. */
  readonly lossy?: boolean
}

export interface WebspaceLinkOptions {
  /** Lossy transports: attach again when the first exchange has not finished after this long. */
  syncTimeoutMs?: number
  /** Lossy transports: attach again when updates wait for acks with no progress for this long. */
  ackStallMs?: number
  /** Lossy transports: a new step 1 this often. */
  resyncMs?: number
}

export class WebspaceLink {
  /** The path the document is attached to, and the attachment's id. */
  current: PathId | null = null
  attachment = ''
  attachments = 0
  /** Re-attachments by the watch of lossy transports, by reason. */
  readonly heals = { syncTimeout: 0, ackStall: 0, resyncs: 0 }
  private closed = false
  private transports = new Map<PathId, SyncTransport>()
  private off: () => void
  private watch: any = null
  private attachedAt = 0
  private lastAcked = 0
  private lastAckAt = 0
  private lastResync = 0

  constructor(
    readonly channels: MemberChannels,
    readonly client: WebspaceClient,
    transports: SyncTransport[],
    readonly opts: WebspaceLinkOptions = {},
  ) {
    for (const t of transports) {
      this.transports.set(t.id, t)
      t.connect({
        frame: (name, attachment, bytes) => {
          if (name === client.name && t.id === this.current && attachment === this.attachment) client.receive(bytes)
        },
        up: () => {
          if (this.closed) return
          if (this.current === null && this.channels.active('sync') === t.id) this.attach(t.id)
        },
        // the transport under the attached document broke without the path going down (a
        // reconnecting socket): attach again on the same path
        down: () => {
          if (this.current === t.id)
            setTimeout(() => !this.closed && this.channels.active('sync') === t.id && this.attach(t.id), 50)
        },
      })
    }
    channels.addChannel('sync')
    this.off = channels.onSwitch((ch, _from, to) => {
      if (ch !== 'sync') return
      if (to === null) {
        this.client.detach()
        this.current = null
      } else this.attach(to)
    })
    const active = channels.active('sync')
    if (active) this.attach(active)
    if (transports.some((t) => t.lossy)) this.watch = setInterval(() => this.check(), 100)
  }

  private check(): void {
    const t = this.current === null ? null : this.transports.get(this.current)
    if (!t?.lossy || !this.client.attached) return
    const now = Date.now()
    const c = this.client
    if (!c.synced) {
      if (now - this.attachedAt > (this.opts.syncTimeoutMs ?? 1500)) {
        this.heals.syncTimeout++
        this.attach(t.id)
      }
      return
    }
    if (c.acked !== this.lastAcked || c.acked >= c.sent) {
      this.lastAcked = c.acked
      this.lastAckAt = now
    } else if (now - this.lastAckAt > (this.opts.ackStallMs ?? 1500)) {
      this.heals.ackStall++
      this.attach(t.id)
      return
    }
    if (now - this.lastResync > (this.opts.resyncMs ?? 2000)) {
      this.lastResync = now
      this.heals.resyncs++
      c.resync()
    }
  }

  private attach(path: PathId): void {
    const t = this.transports.get(path)
    this.client.detach()
    this.current = path
    if (!t) return
    const attachment = `${++this.attachments}`
    this.attachment = attachment
    this.attachedAt = this.lastAckAt = this.lastResync = Date.now()
    this.lastAcked = 0
    this.client.attach((bytes) => t.send(this.client.name, attachment, bytes))
  }

  close(): void {
    this.closed = true
    clearInterval(this.watch)
    this.off()
    this.client.detach()
    this.current = null
    for (const t of this.transports.values()) t.close?.()
  }
}

export interface WsSyncTransportOptions {
  url: string
  token: string
  id?: PathId
  WebSocket?: any
}

/** The hub's `/yws` WebSocket as a SyncTransport: one socket per attachment (fresh acks). */
export class WsSyncTransport implements SyncTransport {
  readonly id: PathId
  private ws: any = null
  private wsAttachment = ''
  private queue: Uint8Array[] = []
  private h: Parameters<SyncTransport['connect']>[0] | null = null

  constructor(readonly opts: WsSyncTransportOptions) {
    this.id = opts.id ?? 'ws'
  }

  get open(): boolean {
    return true
  }

  connect(h: Parameters<SyncTransport['connect']>[0]): void {
    this.h = h
  }

  close(): void {
    const ws = this.ws
    this.ws = null
    this.wsAttachment = ''
    if (ws) {
      ws.onclose = null
      ws.close()
    }
  }

  send(name: string, attachment: string, bytes: Uint8Array): void {
    if (attachment !== this.wsAttachment) this.dial(name, attachment)
    if (this.ws.readyState === 1) this.ws.send(bytes)
    else this.queue.push(bytes)
  }

  private dial(name: string, attachment: string): void {
    const old = this.ws
    if (old) {
      old.onclose = null
      old.close()
    }
    const Ws = this.opts.WebSocket ?? (globalThis as any).WebSocket
    const u = new URL(`/yws/${encodeURIComponent(name)}`, this.opts.url.replace(/^http/, 'ws'))
    u.searchParams.set('token', this.opts.token)
    u.searchParams.set('aether', '1')
    const ws = new Ws(u.toString())
    ws.binaryType = 'arraybuffer'
    this.ws = ws
    this.wsAttachment = attachment
    this.queue = []
    ws.onopen = () => {
      for (const b of this.queue) ws.send(b)
      this.queue = []
    }
    ws.onmessage = (ev: any) => {
      const d = ev.data
      const bytes = d instanceof ArrayBuffer ? new Uint8Array(d) : new Uint8Array(d.buffer, d.byteOffset, d.byteLength)
      this.h?.frame(name, attachment, bytes)
    }
    ws.onerror = () => {}
    ws.onclose = () => {
      if (this.ws !== ws) return
      this.ws = null
      this.wsAttachment = ''
      this.h?.down()
    }
  }
}

/**
 * The root relay's socket as a SyncTransport: y-protocols frames travel as binary messages on the
 * same `/relay` WebSocket as the channel frames (protocol/relayFrame.ts `encodeSyncFrame`), the
 * root carries them to the hub over NATS and the hub's answers (sync, awareness, acks) back. A
 * reconnect of the socket is a new connection at the root and the hub: the link attaches again.
 */
export class RelaySyncTransport implements SyncTransport {
  readonly id: PathId
  readonly lossy = true
  /** Sync frames sent, and dropped because the socket was not open; refused from the root. */
  readonly counters = { sent: 0, dropped: 0, received: 0, bad: 0 }
  private h: Parameters<SyncTransport['connect']>[0] | null = null

  constructor(readonly path: WebSocketPath) {
    this.id = path.id
    path.connectBinary({
      frame: (bytes) => {
        let f: ReturnType<typeof decodeSyncFrame>
        try {
          f = decodeSyncFrame(bytes)
        } catch {
          this.counters.bad++
          return
        }
        this.counters.received++
        this.h?.frame(f.w, f.a, f.y)
      },
      up: () => this.h?.up(),
      down: () => this.h?.down(),
    })
  }

  get open(): boolean {
    return this.path.open
  }

  connect(h: Parameters<SyncTransport['connect']>[0]): void {
    this.h = h
  }

  send(name: string, attachment: string, bytes: Uint8Array): void {
    if (this.path.sendBytes(encodeSyncFrame(attachment, name, bytes))) this.counters.sent++
    else this.counters.dropped++
  }
}
