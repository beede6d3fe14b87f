/**
 * Peer sessions hosted as actors: one node's side (the hub, or a Node member) of every peer
 * session it has, in an ActorSystem. Per remote node `R` it spawns `R` (rtcMember), `R/peer`
 * (peerSession) and the subflows `R/peer/<name>` (mediaSubflow), all durable, so every
 * negotiation and recovery is journaled and replays with `aether replay --verify`.
 *
 * The machines' `exec` action is bound here (`.provide()`), finding the PeerExecutor of the
 * session by the actor's id path; werift objects live in the executor, never in a machine's
 * context. Signaling frames from outside are validated here: a bad one gets a typed
 * SignalingError, is counted, and reaches no actor.
 */
import type { AnyStateMachine } from 'xstate'
import { type ActorSystem, defineService, hostedActorOf, serviceOf } from '../../actors/index.ts'
import { mediaSubflow, type MediaSubflowInput } from '../../machines/mediaSubflow.ts'
import { peerSession, type PeerSessionInput } from '../../machines/peerSession.ts'
import { rtcMember } from '../../machines/rtcMember.ts'
import {
  decodeSignalFrame,
  encodeSignalFrame,
  SignalingError,
  uniformShape,
  type MediaSlot,
  type SignalingMessage,
} from '../../protocol/signaling.ts'
import type { MediaTrackSource, PeerBackend } from './PeerBackend.ts'
import { PeerExecutor } from './PeerExecutor.ts'

export interface RtcNodeOptions {
  nodeId: string
  /** The member side is polite and leads recovery; the hub is impolite and follows. */
  polite: boolean
  backend: PeerBackend
  /** Sends an encoded signaling frame to the node `to`. */
  send: (to: string, frame: string) => void
  media?: MediaTrackSource
  uploadRate?: number
  /** Timings passed to every peer session (tests shorten them). */
  timings?: Partial<Omit<PeerSessionInput, 'nodeId' | 'remoteNodeId' | 'polite' | 'peerSessionId'>>
  /** Machine names to register under (two nodes can share one system in tests). */
  names?: { peerSession: string; mediaSubflow: string; rtcMember: string }
  durable?: boolean
  subflowDeadlineMs?: number
  /** How long a member may be without its signaling socket before its session is closed (rtcMember). */
  graceMs?: number
  /** Trace context of signaling (runtime/tracing/actorSpans.ts), when tracing is on. */
  traces?: SignalTraces
}

/** Trace context for signaling frames: their `trace` field links the two sides' negotiation spans. */
export interface SignalTraces {
  /** The `traceparent` to send with `m` from the session at `path` (its negotiation's span), if any. */
  outgoing(path: string, m: SignalingMessage): string | undefined
  /** A frame for the session at `path` carried `traceparent`: its negotiation's span is to be its child. */
  incoming(path: string, m: SignalingMessage, traceparent: string): void
}

export interface RtcNodeStats {
  framesIn: number
  rejected: Record<string, number>
  lastError?: ReturnType<SignalingError['toJSON']>
  sent: number
  /** Frames whose `trace` was not a valid traceparent (ignored; the frame was taken). */
  badTraces: number
}

const NODE_RE = /^[A-Za-z0-9_.:-]{1,64}$/

/** The RtcNodes of an actor system (two nodes can share one system in tests). */
export const rtcNodes = defineService<Set<RtcNode>>('rtc.nodes')

/** The executor of the session at `path`, among the nodes of the system hosting `self`. */
function findExecutor(self: unknown, path: string): PeerExecutor | undefined {
  for (const n of serviceOf(self, rtcNodes)) {
    const e = n.executors.get(path)
    if (e) return e
  }
  return undefined
}

let provided: { peerSession: AnyStateMachine; mediaSubflow: AnyStateMachine; rtcMember: AnyStateMachine } | undefined

/**
 * The machines with `exec` bound to the executors, made once per process: each finds its
 * executor through the actor's own system and path. (One instance for every node: a machine's
 * fingerprint, which a durable spawn journals, is computed once per instance and costs
 * milliseconds for peerSession.)
 */
