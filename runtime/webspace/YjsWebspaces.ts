/**
 * YjsWebspaces: the hub's Yjs adapter, the one file under runtime/ (node side) that imports yjs,
 * y-protocols and lib0. It holds each webspace's document, speaks the y-protocols sync and
 * awareness messages to its peers (a `/yws` WebSocket or a peer session's `sync` data channel look
 * the same here: a `SyncPeer`), and persists every update through `UpdateLog`.
 *
 * Wire: the y-websocket framing, `varUint messageType` then the message:
 *   0 sync       (y-protocols sync: step1 state vector, step2 update, update)
 *   1 awareness  (y-protocols awareness update)
 *   3 query awareness
 * plus three Aether messages, sent only to peers that asked for them (`aether: true`):
 *   100 hello    varUint epoch   (first message; a peer holding another epoch drops its copy)
 *   101 ack      varUint count   (count of this peer's update messages now durable in LevelDB)
 *   102 error    varString code, varString message (then the hub closes the socket)
 *
 * Promises: an update is acknowledged only after its LevelDB batch is written (group commit: all
 * updates of a tick share one write); a frame that does not parse to its last byte, an unknown
 * message type, or an update larger than `maxUpdateBytes` is refused before it touches the
 * document (counted by code, the peer gets an error and is closed, other peers see nothing).
 * The lifecycle (when a document is served, loaded, restored, reset) belongs to the `webspace`
 * machine; this class only does what its effects ask.
 */
import * as Y from 'yjs'
import * as awarenessProtocol from 'y-protocols/awareness'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { readFile, rename, writeFile, mkdir } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { UpdateLog } from './UpdateLog.ts'

export const MessageType = {
  sync: 0,
  awareness: 1,
  auth: 2,
  queryAwareness: 3,
  hello: 100,
  ack: 101,
  error: 102,
} as const
const SyncStep = { step1: 0, step2: 1, update: 2 } as const

/** Webspace names: used in URLs, id paths and storage keys. */
export const WEBSPACE_NAME_RE = /^[A-Za-z0-9_.-]{1,100}$/

/** A refused frame: the code is stable and counted. */
export class WebspaceInputError extends Error {
  constructor(
    readonly code: 'MALFORMED_FRAME' | 'UPDATE_TOO_LARGE' | 'UNKNOWN_MESSAGE' | 'BAD_AWARENESS' | 'QUEUE_FULL',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = 'WebspaceInputError'
  }
}

/** The other end of a sync connection (a WebSocket, a data channel, a test double). */
export interface SyncPeer {
  send(data: Uint8Array): void
  close(code: number, reason: string): void
}

export interface PeerOptions {
  /** Send Aether's hello, acks and errors (Aether clients); plain y-websocket clients leave it off. */
  aether?: boolean
}

export interface YjsWebspacesOptions {
  /** Largest update accepted, bytes (default 1 MiB). */
  maxUpdateBytes?: number
  /** Compact a webspace's updates into one state after this many (default 1000). */
  compactEvery?: number
  /** Messages kept per peer while its webspace is not served yet (default 256). */
  maxQueued?: number
}

interface Peer {
  peer: SyncPeer
  aether: boolean
  /** Update messages received (valid ones). */
  received: number
  awarenessIds: Set<number>
  /** Messages waiting for the webspace to be served. */
  queue: Uint8Array[] | null
}

type Pending = { bytes: Uint8Array } | { ack: Peer; n: number }

class Space {
  doc: Y.Doc | null = null
  awareness: awarenessProtocol.Awareness | null = null
  peers = new Set<Peer>()
  serving = false
  epoch = 0
  pending: Pending[] = []
  writing: Promise<void> = Promise.resolve()
  flushQueued = false
  sinceCompact = 0
  constructor(readonly name: string) {}
}

