/**
 * The hub as the router authority for media: one `mediaRoute` actor per consumer and need
 * (`route:<consumer>:<need>`, durable, journaled), fed with what the hub knows (members' adverts,
 * their sockets, the consumers' reports), and the `/route` socket that carries it all. The actor
 * chooses; this file only executes what it chose: it tells the consumer the route, tells the
 * target to serve (or to stop), forwards the signaling of a direct route between the two, and
 * relays the target's frames when the route is relayed. It never picks a target or a path.
 *
 * `/route?token=T` (frames: protocol/routeFrame.ts). A bad frame is answered with
 * `{"v":1,"kind":"error","error":{code, field, message}}`, counted (`GET /api/rtc/routes`), and
 * changes nothing.
 */
import type { AnyStateMachine } from 'xstate'
import type { WebSocket } from 'ws'
import { type ActorSystem, defineService, hostedActorOf, serviceOf } from '../../actors/index.ts'
import { mediaRoute, routeEvents, type MediaRouteContext, type MediaRouteInput } from '../../machines/mediaRoute.ts'
import {
  decodeRouteFrame,
  MAX_ROUTE_FRAME,
  parseRouteSessionId,
  RouteFrameError,
  type RouteAnnounce,
  type RoutePathName,
  type RouteServe,
} from '../../protocol/routeFrame.ts'
import { decodeSignalFrame } from '../../protocol/signaling.ts'
import type { Hub, HubFeature } from '../Hub.ts'
import { browserBundle } from '../browser/bundle.ts'

export interface MediaRouteOptions {
  /** Settings of every route (tests shorten them). */
  route?: Pick<MediaRouteInput, 'connectMs' | 'retryMs' | 'direct' | 'relay'>
}

export interface RouteStats {
  framesIn: number
  rejected: Record<string, number>
  signalsForwarded: number
  /** Frames relayed through the hub, per route path. */
  relayed: Record<string, number>
  /** Relayed frames dropped because the route is not relayed from that member. */
  notRouted: number
}

interface Advert {
  needs: string[]
  paths: RoutePathName[]
  healthy: boolean
}

/** Executes the routes of one system's mediaRoute actors. */
export class RouteHost {
  readonly sockets = new Map<string, WebSocket>()
  readonly adverts = new Map<string, Advert>()
  readonly stats: RouteStats = { framesIn: 0, rejected: {}, signalsForwarded: 0, relayed: {}, notRouted: 0 }
  /** consumer -> need -> actor path (the newest route of that need). */
  private routes = new Map<string, Map<string, string>>()

  constructor(
    readonly system: ActorSystem,
    readonly opts: MediaRouteOptions = {},
  ) {}

  private now(): number {
    return this.system.clock.now()
  }

  private sendTo(nodeId: string | null, frame: object): void {
    const ws = nodeId ? this.sockets.get(nodeId) : undefined
    if (ws && ws.readyState === ws.OPEN) ws.send(JSON.stringify(frame))
  }

  private context(path: string): MediaRouteContext | undefined {
    const a = this.system.hosted(path)?.actor
    return a && a.getSnapshot().status === 'active' ? (a.getSnapshot().context as MediaRouteContext) : undefined
  }

  /** Every live route (its path and context). */
  *live(): Generator<[string, MediaRouteContext]> {
    for (const needs of this.routes.values())
      for (const path of needs.values()) {
        const c = this.context(path)
        if (c) yield [path, c]
      }
  }

  private dispatch(path: string, event: { type: string; [k: string]: unknown }): void {
    try {
      this.system.send(path, event)
    } catch {
      this.count('NO_ROUTE')
    }
  }

  private count(code: string): void {
    this.stats.rejected[code] = (this.stats.rejected[code] ?? 0) + 1
  }

  /** What the hub knows of `target`, as the route's events. */
  private inventory(target: string, a: Advert | undefined) {
    const at = this.now()
    return a
      ? [
          routeEvents.capability(target, a.needs, a.paths, at),
          routeEvents.ability(target, { reachable: true, authorized: true, healthy: a.healthy }, at),
        ]
      : [routeEvents.left(target, 'its signaling socket closed', at)]
  }

  /** The `execute` action of a route: tell the consumer, the target, and the previous target. */
  execute(c: MediaRouteContext): void {
    const a = c.attempt
    if (!a) return
    const { consumer, need } = c.need
    const announce: RouteAnnounce = {
      v: 1,
      kind: 'route',
      need,
      consumer,
      seq: a.seq,
      target: a.target,
      path: a.path,
      status: a.status,
      reason: c.degradation.reason,
    }
    this.sendTo(consumer, announce)
    const serve = (to: string, path: RoutePathName | null): void =>
      this.sendTo(to, { v: 1, kind: 'serve', need, consumer, seq: a.seq, path } satisfies RouteServe)
    const prev = c.previous
    if (prev?.target && (prev.target !== a.target || a.status === 'released')) serve(prev.target, null)
    if (a.target) serve(a.target, a.status === 'released' ? null : a.path)
  }

