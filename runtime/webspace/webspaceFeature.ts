/**
 * The webspaces feature of a hub: one durable `webspace` actor per Yjs document (id path
 * `webspace:<name>`), the `/yws/<name>` WebSocket (y-protocols sync and awareness; y-websocket
 * clients work as they are), and the operator API:
 *
 *   GET  /api/webspaces                      list: name, state, epoch, peers
 *   GET  /api/webspaces/<name>[?content=1]   one, with its document as JSON when asked
 *   POST /api/webspaces {name, policy?}      create (token)
 *   POST /api/webspaces/<name>/backup {file?} | /restore {file} | /reset | /reload   (token)
 *
 * An operator action is an event to the actor (journaled, shown in the inspector); the answer
 * comes once the actor is back in `synced` (or with 202 and the current state after 30 s).
 * `/yws` needs the token too (`?token=`): editing a document changes state.
 */
import { existsSync, statSync } from 'node:fs'
import { isAbsolute, join, resolve } from 'node:path'
import type { Hub, HubFeature } from '../Hub.ts'
import { decodeSegment, HttpError, type Ctx } from '../http/HubServer.ts'
import { webspaceEvents, type WebspaceEvent, type WebspacePolicy } from '../../machines/webspace.ts'
import { UpdateLog } from './UpdateLog.ts'
import { WEBSPACE_NAME_RE, YjsWebspaces, type YjsWebspacesOptions } from './YjsWebspaces.ts'
import { webspaceHost } from './webspaceHosted.ts'

export interface WebspaceFeatureOptions extends YjsWebspacesOptions {
  /** Default policy of new webspaces (first-sync timeout, backoff). */
  policy?: Partial<WebspacePolicy>
  /** Where backups go when no file is named (default <data>/backups). */
  backupDir?: string
  /** How long an operator action may take before the API answers 202 (default 30 s). */
  actionTimeoutMs?: number
}

export const webspacePath = (name: string) => `webspace:${name}`

/** The webspaces of a running hub (tests and other features reach them through `feature.host`). */
export class WebspaceFeature implements HubFeature {
  readonly name = 'webspaces'
  host!: YjsWebspaces
  hub!: Hub
  readonly counters = { wsRefused: 0, wsOversized: 0 }

  constructor(readonly opts: WebspaceFeatureOptions = {}) {}

  /** Before recovery: the Yjs host (the `webspace.host` service), the routes and `/yws`. */
  async install(hub: Hub): Promise<void> {
    this.hub = hub
    const sync = hub.system.journal?.fsync === 'always'
    this.host = new YjsWebspaces(new UpdateLog(hub.store, sync), this.opts)
    hub.system.services.provide(webspaceHost, {
      host: this.host,
      backupDir: this.opts.backupDir ?? join(hub.dataDir, 'backups'),
    })
    this.routes(hub)
    const maxUpdate = this.opts.maxUpdateBytes ?? 1 << 20
    hub.server.ws('/yws', (ws, req, url) => this.socket(ws, req, url), {
      maxPayload: maxUpdate + (64 << 10),
      subpaths: true,
    })
  }

  /**
   * After recovery: an actor recovered in `synced` has no document in memory, so it is rebuilt
   * from LevelDB with a journaled reload (actors recovered mid-effect re-ran their effect instead).
   */
  start(hub: Hub): void {
    for (const a of hub.system.list()) {
      if (a.machine !== 'webspace') continue
      const v = a.value as any
      if (v && typeof v === 'object' && 'synced' in v) hub.system.send(a.path, webspaceEvents.reload(), 'hub.recovery')
    }
  }

  async close(): Promise<void> {
    await this.host?.close()
  }

  /** Creates the webspace's actor if it does not exist yet. */
  ensure(name: string, policy?: Partial<WebspacePolicy>): Promise<void> {
    return this.hub.system.ensure(webspacePath(name), 'webspace', {
      durable: true,
      input: { name, policy: policy ?? this.opts.policy },
    })
  }