export class YjsWebspaces {
  readonly counters = {
    updates: 0,
    updateBytes: 0,
    persisted: 0,
    writes: 0,
    compactions: 0,
    refused: {} as Record<string, number>,
  }
  private spaces = new Map<string, Space>()
  private maxUpdateBytes: number
  private compactEvery: number
  private maxQueued: number

  constructor(
    readonly log: UpdateLog,
    opts: YjsWebspacesOptions = {},
  ) {
    this.maxUpdateBytes = opts.maxUpdateBytes ?? 1 << 20
    this.compactEvery = opts.compactEvery ?? 1000
    this.maxQueued = opts.maxQueued ?? 256
  }

  private space(name: string): Space {
    let s = this.spaces.get(name)
    if (!s) this.spaces.set(name, (s = new Space(name)))
    return s
  }

  // ---- effects of the webspace machine -----------------------------------------------------------

  /** Builds the document from storage (the first sync). Not served until `serve(name)`. */
  async load(name: string): Promise<{ bytes: number; updates: number; epoch: number }> {
    const s = this.space(name)
    await this.settle(s)
    const stored = await this.log.read(name)
    const doc = new Y.Doc({ gc: true })
    let bytes = 0
    doc.transact(() => {
      if (stored.compacted) {
        Y.applyUpdate(doc, stored.compacted)
        bytes += stored.compacted.byteLength
      }
      for (const u of stored.updates) {
        Y.applyUpdate(doc, u)
        bytes += u.byteLength
      }
    })
    this.drop(s)
    s.doc = doc
    s.epoch = stored.meta.epoch
    s.sinceCompact = stored.updates.length
    s.awareness = new awarenessProtocol.Awareness(doc)
    s.awareness.setLocalState(null)
    doc.on('update', (update: Uint8Array, origin: unknown) => this.onDocUpdate(s, update, origin))
    s.awareness.on('update', ({ added, updated, removed }: any, origin: unknown) =>
      this.onAwareness(s, added, updated, removed, origin),
    )
    return { bytes, updates: stored.updates.length, epoch: stored.meta.epoch }
  }

  /** Drops the document and its provider state, so the next load starts clean. */
  async recreate(name: string): Promise<void> {
    const s = this.space(name)
    this.unserve(name, 4000, 'webspace provider recreated')
    this.drop(s)
  }

  /** Writes the whole state as one Yjs update to `file` (atomically: temp file then rename). */
  async backup(name: string, file: string): Promise<{ file: string; bytes: number }> {
    const s = this.space(name)
    if (!s.doc) throw new Error(`webspace "${name}" is not loaded`)
    const state = Y.encodeStateAsUpdate(s.doc)
    await mkdir(dirname(file), { recursive: true })
    await writeFile(`${file}.tmp`, state)
    await rename(`${file}.tmp`, file)
    return { file, bytes: state.byteLength }
  }

  /** Replaces the stored document with the snapshot in `file` under `epoch`; load() follows. */
  async restore(name: string, file: string, epoch: number): Promise<{ file: string; bytes: number; epoch: number }> {
    const state = new Uint8Array(await readFile(file))
    // a snapshot that does not decode is refused before anything is dropped
    try {
      Y.applyUpdate(new Y.Doc(), state)
    } catch (err) {
      throw new Error(`${file} is not a Yjs snapshot: ${(err as Error).message}`)
    }
    const s = this.space(name)
    this.unserve(name, 4001, 'webspace restoring')
    await this.settle(s)
    await this.log.replace(name, state, epoch)
    this.drop(s)
    return { file, bytes: state.byteLength, epoch }
  }

  /** Empties the stored document under `epoch`; load() follows. */
  async reset(name: string, epoch: number): Promise<{ epoch: number }> {
    const s = this.space(name)
    this.unserve(name, 4001, 'webspace resetting')
    await this.settle(s)
    await this.log.replace(name, null, epoch)
    this.drop(s)
    return { epoch }
  }

  // ---- serving -------------------------------------------------------------------------------------