  /** A frame from the socket of `from` (after its hello). */
  async receive(from: string, text: string): Promise<RouteFrameError | undefined> {
    this.stats.framesIn++
    const r = decodeRouteFrame(text)
    if (!r.ok) return this.refuse(r.error)
    const f = r.value
    switch (f.kind) {
      case 'hello':
        return this.refuse(new RouteFrameError('BAD_FRAME', 'kind', 'hello is the first frame only'))
      case 'advertise': {
        const a: Advert = { needs: f.needs, paths: f.paths, healthy: f.healthy }
        this.adverts.set(from, a)
        for (const [path] of this.live()) for (const e of this.inventory(from, a)) this.dispatch(path, e)
        return undefined
      }
      case 'need':
        await this.open(from, f.need)
        return undefined
      case 'report': {
        const path = this.routes.get(from)?.get(f.need)
        if (!path || !this.context(path))
          return this.refuse(new RouteFrameError('BAD_FIELD', 'need', `no open route of "${f.need}" for ${from}`))
        this.dispatch(path, routeEvents.observed(f.seq, f.status, this.now(), f.reason ?? undefined))
        return undefined
      }
      case 'release': {
        const path = this.routes.get(from)?.get(f.need)
        if (path && this.context(path)) this.dispatch(path, routeEvents.release('released by the consumer', this.now()))
        return undefined
      }
      case 'frame': {
        // relayed only while the route says so: relay, from this member
        const path = this.routes.get(f.to)?.get(f.need)
        const c = path ? this.context(path) : undefined
        if (!path || !c || c.attempt?.path !== 'relay' || c.attempt.target !== from) {
          this.stats.notRouted++
          return undefined
        }
        this.stats.relayed[path] = (this.stats.relayed[path] ?? 0) + 1
        this.sendTo(f.to, { v: 1, kind: 'frame', need: f.need, from, via: 'hub', data: f.data })
        return undefined
      }
      case 'signal':
        return this.forwardSignal(from, text)
    }
  }

  /**
   * Signaling of a direct attempt, in either direction: between the consumer's session
   * (`<consumer>:r<seq>`) and the attempt's target, only while that attempt is the route's.
   */
  private forwardSignal(from: string, text: string): RouteFrameError | undefined {
    const r = decodeSignalFrame(text)
    if (!r.ok) return this.refuse(new RouteFrameError('BAD_FRAME', r.error.field, r.error.message))
    const m = r.value
    const fromSession = parseRouteSessionId(m.fromNodeId)
    if ((fromSession?.consumer ?? m.fromNodeId) !== from)
      return this.refuse(
        new RouteFrameError('BAD_FIELD', 'fromNodeId', `"fromNodeId" is ${m.fromNodeId}, the socket is ${from}`),
      )
    const session = fromSession ?? parseRouteSessionId(m.targetNodeId)
    const member = fromSession ? m.targetNodeId : from
    if (!session || !this.directAttempt(session.consumer, session.seq, member))
      return this.refuse(
        new RouteFrameError(
          'BAD_FIELD',
          'targetNodeId',
          `no direct route attempt between ${m.fromNodeId} and ${m.targetNodeId}`,
        ),
      )
    this.stats.signalsForwarded++
    const ws = this.sockets.get(fromSession ? member : session.consumer)
    if (ws && ws.readyState === ws.OPEN) ws.send(text)
    return undefined
  }

  /** A route of `consumer` whose current attempt `seq` is direct to `target`. */
  private directAttempt(consumer: string, seq: number, target: string): boolean {
    for (const path of this.routes.get(consumer)?.values() ?? []) {
      const a = this.context(path)?.attempt
      if (a?.seq === seq && a.path === 'direct' && a.target === target) return true
    }
    return false
  }

  /** A consumer's need: a new route fed the inventory, or a fresh attempt of the open one. */
  private async open(consumer: string, need: string): Promise<void> {
    const needs = this.routes.get(consumer) ?? new Map<string, string>()
    this.routes.set(consumer, needs)
    const open = needs.get(need)
    // asked again (a reconnected consumer): a fresh attempt, so a direct session starts anew
    if (open && this.context(open))
      return this.dispatch(open, routeEvents.refresh('the consumer asked again', this.now()))
    let path = `route:${consumer}:${need}`
    for (let n = 2; this.system.hosted(path); n++) path = `route:${consumer}:${need}.${n}`
    needs.set(need, path)
    const input: MediaRouteInput = { ...this.opts.route, consumer, need, at: this.now() }
    await this.system.spawn(path, 'mediaRoute', { input, durable: true })
    for (const [target, a] of this.adverts) for (const e of this.inventory(target, a)) this.dispatch(path, e)
  }

  /** The socket of `nodeId` closed: it leaves every route as a target, and its own routes are released. */
  left(nodeId: string): void {
    this.adverts.delete(nodeId)
    const at = this.now()
    for (const [path, c] of [...this.live()]) {
      if (c.need.consumer === nodeId) this.dispatch(path, routeEvents.release('the consumer socket closed', at))
      else if (c.capability[nodeId] || c.ability[nodeId]?.reachable)
        this.dispatch(path, routeEvents.left(nodeId, 'its signaling socket closed', at))
    }
  }