  /** The actor's state value and context. */
  state(name: string): { value: unknown; context: any; status: string } | undefined {
    const a = this.hub.system.hosted(webspacePath(name))
    if (!a) return undefined
    const s = a.actor?.getSnapshot?.()
    return { value: s?.value ?? null, context: s?.context ?? null, status: a.status }
  }

  /** Sends an operator action and waits until the webspace is `synced` again. */
  async act(
    name: string,
    event: WebspaceEvent,
    timeoutMs = this.opts.actionTimeoutMs ?? 30_000,
  ): Promise<{ settled: boolean; value: unknown; context: any }> {
    const path = webspacePath(name)
    const before = this.state(name)
    if (!before) throw new HttpError(404, `no webspace "${name}"`, 'UNKNOWN_WEBSPACE')
    if (!accepts(before.value, event.type))
      throw new HttpError(
        409,
        `webspace "${name}" is ${JSON.stringify(before.value)}; ${event.type} is not possible now`,
        'WEBSPACE_BUSY',
      )
    await this.hub.system.sendCommitted(path, event, 'operator')
    const end = Date.now() + timeoutMs
    for (;;) {
      const s = this.state(name)!
      if (isReady(s.value)) return { settled: true, value: s.value, context: s.context }
      if (Date.now() > end) return { settled: false, value: s.value, context: s.context }
      await new Promise((r) => setTimeout(r, 10))
    }
  }

  private socket(ws: import('ws').WebSocket, req: import('node:http').IncomingMessage, url: URL): void {
    const server = this.hub.server
    if (!server.hasToken(req, url)) {
      this.counters.wsRefused++
      ws.close(4401, 'the hub token is required (?token=)')
      return
    }
    // HubServer refuses a path with a broken escape (400) before the upgrade
    const name = decodeSegment(url.pathname.slice('/yws/'.length)) || url.searchParams.get('doc') || ''
    if (!WEBSPACE_NAME_RE.test(name)) {
      this.counters.wsRefused++
      ws.close(4400, 'bad webspace name: 1-100 of A-Z a-z 0-9 _ . -')
      return
    }
    const session = this.host.connect(
      name,
      {
        send: (d) => {
          if (ws.readyState === ws.OPEN) ws.send(d)
        },
        close: (code, reason) => ws.close(code, reason),
      },
      { aether: url.searchParams.get('aether') === '1' },
    )
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const bytes = isBinary ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(0)
      session.receive(bytes)
    })
    ws.on('error', (err: any) => {
      if (err?.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.counters.wsOversized++
    })
    ws.on('close', () => session.closed())
    this.ensure(name).catch((err) => {
      console.error(`[webspace ${name}] cannot create:`, err)
      ws.close(1011, 'cannot create the webspace')
    })
  }

  private routes(hub: Hub): void {
    const s = hub.server
    s.route('GET', '/api/webspaces', () => ({
      webspaces: hub.system
        .list()
        .filter((a) => a.machine === 'webspace')
        .map((a) => {
          const name = a.path.slice('webspace:'.length)
          const st = this.state(name)!
          return {
            name,
            path: a.path,
            ...this.host.status(name),
            value: st.value,
            status: st.status,
            epoch: st.context?.epoch,
          }
        }),
    }))
    s.route('POST', '/api/webspaces', async (ctx) => {
      s.requireToken(ctx)
      const b = await s.body(ctx)
      if (typeof b !== 'object' || b === null || Array.isArray(b))
        throw new HttpError(400, 'the body must be a JSON object {name, policy?}', 'BAD_BODY')
      const name = (b as any).name
      checkName(name)
      const policy = (b as any).policy
      if (policy !== undefined) checkPolicy(policy)
      if (this.state(name)) throw new HttpError(409, `webspace "${name}" exists`, 'WEBSPACE_EXISTS')
      await this.ensure(name, policy)
      ctx.res.statusCode = 201
      return { name, path: webspacePath(name), ...this.state(name) }
    })
    s.route('GET', '/api/webspaces/:name', (ctx) => {
      const name = ctx.params.name
      checkName(name)
      const st = this.state(name)
      if (!st) throw new HttpError(404, `no webspace "${name}"`, 'UNKNOWN_WEBSPACE')
      const out: any = { name, path: webspacePath(name), ...st, ...this.host.status(name) }
      if (ctx.url.searchParams.get('content') === '1') out.content = this.host.view(name)
      return out
    })
    s.route('POST', '/api/webspaces/:name/:action', (ctx) => this.action(ctx))
  }

  private async action(ctx: Ctx): Promise<unknown> {
    const s = this.hub.server
    s.requireToken(ctx)
    const { name, action } = ctx.params
    checkName(name)
    let event: WebspaceEvent
    if (action === 'backup' || action === 'restore') {
      const body = await optionalBody(ctx, s)
      const file = body.file
      if (file !== undefined && (typeof file !== 'string' || !file))
        throw new HttpError(400, 'field "file" must be a non-empty string path', 'BAD_BODY')
      if (action === 'restore') {
        if (typeof file !== 'string')
          throw new HttpError(400, 'restore needs {"file": PATH} (a backup written by backup)', 'BAD_BODY')
        const full = isAbsolute(file) ? file : resolve(this.opts.backupDir ?? join(this.hub.dataDir, 'backups'), file)
        if (!existsSync(full) || !statSync(full).isFile())
          throw new HttpError(400, `no file at ${full}`, 'NO_SUCH_FILE')
        event = webspaceEvents.restore(full)
      } else {
        event = webspaceEvents.backup(typeof file === 'string' ? resolve(file) : undefined)
      }
    } else if (action === 'reset') event = webspaceEvents.reset()
    else if (action === 'reload') event = webspaceEvents.reload()
    else throw new HttpError(404, `no action "${action}": backup, restore, reset or reload`, 'NOT_FOUND')
    const r = await this.act(name, event)
    if (!r.settled) ctx.res.statusCode = 202
    const c = r.context
    return {
      name,
      action,
      settled: r.settled,
      value: r.value,
      epoch: c?.epoch,
      lastBackup: c?.lastBackup,
      lastRestore: c?.lastRestore,
      lastError: c?.lastError,
    }
  }
}

