/**
 * A member node that produces media for routes (machines/mediaRoute.ts): a Node process with an
 * RtcNode that advertises the needs it can serve on the hub's `/route` socket and serves each
 * consumer the way the hub's route says (`serve` frames): directly, over a peer session the
 * consumer opens with it (signaling through the hub; the frames on a `media:<need>` data channel
 * of that peer, never held behind the session's reliable `events`), or relayed, by sending its
 * frames to the hub. It never chooses a path.
 *
 * The producer is synthetic: a data frame per tick, stamped with this member's id, the need, a
 * counter, the time and the path it was sent on, so a consumer can prove where its media came
 * from. Each direct attempt is its own peer session: the consumer's side is named
 * `<consumer>:r<seq>` (routeSessionId), so a route that comes back to this member opens a fresh
 * session instead of reviving a superseded one.
 */
import { ActorSystem } from '../../actors/index.ts'
import { decodeSignalFrame } from '../../protocol/signaling.ts'
import { parseHubFrame, routeSessionId, type RoutePathName, type RouteServe } from '../../protocol/routeFrame.ts'
import { WebSocketClient } from '../http/HubServer.ts'
import type { ChannelHandle, PeerHandle } from './PeerBackend.ts'
import { RtcNode, type RtcNodeOptions } from './RtcNode.ts'
import { weriftBackend, type WeriftOptions } from './werift.ts'

/** One stamped frame of the synthetic producer. */
export interface StampedFrame {
  member: string
  need: string
  n: number
  at: number
  path: RoutePathName
}

export interface RouteMemberOptions {
  /** The hub's base URL (`http://127.0.0.1:8080`). */
  hubUrl: string
  token: string
  nodeId: string
  needs: string[]
  paths?: RoutePathName[]
  /** Frames per second of the producer (default 20). */
  fps?: number
  werift?: WeriftOptions
  timings?: RtcNodeOptions['timings']
}

interface Serving {
  consumer: string
  need: string
  seq: number
  path: RoutePathName
  timer: ReturnType<typeof setInterval>
  /** The direct path's media channel, on the peer it was opened on. */
  channel?: { peer: PeerHandle; ch: ChannelHandle }
}

export class RouteMember {
  readonly node: RtcNode
  readonly stats = { direct: 0, relay: 0, skipped: 0, serves: 0, signalsDropped: 0 }
  /** `<consumer>|<need>` -> what is being served. */
  readonly serving = new Map<string, Serving>()
  private ws?: InstanceType<typeof WebSocketClient>
  private n = 0
  private closed = false
  private directCut = false
  private connected?: Promise<void>

  constructor(readonly opts: RouteMemberOptions) {
    const system = new ActorSystem({ hostId: opts.nodeId })
    this.node = new RtcNode(system, {
      nodeId: opts.nodeId,
      polite: false,
      backend: weriftBackend(opts.werift),
      durable: false,
      timings: opts.timings,
      send: (_to, frame) => this.sendText(frame),
    })
  }

  /** Connects to the hub and advertises; resolves once the advert is sent. */
  start(): Promise<void> {
    this.connected ??= new Promise((resolve, reject) => {
      const url = `${this.opts.hubUrl.replace(/^http/, 'ws')}/route?token=${encodeURIComponent(this.opts.token)}`
      const ws = new WebSocketClient(url)
      this.ws = ws
      ws.on('error', reject)
      ws.on('open', () => {
        ws.send(JSON.stringify({ v: 1, kind: 'hello', nodeId: this.opts.nodeId }))
        this.advertise()
        resolve()
      })
      ws.on('message', (data) => this.onFrame(String(data)))
      ws.on('close', () => this.stopAll())
    })
    return this.connected
  }

  /** Sends the advert again (after a change of `healthy`). */
  advertise(healthy = true): void {
    const paths = this.opts.paths ?? ['direct', 'relay']
    this.sendText(JSON.stringify({ v: 1, kind: 'advertise', needs: this.opts.needs, paths, healthy }))
  }

  private sendText(text: string): void {
    if (this.ws?.readyState === this.ws?.OPEN) this.ws?.send(text)
  }

  private onFrame(text: string): void {
    const f = parseHubFrame(text)
    if (f?.kind === 'serve') return this.serve(f as RouteServe)
    if (f?.kind === 'event') {
      // signaling of a consumer's direct session: dropped while the direct path is cut
      if (this.directCut || !decodeSignalFrame(text).ok) {
        this.stats.signalsDropped++
        return
      }
      void this.node.receive(text)
    }
  }

  /** Starts, switches or stops serving a consumer's need as the hub's route says. */
  private serve(s: RouteServe): void {
    this.stats.serves++
    const key = `${s.consumer}|${s.need}`
    const old = this.serving.get(key)
    if (old) {
      clearInterval(old.timer)
      this.serving.delete(key)
      if (old.path === 'direct' && (s.path !== 'direct' || s.seq !== old.seq))
        this.endSession(routeSessionId(old.consumer, old.seq))
    }
    if (!s.path || this.closed) return
    const path = s.path
    const entry: Serving = {
      consumer: s.consumer,
      need: s.need,
      seq: s.seq,
      path,
      timer: setInterval(() => this.produce(entry), 1000 / (this.opts.fps ?? 20)),
    }
    this.serving.set(key, entry)
  }

  private produce(s: Serving): void {
    const frame: StampedFrame = { member: this.opts.nodeId, need: s.need, n: ++this.n, at: Date.now(), path: s.path }
    if (s.path === 'relay') {
      this.stats.relay++
      return this.sendText(JSON.stringify({ v: 1, kind: 'frame', need: s.need, to: s.consumer, data: frame }))
    }
    const exec = this.node.executor(routeSessionId(s.consumer, s.seq))
    const h = exec?.linkUp && !this.directCut ? exec.handle : undefined
    // media goes on a channel of its own, opened once per peer (a rebuilt peer gets a new one)
    if (h && s.channel?.peer !== h) s.channel = { peer: h, ch: h.openChannel(`media:${s.need}`) }
    if (!h || !s.channel?.ch.send(JSON.stringify(frame))) {
      this.stats.skipped++
      return
    }
    this.stats.direct++
  }

  /** Closes the peer of a direct session and stops its actors (memory only). */
  private endSession(remote: string): void {
    const path = this.node.peerPath(remote)
    this.node.executors.get(path)?.close()
    this.node.executors.delete(path)
    if (this.node.system.hosted(remote)) void this.node.system.stop(remote).catch(() => {})
  }

  /**
   * A fault of the direct path (tests, drills): every direct peer is closed at once, its signaling
   * dropped and nothing more is sent on it, as if the network between the consumer and this
   * member went away. The relayed path (through the hub) is untouched.
   */
  cutDirect(): void {
    this.directCut = true
    for (const e of this.node.executors.values()) e.handle?.close()
  }

  private stopAll(): void {
    for (const s of this.serving.values()) clearInterval(s.timer)
    this.serving.clear()
  }

  async close(): Promise<void> {
    this.closed = true
    this.stopAll()
    this.ws?.close()
    this.node.close()
    await this.node.system.close()
  }
}
