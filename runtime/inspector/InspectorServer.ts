/**
 * The inspector on a hub: the feed WebSocket (`/inspector/feed`), the plain `@statelyai/inspect`
 * WebSocket (`/inspector/stately`), the built UI (`/inspector`, static files from inspector/dist)
 * and `GET /api/inspector` (counters). External apps (ExternalApps.ts: apps the hub watches but
 * does not host) join the same feed; their endpoints are installed with it.
 *
 * What drives it: the actor system's feed (`system.feed.listen`), attached only while a client is
 * connected, so a hub nobody inspects pays nothing. What it promises: every client gets a
 * `hello`, then the current state of every actor, then live events in feed order with nothing
 * lost silently (a slow client's bounded queue drops oldest-first and says how many); a frame it
 * cannot accept gets an `error` frame and changes nothing. Protocol: protocol/inspectorFeed.ts.
 */
import { existsSync, readFileSync, statSync } from 'node:fs'
import { extname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { AnyStateMachine } from 'xstate'
import { journalStart, ReplayState } from '../../actors/index.ts'
import type { HostedActor } from '../../actors/index.ts'
import type { FeedEvent, FeedSnapshot } from '../../protocol/inspection.ts'
import { toStatelyEvent } from '../../protocol/inspection.ts'
import {
  decodeClientFrame,
  FEED_PROTOCOL,
  FeedFrameError,
  MAX_CLIENT_FRAME,
  type ClientCommand,
  type FeedActorState,
  type HistoryEntry,
  type ServerFrame,
} from '../../protocol/inspectorFeed.ts'
import type { Hub, HubFeature } from '../Hub.ts'
import { HttpError } from '../http/HubServer.ts'
import type { Reader } from '../http/ReadAccess.ts'
import { FeedQueue, type FrameSocket } from './FeedQueue.ts'
import { addIncidentLogs } from '../incident/incidentFeature.ts'
import { ExternalApps, type ExternalAppsOptions } from './ExternalApps.ts'

export interface InspectorOptions {
  /** Built UI folder (default inspector/dist of this checkout). */
  assets?: string
  /** Events queued per client at most (default 10,000). */
  queueLimit?: number
  /** Events per `events` frame at most (default 1,000). */
  batch?: number
  /** Limits of external apps (ExternalApps.ts). */
  external?: ExternalAppsOptions
  /**
   * Where the sockets are mounted (default `/inspector`: `/inspector/feed`, `/inspector/stately`).
   * Another node serving its own actors beside a hub's (the supervisor) mounts them elsewhere.
   */
  mount?: string
  /** Only the sockets: no UI, no `/api/inspector` or `/api/machines`, no external apps (default false). */
  socketsOnly?: boolean
}

/** What the inspector needs of the node it serves: a hub, or the supervisor (its own actor system). */
export type InspectorHost = Pick<Hub, 'server' | 'system' | 'store' | 'access'>

export const DEFAULT_ASSETS = fileURLToPath(new URL('../../inspector/dist', import.meta.url))

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.map': 'application/json',
}

/** Whether a client may see the actor at `path` (`stored`: its journal header when not hosted). */
type Visible = (path: string, stored?: { machine: string; input?: unknown }) => boolean

interface Socket extends FrameSocket {
  on(ev: 'message', fn: (data: Buffer, isBinary: boolean) => void): void
  on(ev: 'close' | 'error', fn: (...a: any[]) => void): void
  close(code?: number, reason?: string): void
}

/** Counters for `GET /api/inspector` and the tests. */
export interface InspectorCounters {
  clients: number
  statelyClients: number
  connections: number
  badFrames: number
  /** Commands answered (history pages, definitions, pings). */
  commands: number
  eventsSent: number
  dropped: number
}

export class InspectorServer implements HubFeature {
  readonly name = 'inspector'
  hub!: InspectorHost
  readonly counters: InspectorCounters = {
    clients: 0,
    statelyClients: 0,
    connections: 0,
    badFrames: 0,
    commands: 0,
    eventsSent: 0,
    dropped: 0,
  }
  /** Each client, with the filter of the actors it may see (null: all; see ReadAccess). */
  private clients = new Map<FeedQueue, Visible | null>()
  private unlisten?: () => void
  private readonly assets: string
  /** Apps the hub watches but does not host: their actors are in this feed too, read-only. */
  readonly external: ExternalApps

