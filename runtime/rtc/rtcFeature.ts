/**
 * The hub's WebRTC feature: peer sessions with members, hosted as journaled actors
 * (`member-1`, `member-1/peer`, `member-1/peer/<subflow>`), signaling over `/ws`, the `/member`
 * test client, and `GET /api/rtc`.
 *
 * `/ws` (token required, as `?token=`): the first frame is `{"v":1,"kind":"hello","nodeId":ID}`;
 * after it, frames are signaling envelopes (protocol/signaling.ts). A bad frame is answered with
 * `{"v":1,"kind":"error","error":{code, field, message}}`, counted, and changes nothing.
 */
import type { WebSocket } from 'ws'
import type { Hub, HubFeature } from '../Hub.ts'
import { browserBundle } from '../browser/bundle.ts'
import { routesOf } from './mediaRouteFeature.ts'
import { RtcNode, type RtcNodeOptions } from './RtcNode.ts'
import { weriftBackend, type WeriftOptions } from './werift.ts'
import { signalTracesService } from '../tracing/service.ts'
import { setting } from '../config.ts'

export interface RtcFeatureOptions {
  timings?: RtcNodeOptions['timings']
  /** How long a member may be without its signaling socket before its session is closed (default: the `rtc-grace-ms` setting). */
  graceMs?: number
  werift?: WeriftOptions
}

export interface RtcFeature extends HubFeature {
  node?: RtcNode
  /** Application messages the hub received per member (tests and /api/rtc). */
  received: Map<string, unknown[]>
}

