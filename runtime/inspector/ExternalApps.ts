/**
 * Apps Aether watches but does not host: XState programs that run their own actors and report
 * them over an inspection protocol. Each connection of an app is a run; each of its actors is
 * recorded as an `aether.log/1` log in the hub's LevelDB (ExternalStore.ts) and shown in the
 * inspector's feed under `<app>/<run>/<actor>`, read-only.
 *
 * - XState v5 apps connect to the hub: `createWebSocketInspector({ url:
 *   'ws://HUB/inspector/ingest?app=NAME&token=T' })` from `@statelyai/inspect`, and
 *   `createActor(machine, { inspect: inspector.inspect })`. The endpoint changes state (it records),
 *   so it needs the hub token.
 * - XState v4 apps serve `@xstate/inspect`'s server mode (`inspect({ server })`); the hub attaches
 *   to them: `POST /api/external/attach {url, app?}` with the token, or `aether inspect URL`.
 *
 * Routes: `GET /api/external` (runs and counters), `GET /api/external/actors/<path>` (an actor's
 * record and state), `GET /api/external/actors/<path>/log` (its log), `POST /api/external/attach`.
 * A frame that breaks its protocol is counted, changes nothing, and closes its connection (1007 for
 * one that is not JSON text, 1008 otherwise); what the run recorded before stays.
 */
import type { IncomingMessage } from 'node:http'
import type { WebSocket } from 'ws'
import { textHash } from '../../actors/index.ts'
import {
  decodeStatelyFrame,
  decodeXStateInspectFrame,
  ExternalFrameError,
  MAX_EXTERNAL_FRAME,
} from '../../protocol/externalInspect.ts'
import type { FeedSnapshot } from '../../protocol/inspection.ts'
import {
  FeedFrameError,
  type ClientCommand,
  type FeedActorState,
  type HistoryEntry,
  type ServerFrame,
} from '../../protocol/inspectorFeed.ts'
import type { LogSnapshotLine } from '../../protocol/log.ts'
import type { Ctx } from '../http/HubServer.ts'
import { HttpError, WebSocketClient } from '../http/HubServer.ts'
import { openSublevel } from '../keyLayout.ts'
import { cutLog } from '../incident/incidentFeature.ts'
import type { Hub } from '../Hub.ts'
import { v4DefinitionJSON, v5DefinitionJSON } from './externalDefinition.ts'
import { ExternalActor, ExternalRun, type RunHost } from './ExternalRun.ts'
import { ExternalStore, type ExternalSource, type StoredDefinition } from './ExternalStore.ts'

export interface ExternalAppsOptions {
  /** Actors one run may create (default 10,000); one more closes the connection. */
  maxActorsPerRun?: number
  /** Events per actor waiting for their snapshot (default 1,000). */
  maxPending?: number
  /** Actors of ended runs kept in memory and in the inspector's tree (default 2,000). */
  keepEnded?: number
  /** How long `attach` waits for the app's socket to open (default 5,000 ms). */
  attachTimeoutMs?: number
}

/** Counters for `GET /api/external` and the tests. */
export interface ExternalCounters {
  /** Ingest connections accepted (v5 apps). */
  connections: number
  /** Attachments opened (v4 apps). */
  attached: number
  frames: number
  /** Frames refused; each closed its connection. */
  badFrames: number
  /** Ingest connections without the hub token. */
  unauthorized: number
  events: number
  snapshots: number
  /** Events whose resulting state never came (the actor had stopped, or the run ended). */
  unanswered: number
  /** Frames about an actor the app never announced. */
  unknownSessions: number
}

/** An app name: one id path segment. */
const APP_RE = /^[A-Za-z0-9_.-]{1,64}$/
const DEF_CACHE = 256

/** `POST /api/external/attach` failed: the URL or app name is wrong, or the app cannot be reached. */
export class AttachError extends Error {
  constructor(
    readonly code: 'BAD_URL' | 'BAD_APP' | 'CONNECT_FAILED',
    message: string,
  ) {
    super(message)
    this.name = 'AttachError'
  }
}