  constructor(private opts: InspectorOptions = {}) {
    this.assets = opts.assets ?? DEFAULT_ASSETS
    this.external = new ExternalApps(opts.external)
  }

  async install(hub: Hub): Promise<void> {
    this.attachTo(hub)
    if (this.opts.socketsOnly) return
    await this.external.install(hub)
    addIncidentLogs(hub, (from, to) => this.external.incidentLogs(from, to))
  }

  /** Serves the sockets (and, unless `socketsOnly`, the UI and its API) for `hub`'s actors. */
  attachTo(hub: InspectorHost): void {
    this.hub = hub
    const s = hub.server
    const mount = this.opts.mount ?? '/inspector'
    s.ws(`${mount}/feed`, (ws, req, url) => this.feedConnection(ws as unknown as Socket, hub.access.reader(req, url)), {
      maxPayload: MAX_CLIENT_FRAME * 4,
    })
    s.ws(
      `${mount}/stately`,
      (ws, req, url) => this.statelyConnection(ws as unknown as Socket, hub.access.reader(req, url)),
      { maxPayload: 4096 },
    )
    if (this.opts.socketsOnly) return
    s.route('GET', '/inspector', (ctx) => this.asset(ctx.res, 'index.html'))
    s.route('GET', '/inspector/:file', (ctx) => this.asset(ctx.res, ctx.params.file))
    s.route('GET', '/api/inspector', () => {
      let queued = 0
      for (const c of this.clients.keys()) queued += c.length
      return { ...this.counters, queued, assets: existsSync(join(this.assets, 'index.html')) }
    })
    s.route('GET', '/api/machines/:name', (ctx) => {
      const m = hub.system.machine(ctx.params.name)
      if (!m) throw new HttpError(404, `no machine named "${ctx.params.name}" on this hub`, 'UNKNOWN_MACHINE')
      return { machine: ctx.params.name, definition: m.toJSON() }
    })
  }

  async close(): Promise<void> {
    await this.external.close()
    for (const c of this.clients.keys()) c.close()
    this.clients.clear()
    this.unlisten?.()
    this.unlisten = undefined
  }

  // ---- feed --------------------------------------------------------------------------------------

  private held = false

  /**
   * Holds every client's feed (`true`): events queue up, bounded, and go out on `hold(false)`, in
   * order, nothing dropped unless a queue overflows. The supervisor holds its feed during a warm
   * switch's gap (docs/supervisor.md).
   */
  hold(on: boolean): void {
    if (this.held === on) return
    this.held = on
    for (const c of this.clients.keys()) c.hold(on)
  }

  private attach(c: FeedQueue, visible: Visible | null): void {
    if (this.held) c.hold(true)
    this.clients.set(c, visible)
    if (!this.unlisten) {
      this.unlisten = this.hub.system.feed.listen((e) => {
        for (const [cl, vis] of this.clients) if (vis === null || vis(e.path)) cl.push(e)
      })
    }
  }

  /** What a reader may see: null for everything (the hub token, or no tenant data on this hub). */
  private visibleTo(r: Reader): Visible | null {
    const access = this.hub.access
    if (r.admin || !access.active) return null
    return (path, stored) => access.mayRead(r, path, stored)
  }

  private detach(c: FeedQueue): void {
    c.close()
    this.counters.eventsSent += c.stats.sent
    this.counters.dropped += c.stats.dropped
    this.clients.delete(c)
    if (this.clients.size === 0) {
      this.unlisten?.()
      this.unlisten = undefined
    }
  }