export function providedMachines(): {
  peerSession: AnyStateMachine
  mediaSubflow: AnyStateMachine
  rtcMember: AnyStateMachine
} {
  return (provided ??= {
    rtcMember: rtcMember.provide({
      actions: {
        // The member is gone: its peer session closes with the member's reason (after this
        // transition, not inside it).
        endSession: ({ self, context }) => {
          const h = hostedActorOf(self)
          if (!h) return
          const peer = `${h.path}/peer`
          queueMicrotask(() => {
            for (const n of serviceOf(self, rtcNodes)) {
              if (!n.system.hosted(peer)) continue
              n.dispatch(peer, { type: 'peer.close', reason: `member ${context.nodeId}: ${context.reason}` })
              return
            }
          })
        },
      },
    }) as AnyStateMachine,
    peerSession: peerSession.provide({
      actions: {
        exec: ({ self }, params) => {
          const h = hostedActorOf(self)
          if (h) findExecutor(self, h.path)?.execPeer(params.cmds)
        },
      },
    }) as AnyStateMachine,
    mediaSubflow: mediaSubflow.provide({
      actions: {
        exec: ({ self }, params) => {
          const h = hostedActorOf(self)
          if (!h) return
          const p = h.path
          findExecutor(self, p.slice(0, p.lastIndexOf('/')))?.execSubflow(p, params.cmds)
        },
      },
    }) as AnyStateMachine,
  })
}

export class RtcNode {
  readonly executors = new Map<string, PeerExecutor>()
  readonly stats: RtcNodeStats = { framesIn: 0, rejected: {}, sent: 0, badTraces: 0 }
  readonly names: { peerSession: string; mediaSubflow: string; rtcMember: string }
  private frameSeq = 0
  private opening = new Map<string, Promise<string>>()
  /** Sessions whose closed actors are being stopped before they are opened anew. */
  private reopening = new Set<string>()
  private upWaiters = new Map<string, (() => void)[]>()
  private executorListeners = new Set<(remoteNodeId: string, exec: PeerExecutor) => void>()

  /** Called with each executor made (a session opened, recovered or renewed), e.g. to bridge its channels. */
  onExecutor(fn: (remoteNodeId: string, exec: PeerExecutor) => void): () => void {
    this.executorListeners.add(fn)
    return () => this.executorListeners.delete(fn)
  }

  constructor(
    readonly system: ActorSystem,
    readonly opts: RtcNodeOptions,
  ) {
    this.names = opts.names ?? { peerSession: 'peerSession', mediaSubflow: 'mediaSubflow', rtcMember: 'rtcMember' }
    const m = providedMachines()
    // the first node of a system provides the service; make nodes before the system recovers
    const s = system.services
    ;(s.has(rtcNodes) ? s.get(rtcNodes) : s.provide(rtcNodes, new Set())).add(this)
    system.register(this.names.peerSession, m.peerSession)
    system.register(this.names.mediaSubflow, m.mediaSubflow)
    system.register(this.names.rtcMember, m.rtcMember)
  }

  get nodeId(): string {
    return this.opts.nodeId
  }

  peerPath(remoteNodeId: string): string {
    return `${remoteNodeId}/peer`
  }

  executor(remoteNodeId: string): PeerExecutor | undefined {
    return this.executors.get(this.peerPath(remoteNodeId))
  }

  /** Opens (spawns) the peer session with `remoteNodeId`. The member calls it; the hub on a first offer. */
  openSession(
    remoteNodeId: string,
    peerSessionId: string,
    firstOffer?: Extract<SignalingMessage, { type: 'rtc.offer' }>,
  ): Promise<string> {
    const path = this.peerPath(remoteNodeId)
    const existing = this.opening.get(path)
    if (existing) return existing
    const p = this.spawnSession(remoteNodeId, peerSessionId, firstOffer)
    this.opening.set(path, p)
    return p
  }

