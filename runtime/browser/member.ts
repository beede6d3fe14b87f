/**
 * The member client: the `/member` page's app (bundled by esbuild with machines/, protocol/ and
 * the executor). It connects to the hub's `/ws`, runs the same peerSession and mediaSubflow
 * machines as the hub (polite side: it offers, it leads recovery), with the browser's
 * RTCPeerConnection as executor, and exposes `window.aether` for tests and the page's buttons.
 *
 * In the browser the actors run in memory (no journal): the hub's side of every negotiation and
 * recovery is the journaled one.
 */
import { createActor, type AnyActorRef } from 'xstate'
import { mediaSubflow, type MediaSubflowInput } from '../../machines/mediaSubflow.ts'
import { peerSession } from '../../machines/peerSession.ts'
import {
  decodeSignalFrame,
  encodeSignalFrame,
  type MediaSlot,
  type SignalingMessage,
} from '../../protocol/signaling.ts'
import { PeerExecutor } from '../rtc/PeerExecutor.ts'
import { browserMedia, nativeBackend } from './nativePeer.ts'
import { InspectStream } from './inspectStream.ts'

export interface MemberOptions {
  nodeId: string
  wsUrl: string
  probeMs?: number
  silenceProbes?: number
  /** Record the member's peer session at the hub (`/inspector/ingest`, needs the token). */
  recordUrl?: string
}

const PEER = 'hub/peer'

export class MemberClient {
  readonly actors = new Map<string, AnyActorRef>()
  readonly exec: PeerExecutor
  readonly received: unknown[] = []
  readonly log: string[] = []
  sent = 0
  rejected = 0
  private ws?: WebSocket
  private frameSeq = 0
  private outbox: string[] = []
  /** The recorder of the member's own actors at the hub (`?record=1`). */
  readonly recorder?: InspectStream

  constructor(readonly opts: MemberOptions) {
    this.exec = new PeerExecutor(
      PEER,
      nativeBackend({ iceServers: [] }),
      { dispatch: (p, e) => this.dispatch(p, e), signal: (m) => this.signal(m) },
      { ownsTransceivers: true, media: browserMedia() },
    )
    this.exec.onMessage((d) => this.received.push(d))
    if (opts.recordUrl) this.recorder = new InspectStream(opts.recordUrl)
  }

  /**
   * Connects signaling and starts the peer session. A page reloaded in the same tab resumes the
   * session it had (its id kept in sessionStorage): the hub renews its peer for it, under the same
   * `peerSessionId`, as long as the reload comes within the hub's grace.
   */
  start(): void {
    this.connect()
    const rand = Math.random().toString(36).slice(2, 8)
    const store = (globalThis as { sessionStorage?: Storage }).sessionStorage
    const key = `aether.peerSession.${this.opts.nodeId}`
    const saved = store?.getItem(key) ?? undefined
    const peer = createActor(
      peerSession.provide({ actions: { exec: (_: unknown, p: { cmds: any[] }) => this.exec.execPeer(p.cmds) } }),
      {
        input: {
          nodeId: this.opts.nodeId,
          remoteNodeId: 'hub',
          polite: true,
          peerSessionId: saved ?? `${this.opts.nodeId}.${rand}.g0`,
          ...(saved ? { resume: rand } : {}),
          probeMs: this.opts.probeMs,
          silenceProbes: this.opts.silenceProbes,
        },
        ...(this.recorder ? { inspect: this.recorder.inspectAs(PEER) } : {}),
      },
    )
    this.actors.set(PEER, peer)
    peer.subscribe((snap) => {
      if (snap.status === 'done') store?.removeItem(key)
      else if (store?.getItem(key) !== snap.context.peerSessionId) store?.setItem(key, snap.context.peerSessionId)
    })
    peer.start()
  }

  /** Leaves for good: the hub closes this member's session at once (no grace), and so does the page. */
  leave(): void {
    const f = JSON.stringify({ v: 1, kind: 'goodbye' })
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(f)
    this.dispatch(PEER, { type: 'peer.close', reason: 'the member left' })
  }

  private connect(): void {
    const ws = new WebSocket(this.opts.wsUrl)
    this.ws = ws
    ws.onopen = () => {
      ws.send(JSON.stringify({ v: 1, kind: 'hello', nodeId: this.opts.nodeId }))
      for (const f of this.outbox.splice(0)) ws.send(f)
    }
    ws.onmessage = (e) => {
      const r = decodeSignalFrame(String(e.data))
      if (!r.ok) {
        this.rejected++
        return
      }
      this.dispatch(PEER, r.value as unknown as { type: string })
    }
    // an error is followed by close (which reconnects); under Node (`ws`), an error without a
    // listener would be thrown out of the process
    ws.onerror = () => {}
    ws.onclose = () => setTimeout(() => this.connect(), 500)
  }

  private signal(m: SignalingMessage): void {
    const f = encodeSignalFrame(m, `${this.opts.nodeId}:${++this.frameSeq}`, Date.now())
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(f)
    else this.outbox.push(f)
  }

  /** Events to actors go through a microtask: never into an actor from inside its own transition. */
  dispatch(path: string, event: { type: string; [k: string]: unknown }): void {
    queueMicrotask(() => this.actors.get(path)?.send(event as any))
  }