  private feedConnection(ws: Socket, reader: Reader): void {
    const operator = reader.admin
    const visible = this.visibleTo(reader)
    this.counters.connections++
    this.counters.clients++
    const c = new FeedQueue(ws, { limit: this.opts.queueLimit, batch: this.opts.batch })
    const send = (f: ServerFrame) => c.sendNow(JSON.stringify(f))
    const sys = this.hub.system
    send({
      t: 'hello',
      protocol: FEED_PROTOCOL,
      hostId: sys.hostId,
      access: operator ? 'operator' : 'read-only',
      at: sys.clock.now(),
    })
    // The snapshot and the subscription happen in the same tick: no event is missed or repeated.
    send({ t: 'snapshot', seq: sys.lastFeedSeq, at: sys.clock.now(), actors: this.actorStates(visible) })
    this.attach(c, visible)
    ws.on('message', (data, isBinary) => {
      let cmd: ClientCommand
      try {
        if (isBinary) throw new FeedFrameError('MALFORMED', 'binary frames are not accepted: send JSON text')
        cmd = decodeClientFrame(data.toString('utf8'))
      } catch (err) {
        this.counters.badFrames++
        const e =
          err instanceof FeedFrameError ? err : new FeedFrameError('MALFORMED', String((err as Error)?.message ?? err))
        return send({ t: 'error', id: e.id, code: e.code, message: e.message })
      }
      this.counters.commands++
      this.command(cmd, c, visible).then(send, (err) => {
        const code =
          err instanceof FeedFrameError ? err.code : err?.code === 'UNKNOWN_ACTOR' ? 'UNKNOWN_ACTOR' : 'INTERNAL'
        if (code === 'INTERNAL') console.error('[inspector] command failed', cmd, err)
        send({
          t: 'error',
          id: cmd.id,
          code,
          message: code === 'INTERNAL' ? 'internal error; see the hub log' : String(err.message),
        })
      })
    })
    ws.on('error', () => {
      // `ws` reports oversized frames (1009) and protocol errors here before closing; the close
      // handler below cleans up. Counted so a misbehaving client is visible.
      this.counters.badFrames++
    })
    ws.on('close', () => {
      this.counters.clients--
      this.detach(c)
    })
  }

  /** The current state of every actor (that `visible` lets through), as the `snapshot` frame carries it. */
  actorStates(visible: Visible | null = null): FeedActorState[] {
    const out: FeedActorState[] = []
    for (const info of this.hub.system.list()) {
      const a = this.hub.system.hosted(info.path)
      if (!a || (visible && !visible(info.path))) continue
      const st: FeedActorState = {
        path: info.path,
        machine: info.machine,
        status: info.status,
        durable: info.durable,
        actorSeq: info.seq,
        at: a.lastAt || a.createdAt,
        snapshot: feedSnapshotOf(a),
      }
      if (info.parent) st.parent = info.parent
      out.push(st)
    }
    for (const st of this.external.states()) out.push(st)
    return out
  }

  private async command(cmd: ClientCommand, client: FeedQueue, visible: Visible | null): Promise<ServerFrame> {
    const sys = this.hub.system
    // another tenant's actor does not exist for this client
    if ((cmd.cmd === 'definition' || cmd.cmd === 'history') && visible) {
      const stored = sys.hosted(cmd.path) ? undefined : await this.hub.store.getMeta(cmd.path)
      if (!visible(cmd.path, stored)) throw new FeedFrameError('UNKNOWN_ACTOR', `no actor at "${cmd.path}"`, cmd.id)
    }
    switch (cmd.cmd) {
      case 'ping':
        return { t: 'pong', id: cmd.id, at: sys.clock.now() }
      case 'focus': {
        client.focus = new Set(cmd.paths)
        // the focused actors' state now, in full: earlier light events lacked their context
        return {
          t: 'focus',
          id: cmd.id,
          paths: cmd.paths,
          actors: this.actorStates(visible).filter((a) => client.focus!.has(a.path)),
        }
      }
      case 'definition': {
        if (await this.isExternal(cmd.path)) return this.external.command(cmd)
        const a = sys.hosted(cmd.path)
        const name = a?.machineName ?? (await this.hub.store.getMeta(cmd.path))?.machine
        if (!name) throw new FeedFrameError('UNKNOWN_ACTOR', `no actor at "${cmd.path}"`, cmd.id)
        const m = a?.machine ?? sys.machine(name)
        if (!m)
          throw new FeedFrameError(
            'UNKNOWN_MACHINE',
            `the machine "${name}" of "${cmd.path}" is not registered on this hub`,
            cmd.id,
          )
        return { t: 'definition', id: cmd.id, path: cmd.path, machine: name, definition: m.toJSON() }
      }
      case 'machine': {
        const m = sys.machine(cmd.name)
        if (!m) throw new FeedFrameError('UNKNOWN_MACHINE', `no machine named "${cmd.name}" on this hub`, cmd.id)
        return { t: 'definition', id: cmd.id, machine: cmd.name, definition: m.toJSON() }
      }
      case 'history':
        if (await this.isExternal(cmd.path)) return this.external.command(cmd)
        return this.history(cmd)
    }
  }

