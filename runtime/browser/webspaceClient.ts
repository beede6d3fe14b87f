/**
 * WebspaceClient: the member's side of a webspace, the browser's Yjs adapter (the one file of the
 * browser bundle that imports yjs, y-protocols and lib0; it runs in Node too, for tests and the
 * benchmark).
 *
 * It keeps a Y.Doc in sync with a hub over whatever carries its frames: `attach(send)` starts a
 * sync on a new path (the `/yws` WebSocket, the peer session's `sync` data channel, the root
 * relay), `receive(frame)` takes the hub's frames, `detach()` forgets the path. Switching paths is
 * attach on the new one: the y-protocols exchange (state vectors both ways) brings over whatever
 * the old path lost, so failover loses no edit.
 *
 * Acks: the hub counts the update messages of one attachment and acknowledges them once they are
 * durable (message 101); `acked` says how many of this attachment's updates are on the hub's disk,
 * `attachment` tells attachments apart. Epochs: a restore or reset on the hub bumps the epoch; on a
 * hello with a different epoch the client drops its document and starts from the hub's (`reset`
 * listeners get the new Y.Doc), so an old copy is not merged back into a restored one.
 */
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import * as syncProtocol from 'y-protocols/sync'
import * as awarenessProtocol from 'y-protocols/awareness'

export { Y }

const MSG = { sync: 0, awareness: 1, queryAwareness: 3, hello: 100, ack: 101, error: 102 } as const

export interface WebspaceClientEvents {
  synced: () => void
  ack: (count: number) => void
  reset: (doc: Y.Doc, epoch: number) => void
  error: (code: string, message: string) => void
  update: (update: Uint8Array, remote: boolean) => void
}

type Listeners = { [K in keyof WebspaceClientEvents]: Set<WebspaceClientEvents[K]> }

export class WebspaceClient {
  doc: Y.Doc
  awareness: awarenessProtocol.Awareness
  /** The hub's epoch of the document we hold (null before the first hello). */
  epoch: number | null = null
  /** Whether the current attachment finished its first exchange (the hub's step 2 arrived). */
  synced = false
  /** Update messages sent on the current attachment / acknowledged as durable by the hub. */
  sent = 0
  acked = 0
  /** Increments with each attach. */
  attachment = 0
  private sendFn: ((frame: Uint8Array) => void) | null = null
  private listeners: Listeners = {
    synced: new Set(),
    ack: new Set(),
    reset: new Set(),
    error: new Set(),
    update: new Set(),
  }
  private readonly onDocUpdate = (update: Uint8Array, origin: unknown) => {
    const remote = origin === this
    for (const fn of this.listeners.update) fn(update, remote)
    if (remote || !this.sendFn) return
    this.sendFrame(MSG.sync, (e) => syncProtocol.writeUpdate(e, update))
    this.sent++
  }
  private readonly onAwareness = ({ added, updated, removed }: any, origin: unknown) => {
    if (origin === this || !this.sendFn) return
    const changed = added.concat(updated, removed)
    this.sendFrame(MSG.awareness, (e) =>
      encoding.writeVarUint8Array(e, awarenessProtocol.encodeAwarenessUpdate(this.awareness, changed)),
    )
  }

  constructor(
    readonly name: string,
    doc?: Y.Doc,
  ) {
    this.doc = doc ?? new Y.Doc()
    this.awareness = new awarenessProtocol.Awareness(this.doc)
    this.bind()
  }

  on<K extends keyof WebspaceClientEvents>(type: K, fn: WebspaceClientEvents[K]): () => void {
    ;(this.listeners[type] as Set<any>).add(fn)
    return () => (this.listeners[type] as Set<any>).delete(fn)
  }

  /** Starts a sync over a new path. */
  attach(send: (frame: Uint8Array) => void): void {
    this.sendFn = send
    this.attachment++
    this.synced = false
    this.sent = 0
    this.acked = 0
    this.sendFrame(MSG.sync, (e) => syncProtocol.writeSyncStep1(e, this.doc))
    if (this.awareness.getLocalState() !== null) {
      this.sendFrame(MSG.awareness, (e) =>
        encoding.writeVarUint8Array(e, awarenessProtocol.encodeAwarenessUpdate(this.awareness, [this.doc.clientID])),
      )
    }
  }