const NODE_RE = /^[A-Za-z0-9_.:-]{1,64}$/

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>Aether member</title>
<style>body{font:14px system-ui,sans-serif;margin:16px;background:#10141a;color:#dde}button{margin:2px}pre{background:#1b2230;padding:8px;min-height:8em}video{width:320px;height:240px;background:#000;border:1px solid #446}</style>
</head><body id="aether-member">
<h1>Aether member</h1>
<div>
  <button id="start-camera">start camera</button><button id="stop-camera">stop camera</button>
  <button id="start-microphone">start microphone</button><button id="stop-microphone">stop microphone</button>
  <button id="start-screen">start screen</button><button id="stop-screen">stop screen</button>
  <button id="loop-on">hub loopback on</button><button id="loop-off">hub loopback off</button>
  <label>upload <input id="upload" type="file"></label>
</div>
<p>camera as the hub loops it back:</p>
<video id="loop-video" autoplay muted playsinline></video>
<pre id="status">connecting…</pre>
<script type="module" src="/member/app.js"></script>
</body></html>`

/** The member app bundled for the browser (machines, protocol, executor); built once per process. */
export function memberBundle(): Promise<string> {
  return browserBundle('./member.ts')
}

export function rtcFeature(opts: RtcFeatureOptions = {}): RtcFeature {
  const sockets = new Map<string, WebSocket>()
  const f: RtcFeature = {
    name: 'rtc',
    received: new Map(),
    /** Before recovery: the node (the `rtc.nodes` service), its machines, the routes and `/ws`. */
    install(hub: Hub) {
      const node = new RtcNode(hub.system, {
        nodeId: 'hub',
        polite: false,
        backend: weriftBackend(opts.werift),
        timings: opts.timings,
        traces: hub.system.services.find(signalTracesService),
        graceMs: opts.graceMs ?? (setting('rtc-grace-ms') as number),
        send: (to, frame) => {
          const ws = sockets.get(to)
          if (ws && ws.readyState === ws.OPEN) ws.send(frame)
        },
      })
      f.node = node
      const srv = hub.server
      srv.route('GET', '/member', (ctx) => {
        ctx.res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
        ctx.res.end(PAGE)
        return undefined
      })
      srv.route('GET', '/member/app.js', async (ctx) => {
        const js = await memberBundle()
        ctx.res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-store' })
        ctx.res.end(js)
        return undefined
      })
      srv.route('GET', '/api/rtc', () => ({
        signaling: node.stats,
        sessions: [...node.executors.entries()].map(([path, e]) => ({
          path,
          peerSessionId: e.handle?.peerSessionId ?? null,
          link: linkOf(hub.system.hosted(path)?.actor?.getSnapshot()?.value),
          ...sessionEnd(hub, path),
          channels: e.stats,
          subflows: [...e.subflows.keys()],
          received: f.received.get(path.slice(0, path.indexOf('/')))?.length ?? 0,
        })),
        routes: routesOf(hub.system),
      }))
      srv.ws(
        '/ws',
        (ws, req, url) => {
          if (!srv.hasToken(req, url)) {
            ws.close(4401, 'this socket needs the hub token (?token=)')
            return
          }
          let nodeId: string | undefined
          ws.on('message', (data) => {
            const text = String(data)
            if (!nodeId) {
              let hello: any
              try {
                hello = JSON.parse(text)
              } catch {
                hello = undefined
              }
              if (
                hello?.v !== 1 ||
                hello.kind !== 'hello' ||
                typeof hello.nodeId !== 'string' ||
                !NODE_RE.test(hello.nodeId) ||
                hello.nodeId === 'hub'
              ) {
                ws.send(
                  JSON.stringify({
                    v: 1,
                    kind: 'error',
                    error: {
                      code: 'BAD_HELLO',
                      field: 'nodeId',
                      message: 'the first frame must be {"v":1,"kind":"hello","nodeId":"<id [A-Za-z0-9_.:-]{1,64}>"}',
                    },
                  }),
                )
                return
              }
              nodeId = hello.nodeId as string
              sockets.get(nodeId)?.close(4000, 'replaced by a newer socket of the same member')
              sockets.set(nodeId, ws)
              if (!f.received.has(nodeId)) {
                f.received.set(nodeId, [])
              }
              if (hub.system.hosted(nodeId)?.status === 'active') node.dispatch(nodeId, { type: 'member.connected' })
              return
            }
            const from = nodeId
            if (text.includes('"goodbye"') && isGoodbye(text)) {
              if (hub.system.hosted(from)?.status === 'active') node.dispatch(from, { type: 'member.goodbye' })
              return
            }
            void node.receive(text, from).then((err) => {
              if (err && ws.readyState === ws.OPEN)
                ws.send(JSON.stringify({ v: 1, kind: 'error', error: err.toJSON() }))
              const e = node.executor(from)
              if (e && !(e as any).__counted) {
                ;(e as any).__counted = true
                e.onMessage((d) => f.received.get(from)?.push(d))
              }
            })
          })
          ws.on('close', () => {
            if (nodeId && sockets.get(nodeId) === ws) {
              sockets.delete(nodeId)
              if (hub.system.hosted(nodeId)?.status === 'active') node.dispatch(nodeId, { type: 'member.disconnected' })
            }
          })
        },
        { maxPayload: 256 * 1024 },
      )
    },
    /**
     * After recovery: sessions recovered from the journal have no peer connection any more (it died
     * with the process), and their members no socket: each member is away (its grace starts now;
     * one already away keeps its own, re-armed by the host) and its session gets an executor
     * without a peer. A member back within the grace brings its session back with its ladder
     * (the rebuild makes a new peer); one that does not is gone and its session closed.
     */
    start(hub: Hub) {
      for (const a of hub.system.list()) {
        if (a.machine !== 'rtcMember' || a.status !== 'active') continue
        f.node?.adopt(a.path)
        if (a.value === 'connected' && !sockets.has(a.path))
          f.node?.dispatch(a.path, { type: 'member.disconnected', reason: 'the hub restarted' })
      }
    },
    close() {
      for (const ws of sockets.values()) ws.close(1001, 'hub shutting down')
      f.node?.close()
    },
  }
  return f
}

/** `{"v":1,"kind":"goodbye"}`: the member leaves for good (its session closes without a grace). */
function isGoodbye(text: string): boolean {
  try {
    const f = JSON.parse(text)
    return f?.v === 1 && f.kind === 'goodbye'
  } catch {
    return false
  }
}

/** The member's presence, why the session closed (once it has) and its last recovery (the rung). */
function sessionEnd(hub: Hub, path: string) {
  const ctx = hub.system.hosted(path)?.actor?.getSnapshot()?.context
  const member = hub.system.hosted(path.slice(0, path.indexOf('/')))?.actor?.getSnapshot()
  return {
    member: member ? { state: member.value, reason: member.context.reason ?? null } : null,
    closedReason: ctx?.closedReason ?? null,
    lastRecovery: ctx?.recoveries?.at(-1) ?? null,
  }
}

function linkOf(v: any): string {
  const l = v?.active?.link
  return typeof l === 'string' ? l : l ? `recovering.${l.recovering}` : String(v)
}