  /** An external app's actor: not hosted here and without a journal in the actor store. */
  private async isExternal(path: string): Promise<boolean> {
    if (this.opts.socketsOnly || this.hub.system.hosted(path) || (await this.hub.store.getMeta(path))) return false
    return this.external.has(path)
  }

  /** One page of an actor's journal with the snapshot after each event, by pure replay. */
  private async history(cmd: Extract<ClientCommand, { cmd: 'history' }>): Promise<ServerFrame> {
    const sys = this.hub.system
    const store = this.hub.store
    const meta = await store.getMeta(cmd.path)
    if (!meta) {
      if (sys.hosted(cmd.path))
        throw new FeedFrameError(
          'NOT_DURABLE',
          `"${cmd.path}" is a memory actor: it keeps no journal, so only its events since you connected are known`,
          cmd.id,
        )
      throw new FeedFrameError('UNKNOWN_ACTOR', `no actor at "${cmd.path}"`, cmd.id)
    }
    const machine = sys.machine(meta.machine) as AnyStateMachine | undefined
    if (!machine)
      throw new FeedFrameError(
        'UNKNOWN_MACHINE',
        `the machine "${meta.machine}" of "${cmd.path}" is not registered on this hub`,
        cmd.id,
      )
    await sys.flush()
    // Pages start where the readable journal does (after a compacted head, its checkpoint).
    const js = await journalStart(store, cmd.path).catch((err) => {
      throw new FeedFrameError('INTERNAL', (err as Error).message, cmd.id)
    })
    const from = Math.max(cmd.after, (js?.firstSeq ?? 1) - 1)
    const rs = new ReplayState(machine, cmd.path)
    const base = await store.latestSnapshot(cmd.path, from)
    if (base) rs.restore(base)
    else rs.init(meta.input, meta.createdAt)
    const entries: HistoryEntry[] = []
    let start: FeedSnapshot | null = null
    let startSeq = 0
    for await (const rec of store.events(cmd.path, rs.seq)) {
      if (rec.seq > from && start === null) {
        start = replaySnapshot(rs)
        startSeq = rs.seq
      }
      rs.apply(rec)
      if (rec.seq <= from) continue
      const e: HistoryEntry = { seq: rec.seq, at: rec.at, event: rec.event, snapshot: replaySnapshot(rs) }
      if (rec.source !== undefined) e.source = rec.source
      if (rec.timer !== undefined) e.timer = rec.timer
      if (rec.rejected !== undefined) e.rejected = rec.rejected
      entries.push(e)
      if (entries.length >= cmd.limit) break
    }
    if (start === null) {
      start = replaySnapshot(rs)
      startSeq = rs.seq
    }
    const next = entries.length === cmd.limit ? entries[entries.length - 1].seq : null
    return { t: 'history', id: cmd.id, path: cmd.path, machine: meta.machine, entries, next, start, startSeq }
  }

  // ---- @statelyai/inspect ------------------------------------------------------------------------

