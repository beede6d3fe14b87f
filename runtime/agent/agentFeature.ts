/**
 * The hub's agent feature: WebSocket agent sessions at `/ws/agent` (protocol/agent.ts), each a
 * durable `agentSession` actor (`agent-session.<id>`), routed through the role router to model
 * providers; optional integrations (NATS, Redis, the providers themselves) run as background
 * actors whose state is reported, never awaited: a handshake costs one journal commit (new
 * session) or none (resume), whatever the infrastructure is doing.
 *
 * Config: `harness` (a harness file path, or AETHER_HARNESS), `nats` (NATS_URL), `redis`
 * (REDIS_URL). Keys come from the environment variables the harness names.
 * Routes: GET /api/agent (capabilities, breakers, sessions, stats), GET /api/agent/sessions/:id.
 */
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import type { IncomingMessage } from 'node:http'
import type { WebSocket } from 'ws'
import type { ActorSystem } from '../../actors/index.ts'
import {
  knowsTask,
  sessionEvents,
  type AgentSessionContext,
  type AgentTask,
  type RunTaskInput,
  type TaskResult,
} from '../../machines/agentSession.ts'
import { decodeClientFrame, SESSION_ID_RE, type TaskOutcome } from '../../protocol/agent.ts'
import type { FeedEvent } from '../../protocol/inspection.ts'
import type { Hub, HubFeature } from '../Hub.ts'
import { HttpError } from '../http/HubServer.ts'
import { environment, setting } from '../config.ts'
import { agentRuntime, hostedAgentSession } from './agentMachine.ts'
import { LevelAnswerCache, type AnswerCache } from './AnswerCache.ts'
import { loadHarness, type Harness } from './harness.ts'
import {
  capabilities,
  integrationPath,
  natsIntegration,
  providerIntegration,
  redisIntegration,
  startIntegrations,
  type IntegrationSpec,
  type IntegrationTiming,
} from './integrations.ts'
import type { ChatMessage } from './providers.ts'
import { Secrets } from './redact.ts'
import { RoleRouter } from './RoleRouter.ts'

export interface AgentFeatureOptions {
  /** Harness file path or a validated harness; default the `harness` setting; none: tasks fail with NO_HARNESS. */
  harness?: string | Harness
  nats?: string
  redis?: string
  /** Where keys and settings are read from (default: the process's environment). */
  env?: Record<string, string | undefined>
  timing?: IntegrationTiming
  detachTtlMs?: number
  /** Answer cache (default: LevelDB in the hub's store). */
  cache?: AnswerCache
  /** Redacted operational notes (default: stderr). */
  log?: (line: string) => void
}

export const SESSION_PREFIX = 'agent-session.'
export const sessionPath = (id: string) => `${SESSION_PREFIX}${id}`

/** What a session looks like before its first commit (the machine's initial context, in short). */
const EMPTY = { history: [], outcomes: [], queue: [], current: null, nextN: 1 } as unknown as AgentSessionContext

interface Conn {
  ws: WebSocket
  sent: number
}

/** The agent feature for `Hub.start(opts, [agentFeature(...)])`. */
export function agentFeature(opts: AgentFeatureOptions = {}): HubFeature & { agent?: AgentService } {
  const f: HubFeature & { agent?: AgentService } = {
    name: 'agent',
    async install(hub: Hub) {
      f.agent = await AgentService.install(hub, opts)
    },
    async start() {
      await f.agent?.start()
    },
    async close() {
      await f.agent?.close()
    },
  }
  return f
}

export class AgentService {
  readonly stats = { sessions: 0, resumed: 0, badFrames: 0, refused: 0, tasks: 0 }
  readonly conns = new Map<string, Conn>()
  private configured: string[] = []
  private off: string[] = []
  private lastCaps = ''
  private stopping = new Set<string>()
  private unlisten: (() => void) | null = null

  private constructor(
    readonly hub: Hub,
    readonly system: ActorSystem,
    readonly harness: Harness | undefined,
    readonly secrets: Secrets,
    readonly router: RoleRouter | undefined,
    private opts: AgentFeatureOptions,
    private log: (line: string) => void,
  ) {}