  /** Starts serving a loaded webspace: waiting peers get the hello and sync step 1, then their queue. */
  serve(name: string): void {
    const s = this.space(name)
    if (!s.doc || s.serving) return
    s.serving = true
    for (const p of s.peers) this.greet(s, p)
    for (const fn of this.onServe) fn(name)
  }

  /** Called each time a webspace starts being served (after a load, reload, restore or reset). */
  readonly onServe = new Set<(name: string) => void>()

  /**
   * Sets entries of root maps (`doc.getMap(root).set(key, value)`; `undefined` deletes the key) in
   * one transaction: one update, one LevelDB write. Resolves once it is written. Ownership is the
   * caller's to check (runtime/skills/ownership.ts).
   */
  async setEntries(name: string, entries: Array<{ root: string; key: string; value: unknown }>): Promise<void> {
    const s = this.spaces.get(name)
    const doc = s?.doc
    if (!s || !doc) throw new Error(`webspace "${name}" is not loaded`)
    doc.transact(() => {
      for (const e of entries)
        if (e.value === undefined) doc.getMap(e.root).delete(e.key)
        else doc.getMap(e.root).set(e.key, e.value)
    }, 'aether')
    await this.settle(s)
  }

  /** The keys of the root map `root` of a loaded webspace (none when absent or not loaded). */
  keys(name: string, root: string): string[] {
    const doc = this.doc(name)
    return doc?.share.has(root) ? [...doc.getMap(root).keys()] : []
  }

  /** The value at `root.key` of a loaded webspace, as JSON (undefined when absent or not loaded). */
  entry(name: string, root: string, key: string): unknown {
    const doc = this.doc(name)
    if (!doc?.share.has(root)) return undefined
    const v = doc.getMap(root).get(key)
    return v && typeof v === 'object' && 'toJSON' in v ? (v as { toJSON(): unknown }).toJSON() : v
  }

  /**
   * Stops serving (the machine left `synced`): pending updates are still written, every peer is
   * closed with `code` so that it reconnects and waits for the next `serve`.
   */
  unserve(name: string, code: number, reason: string): void {
    const s = this.spaces.get(name)
    if (!s) return
    s.serving = false
    // peers still waiting for their first hello keep waiting: they are greeted by the next serve
    for (const p of [...s.peers]) {
      if (p.queue) continue
      s.peers.delete(p)
      p.peer.close(code, reason)
    }
  }

  /** Attaches a peer; returns what to call with each frame it sends and when it goes away. */
  connect(name: string, peer: SyncPeer, opts: PeerOptions = {}): { receive(data: Uint8Array): void; closed(): void } {
    const s = this.space(name)
    const p: Peer = { peer, aether: opts.aether ?? false, received: 0, awarenessIds: new Set(), queue: [] }
    s.peers.add(p)
    if (s.serving) this.greet(s, p)
    return {
      receive: (data) => {
        if (!s.peers.has(p)) return
        if (p.queue) {
          if (p.queue.length >= this.maxQueued)
            return this.refuse(
              s,
              p,
              new WebspaceInputError(
                'QUEUE_FULL',
                `more than ${this.maxQueued} messages before the webspace was ready`,
              ),
            )
          p.queue.push(data)
          return
        }
        this.receive(s, p, data)
      },
      closed: () => {
        if (!s.peers.delete(p)) return
        if (s.awareness && p.awarenessIds.size)
          awarenessProtocol.removeAwarenessStates(s.awareness, [...p.awarenessIds], null)
      },
    }
  }

  /** The document of a webspace (tests, the API's text view); null while not loaded. */
  doc(name: string): Y.Doc | null {
    return this.spaces.get(name)?.doc ?? null
  }