  private statelyConnection(ws: Socket, reader: Reader): void {
    const visible = this.visibleTo(reader)
    this.counters.statelyClients++
    const sys = this.hub.system
    const c = new FeedQueue(ws, {
      limit: this.opts.queueLimit,
      batch: 256,
      // Stately's tools read one inspection event per message, in its plain shape.
      prepare: (e) => JSON.stringify(statelyShape(e, sys, this.external)),
      encode: (events) => events,
    })
    for (const st of this.actorStates(visible)) {
      const a = sys.hosted(st.path)
      const base = {
        rootId: sys.hostId,
        sessionId: st.path,
        id: `${sys.hostId}:init:${st.path}`,
        createdAt: String(st.at),
        _version: '1.0.0',
      }
      c.sendNow(
        JSON.stringify({
          type: '@xstate.actor',
          ...base,
          name: st.path,
          parentId: st.parent,
          definition: a ? definitionJson(a.machine) : this.external.definitionText(st.path),
          snapshot: st.snapshot,
        }),
      )
      c.sendNow(
        JSON.stringify({
          type: '@xstate.snapshot',
          ...base,
          id: `${base.id}:s`,
          event: { type: 'xstate.init' },
          snapshot: st.snapshot,
        }),
      )
    }
    this.attach(c, visible)
    ws.on('message', () => {
      // Stately's inspector may send its own frames; this socket only speaks, so they are counted and ignored.
      this.counters.badFrames++
    })
    ws.on('close', () => {
      this.counters.statelyClients--
      this.detach(c)
    })
  }

  // ---- static UI ---------------------------------------------------------------------------------

  private asset(res: import('node:http').ServerResponse, file: string): undefined {
    if (!/^[A-Za-z0-9_.-]+$/.test(file) || file.startsWith('.'))
      throw new HttpError(404, `nothing at /inspector/${file}`, 'NOT_FOUND')
    const p = join(this.assets, file)
    if (!existsSync(p) || !statSync(p).isFile()) {
      if (file === 'index.html') {
        const msg = `The inspector UI is not built (no ${p}). Run \`npm run build:inspector\` (npm install and npm start do it too).`
        res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' })
        res.end(msg)
        return undefined
      }
      throw new HttpError(404, `nothing at /inspector/${file}`, 'NOT_FOUND')
    }
    const body = readFileSync(p)
    res.writeHead(200, {
      'content-type': TYPES[extname(p)] ?? 'application/octet-stream',
      'content-length': body.length,
      'cache-control': 'no-cache',
    })
    res.end(body)
    return undefined
  }
}

/** The JSON-safe snapshot of a hosted actor now. */
export function feedSnapshotOf(a: HostedActor): FeedSnapshot {
  const s = a.actor?.getSnapshot?.()
  const timers = a.pendingTimers().map((t) => ({ id: t.id, event: t.event.type, due: t.due }))
  const out: FeedSnapshot = { value: s?.value ?? null, context: s?.context ?? null, status: a.status }
  if (timers.length) out.timers = timers
  return out
}

function replaySnapshot(rs: ReplayState): FeedSnapshot {
  const s = rs.snapshot
  const out: FeedSnapshot = { value: s?.value ?? null, context: s?.context ?? null, status: s?.status ?? 'active' }
  if (rs.timers.size) out.timers = [...rs.timers.values()].map((t) => ({ id: t.id, event: t.event.type, due: t.due }))
  return out
}

const definitions = new WeakMap<AnyStateMachine, string>()

/**
 * A machine's definition as the JSON string @statelyai/inspect carries: made once per machine, not
 * once per actor and connection (a client that reconnects in a loop would make the hub serialise
 * every definition each time).
 */
function definitionJson(m: AnyStateMachine): string {
  let text = definitions.get(m)
  if (text === undefined) {
    text = JSON.stringify(m.toJSON())
    definitions.set(m, text)
  }
  return text
}

function statelyShape(e: FeedEvent, sys: InspectorHost['system'], external: ExternalApps): Record<string, unknown> {
  const out = toStatelyEvent(e)
  // @statelyai/inspect carries the machine definition as a JSON string on actor events.
  if (e.type === '@xstate.actor' && out.definition === undefined) {
    const m = sys.hosted(e.path)?.machine
    if (m) out.definition = definitionJson(m)
    else if (e.node) out.definition = external.definitionText(e.path)
  }
  return out
}

/** The hub feature: `hubFeatures()` lists it. */
export function inspectorFeature(opts: InspectorOptions = {}): InspectorServer {
  return new InspectorServer(opts)
}