  static async install(hub: Hub, opts: AgentFeatureOptions): Promise<AgentService> {
    const system = hub.system
    const env = opts.env ?? environment()
    const log = opts.log ?? ((line: string) => console.error(line))
    system.register('agentSession', hostedAgentSession)
    const harnessSrc = opts.harness ?? setting('harness', undefined, env)
    const harness = typeof harnessSrc === 'string' ? loadHarness(harnessSrc) : harnessSrc
    const secrets = harness ? Secrets.fromEnv(harness, env) : new Secrets()
    for (const m of secrets.missing)
      log(`[agent] provider ${m.provider}: environment variable ${m.env} is not set; its calls will fail over`)
    const redactedLog = (line: string) => log(secrets.redact(line))
    const cache = opts.cache ?? new LevelAnswerCache(hub.store)
    const router = harness ? await RoleRouter.start({ system, harness, secrets, cache, log: redactedLog }) : undefined
    const svc = new AgentService(hub, system, harness, secrets, router, opts, redactedLog)

    // Integrations start in the background: spawning an actor does not wait for its probe.
    const specs: IntegrationSpec[] = []
    const nats = opts.nats ?? setting('nats', undefined, env)
    const redis = opts.redis ?? setting('redis', undefined, env)
    if (nats) specs.push(natsIntegration(nats))
    else svc.off.push('nats')
    if (redis) specs.push(redisIntegration(redis))
    else svc.off.push('redis')
    if (router)
      for (const [name, p] of router.providers) specs.push(providerIntegration(p, harness!.providers[name].baseUrl))
    svc.configured = await startIntegrations(system, specs, opts.timing)
    svc.lastCaps = JSON.stringify(svc.capabilities())

    system.services.provide(agentRuntime, {
      runTask: (input, requestId, signal) => svc.runTask(input, requestId, signal),
    })
    svc.routes()
    hub.server.ws('/ws/agent', (ws, req, url) => void svc.connect(ws, req, url))
    return svc
  }

  /** After recovery: sessions recovered from the journal have no socket any more; ended ones are put away. */
  async start(): Promise<void> {
    const system = this.system
    for (const a of system.list()) {
      if (!a.path.startsWith(SESSION_PREFIX)) continue
      if (a.status === 'done') await system.stop(a.path)
      else if (a.status === 'active' && (a.value as any)?.live?.connection === 'attached')
        system.send(a.path, sessionEvents.detach(), 'agent')
    }
  }

  capabilities() {
    return capabilities(this.system, this.configured, this.off)
  }

  /**
   * The inspection feed is listened to only while a socket is connected: an active feed costs every
   * actor of the hub a snapshot per event, which sessions without sockets do not need (they are
   * read at the next handshake).
   */
  private track(id: string, conn: Conn): void {
    this.conns.set(id, conn)
    if (!this.unlisten) {
      this.lastCaps = JSON.stringify(this.capabilities())
      this.unlisten = this.system.feed.listen((e) => this.onFeed(e))
    }
  }

  private untrack(id: string): void {
    this.conns.delete(id)
    if (this.conns.size === 0 && this.unlisten) {
      this.unlisten()
      this.unlisten = null
    }
  }

  async close(): Promise<void> {
    this.unlisten?.()
    this.unlisten = null
    for (const c of this.conns.values()) c.ws.close(1001, 'hub shutting down')
    this.conns.clear()
  }

  // ---- tasks -----------------------------------------------------------------------------------

  private async runTask(input: RunTaskInput, requestId: string, signal: AbortSignal): Promise<TaskResult> {
    this.stats.tasks++
    if (!this.router) {
      return {
        ok: false,
        fallbacks: 0,
        cached: false,
        requestId,
        error: {
          code: 'NO_HARNESS',
          message: 'no harness file is configured: start the hub with --harness FILE (or AETHER_HARNESS)',
        },
      }
    }
    const messages: ChatMessage[] = input.history.map((t) => ({ role: t.role, content: t.content }))
    const user: ChatMessage = { role: 'user', content: input.task.prompt }
    if (input.task.images?.length) user.images = input.task.images
    messages.push(user)
    try {
      return this.secrets.redactJson(await this.router.run({ requestId, role: input.task.role, messages, signal }))
    } catch (err) {
      // The router resolves provider failures; anything else is a bug, reported without secrets.
      const message = this.secrets.redact((err as Error)?.message ?? String(err))
      this.log(`[agent] task ${requestId} failed: ${message}`)
      return { ok: false, fallbacks: 0, cached: false, requestId, error: { code: 'INTERNAL', message } }
    }
  }

  // ---- sockets ---------------------------------------------------------------------------------

  private send(ws: WebSocket, frame: unknown): void {
    if (ws.readyState === 1) ws.send(JSON.stringify(frame))
  }