  /** Forgets the current path (its socket closed, or the channel moved). */
  detach(): void {
    this.sendFn = null
    this.synced = false
  }

  get attached(): boolean {
    return this.sendFn !== null
  }

  /** Handles one frame from the hub. */
  receive(frame: Uint8Array): void {
    const d = decoding.createDecoder(frame)
    const type = decoding.readVarUint(d)
    switch (type) {
      case MSG.sync: {
        const e = encoding.createEncoder()
        encoding.writeVarUint(e, MSG.sync)
        const kind = syncProtocol.readSyncMessage(d, e, this.doc, this)
        // our reply to the hub's step 1 is a step 2: an update message the hub counts and acks
        if (kind === syncProtocol.messageYjsSyncStep1) this.sent++
        if (encoding.length(e) > 1 && this.sendFn) this.sendFn(encoding.toUint8Array(e))
        if (kind === syncProtocol.messageYjsSyncStep2 && !this.synced) {
          this.synced = true
          for (const fn of this.listeners.synced) fn()
        }
        return
      }
      case MSG.awareness:
        awarenessProtocol.applyAwarenessUpdate(this.awareness, decoding.readVarUint8Array(d), this)
        return
      case MSG.queryAwareness:
        this.sendFrame(MSG.awareness, (e) =>
          encoding.writeVarUint8Array(
            e,
            awarenessProtocol.encodeAwarenessUpdate(this.awareness, [...this.awareness.getStates().keys()]),
          ),
        )
        return
      case MSG.hello: {
        const epoch = decoding.readVarUint(d)
        if (this.epoch !== null && epoch !== this.epoch) this.replaceDoc(epoch)
        this.epoch = epoch
        return
      }
      case MSG.ack: {
        const n = decoding.readVarUint(d)
        if (n > this.acked) this.acked = n
        for (const fn of this.listeners.ack) fn(n)
        return
      }
      case MSG.error: {
        const code = decoding.readVarString(d)
        const message = decoding.readVarString(d)
        for (const fn of this.listeners.error) fn(code, message)
        return
      }
    }
  }

  /** Sends a new step 1 on the current attachment: the hub answers with whatever we lack. */
  resync(): void {
    this.sendFrame(MSG.sync, (e) => syncProtocol.writeSyncStep1(e, this.doc))
  }

  destroy(): void {
    this.unbind()
    this.awareness.destroy()
    this.sendFn = null
  }

  private replaceDoc(epoch: number): void {
    this.unbind()
    this.awareness.destroy()
    this.doc = new Y.Doc()
    this.awareness = new awarenessProtocol.Awareness(this.doc)
    this.bind()
    // our step 1 went out with the old document's state vector: ask again for everything
    this.sendFrame(MSG.sync, (e) => syncProtocol.writeSyncStep1(e, this.doc))
    for (const fn of this.listeners.reset) fn(this.doc, epoch)
  }

  private bind(): void {
    this.doc.on('update', this.onDocUpdate)
    this.awareness.on('update', this.onAwareness)
  }

  private unbind(): void {
    this.doc.off('update', this.onDocUpdate)
    this.awareness.off('update', this.onAwareness)
  }

  private sendFrame(type: number, write: (e: encoding.Encoder) => void): void {
    if (!this.sendFn) return
    const e = encoding.createEncoder()
    encoding.writeVarUint(e, type)
    write(e)
    this.sendFn(encoding.toUint8Array(e))
  }
}

/** A WebSocket's URL for a webspace: `/yws/<name>?token=&aether=1`. */
export function webspaceUrl(base: string, name: string, token: string): string {
  const u = new URL(`/yws/${encodeURIComponent(name)}`, base.replace(/^http/, 'ws'))
  u.searchParams.set('token', token)
  u.searchParams.set('aether', '1')
  return u.toString()
}