  private async spawnSession(
    remoteNodeId: string,
    peerSessionId: string,
    firstOffer?: Extract<SignalingMessage, { type: 'rtc.offer' }>,
  ): Promise<string> {
    const path = this.peerPath(remoteNodeId)
    const sys = this.system
    const durable = this.opts.durable ?? true
    // A member back after its session was closed (gone) starts over: the finished actors are
    // stopped (kept for export and replay) and the paths taken anew.
    if (sys.hosted(path)?.status === 'done') {
      this.reopening.add(path)
      await sys.stop(remoteNodeId).finally(() => this.reopening.delete(path))
    }
    const exec = this.makeExecutor(remoteNodeId)
    // The peer and the session's first description are made while the spawn is being journaled.
    if (durable) {
      const answer = firstOffer && {
        negotiationId: firstOffer.negotiationId,
        sdp: firstOffer.sdp,
        shape: firstOffer.mediaShape,
      }
      exec.prepare(
        peerSessionId,
        this.opts.polite ? { offer: uniformShape('inactive') } : answer ? { answer } : undefined,
      )
    }
    // The parent is listed the moment its spawn starts, so both journal writes go out together
    // (one group commit) instead of one after the other.
    const parent = sys.hosted(remoteNodeId)
      ? undefined
      : sys.spawn(remoteNodeId, this.names.rtcMember, {
          input: { nodeId: remoteNodeId, ...(this.opts.graceMs ? { graceMs: this.opts.graceMs } : {}) },
          durable,
        })
    const input: PeerSessionInput = {
      ...this.opts.timings,
      nodeId: this.nodeId,
      remoteNodeId,
      polite: this.opts.polite,
      peerSessionId,
    }
    await Promise.all([parent, sys.spawn(path, this.names.peerSession, { input, durable })])
    return path
  }

  /** The executor of the session with `remoteNodeId` (made, registered and listened to). */
  private makeExecutor(remoteNodeId: string): PeerExecutor {
    const path = this.peerPath(remoteNodeId)
    const exec = new PeerExecutor(
      path,
      this.opts.backend,
      { dispatch: (p, e) => this.dispatch(p, e), signal: (m) => this.signal(m) },
      {
        ownsTransceivers: this.opts.polite,
        media: this.opts.media,
        uploadRate: this.opts.uploadRate,
        onUpload: (uploadId, size) =>
          void this.addSubflow(remoteNodeId, `file-${uploadId}`, { kind: 'file', role: 'receive', uploadId, size }),
      },
    )
    this.executors.get(path)?.close()
    this.executors.set(path, exec)
    for (const fn of this.executorListeners) fn(remoteNodeId, exec)
    exec.onLink((up) => {
      const w = up ? this.upWaiters.get(path) : undefined
      if (!w) return
      this.upWaiters.delete(path)
      for (const fn of w) fn()
    })
    if (!this.opts.polite) exec.onMessage((data) => void this.onControl(remoteNodeId, data))
    return exec
  }

  /**
   * Takes over a session recovered from the journal (its peer died with the process): an executor
   * without a peer, so the member's ladder can bring it back (its ICE restart and renegotiation
   * find no peer and time out; its rebuild makes a new one), and its close has somewhere to go.
   */
  adopt(remoteNodeId: string): void {
    const path = this.peerPath(remoteNodeId)
    if (!this.executors.has(path) && this.system.hosted(path)) this.makeExecutor(remoteNodeId)
  }

  /**
   * Resolves when the session with `remoteNodeId` is up (its machine reached `open`: both
   * channels open), at once if it is; the session need not exist yet.
   */
  whenUp(remoteNodeId: string): Promise<void> {
    const path = this.peerPath(remoteNodeId)
    if (this.executors.get(path)?.linkUp) return Promise.resolve()
    return new Promise((resolve) => {
      const w = this.upWaiters.get(path) ?? []
      w.push(resolve)
      this.upWaiters.set(path, w)
    })
  }

  /** Spawns a subflow `R/peer/<name>`. */
  async addSubflow(remoteNodeId: string, name: string, input: MediaSubflowInput): Promise<string> {
    const peer = this.peerPath(remoteNodeId)
    const path = `${peer}/${name}`
    const exec = this.executors.get(peer)
    if (!exec) throw new Error(`no peer session with ${remoteNodeId}`)
    if (this.system.hosted(path)) return path
    const slot: MediaSlot | null =
      input.slot ??
      (input.kind === 'microphone' || input.kind === 'camera' || input.kind === 'screen' ? input.kind : null)
    exec.addSubflow(path, input.kind, slot)
    await this.system.spawn(path, this.names.mediaSubflow, {
      input: { deadlineMs: this.opts.subflowDeadlineMs, ...input },
      durable: this.opts.durable ?? true,
    })
    return path
  }

  /** Sends a reliable application message to `remoteNodeId` over its session's `events` channel. */
  sendMessage(remoteNodeId: string, data: unknown): void {
    this.dispatch(this.peerPath(remoteNodeId), { type: 'peer.send', data })
  }