export class ExternalApps {
  readonly counters: ExternalCounters = {
    connections: 0,
    attached: 0,
    frames: 0,
    badFrames: 0,
    unauthorized: 0,
    events: 0,
    snapshots: 0,
    unanswered: 0,
    unknownSessions: 0,
  }
  store!: ExternalStore
  private hub!: Hub
  /** Live runs and the latest ended ones, oldest first. */
  private runs: ExternalRun[] = []
  private defs = new Map<string, StoredDefinition>()
  private sockets = new Set<WebSocketLike>()
  private readonly opts: Required<ExternalAppsOptions>

  constructor(opts: ExternalAppsOptions = {}) {
    this.opts = {
      maxActorsPerRun: opts.maxActorsPerRun ?? 10_000,
      maxPending: opts.maxPending ?? 1000,
      keepEnded: opts.keepEnded ?? 2000,
      attachTimeoutMs: opts.attachTimeoutMs ?? 5000,
    }
  }

  async install(hub: Hub): Promise<void> {
    this.hub = hub
    const db = openSublevel(hub.store, 'ext')
    this.store = new ExternalStore(db, (err) =>
      hub.system.incident({
        at: hub.system.clock.now(),
        class: 'storage',
        message: `recording an external app failed: ${err.message}`,
      }),
    )
    const s = hub.server
    s.ws('/inspector/ingest', (ws, req, url) => this.ingest(ws, req, url), {
      maxPayload: MAX_EXTERNAL_FRAME,
      query: 'app=fuzz',
      // a candidate runtime changes nothing until it is promoted (503, as its other mutations)
      unavailable: () => hub.role === 'candidate',
    })
    s.route('GET', '/api/external', async () => ({
      counters: this.counters,
      runs: (await this.store.runs()).map((r) => ({
        ...r,
        live: this.runs.some((x) => x.live && x.record.app === r.app && x.record.run === r.run),
      })),
      live: this.runs.filter((r) => r.live).map((r) => r.record),
    }))
    s.route('GET', '/api/external/actors/:path*', (ctx) => this.actorRoute(ctx))
    s.route('POST', '/api/external/attach', async (ctx) => {
      s.requireToken(ctx)
      const b = (await s.body(ctx)) as Record<string, unknown>
      if (typeof b !== 'object' || b === null || Array.isArray(b) || typeof b.url !== 'string')
        throw new HttpError(400, 'the body must be {url: "ws://HOST:PORT", app?: NAME}', 'BAD_BODY')
      if (b.app !== undefined && typeof b.app !== 'string')
        throw new HttpError(400, 'field "app" must be a string', 'BAD_BODY')
      try {
        const run = await this.attach(b.url, b.app as string | undefined)
        ctx.res.statusCode = 201
        return { ...run.record, prefix: run.prefix }
      } catch (err) {
        if (err instanceof AttachError)
          throw new HttpError(err.code === 'CONNECT_FAILED' ? 502 : 400, err.message, err.code)
        throw err
      }
    })
    await this.restore()
  }

  /**
   * The logs of recorded actors with events in `[from, to]` (the hub's clock), cut to the window,
   * each with its app as the node it belongs to: an incident bundle's part for the apps (and
   * browser members) this hub records.
   */
  async incidentLogs(from: number, to: number): Promise<Array<{ node: string; role: string; text: string }>> {
    const out: Array<{ node: string; role: string; text: string }> = []
    for (const run of await this.store.runs()) {
      if (run.startedAt > to || (run.endedAt !== undefined && run.endedAt < from)) continue
      for (const meta of await this.store.metas(run.app, run.run)) {
        let text = ''
        for await (const chunk of this.store.exportLog(meta.path)) text += chunk
        const cut = cutLog(text, from, to)
        if (cut) out.push({ node: run.app, role: 'external app', text: cut })
      }
    }
    return out
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.terminate()
    this.sockets.clear()
    for (const r of this.runs) r.end('the hub shut down')
    await this.store?.flush()
  }

  // ---- what the inspector asks ---------------------------------------------------------------------

  /** Every external actor the hub shows now, for the feed's `snapshot` frame. */
  states(): FeedActorState[] {
    const out: FeedActorState[] = []
    for (const r of this.runs) for (const a of r.actors.values()) out.push(a.state())
    return out
  }

  /** Whether `path` is an external actor's (shown now, or recorded earlier). */
  async has(path: string): Promise<boolean> {
    return !!this.actor(path) || !!(await this.store.meta(path))
  }