  private async connect(ws: WebSocket, req: IncomingMessage, url: URL): Promise<void> {
    const t0 = performance.now()
    const early: Array<string | null> = []
    let ready = false
    let id = ''
    ws.on('message', (data, isBinary) => {
      const text = isBinary ? null : data.toString()
      if (!ready) early.push(text)
      else this.onFrame(ws, id, text)
    })
    if (!this.hub.server.hasToken(req, url)) {
      this.send(ws, {
        type: 'error',
        code: 'UNAUTHORIZED',
        message: 'agent sessions need the hub token: connect with ?token=T or Authorization: Bearer T',
      })
      return ws.close(4401, 'unauthorized')
    }
    const resumeId = url.searchParams.get('session')
    const afterRaw = url.searchParams.get('after')
    const after = afterRaw === null ? 0 : Number(afterRaw)
    if (!Number.isInteger(after) || after < 0) {
      this.stats.badFrames++
      this.send(ws, {
        type: 'error',
        code: 'BAD_FRAME',
        field: 'after',
        message: '"after" must be a non-negative integer (the last outcome number you have)',
      })
      return ws.close(4400, 'bad request')
    }
    let resumed = false
    if (resumeId !== null) {
      const a = SESSION_ID_RE.test(resumeId) ? this.system.hosted(sessionPath(resumeId)) : undefined
      if (!a || (a.status !== 'active' && a.status !== 'starting')) {
        this.send(ws, {
          type: 'error',
          code: 'UNKNOWN_SESSION',
          field: 'session',
          message: `no live session "${resumeId.slice(0, 64)}": it ended, expired or never existed; connect without ?session= to start one`,
        })
        return ws.close(4404, 'unknown session')
      }
      id = resumeId
      resumed = true
      this.stats.resumed++
      const old = this.conns.get(id)
      if (old && old.ws !== ws) {
        this.untrack(id)
        this.send(old.ws, {
          type: 'error',
          code: 'SUPERSEDED',
          message: 'this session was resumed on another connection',
        })
        old.ws.close(4409, 'superseded')
      }
      this.system.send(sessionPath(id), sessionEvents.attach(), 'agent')
    } else {
      id = randomBytes(12).toString('base64url')
      // The session's meta record is journaled (and fsync'd) in the background: the handshake
      // does not wait on the disk either. Events sent meanwhile queue behind it in the journal,
      // and `task.accepted` is sent only once a task is committed.
      this.system
        .spawn(sessionPath(id), 'agentSession', {
          durable: true,
          input: { sessionId: id, ...(this.opts.detachTtlMs ? { detachTtlMs: this.opts.detachTtlMs } : {}) },
        })
        .catch((err) => {
          this.untrack(id)
          this.send(ws, {
            type: 'error',
            code: 'SESSION_FAILED',
            message: `the session could not start: ${(err as Error).message}`,
          })
          ws.close(1011, 'session failed')
        })
      this.stats.sessions++
    }
    const ctx = this.context(id) ?? EMPTY
    const conn: Conn = { ws, sent: resumed ? after : 0 }
    this.track(id, conn)
    ws.on('close', () => {
      if (this.conns.get(id)?.ws !== ws) return
      this.untrack(id)
      const a = this.system.hosted(sessionPath(id))
      if (a?.status === 'active' || a?.status === 'starting')
        this.system.send(sessionPath(id), sessionEvents.detach(), 'agent')
    })
    const outcomes = ctx.outcomes.filter((o) => o.n > conn.sent)
    conn.sent = Math.max(conn.sent, ...outcomes.map((o) => o.n))
    const caps = this.capabilities()
    this.send(ws, {
      type: 'session.ready',
      sessionId: id,
      resumed,
      ...caps,
      history: ctx.history,
      outcomes,
      running: ctx.current?.taskId ?? null,
      queued: ctx.queue.map((t) => t.taskId),
      roles: this.harness ? Object.keys(this.harness.roles) : [],
      handshakeMs: Math.round((performance.now() - t0) * 100) / 100,
    })
    ready = true
    for (const text of early.splice(0)) this.onFrame(ws, id, text)
  }

  /** The session's context; undefined while its first journal commit is pending. */
  private context(id: string): AgentSessionContext | undefined {
    return this.system.hosted(sessionPath(id))?.actor?.getSnapshot()?.context
  }

  private async accept(ws: WebSocket, path: string, task: AgentTask): Promise<void> {
    try {
      await this.system.sendCommitted(path, sessionEvents.task(task), 'agent')
      this.send(ws, { type: 'task.accepted', taskId: task.taskId })
    } catch (err) {
      this.send(ws, {
        type: 'error',
        code: 'TASK_NOT_ACCEPTED',
        message: `the task was not journaled: ${(err as Error).message}`,
      })
    }
  }