  /** A JSON view of a webspace for the API: every shared type's content as JSON. */
  view(name: string): Record<string, unknown> | null {
    const doc = this.doc(name)
    if (!doc) return null
    const out: Record<string, unknown> = {}
    // root types a client made arrive untyped on the hub: read each as what its content is
    for (const [key, type] of doc.share) {
      if (type instanceof Y.Text || type instanceof Y.Map || type instanceof Y.Array || type instanceof Y.XmlFragment) {
        out[key] = type.toJSON()
        continue
      }
      const first = (type as any)._start?.content
      if ((type as any)._map?.size) out[key] = doc.getMap(key).toJSON()
      else if (first instanceof Y.ContentString || first instanceof Y.ContentFormat || first instanceof Y.ContentEmbed)
        out[key] = doc.getText(key).toString()
      else if (first) out[key] = doc.getArray(key).toJSON()
      else out[key] = null
    }
    return out
  }

  status(name: string): { serving: boolean; peers: number; epoch: number; pending: number; sinceCompact: number } {
    const s = this.spaces.get(name)
    return {
      serving: s?.serving ?? false,
      peers: s?.peers.size ?? 0,
      epoch: s?.epoch ?? 0,
      pending: s?.pending.length ?? 0,
      sinceCompact: s?.sinceCompact ?? 0,
    }
  }

  /** Resolves once every update received so far is written. */
  async flush(name?: string): Promise<void> {
    const spaces = name ? ([this.spaces.get(name)].filter(Boolean) as Space[]) : [...this.spaces.values()]
    await Promise.all(spaces.map((s) => this.settle(s)))
  }

  async close(): Promise<void> {
    for (const s of this.spaces.values()) this.unserve(s.name, 1001, 'hub closing')
    await this.flush()
    for (const s of this.spaces.values()) this.drop(s)
  }

  // ---- internals -----------------------------------------------------------------------------------

  private drop(s: Space): void {
    s.serving = false
    s.awareness?.destroy()
    s.doc?.destroy()
    s.awareness = null
    s.doc = null
  }

  private async settle(s: Space): Promise<void> {
    while (s.pending.length || s.flushQueued) {
      if (!s.flushQueued) this.scheduleFlush(s)
      await s.writing
    }
    await s.writing
  }

  private greet(s: Space, p: Peer): void {
    const doc = s.doc!
    if (p.aether)
      p.peer.send(encode((e) => (encoding.writeVarUint(e, MessageType.hello), encoding.writeVarUint(e, s.epoch))))
    p.peer.send(
      encode((e) => {
        encoding.writeVarUint(e, MessageType.sync)
        encoding.writeVarUint(e, SyncStep.step1)
        encoding.writeVarUint8Array(e, Y.encodeStateVector(doc))
      }),
    )
    const states = s.awareness!.getStates()
    if (states.size)
      p.peer.send(
        encode(
          (e) => (
            encoding.writeVarUint(e, MessageType.awareness),
            encoding.writeVarUint8Array(e, awarenessProtocol.encodeAwarenessUpdate(s.awareness!, [...states.keys()]))
          ),
        ),
      )
    const queue = p.queue
    p.queue = null
    for (const m of queue ?? []) {
      if (!s.peers.has(p)) break
      this.receive(s, p, m)
    }
  }

  private refuse(s: Space, p: Peer, err: WebspaceInputError): void {
    this.counters.refused[err.code] = (this.counters.refused[err.code] ?? 0) + 1
    s.peers.delete(p)
    if (s.awareness && p.awarenessIds.size)
      awarenessProtocol.removeAwarenessStates(s.awareness, [...p.awarenessIds], null)
    if (p.aether)
      p.peer.send(
        encode(
          (e) => (
            encoding.writeVarUint(e, MessageType.error),
            encoding.writeVarString(e, err.code),
            encoding.writeVarString(e, err.message)
          ),
        ),
      )
    p.peer.close(err.code === 'UPDATE_TOO_LARGE' ? 1009 : err.code === 'QUEUE_FULL' ? 1013 : 1007, err.code)
  }