  /** A `/route` socket (its token checked): its hello names it, then its frames go to `receive`. */
  attach(ws: WebSocket): void {
    let nodeId: string | undefined
    const answer = (e: RouteFrameError | undefined) =>
      e && ws.readyState === ws.OPEN && ws.send(JSON.stringify({ v: 1, kind: 'error', error: e.toJSON() }))
    ws.on('message', (data) => {
      const text = String(data)
      if (nodeId) return void this.receive(nodeId, text).then(answer, () => this.count('INTERNAL'))
      const r = decodeRouteFrame(text)
      if (!r.ok || r.value.kind !== 'hello') {
        this.count('BAD_HELLO')
        return answer(r.ok ? new RouteFrameError('BAD_FRAME', 'kind', 'the first frame must be a hello') : r.error)
      }
      nodeId = r.value.nodeId
      this.sockets.get(nodeId)?.close(4000, 'replaced by a newer socket of the same node')
      this.sockets.set(nodeId, ws)
    })
    ws.on('close', () => {
      if (!nodeId || this.sockets.get(nodeId) !== ws) return
      this.sockets.delete(nodeId)
      this.left(nodeId)
    })
  }

  private refuse(e: RouteFrameError): RouteFrameError {
    this.count(e.code)
    return e
  }

  /** What `GET /api/rtc` and `GET /api/rtc/routes` show of each route. */
  view(): object[] {
    return [...this.live()].map(([path, c]) => ({
      path,
      state: this.system.hosted(path)?.actor.getSnapshot().value,
      need: c.need,
      capability: c.capability,
      ability: c.ability,
      attempt: c.attempt,
      previous: c.previous,
      switches: c.switches,
      degradation: c.degradation,
      observed: c.observed,
      monitoring: c.monitoring,
      relayed: this.stats.relayed[path] ?? 0,
    }))
  }
}

/** The RouteHost of a system: the `execute` action finds it here. */
export const mediaRoutes = defineService<RouteHost>('rtc.routes')

let provided: AnyStateMachine | undefined

/** mediaRoute with `execute` bound to its system's RouteHost (one instance per process). */
export function providedMediaRoute(): AnyStateMachine {
  return (provided ??= mediaRoute.provide({
    actions: {
      execute: ({ self, context }) => {
        if (hostedActorOf(self)) serviceOf(self, mediaRoutes).execute(context)
      },
    },
  }) as AnyStateMachine)
}

/** The routes of a hub, for `GET /api/rtc` (empty when the feature is not installed). */
export function routesOf(system: ActorSystem): object[] {
  return system.services.has(mediaRoutes) ? system.services.get(mediaRoutes).view() : []
}

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>Aether media route</title>
<style>body{font:14px system-ui,sans-serif;margin:16px;background:#10141a;color:#dde}pre{background:#1b2230;padding:8px;min-height:8em}#frame{font-size:28px;padding:12px;border:1px solid #446}</style>
</head><body id="aether-route">
<h1>Aether media route</h1>
<div id="frame">waiting for a route…</div>
<pre id="status">connecting…</pre>
<script type="module" src="/member/route/app.js"></script>
</body></html>`

/** The `/route` socket, the `/member/route` page, `GET /api/rtc/routes`, and the mediaRoute actors. */
export function mediaRouteFeature(opts: MediaRouteOptions = {}): HubFeature & { host?: RouteHost } {
  const f: HubFeature & { host?: RouteHost } = {
    name: 'media-routes',
    install(hub: Hub) {
      const host = new RouteHost(hub.system, opts)
      f.host = host
      hub.system.services.provide(mediaRoutes, host)
      hub.system.register('mediaRoute', providedMediaRoute())
      const srv = hub.server
      srv.route('GET', '/api/rtc/routes', () => ({ routes: host.view(), stats: host.stats }))
      srv.route('GET', '/member/route', (ctx) => {
        ctx.res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
        ctx.res.end(PAGE)
        return undefined
      })
      srv.route('GET', '/member/route/app.js', async (ctx) => {
        const js = await browserBundle('./routeMember.ts')
        ctx.res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-store' })
        ctx.res.end(js)
        return undefined
      })
      srv.ws(
        '/route',
        (ws, req, url) =>
          srv.hasToken(req, url) ? host.attach(ws) : ws.close(4401, 'this socket needs the hub token (?token=)'),
        { maxPayload: MAX_ROUTE_FRAME },
      )
    },
    /**
     * After recovery: routes recovered from the journal have no consumer socket any more (it went
     * with the process): stop them, kept for export and replay. A consumer that comes back asks again.
     */
    start(hub: Hub) {
      for (const a of hub.system.list())
        if (a.machine === 'mediaRoute' && a.status !== 'stopped') void hub.system.stop(a.path).catch(() => {})
    },
    close() {
      for (const ws of f.host?.sockets.values() ?? []) ws.close(1001, 'hub shutting down')
    },
  }
  return f
}