  private onFrame(ws: WebSocket, id: string, text: string | null): void {
    const d = decodeClientFrame(text)
    if (!d.ok) {
      this.stats.badFrames++
      return this.send(ws, { type: 'error', ...d.error })
    }
    const frame = d.frame
    if (frame.type === 'ping') return this.send(ws, { type: 'pong' })
    const path = sessionPath(id)
    const a = this.system.hosted(path)
    if (!a || (a.status !== 'active' && a.status !== 'starting'))
      return this.send(ws, {
        type: 'error',
        code: 'SESSION_CLOSED',
        message: 'this session has ended; connect again to start a new one',
      })
    if (frame.type === 'session.close') {
      this.system.send(path, sessionEvents.close('closed by the client'), 'agent')
      return
    }
    const ctx = this.context(id) ?? EMPTY
    const taskId = frame.taskId ?? randomBytes(8).toString('base64url')
    if (frame.taskId && knowsTask(ctx, frame.taskId)) {
      // A resent task: never run twice; send its outcome again if it has one.
      const done = ctx.outcomes.find((o) => o.taskId === taskId)
      if (done) return this.send(ws, { type: 'task.result', ...done })
      return this.send(ws, { type: 'task.accepted', taskId, duplicate: true })
    }
    if (this.harness && !(frame.role in this.harness.roles)) {
      this.stats.badFrames++
      return this.send(ws, {
        type: 'error',
        code: 'BAD_FRAME',
        field: 'role',
        message: `no role "${frame.role}" in the harness; roles: ${Object.keys(this.harness.roles).join(', ')}`,
      })
    }
    const task: AgentTask = { taskId, role: frame.role, prompt: frame.prompt }
    if (frame.images) task.images = frame.images
    void this.accept(ws, path, task)
  }

  private onFeed(e: FeedEvent): void {
    if (e.path.startsWith(SESSION_PREFIX)) {
      const id = e.path.slice(SESSION_PREFIX.length)
      const ended = e.snapshot.value === 'closed' || e.snapshot.status === 'done'
      // An ended session is stopped, so a restart does not bring it back; its journal stays.
      if (ended && !this.stopping.has(e.path)) {
        this.stopping.add(e.path)
        setImmediate(
          () =>
            void this.system
              .stop(e.path)
              .catch(() => {})
              .finally(() => this.stopping.delete(e.path)),
        )
      }
      const conn = this.conns.get(id)
      if (!conn) return
      const ctx = e.snapshot.context as AgentSessionContext | null
      if (ctx?.outcomes) {
        for (const o of ctx.outcomes as TaskOutcome[]) {
          if (o.n <= conn.sent) continue
          this.send(conn.ws, { type: 'task.result', ...o })
          conn.sent = o.n
        }
      }
      if (ended) {
        this.untrack(id)
        this.send(conn.ws, { type: 'session.closed', sessionId: id, reason: ctx?.closedReason ?? null })
        conn.ws.close(1000, 'session closed')
      }
    } else if (e.path.startsWith('agent-integration.')) {
      const caps = this.capabilities()
      const text = JSON.stringify(caps)
      if (text === this.lastCaps) return
      this.lastCaps = text
      for (const c of this.conns.values()) this.send(c.ws, { type: 'capabilities', ...caps })
    }
  }

  // ---- HTTP ------------------------------------------------------------------------------------

  private routes(): void {
    const s = this.hub.server
    s.route('GET', '/api/agent', () => ({
      ...this.capabilities(),
      integrations: Object.fromEntries(
        this.configured.map((n) => {
          const c = this.system.hosted(integrationPath(n))?.actor?.getSnapshot()?.context
          return [
            n,
            {
              target: c?.target ?? null,
              attempts: c?.attempts ?? 0,
              lastError: c?.lastError == null ? null : this.secrets.redact(String(c.lastError)),
            },
          ]
        }),
      ),
      harness: this.harness
        ? {
            providers: Object.fromEntries(
              Object.entries(this.harness.providers).map(([n, p]) => [
                n,
                { kind: p.kind, baseUrl: p.baseUrl, apiKeyEnv: p.apiKeyEnv ?? null, keySet: !!this.secrets.key(n) },
              ]),
            ),
            roles: this.harness.roles,
          }
        : null,
      breakers: this.router
        ? Object.fromEntries([...this.router.providers.keys()].map((n) => [n, this.router!.breakerState(n)]))
        : {},
      sessions: this.system
        .list()
        .filter((a) => a.path.startsWith(SESSION_PREFIX))
        .map((a) => ({
          id: a.path.slice(SESSION_PREFIX.length),
          status: a.status,
          value: a.value,
          attached: this.conns.has(a.path.slice(SESSION_PREFIX.length)),
        })),
      stats: { ...this.stats, router: this.router?.stats ?? null },
    }))
    s.route('GET', '/api/agent/sessions/:id', (ctx) => {
      const id = ctx.params.id
      const a = SESSION_ID_RE.test(id) ? this.system.hosted(sessionPath(id)) : undefined
      if (!a) throw new HttpError(404, `no session "${id.slice(0, 64)}"`, 'UNKNOWN_SESSION')
      const ctxt = this.context(id) ?? EMPTY
      return {
        sessionId: id,
        history: ctxt.history,
        outcomes: ctxt.outcomes,
        running: ctxt.current?.taskId ?? null,
        queued: ctxt.queue.map((t) => t.taskId),
      }
    })
  }
}