  private receive(s: Space, p: Peer, data: Uint8Array): void {
    let msg: Parsed
    try {
      msg = parseFrame(data, this.maxUpdateBytes)
    } catch (err) {
      const e =
        err instanceof WebspaceInputError
          ? err
          : new WebspaceInputError('MALFORMED_FRAME', `the frame does not parse: ${(err as Error).message}`, {
              cause: err,
            })
      return this.refuse(s, p, e)
    }
    const doc = s.doc!
    switch (msg.kind) {
      case 'step1':
        p.peer.send(
          encode((e) => {
            encoding.writeVarUint(e, MessageType.sync)
            encoding.writeVarUint(e, SyncStep.step2)
            encoding.writeVarUint8Array(e, Y.encodeStateAsUpdate(doc, msg.stateVector))
          }),
        )
        return
      case 'update': {
        try {
          Y.applyUpdate(doc, msg.update, p)
        } catch (err) {
          return this.refuse(
            s,
            p,
            new WebspaceInputError('MALFORMED_FRAME', `the update cannot be applied: ${(err as Error).message}`, {
              cause: err,
            }),
          )
        }
        this.counters.updates++
        this.counters.updateBytes += msg.update.byteLength
        p.received++
        s.pending.push({ ack: p, n: p.received })
        this.scheduleFlush(s)
        return
      }
      case 'awareness':
        try {
          awarenessProtocol.applyAwarenessUpdate(s.awareness!, msg.update, p)
        } catch (err) {
          return this.refuse(
            s,
            p,
            new WebspaceInputError(
              'BAD_AWARENESS',
              `the awareness update cannot be applied: ${(err as Error).message}`,
            ),
          )
        }
        return
      case 'queryAwareness': {
        const states = s.awareness!.getStates()
        p.peer.send(
          encode(
            (e) => (
              encoding.writeVarUint(e, MessageType.awareness),
              encoding.writeVarUint8Array(e, awarenessProtocol.encodeAwarenessUpdate(s.awareness!, [...states.keys()]))
            ),
          ),
        )
        return
      }
      case 'ignored':
        return
    }
  }

  private onDocUpdate(s: Space, update: Uint8Array, origin: unknown): void {
    s.pending.push({ bytes: update })
    this.scheduleFlush(s)
    if (!s.serving) return
    const frame = encode((e) => {
      encoding.writeVarUint(e, MessageType.sync)
      encoding.writeVarUint(e, SyncStep.update)
      encoding.writeVarUint8Array(e, update)
    })
    for (const p of s.peers) if (p !== origin && !p.queue) p.peer.send(frame)
  }

  private onAwareness(s: Space, added: number[], updated: number[], removed: number[], origin: unknown): void {
    const changed = added.concat(updated, removed)
    const from = origin as Peer | null
    if (from && typeof from === 'object' && 'awarenessIds' in from) {
      for (const id of added) from.awarenessIds.add(id)
      for (const id of removed) from.awarenessIds.delete(id)
    }
    if (!s.serving || !s.awareness) return
    const frame = encode(
      (e) => (
        encoding.writeVarUint(e, MessageType.awareness),
        encoding.writeVarUint8Array(e, awarenessProtocol.encodeAwarenessUpdate(s.awareness!, changed))
      ),
    )
    for (const p of s.peers) if (!p.queue) p.peer.send(frame)
  }

  // Group commit: every update of this tick goes into one LevelDB batch; one batch in flight per
  // webspace keeps the seqs in arrival order. Acks go out after their batch is written.
  private scheduleFlush(s: Space): void {
    if (s.flushQueued) return
    s.flushQueued = true
    s.writing = s.writing.then(() => new Promise<void>((r) => setImmediate(r))).then(() => this.writeBatch(s))
  }