function isReady(v: unknown): boolean {
  return typeof v === 'object' && v !== null && (v as any).synced === 'ready'
}

function accepts(v: unknown, type: WebspaceEvent['type']): boolean {
  const top = typeof v === 'string' ? v : v && typeof v === 'object' ? Object.keys(v)[0] : ''
  if (type === 'webspace.backup') return isReady(v)
  if (type === 'webspace.reload') return top === 'synced' || top === 'healing'
  return top === 'synced' || top === 'healing' || top === 'loading'
}

function checkName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !WEBSPACE_NAME_RE.test(name))
    throw new HttpError(400, 'a webspace name is 1-100 of A-Z a-z 0-9 _ . -', 'BAD_NAME')
}

function checkPolicy(p: unknown): void {
  if (typeof p !== 'object' || p === null || Array.isArray(p))
    throw new HttpError(400, 'field "policy" must be an object', 'BAD_BODY')
  for (const [k, v] of Object.entries(p)) {
    if (!['firstSyncTimeoutMs', 'backoffMs', 'maxBackoffMs'].includes(k))
      throw new HttpError(400, `unknown policy field "${k}"`, 'BAD_BODY')
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 1 || v > 3_600_000)
      throw new HttpError(400, `policy.${k} must be a number of ms between 1 and 3600000`, 'BAD_BODY')
  }
}

async function optionalBody(ctx: Ctx, s: Hub['server']): Promise<Record<string, unknown>> {
  const len = Number(ctx.req.headers['content-length'] ?? 0)
  if (!len && !ctx.req.headers['transfer-encoding']) return {}
  const b = await s.body(ctx)
  if (typeof b !== 'object' || b === null || Array.isArray(b))
    throw new HttpError(400, 'the body must be a JSON object', 'BAD_BODY')
  return b as Record<string, unknown>
}