  /**
   * Hub side: a member asks for a hub subflow (only loopback is the hub's own) with a reliable
   * message `{control: 'subflow', name: 'loopback', op: 'start'|'stop', slot?}` on `events`.
   */
  private async onControl(remoteNodeId: string, data: any): Promise<void> {
    if (data?.control !== 'subflow' || data.name !== 'loopback' || (data.op !== 'start' && data.op !== 'stop')) return
    const slot: MediaSlot = data.slot === 'microphone' || data.slot === 'screen' ? data.slot : 'camera'
    const path = await this.addSubflow(remoteNodeId, `loopback-${slot}`, { kind: 'loopback', slot })
    this.dispatch(path, { type: data.op === 'start' ? 'media.start' : 'media.stop' })
  }

  /** Sends an event to an actor; an actor that is gone or stopped takes nothing (counted). */
  dispatch(path: string, event: { type: string; [k: string]: unknown }): void {
    try {
      this.system.send(path, event)
    } catch {
      this.stats.rejected.NO_ACTOR = (this.stats.rejected.NO_ACTOR ?? 0) + 1
    }
  }

  private signal(m: SignalingMessage): void {
    this.stats.sent++
    const trace = this.opts.traces?.outgoing(this.peerPath(m.targetNodeId), m)
    this.opts.send(m.targetNodeId, encodeSignalFrame(m, `${this.nodeId}:${++this.frameSeq}`, Date.now(), trace))
  }

  private reject(e: SignalingError): SignalingError {
    this.stats.rejected[e.code] = (this.stats.rejected[e.code] ?? 0) + 1
    this.stats.lastError = e.toJSON()
    return e
  }

  /**
   * A signaling frame from the wire. Returns the typed error when it was rejected (counted, no
   * actor sees it), else undefined. `from`, when known (an authenticated socket), must match.
   */
  async receive(frame: unknown, from?: string): Promise<SignalingError | undefined> {
    this.stats.framesIn++
    const r = decodeSignalFrame(frame)
    if (!r.ok) return this.reject(r.error)
    const m = r.value
    if (m.targetNodeId !== this.nodeId)
      return this.reject(
        new SignalingError(
          'BAD_FIELD',
          'targetNodeId',
          `"targetNodeId" is ${m.targetNodeId}, this node is ${this.nodeId}`,
        ),
      )
    if (!NODE_RE.test(m.fromNodeId))
      return this.reject(
        new SignalingError('BAD_FIELD', 'fromNodeId', '"fromNodeId" must be a node id [A-Za-z0-9_.:-]{1,64}'),
      )
    if (from !== undefined && from !== m.fromNodeId)
      return this.reject(
        new SignalingError(
          'BAD_FIELD',
          'fromNodeId',
          `"fromNodeId" is ${m.fromNodeId} but the socket belongs to ${from}`,
        ),
      )
    const path = this.peerPath(m.fromNodeId)
    if (r.badTrace) this.stats.badTraces++
    else if (r.trace) this.opts.traces?.incoming(path, m, r.trace)
    let opening: Promise<string> | undefined
    // A session that was closed (its member was gone) is opened anew by the member's next offer.
    const closed = this.system.hosted(path)?.status === 'done' && !this.reopening.has(path)
    if (closed) this.opening.delete(path)
    if ((!this.system.hosted(path) || closed) && !this.opening.has(path)) {
      // Only a member's first offer opens a session on the hub; anything else for no session is stale.
      if (this.opts.polite || m.type !== 'rtc.offer')
        return this.reject(new SignalingError('BAD_FIELD', 'peerSessionId', `no peer session with ${m.fromNodeId}`))
      // A fresh session always takes the offer that spawned it (its signaling is stable, the
      // offer is of its own session and of the remote it serves): the answer is made while
      // both are journaled.
      opening = this.openSession(m.fromNodeId, m.peerSessionId, m)
    }
    // A spawn lists its actor at once (status starting) and a starting actor journals what it
    // is sent and applies it once started: the offer goes into the same group commit as the
    // spawn instead of waiting for it.
    if (this.system.hosted(path) && !this.reopening.has(path)) this.dispatch(path, m as unknown as { type: string })
    else {
      await this.opening.get(path)
      this.dispatch(path, m as unknown as { type: string })
    }
    if (opening) await opening
    return undefined
  }

  /** Stops every executor (the actors stay journaled). */
  close(): void {
    for (const e of this.executors.values()) e.close()
    this.executors.clear()
    this.system.services.get(rtcNodes).delete(this)
  }
}