  /** Answers `definition` and `history` for an external actor. */
  async command(cmd: Extract<ClientCommand, { cmd: 'definition' | 'history' }>): Promise<ServerFrame> {
    const meta = this.actor(cmd.path)?.meta ?? (await this.store.meta(cmd.path))
    if (!meta) throw new FeedFrameError('UNKNOWN_ACTOR', `no actor at "${cmd.path}"`, cmd.id)
    const machine = meta.machine || meta.name
    if (cmd.cmd === 'definition') {
      const d = meta.definition ? await this.definition(meta.definition) : undefined
      if (!d?.json)
        throw new FeedFrameError(
          'UNKNOWN_MACHINE',
          `the app "${meta.app}" sent no machine definition the hub can read for "${cmd.path}"`,
          cmd.id,
        )
      return { t: 'definition', id: cmd.id, path: cmd.path, machine, definition: d.json }
    }
    const startLine = await this.store.snapshotAt(cmd.path, cmd.after)
    let last: FeedSnapshot | null = startLine ? feedSnapshot(startLine) : null
    const start = last
    const entries: HistoryEntry[] = []
    let entry: HistoryEntry | undefined
    for await (const l of this.store.lines(cmd.path, cmd.after)) {
      if ('snapshot' in l) {
        last = feedSnapshot(l)
        if (entry && entry.seq === l.seq) entry.snapshot = last
        continue
      }
      if (entries.length >= cmd.limit) break
      // an event without a snapshot line left the state as it was
      entry = {
        seq: l.seq,
        at: l.at,
        event: l.event,
        snapshot: last ?? { value: null, context: null, status: 'active' },
      }
      if (l.source !== undefined) entry.source = l.source
      entries.push(entry)
    }
    const next = entries.length === cmd.limit ? entries[entries.length - 1].seq : null
    return { t: 'history', id: cmd.id, path: cmd.path, machine, entries, next, start }
  }

  /** The definition text the app sent for an actor (what `/inspector/stately` passes on). */
  definitionText(path: string): string | undefined {
    const key = this.actor(path)?.meta.definition
    return key ? this.defs.get(key)?.text : undefined
  }

  // ---- runs ----------------------------------------------------------------------------------------

