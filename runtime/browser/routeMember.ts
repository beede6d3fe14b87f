/**
 * The consumer side of a media route (the `/member/route` page's app): it asks the hub for a
 * need on `/route`, and executes the route the hub's `mediaRoute` actor announces. Direct: a peer
 * session with the target member (the same peerSession machine and executor as `/member`, the
 * browser polite, signaling through the hub), frames arriving on a `media:<need>` channel the
 * member opens on it. Relay:
 * the member's frames arriving through the hub on `/route`. Unavailable: nothing to do.
 *
 * It monitors the attempt and reports to the hub, by the attempt's `seq`: `up` at the first
 * frame on the route's path, `failed` when the direct session's link goes down (its channels
 * close, or its liveness probe goes silent: the peerSession machine's `link` verdict). The relay
 * path's legs are sockets the hub watches (a member whose `/route` socket closes has left, and the
 * hub's route moves on). Gaps in either path's frames (`staleMs`) are only counted: a stalled
 * producer is not a dead path. It never picks a path itself: the hub's
 * route does.
 */
import { createActor, type AnyActorRef } from 'xstate'
import { peerSession } from '../../machines/peerSession.ts'
import { parseHubFrame, routeSessionId, type RouteAnnounce } from '../../protocol/routeFrame.ts'
import { decodeSignalFrame, encodeSignalFrame, type SignalingMessage } from '../../protocol/signaling.ts'
import type { ChannelHandle, PeerBackend } from '../rtc/PeerBackend.ts'
import { PeerExecutor } from '../rtc/PeerExecutor.ts'
import { nativeBackend } from './nativePeer.ts'

export interface RouteClientOptions {
  nodeId: string
  /** The hub's `/route` socket URL, with the token. */
  wsUrl: string
  need: string
  /** No frame for this long on a live direct route is a gap, counted (default 300 ms). */
  staleMs?: number
  /** The same for a relayed route (default 1000 ms). */
  probeMs?: number
  silenceProbes?: number
}

/** A frame as the page received it: what the producer stamped, and how it came. */
export interface ReceivedFrame {
  member: string
  n: number
  sentPath: string
  via: 'direct' | 'hub'
  /** The peer the frame arrived from (direct) or `hub`. */
  from: string
  seq: number
  at: number
}

interface Direct {
  seq: number
  target: string
  exec: PeerExecutor
  actor: AnyActorRef
}

export class RouteClient {
  readonly routes: RouteAnnounce[] = []
  readonly frames: ReceivedFrame[] = []
  readonly reports: { seq: number; status: 'up' | 'failed'; reason: string | null; at: number }[] = []
  /** Frames per `<member>/<via>`. */
  readonly counts: Record<string, number> = {}
  route?: RouteAnnounce
  private ws?: WebSocket
  private direct?: Direct
  private lastFrameAt = 0
  private lastCheckAt = 0
  private reported = new Set<string>()
  private watchdog?: ReturnType<typeof setInterval>
  private frameSeq = 0
  /** Frame gaps longer than the stale time, per path: monitoring only, never a verdict on a direct path. */
  readonly gaps: Record<string, number> = {}
  private gapOpen = false

  constructor(readonly opts: RouteClientOptions) {}

  start(): void {
    this.connect()
    this.watchdog = setInterval(() => this.check(), 50)
  }

  private connect(): void {
    const ws = new WebSocket(this.opts.wsUrl)
    this.ws = ws
    ws.onopen = () => {
      ws.send(JSON.stringify({ v: 1, kind: 'hello', nodeId: this.opts.nodeId }))
      ws.send(JSON.stringify({ v: 1, kind: 'need', need: this.opts.need }))
    }
    ws.onmessage = (e) => this.onFrame(String(e.data))
    ws.onerror = () => {}
    ws.onclose = () => setTimeout(() => this.connect(), 500)
  }