  private async writeBatch(s: Space): Promise<void> {
    s.flushQueued = false
    const batch = s.pending
    s.pending = []
    if (!batch.length) return
    const updates: Uint8Array[] = []
    for (const b of batch) if ('bytes' in b) updates.push(b.bytes)
    try {
      if (updates.length) {
        const seq = await this.log.append(s.name, updates)
        this.counters.writes++
        this.counters.persisted += updates.length
        s.sinceCompact += updates.length
        if (s.sinceCompact >= this.compactEvery && s.doc) {
          await this.log.compact(s.name, Y.encodeStateAsUpdate(s.doc), seq)
          this.counters.compactions++
          s.sinceCompact = 0
        }
      }
    } catch (err) {
      // nothing of this batch is acknowledged; the peers resend on their next sync
      console.error(`[webspace ${s.name}] write failed:`, err)
      for (const b of batch) if ('ack' in b && s.peers.has(b.ack)) b.ack.peer.close(1011, 'webspace write failed')
      return
    }
    const last = new Map<Peer, number>()
    for (const b of batch) if ('ack' in b) last.set(b.ack, b.n)
    for (const [p, n] of last)
      if (p.aether && s.peers.has(p))
        p.peer.send(encode((e) => (encoding.writeVarUint(e, MessageType.ack), encoding.writeVarUint(e, n))))
  }
}

type Parsed =
  | { kind: 'step1'; stateVector: Uint8Array }
  | { kind: 'update'; update: Uint8Array }
  | { kind: 'awareness'; update: Uint8Array }
  | { kind: 'queryAwareness' }
  | { kind: 'ignored' }

/**
 * Parses one frame completely before anything is applied: the frame must be consumed to its last
 * byte, updates must decode as Yjs updates, awareness updates as awareness entries.
 */
export function parseFrame(data: Uint8Array, maxUpdateBytes: number): Parsed {
  if (!(data instanceof Uint8Array) || data.byteLength === 0)
    throw new WebspaceInputError('MALFORMED_FRAME', 'an empty frame')
  const d = decoding.createDecoder(data)
  const type = decoding.readVarUint(d)
  let out: Parsed
  if (type === MessageType.sync) {
    const step = decoding.readVarUint(d)
    if (step === SyncStep.step1) {
      const stateVector = decoding.readVarUint8Array(d)
      Y.decodeStateVector(stateVector)
      out = { kind: 'step1', stateVector }
    } else if (step === SyncStep.step2 || step === SyncStep.update) {
      const len = decoding.peekVarUint(d)
      if (len > maxUpdateBytes)
        throw new WebspaceInputError(
          'UPDATE_TOO_LARGE',
          `an update of ${len} bytes is larger than the limit of ${maxUpdateBytes}`,
        )
      const update = decoding.readVarUint8Array(d)
      Y.decodeUpdate(update)
      out = { kind: 'update', update }
    } else throw new WebspaceInputError('MALFORMED_FRAME', `unknown sync step ${step}`)
  } else if (type === MessageType.awareness) {
    const update = decoding.readVarUint8Array(d)
    const a = decoding.createDecoder(update)
    const n = decoding.readVarUint(a)
    for (let i = 0; i < n; i++) {
      decoding.readVarUint(a)
      decoding.readVarUint(a)
      JSON.parse(decoding.readVarString(a))
    }
    if (decoding.hasContent(a))
      throw new WebspaceInputError('BAD_AWARENESS', 'trailing bytes after the awareness entries')
    out = { kind: 'awareness', update }
  } else if (type === MessageType.queryAwareness) {
    out = { kind: 'queryAwareness' }
  } else if (type === MessageType.auth || type === MessageType.ack || type === MessageType.hello) {
    // y-websocket clients may send auth; acks and hellos travel hub -> client only
    return { kind: 'ignored' }
  } else {
    throw new WebspaceInputError('UNKNOWN_MESSAGE', `unknown message type ${type}`)
  }
  if (decoding.hasContent(d)) throw new WebspaceInputError('MALFORMED_FRAME', 'trailing bytes after the message')
  return out
}

function encode(write: (e: encoding.Encoder) => void): Uint8Array {
  const e = encoding.createEncoder()
  write(e)
  return encoding.toUint8Array(e)
}