  /** Attaches to an XState v4 app's `@xstate/inspect` server and records it as a run of `app`. */
  async attach(url: string, app?: string): Promise<ExternalRun> {
    let u: URL
    try {
      u = new URL(url)
    } catch {
      throw new AttachError('BAD_URL', `"${url}" is not a URL: give the app's WebSocket, e.g. ws://127.0.0.1:8888`)
    }
    if (u.protocol !== 'ws:' && u.protocol !== 'wss:')
      throw new AttachError('BAD_URL', `"${url}" is not a WebSocket URL (ws:// or wss://)`)
    const name = app ?? `xstate-${u.port || (u.protocol === 'wss:' ? '443' : '80')}`
    if (!APP_RE.test(name))
      throw new AttachError('BAD_APP', `app "${name}" must be 1 to 64 letters, digits, "_", "." or "-"`)
    const ws = new WebSocketClient(u, { maxPayload: MAX_EXTERNAL_FRAME, handshakeTimeout: this.opts.attachTimeoutMs })
    this.sockets.add(ws)
    try {
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve())
        ws.once('error', (err) => reject(err))
        ws.once('close', (code) => reject(new Error(`closed (${code}) before it opened`)))
      })
    } catch (err) {
      this.sockets.delete(ws)
      ws.terminate()
      throw new AttachError(
        'CONNECT_FAILED',
        `cannot reach ${url}: ${(err as Error).message}. Is the app running with @xstate/inspect's inspect({ server })?`,
      )
    }
    this.counters.attached++
    const run = await this.openRun(name, 'xstate-inspect', url)
    this.serve(ws, run, decodeXStateInspectFrame, (r, f) => r.xstate(f))
    // @xstate/inspect answers with the services it has, then reports as they go
    ws.send(JSON.stringify({ type: 'xstate.inspecting' }))
    return run
  }

  private ingest(ws: WebSocket, req: IncomingMessage, url: URL): void {
    if (!this.hub.server.hasToken(req, url)) {
      this.counters.unauthorized++
      ws.close(1008, 'the hub token is required: /inspector/ingest?app=NAME&token=T')
      return
    }
    const app = url.searchParams.get('app') ?? ''
    if (!APP_RE.test(app)) {
      this.counters.badFrames++
      ws.close(1008, 'app=NAME is required: 1 to 64 letters, digits, "_", "." or "-"')
      return
    }
    this.counters.connections++
    this.sockets.add(ws)
    // frames that arrive while the run number is being counted wait for it, in order
    const early: Array<[Buffer, boolean]> = []
    let closed = false
    const onEarly = (d: Buffer, b: boolean) => early.push([d, b])
    ws.on('message', onEarly)
    ws.once('close', () => (closed = true))
    this.openRun(app, 'statelyai-inspect').then(
      (run) => {
        ws.off('message', onEarly)
        const feed = this.serve(ws, run, decodeStatelyFrame, (r, f) => r.stately(f))
        for (const [d, b] of early) feed(d, b)
        if (closed) {
          // it closed before its run opened: what it sent is recorded, and the run ends here
          this.sockets.delete(ws)
          run.end('the app closed the connection')
          this.trim()
        }
      },
      (err) => {
        console.error('[external] cannot open a run', err)
        ws.close(1011, 'the hub cannot record now; see its log')
      },
    )
  }

  /** Feeds a socket's frames to a run until it closes; returns the frame handler. */
  private serve<F>(
    ws: WebSocketLike,
    run: ExternalRun,
    decode: (data: Buffer, isBinary: boolean) => F,
    apply: (run: ExternalRun, frame: F) => void,
  ): (data: Buffer, isBinary: boolean) => void {
    let refused = false
    const onFrame = (data: Buffer, isBinary: boolean) => {
      if (refused || !run.live) return
      try {
        apply(run, decode(data, isBinary))
        this.counters.frames++
      } catch (err) {
        refused = true
        this.counters.badFrames++
        const e = err instanceof ExternalFrameError ? err : undefined
        if (!e) console.error(`[external] ${run.prefix}: a frame failed`, err)
        const reason = e ? `${e.code}: ${e.message}` : 'internal error; see the hub log'
        run.end(`refused a frame: ${reason}`)
        ws.close(e ? e.close : 1011, utf8Prefix(reason, 123))
      }
    }
    ws.on('message', onFrame)
    ws.on('error', () => {
      // `ws` reports oversized (1009) and broken frames here, then closes
      this.counters.badFrames++
    })
    ws.once('close', (code: number, reason: Buffer) => {
      this.sockets.delete(ws)
      run.end(`closed (${code}${reason?.length ? ` ${reason.toString()}` : ''})`)
      this.trim()
    })
    return onFrame
  }

  private async openRun(app: string, source: ExternalSource, url?: string): Promise<ExternalRun> {
    const n = await this.store.nextRun(app)
    const record = { app, run: n, source, startedAt: this.hub.system.clock.now(), ...(url ? { url } : {}) }
    this.store.putRun(record)
    const run = new ExternalRun(this.runHost(), record)
    this.runs.push(run)
    this.trim()
    return run
  }

  private runHost(): RunHost {
    const sys = this.hub.system
    return {
      store: this.store,
      now: () => sys.clock.now(),
      publish: (make) => sys.publishForeign(make),
      definition: (text, dialect) => this.intern(text, dialect),
      counters: this.counters,
      maxActors: this.opts.maxActorsPerRun,
      maxPending: this.opts.maxPending,
    }
  }

  /** Stores a definition once (by the hash of its text) and returns its key. */
  private intern(text: string, dialect: 'v5' | 'v4'): { key: string; machineHash?: string } | undefined {
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch {
      return undefined
    }
    // v4 sends exactly JSON.stringify(machine.toJSON()): its hash is the machine's machineHash
    const canonical = JSON.stringify(value)
    const key = textHash(canonical)
    if (!this.defs.has(key)) {
      const json = dialect === 'v5' ? v5DefinitionJSON(value) : v4DefinitionJSON(value)
      const d: StoredDefinition = { text, json: json ?? null }
      this.defs.set(key, d)
      if (this.defs.size > DEF_CACHE) this.defs.delete(this.defs.keys().next().value!)
      this.store.putDefinition(key, d)
    }
    return dialect === 'v4' ? { key, machineHash: key } : { key }
  }

  private async definition(key: string): Promise<StoredDefinition | undefined> {
    return this.defs.get(key) ?? (await this.store.definition(key))
  }

  /** Drops the oldest ended runs while more than `keepEnded` of their actors are shown. */
  private trim(): void {
    let ended = 0
    for (const r of this.runs) if (!r.live) ended += r.actors.size
    while (ended > this.opts.keepEnded) {
      const i = this.runs.findIndex((r) => !r.live)
      if (i < 0) break
      ended -= this.runs[i].actors.size
      this.runs.splice(i, 1)
    }
  }

  private actor(path: string): ExternalActor | undefined {
    for (const r of this.runs) {
      const a = r.byPath.get(path)
      if (a) return a
    }
    return undefined
  }

  /** After a restart: the latest run of each app is shown again (ended), as it was recorded. */
  private async restore(): Promise<void> {
    const latest = new Map<string, import('./ExternalStore.ts').ExternalRunRecord>()
    for (const r of await this.store.runs()) if (!latest.has(r.app)) latest.set(r.app, r)
    for (const rec of latest.values()) {
      const run = new ExternalRun(this.runHost(), rec)
      run.live = false
      for (const meta of await this.store.metas(rec.app, rec.run)) {
        const a = new ExternalActor(meta, `restored:${meta.path}`)
        const last = await this.store.snapshotAt(meta.path, Number.MAX_SAFE_INTEGER)
        if (last) {
          a.current = feedSnapshot(last)
          a.at = last.at
        }
        for await (const l of this.store.lines(meta.path)) if (!('snapshot' in l)) a.seq = l.seq
        a.status = a.current.status === 'done' || a.current.status === 'error' ? a.current.status : 'stopped'
        a.current = { ...a.current, status: a.status }
        run.add(a)
      }
      this.runs.push(run)
    }
    this.trim()
  }

  // ---- HTTP ----------------------------------------------------------------------------------------

  /** GET /api/external/actors/<path>[/log] */
  private async actorRoute(ctx: Ctx): Promise<unknown> {
    let path = ctx.params.path
    const log = path.endsWith('/log') && !(await this.store.meta(path))
    if (log) path = path.slice(0, -'/log'.length)
    const meta = this.actor(path)?.meta ?? (await this.store.meta(path))
    if (!meta) throw new HttpError(404, `no external actor at "${path}"`, 'UNKNOWN_ACTOR')
    if (!log) {
      const a = this.actor(path)
      const run = this.runs.find((r) => r.record.app === meta.app && r.record.run === meta.run)
      return {
        ...meta,
        live: !!run?.live,
        status: a?.status ?? 'stopped',
        seq: a?.seq,
        snapshot: a?.current ?? (await this.store.snapshotAt(path, Number.MAX_SAFE_INTEGER))?.snapshot ?? null,
      }
    }
    ctx.res.writeHead(200, {
      'content-type': 'application/x-ndjson; charset=utf-8',
      'content-disposition': `attachment; filename="${path.replace(/[^A-Za-z0-9_.-]/g, '_')}.aether.log"`,
    })
    for await (const chunk of this.store.exportLog(path)) {
      if (!ctx.res.write(chunk)) await new Promise((r) => ctx.res.once('drain', r))
    }
    ctx.res.end()
    return undefined
  }
}

/** The part of a `ws` socket (client or server side) a run reads. */
interface WebSocketLike {
  on(ev: 'message', fn: (data: Buffer, isBinary: boolean) => void): unknown
  on(ev: 'error', fn: (err: Error) => void): unknown
  once(ev: 'close', fn: (code: number, reason: Buffer) => void): unknown
  close(code?: number, reason?: string): void
  terminate(): void
}

function feedSnapshot(l: LogSnapshotLine): FeedSnapshot {
  return { value: l.snapshot.value, context: l.snapshot.context ?? null, status: String(l.snapshot.status ?? 'active') }
}

/** At most `max` bytes of `s` in UTF-8 (a WebSocket close reason is at most 123). */
function utf8Prefix(s: string, max: number): string {
  let out = s
  while (Buffer.byteLength(out) > max) out = out.slice(0, -1)
  return out
}