  /** Adds (once) and returns the subflow `name`. */
  subflow(name: string, input: MediaSubflowInput): AnyActorRef {
    const path = `${PEER}/${name}`
    let a = this.actors.get(path)
    if (a) return a
    const slot: MediaSlot | null =
      input.slot ??
      (input.kind === 'microphone' || input.kind === 'camera' || input.kind === 'screen' ? input.kind : null)
    this.exec.addSubflow(path, input.kind, slot)
    a = createActor(
      mediaSubflow.provide({
        actions: { exec: (_: unknown, p: { cmds: any[] }) => this.exec.execSubflow(path, p.cmds) },
      }),
      { input },
    )
    this.actors.set(path, a)
    a.start()
    return a
  }

  startMedia(kind: 'microphone' | 'camera' | 'screen'): void {
    this.subflow(kind, { kind }).send({ type: 'media.start' })
  }
  stopMedia(kind: 'microphone' | 'camera' | 'screen'): void {
    this.subflow(kind, { kind }).send({ type: 'media.stop' })
  }
  /** Asks the hub to loop the slot's track back (a hub subflow), over the reliable `events` channel. */
  loopback(on: boolean, slot: MediaSlot = 'camera'): void {
    this.send({ control: 'subflow', name: 'loopback', op: on ? 'start' : 'stop', slot })
  }
  async upload(file: Blob, name = 'upload'): Promise<string> {
    const bytes = new Uint8Array(await file.arrayBuffer())
    const uploadId = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`
    const sha256 = await this.exec.prepareUpload(uploadId, bytes)
    this.subflow(`file-${uploadId}`, { kind: 'file', role: 'send', uploadId, size: bytes.length, sha256 }).send({
      type: 'media.start',
    })
    this.log.push(`upload ${name} ${bytes.length} bytes as ${uploadId}`)
    return uploadId
  }
  /** A reliable application message to the hub on `events`. */
  send(data: unknown): void {
    this.sent++
    this.dispatch(PEER, { type: 'peer.send', data })
  }

  /** What tests and the page show. */
  state(): Record<string, unknown> {
    const out: Record<string, unknown> = {}
    for (const [p, a] of this.actors) {
      const s = a.getSnapshot()
      out[p] = {
        value: s.value,
        context:
          p === PEER
            ? {
                peerSessionId: s.context.peerSessionId,
                counters: s.context.counters,
                recoveries: s.context.recoveries,
                closedReason: s.context.closedReason,
                inSeq: s.context.inSeq,
                outSeq: s.context.outSeq,
                unacked: s.context.unacked.length,
              }
            : s.context,
      }
    }
    return {
      nodeId: this.opts.nodeId,
      actors: out,
      exec: this.exec.stats,
      received: this.received.length,
      sent: this.sent,
      rejected: this.rejected,
    }
  }

  link(): string {
    const v: any = this.actors.get(PEER)?.getSnapshot().value
    const l = v?.active?.link
    return typeof l === 'string' ? l : l ? `recovering.${l.recovering}` : String(v)
  }

  subflowState(name: string): string {
    return String(this.actors.get(`${PEER}/${name}`)?.getSnapshot().value ?? 'none')
  }
}

/** Boots the page: reads `?node=`, `?token=` and `?record=1`, wires the buttons, exposes `window.aether`. */
export function boot(): MemberClient {
  const q = new URLSearchParams(location.search)
  const nodeId = q.get('node') ?? `member-${Math.random().toString(36).slice(2, 8)}`
  const token = q.get('token') ?? ''
  const proto = location.protocol === 'https:' ? 'wss' : 'ws'
  const m = new MemberClient({
    nodeId,
    wsUrl: `${proto}://${location.host}/ws?token=${encodeURIComponent(token)}`,
    ...(q.get('record') === '1'
      ? {
          recordUrl: `${proto}://${location.host}/inspector/ingest?app=${encodeURIComponent(nodeId)}&token=${encodeURIComponent(token)}`,
        }
      : {}),
  })
  ;(globalThis as any).aether = m
  m.start()
  const $ = (id: string) => document.getElementById(id)
  for (const kind of ['microphone', 'camera', 'screen'] as const) {
    $(`start-${kind}`)?.addEventListener('click', () => m.startMedia(kind))
    $(`stop-${kind}`)?.addEventListener('click', () => m.stopMedia(kind))
  }
  $('loop-on')?.addEventListener('click', () => m.loopback(true))
  $('loop-off')?.addEventListener('click', () => m.loopback(false))
  $('upload')?.addEventListener('change', (e) => {
    const f = (e.target as HTMLInputElement).files?.[0]
    if (f) void m.upload(f, f.name)
  })
  const video = $('loop-video') as HTMLVideoElement | null
  const tick = () => {
    const st = $('status')
    if (st) {
      const s = m.state() as any
      const peer = s.actors[PEER]
      const subs = Object.keys(s.actors)
        .filter((k) => k !== PEER)
        .map((k) => `${k.slice(PEER.length + 1)}: ${JSON.stringify(s.actors[k].value)}`)
      st.textContent = [
        `node ${nodeId}`,
        `peer ${m.link()} (${peer?.context.peerSessionId})`,
        `events: sent ${s.sent}, received ${s.received}; closes ${JSON.stringify(s.exec.closes)}`,
        ...subs,
      ].join('\n')
    }
    const t = m.exec.handle?.remoteTrack('camera') as MediaStreamTrack | undefined
    if (video && t && (!video.srcObject || (video.srcObject as MediaStream).getTracks()[0] !== t)) {
      video.srcObject = new MediaStream([t])
      void video.play().catch(() => {})
    }
  }
  setInterval(tick, 100)
  return m
}

if (typeof document !== 'undefined' && document.getElementById('aether-member')) boot()