  private sendText(text: string): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(text)
  }

  private onFrame(text: string): void {
    const f = parseHubFrame(text)
    if (f?.kind === 'route' && f.need === this.opts.need) return this.follow(f as RouteAnnounce)
    if (f?.kind === 'frame' && f.via === 'hub' && f.need === this.opts.need) return this.received(f.data, 'hub', 'hub')
    if (f?.kind === 'event') {
      const r = decodeSignalFrame(text)
      const d = this.direct
      if (r.ok && d && r.value.fromNodeId === d.target && r.value.targetNodeId === this.sessionId(d.seq))
        this.toActor(d, r.value as unknown as { type: string })
    }
  }

  private sessionId(seq: number): string {
    return routeSessionId(this.opts.nodeId, seq)
  }

  /** Executes an announced route: opens, keeps or closes the direct session. */
  private follow(r: RouteAnnounce): void {
    this.routes.push(r)
    this.route = r
    this.lastFrameAt = performance.now()
    const d = this.direct
    if (d && (r.path !== 'direct' || d.seq !== r.seq)) this.closeDirect()
    if (r.path === 'direct' && r.target && !this.direct) this.openDirect(r.seq, r.target)
  }

  private openDirect(seq: number, target: string): void {
    const self = this.sessionId(seq)
    const path = `${target}/peer`
    // the member opens a `media:<need>` channel for its frames: taken here, before the executor
    // (which keeps only its own channels), so media is never held behind the reliable `events`
    const native = nativeBackend({ iceServers: [] })
    const backend: PeerBackend = {
      createPeer: (id, cb, o) =>
        native.createPeer(
          id,
          {
            ...cb,
            dataChannel: (ch) => (ch.label.startsWith('media:') ? this.mediaChannel(ch, target) : cb.dataChannel(ch)),
          },
          o,
        ),
    }
    const exec: PeerExecutor = new PeerExecutor(
      path,
      backend,
      {
        dispatch: (_p, e) => queueMicrotask(() => this.direct?.exec === exec && d.actor.send(e as any)),
        signal: (m: SignalingMessage) => this.sendText(encodeSignalFrame(m, `${self}:${++this.frameSeq}`, Date.now())),
      },
      { ownsTransceivers: true },
    )
    const actor = createActor(
      peerSession.provide({ actions: { exec: (_: unknown, p: { cmds: any[] }) => exec.execPeer(p.cmds) } }),
      {
        input: {
          nodeId: self,
          remoteNodeId: target,
          polite: true,
          peerSessionId: `${self}.${Math.random().toString(36).slice(2, 8)}.g0`,
          probeMs: this.opts.probeMs ?? 100,
          // the frames go on the `media:` channel, which the probe does not see as traffic: probe at
          // the busy speed all the time, so that a lost path is told within (silenceProbes + 1) probes
          idleProbeMs: this.opts.probeMs ?? 100,
          silenceProbes: this.opts.silenceProbes ?? 3,
        },
      },
    )
    const d: Direct = { seq, target, exec, actor }
    this.direct = d
    exec.onLink((up) => {
      // before the first frame the session may still be climbing its ladder: the connect deadline judges
      if (!up && this.direct === d && this.route?.seq === seq && this.reported.has(`${seq}:up`))
        this.report('failed', 'the direct peer session went down')
    })
    actor.start()
  }

  private mediaChannel(ch: ChannelHandle, target: string): void {
    ch.onmessage = (data) => {
      if (typeof data !== 'string') return
      const f = parseHubFrame(data)
      if (f) this.received(f, 'direct', target)
    }
  }

  private toActor(d: Direct, e: { type: string }): void {
    queueMicrotask(() => d.actor.send(e as any))
  }

  private closeDirect(): void {
    const d = this.direct
    this.direct = undefined
    if (!d) return
    d.actor.stop()
    d.exec.close()
  }

  private received(data: any, via: 'direct' | 'hub', from: string): void {
    const r = this.route
    if (!r || typeof data?.member !== 'string') return
    // frames of another path than the route's are late ones of the previous attempt
    if ((r.path === 'direct' && via !== 'direct') || (r.path === 'relay' && via !== 'hub')) return
    this.lastFrameAt = performance.now()
    this.gapOpen = false
    const f: ReceivedFrame = {
      member: data.member,
      n: data.n,
      sentPath: data.path,
      via,
      from,
      seq: r.seq,
      at: Date.now(),
    }
    this.frames.push(f)
    if (this.frames.length > 500) this.frames.shift()
    const k = `${f.member}/${via}`
    this.counts[k] = (this.counts[k] ?? 0) + 1
    this.report('up', null)
  }

  /**
   * The watchdog. A direct path is judged by its peer session's link (the session's own channels
   * and liveness probe, see `openDirect`), never by gaps in frames: under load the member's
   * producer stalls while its path is alive. A gap on the direct path is only counted
   * (`gaps`). So is a gap on the relay path: its legs are sockets, and a member whose socket
   * closes leaves the route at the hub (`route.left`), which moves on. A check that itself ran
   * late means this page was not scheduled (a busy machine): the silence is ours, not the path's,
   * so the wait starts again.
   */
  private check(): void {
    const now = performance.now()
    const late = now - this.lastCheckAt > 250
    this.lastCheckAt = now
    const r = this.route
    // before the first frame the route's own connect deadline judges the attempt
    if (!r?.path || r.status === 'released' || !this.reported.has(`${r.seq}:up`)) return
    if (late) this.lastFrameAt = now
    if (now - this.lastFrameAt <= (this.opts.staleMs ?? 300)) return
    // counted once per gap: the next frame ends it
    if (this.gapOpen) return
    this.gapOpen = true
    this.gaps[r.path] = (this.gaps[r.path] ?? 0) + 1
  }

  /** One report per attempt and status. */
  private report(status: 'up' | 'failed', reason: string | null): void {
    const r = this.route
    if (!r?.path) return
    const key = `${r.seq}:${status}`
    if (this.reported.has(key) || this.reported.has(`${r.seq}:failed`)) return
    this.reported.add(key)
    this.reports.push({ seq: r.seq, status, reason, at: Date.now() })
    this.sendText(JSON.stringify({ v: 1, kind: 'report', need: this.opts.need, seq: r.seq, status, reason }))
  }

  /** What tests and the page show. */
  state(): Record<string, unknown> {
    return {
      nodeId: this.opts.nodeId,
      route: this.route,
      direct: this.direct ? { seq: this.direct.seq, target: this.direct.target, link: this.direct.exec.linkUp } : null,
      counts: this.counts,
      gaps: this.gaps,
      last: this.frames.at(-1) ?? null,
      reports: this.reports,
    }
  }

  close(): void {
    clearInterval(this.watchdog)
    this.closeDirect()
    this.ws?.close()
  }
}

/** The page saw the current attempt up (the hub announces only its start). */
const live = (s: any): boolean => s.reports.some((r: any) => r.seq === s.route?.seq && r.status === 'up')

/** Boots the page: `?node=`, `?token=`, `?need=`; exposes `window.aetherRoute`. */
export function boot(): RouteClient {
  const q = new URLSearchParams(location.search)
  const nodeId = q.get('node') ?? `page-${Math.random().toString(36).slice(2, 8)}`
  const proto = location.protocol === 'https:' ? 'wss' : 'ws'
  const token = encodeURIComponent(q.get('token') ?? '')
  const c = new RouteClient({
    nodeId,
    wsUrl: `${proto}://${location.host}/route?token=${token}`,
    need: q.get('need') ?? 'clock',
    staleMs: Number(q.get('staleMs') ?? 300),
  })
  ;(globalThis as any).aetherRoute = c
  c.start()
  setInterval(() => {
    const s = c.state() as any
    const last = s.last as ReceivedFrame | null
    const box = document.getElementById('frame')
    if (box)
      box.textContent = last
        ? `frame ${last.n} from ${last.member} via ${last.via === 'direct' ? `direct peer ${last.from}` : 'the hub (relay)'}`
        : 'waiting for a frame…'
    const st = document.getElementById('status')
    if (st)
      st.textContent = [
        `node ${nodeId}, need ${c.opts.need}`,
        `route #${s.route?.seq ?? '-'}: ${s.route ? `${s.route.path ?? 'unavailable'} ${s.route.target ?? ''} (${live(s) ? 'live' : s.route.status})` : 'none yet'}`,
        s.route?.reason ? `degraded: ${s.route.reason}` : 'not degraded',
        `frames: ${JSON.stringify(s.counts)}`,
        `reports: ${s.reports.map((r: any) => `#${r.seq} ${r.status}${r.reason ? ` (${r.reason})` : ''}`).join(', ')}`,
      ].join('\n')
  }, 100)
  return c
}

if (typeof document !== 'undefined' && document.getElementById('aether-route')) boot()
