/**
 * `aether supervisor`: process and update authority for one hub. It owns the public listener
 * (requests and WebSockets are proxied to the active runtime), runs the hub from slot A or B as a
 * child process, hosts `updateTransition` as a durable actor in its own LevelDB, and serves its
 * status (`GET /api/supervisor/status`, pushed on `/api/supervisor/ws`) also while the hub is down.
 *
 * Start order matters for "exactly one runtime active after a crash": reap what a killed
 * supervisor left running, open the actor system and provide the supervisor (its `supervisor`
 * service), recover the transition (its effects find the supervisor, then wait for the boot), send
 * `supervisor.boot` (the machine resolves a stale attempt), then start the one slot it names.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import type { IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { resolve as resolvePath, join } from 'node:path'
import { randomBytes } from 'node:crypto'
import type { WebSocket } from 'ws'
import { ActorSystem, defineService, effect, exportLog, serviceOf } from '../../actors/index.ts'
import { operatorActions, updateTransition, type Slot, type UpdateSettings } from '../../machines/updateTransition.ts'
import { HttpError, HubServer, sendJson } from '../http/HubServer.ts'
import { LevelStore } from '../LevelStore.ts'
import { setting } from '../config.ts'
import { RuntimeProxy } from './RuntimeProxy.ts'
import { RuntimeManager, portFree } from './RuntimeManager.ts'
import { installSlot, readManifest, SlotError, verifySlot } from './slotImage.ts'
import { ActorSpans, updateRule } from '../tracing/actorSpans.ts'
import type { Tracing } from '../tracing/Tracing.ts'
import { serveSupervisorInspector } from './supervisorInspector.ts'
import { actorLogs, windowOf } from '../incident/incidentFeature.ts'
import type { IncidentPart } from '../../protocol/bundle.ts'
import type { InspectorServer } from '../inspector/InspectorServer.ts'
import { MemberAgent, type MemberOptions } from './MemberAgent.ts'
import { SidecarProcess } from './SidecarProcess.ts'

export const UPDATE_ACTOR = 'supervisor.update'
/** The supervisor's node in incident bundles and the inspector. */
export const SUPERVISOR_NODE = 'supervisor'

export interface SupervisorOptions {
  slots: string
  /** Spans of each update and its phases (docs/tracing.md), when tracing is on. */
  tracing?: Tracing
  port?: number
  host?: string
  /** Names besides loopback and `host` that clients may use in `Host`; the runtimes accept them too. */
  allowHosts?: string[]
  data?: string
  token?: string
  /** Reserved ports of the slots' runtimes (default: free ports picked at start). */
  slotPorts?: Partial<Record<Slot, number>>
  settings?: Partial<UpdateSettings>
  healthDeadlineMs?: number
  prewarmSettleMs?: number
  drainMs?: number
  memoryBudgetMb?: number
  minHeadroomMb?: number
  /** How long a request waits for a runtime during a switch before it gets a 503. */
  queueDeadlineMs?: number
  /** The supervisor's own version (root updates compare it after a restart). */
  version?: string
  /** Called for a root restart after the state is flushed (default: exit with code 75 for the process manager). */
  onRootRestart?: () => void
  /** A member node: publish its snapshot to this parent hub over NATS and take its requests (docs/members.md). */
  member?: MemberOptions
  /**
   * Own the hubs' transport sidecar (`aether sidecar` on this NATS server, a supervised child of
   * the supervisor): every slot runtime's hub connects to its socket instead of starting its own,
   * so the sidecar and its NATS connections outlive a cutover (docs/supervisor.md).
   */
  sidecar?: { nats: string; backoff?: { minMs: number; maxMs: number; stableMs: number } }
}

export type Phase =
  | 'serving'
  | 'applying'
  | 'restarting'
  | 'rolling_back'
  | 'root_promotion_pending'
  | 'root_restarting'
  | 'failed'
  | 'offline'

/** The supervisor of an actor system, for the update transition's effects. */
const supervisorService = defineService<Supervisor>('supervisor')

const APPLYING = new Set(['gate', 'preparing', 'validating', 'admission', 'prewarm', 'cutover', 'verifying'])

export class Supervisor {
  url = ''
  readonly startedAt = Date.now()
  private sockets = new Set<WebSocket>()
  private pushQueued = false
  private heartbeat?: NodeJS.Timeout
  private goodSent = new Set<string>()
  private restartTimes: number[] = []
  private closed = false
  /** The inspector's sockets for the supervisor's own actors (supervisorInspector.ts). */
  private inspector?: InspectorServer
  /** Fault tests only (AETHER_SUPERVISOR_STEP_DELAY_MS): every step waits this long, so a test can kill the supervisor in any state. */
  readonly stepDelayMs = setting('supervisor-step-delay-ms')
  readonly refusals = { badBody: 0, unknownAction: 0, notAllowed: 0, unauthorized: 0 }
  /** Resolves once `supervisor.boot` is journaled: effects restarted by recovery act only after it. */
  readonly booted: Promise<void>
  private markBooted!: () => void
  private spans?: ActorSpans
  /** The member link, when this supervisor runs a member node. */
  member?: MemberAgent
  /** The transport sidecar the supervisor owns (`sidecar` option), shared by the slot runtimes. */
  sidecar?: SidecarProcess

  private constructor(
    readonly opts: SupervisorOptions,
    readonly dataDir: string,
    readonly manager: RuntimeManager,
    readonly proxy: RuntimeProxy,
    readonly server: HubServer,
    public system: ActorSystem,
    readonly version: string,
  ) {
    this.booted = new Promise((r) => (this.markBooted = r))
    system.services.provide(supervisorService, this)
  }

  static async start(opts: SupervisorOptions): Promise<Supervisor> {
    const slots = resolvePath(opts.slots)
    const dataDir = resolvePath(opts.data ?? join(slots, '.supervisor'))
    mkdirSync(dataDir, { recursive: true })
    const token = opts.token ?? randomBytes(18).toString('base64url')
    const ports = await reservePorts(dataDir, opts.slotPorts)
    const proxy = new RuntimeProxy(opts.queueDeadlineMs ?? 30_000)
    // requests reach the runtime with the Host the client sent to the supervisor
    const env: Record<string, string> = {
      AETHER_ALLOW_HOSTS: [opts.host ?? '127.0.0.1', ...(opts.allowHosts ?? [])].join(','),
    }
    let validateEnv: Record<string, string> | undefined
    const sidecarSocket = join(dataDir, 'sidecar.sock')
    const sidecarToken = randomBytes(16).toString('hex')
    if (opts.sidecar) {
      // A candidate being validated runs on scratch data: it gets a sidecar of its own (its hub
      // starts one), never the serving hub's, which a second hub would supersede.
      validateEnv = { ...env, NATS_URL: opts.sidecar.nats, AETHER_TRANSPORT: 'sidecar' }
      Object.assign(env, {
        NATS_URL: opts.sidecar.nats,
        AETHER_SIDECAR_SOCKET: sidecarSocket,
        AETHER_SIDECAR_TOKEN: sidecarToken,
      })
    }
    const manager = new RuntimeManager({
      slotsDir: slots,
      dataDir,
      ports,
      token,
      healthDeadlineMs: opts.healthDeadlineMs ?? 15_000,
      prewarmSettleMs: opts.prewarmSettleMs ?? 200,
      drainMs: opts.drainMs ?? 2000,
      memoryBudgetMb: opts.memoryBudgetMb ?? 4096,
      minHeadroomMb: opts.minHeadroomMb ?? 64,
      proxy,
      env,
      validateEnv,
    })
    const reaped = await manager.reapOrphans()
    const valid = (['A', 'B'] as Slot[]).filter((s) => {
      try {
        verifySlot(join(slots, s))
        return true
      } catch {
        return false
      }
    })
    if (valid.length === 0)
      throw new SlotError(
        'NO_MANIFEST',
        `neither ${join(slots, 'A')} nor ${join(slots, 'B')} holds a valid hub version (manifest.json with version, buildId, entry, checksum)`,
      )
    const server = new HubServer({
      host: opts.host ?? '127.0.0.1',
      port: opts.port ?? 0,
      token,
      allowHosts: opts.allowHosts,
    })
    const version = opts.version ?? setting('supervisor-version') ?? packageVersion()
    const store = await LevelStore.open(join(dataDir, 'supervisor'))
    const system = new ActorSystem({
      store,
      machines: { updateTransition: Supervisor.boundMachine() },
      fsync: 'always',
      hostId: 'supervisor',
    })
    // the `supervisor` service before recovery: the effects recovery restarts find it at once
    const sup = new Supervisor(opts, dataDir, manager, proxy, server, system, version)
    if (opts.sidecar)
      sup.sidecar = new SidecarProcess({
        nats: opts.sidecar.nats,
        socket: sidecarSocket,
        token: sidecarToken,
        name: 'supervisor',
        backoff: opts.sidecar.backoff,
        onExit: () => sup.push(),
      })
    if (opts.tracing) sup.spans = new ActorSpans(opts.tracing, system, [updateRule])
    await system.recover()
    if (reaped) console.error(`aether supervisor: reaped ${reaped} runtime(s) left by a previous supervisor`)
    if (!system.hosted(UPDATE_ACTOR)) {
      await system.spawn(UPDATE_ACTOR, 'updateTransition', {
        durable: true,
        input: { serving: valid[0], settings: opts.settings },
      })
    }
    server.onInternalError = (where, err) => console.error(`[supervisor] internal error on ${where}:`, err)
    sup.wire()
    sup.inspector = serveSupervisorInspector(server, system, store)
    const { url } = await server.listen()
    sup.url = url
    await system.sendCommitted(UPDATE_ACTOR, { type: 'supervisor.boot', version, at: Date.now() })
    sup.markBooted()
    if (opts.member) sup.member = MemberAgent.start(sup, opts.member)
    sup.heartbeat = setInterval(() => sup.push(), 2000)
    sup.heartbeat.unref()
    // Start the one runtime the machine names (a rollback in progress starts it itself).
    const s = sup.snapshot()
    if (s.value !== 'rollingBack') {
      await manager
        .ensureActive(s.context.serving)
        .catch((err) => console.error(`aether supervisor: could not start slot ${s.context.serving}: ${err.message}`))
    }
    sup.checkGood()
    return sup
  }

  /** The machine with its effects bound to the `supervisor` service. Effects wait for the boot event first. */
  private static boundMachine() {
    const step = <I, O>(fn: (sup: Supervisor, input: I) => Promise<O>) =>
      effect<O, I>(async ({ input, signal, self }) => {
        const sup = serviceOf(self, supervisorService)
        await sup.booted
        if (sup.stepDelayMs) await new Promise((r) => setTimeout(r, sup.stepDelayMs))
        // Restarted by recovery in a state the boot event has left: do nothing.
        if (signal.aborted) return new Promise<O>(() => {})
        try {
          return await fn(sup, input)
        } catch (err) {
          // Plain data: the error is journaled and replayed as JSON.
          throw { message: (err as Error).message ?? String(err), code: (err as any).code ?? 'ERROR' }
        }
      })
    return updateTransition.provide({
      actors: {
        checkGate: step(async (sup) => ({ at: Date.now(), live: await sup.manager.liveMedia() })) as any,
        install: step(async (sup, i: { source: string; slot: Slot; kind: string }) => {
          if (i.kind === 'root') {
            const m = verifySlot(i.source)
            return { at: Date.now(), version: m.version, buildId: m.buildId }
          }
          await sup.manager.stopCandidate()
          const m = installSlot(i.source, sup.manager.slotDir(i.slot))
          return { at: Date.now(), version: m.version, buildId: m.buildId }
        }) as any,
        validate: step(async (sup, i: { slot: Slot; kind: string }) => {
          if (i.kind === 'root') return { at: Date.now() }
          const r = await sup.manager.validate(i.slot)
          return { at: Date.now(), ...r }
        }) as any,
        admit: step(async (sup, i: { target: Slot }) => ({
          at: Date.now(),
          ...(await sup.manager.admit(i.target)),
        })) as any,
        prewarm: step(async (sup, i: { target: Slot }) => ({
          at: Date.now(),
          ...(await sup.manager.prewarm(i.target)),
        })) as any,
        cutover: step(async (sup, i: { from: Slot; target: Slot; mode: any }) => ({
          ...(await sup.manager.cutover(i.from, i.target, i.mode)),
          at: Date.now(),
        })) as any,
        rollback: step(async (sup, i: { to: Slot }) => {
          await sup.manager.rollback(i.to)
          return { at: Date.now() }
        }) as any,
        restartRoot: step(async (sup) => {
          await sup.system.flush()
          // Let the answer to the promote request (and the last status push) go out first.
          await new Promise((r) => setTimeout(r, 200))
          ;(sup.opts.onRootRestart ?? (() => process.exit(75)))()
          return new Promise(() => {})
        }) as any,
      },
    })
  }

  snapshot(): any {
    return this.system.hosted(UPDATE_ACTOR)!.actor.getSnapshot()
  }

  // ---- wiring ----------------------------------------------------------------------------------

  private wire(): void {
    const { manager, proxy, system } = this
    manager.onChange = () => {
      // The transition's events wait for the resume too (the page redraws the chart after the gap).
      this.inspector?.hold(manager.warmSwitching)
      this.push()
    }
    proxy.onChange = () => this.push()
    system.feed.listen((e) => {
      if (e.path === UPDATE_ACTOR) {
        this.push()
        this.checkGood()
      }
    })
    manager.onGood = () => this.checkGood()
    manager.onExit = (rt) => {
      if (this.closed || rt.stopping) return
      const s = this.snapshot()
      if ((rt === manager.active || rt.role === 'active') && rt.wasReady) {
        system.send(UPDATE_ACTOR, {
          type: 'runtime.exited',
          runtimeInstanceId: rt.runtimeInstanceId,
          slot: rt.slot,
          role: rt.role,
          code: rt.exitCode ?? null,
          at: Date.now(),
        })
        // Outside a transition the supervisor restarts the active runtime itself, with backoff.
        if (!APPLYING.has(s.value) && s.value !== 'rollingBack') void this.restartActive()
      }
    }
    const s = this.server
    s.route('GET', '/api/supervisor/status', () => this.status())
    // the supervisor's own routes and sockets (GET /api/routes reaches the runtime's)
    s.route('GET', '/api/supervisor/routes', () => s.routeTable())
    s.route('POST', '/api/supervisor/update', (ctx) => this.updateRoute(ctx.req, ctx))
    s.route('POST', '/api/supervisor/actions', (ctx) => this.actionRoute(ctx))
    s.route('GET', '/api/supervisor/log', async (ctx) => {
      // The transition's journal as an aether.log/1 file, for `aether replay --verify`.
      await system.flush()
      ctx.res.writeHead(200, {
        'content-type': 'application/x-ndjson; charset=utf-8',
        'content-disposition': 'attachment; filename="supervisor.update.aether.log"',
      })
      for await (const chunk of exportLog(system.store!, UPDATE_ACTOR, { snapshots: 'all', machine: updateTransition }))
        ctx.res.write(chunk)
      ctx.res.end()
      return undefined
    })
    // The supervisor's part of an incident bundle (its own actors; `/api/incident` through the
    // proxy is the active runtime's): `aether incident export --url SUPERVISOR` asks both.
    s.route('GET', '/api/supervisor/incident', async (ctx) => {
      const { from, to } = windowOf(ctx.url.searchParams)
      const { logs, skipped } = await actorLogs(system, system.store as LevelStore, from, to)
      return {
        node: SUPERVISOR_NODE,
        role: 'supervisor',
        now: Date.now(),
        window: { from, to },
        offsets: [],
        logs,
        // the owned sidecar's deaths in the window (the runtimes' incidents are in their own part)
        notes: (this.sidecar?.lives ?? [])
          .filter((l) => l.exitedAt !== undefined && l.exitedAt >= from && l.exitedAt <= to)
          .map((l) => ({
            node: SUPERVISOR_NODE,
            at: l.exitedAt!,
            text: `sidecar pid ${l.pid} ended (${l.end}) after ${l.exitedAt! - l.startedAt} ms; the supervisor starts the next`,
          })),
        skipped,
      } satisfies IncidentPart
    })
    s.route('GET', '/api/supervisor/sidecar', () => this.sidecarStatus())
    s.route('POST', '/api/supervisor/sidecar/restart', (ctx) => {
      s.requireToken(ctx)
      if (!this.sidecar)
        throw new HttpError(409, 'this supervisor owns no sidecar (start it with --sidecar)', 'NO_SIDECAR')
      const pid = this.sidecar.pid ?? null
      this.sidecar.restart()
      ctx.res.statusCode = 202
      return { restarting: true, pid }
    })
    s.ws('/api/supervisor/ws', (ws) => {
      this.sockets.add(ws)
      ws.on('close', () => this.sockets.delete(ws))
      ws.send(JSON.stringify({ type: 'supervisor.status', status: this.status() }))
    })
    // Only /api/supervisor/* is the supervisor's; everything else goes to the active runtime.
    s.use({
      name: 'proxy',
      request: (req, res) => {
        if (isOwn(req.url)) return false
        void proxy.http(req, res)
        return true
      },
      upgrade: (req, sock, head) => {
        if (isOwn(req.url)) return false
        void proxy.upgrade(req, sock, head)
        return true
      },
    })
  }

  private async restartActive(): Promise<void> {
    const now = Date.now()
    this.restartTimes = this.restartTimes.filter((t) => now - t < 60_000)
    this.restartTimes.push(now)
    if (this.restartTimes.length > 5) {
      this.manager.activeState = 'failed'
      this.manager.lastError = `the active runtime exited ${this.restartTimes.length} times within a minute; not restarting it (${this.manager.lastError ?? ''})`
      this.proxy.down('the active runtime keeps exiting')
      this.push()
      return
    }
    await new Promise((r) => setTimeout(r, 100 * 2 ** (this.restartTimes.length - 1)))
    if (this.closed) return
    const s = this.snapshot()
    await this.manager
      .ensureActive(s.value === 'rollingBack' ? s.context.attempt.from : s.context.serving)
      .catch(() => {})
  }

  /** The new runtime marked itself good: tell the machine once it is verifying. */
  private checkGood(): void {
    const a = this.manager.active
    if (!a?.good || this.goodSent.has(a.runtimeInstanceId)) return
    const s = this.snapshot()
    if (s.value !== 'verifying' || s.context.attempt?.target !== a.slot) return
    this.goodSent.add(a.runtimeInstanceId)
    const send = () => {
      if (!this.closed && this.snapshot().value === 'verifying')
        this.system.send(UPDATE_ACTOR, {
          type: 'runtime.good',
          runtimeInstanceId: a.runtimeInstanceId,
          slot: a.slot,
          at: Date.now(),
        })
    }
    this.stepDelayMs ? setTimeout(send, this.stepDelayMs) : send()
  }

  // ---- API -------------------------------------------------------------------------------------

  private async updateRoute(_req: IncomingMessage, ctx: any): Promise<unknown> {
    this.requireToken(ctx)
    const b = await this.body(ctx)
    const allowed = new Set(['source', 'version', 'force', 'kind'])
    for (const k of Object.keys(b))
      if (!allowed.has(k)) this.bad(`unknown field "${k}"; an update is {source, force?, kind?}`)
    if (typeof b.source !== 'string' || !b.source.trim() || b.source.length > 4096)
      this.bad('field "source" must be the path of a version folder (with manifest.json)')
    if (b.force !== undefined && typeof b.force !== 'boolean') this.bad('field "force" must be a boolean')
    if (b.kind !== undefined && b.kind !== 'hub' && b.kind !== 'root') this.bad('field "kind" must be "hub" or "root"')
    let manifest: ReturnType<typeof verifySlot>
    try {
      manifest = verifySlot(resolvePath(b.source))
    } catch (err) {
      this.bad(`the source is not an installable version: ${(err as Error).message}`)
    }
    if (typeof b.version === 'string' && b.version !== manifest!.version)
      this.bad(`field "version" says ${b.version} but the source's manifest says ${manifest!.version}`)
    const event = {
      type: 'update.request' as const,
      kind: (b.kind ?? 'hub') as 'hub' | 'root',
      source: resolvePath(b.source),
      version: manifest!.version,
      force: b.force === true,
      at: Date.now(),
    }
    const s = this.snapshot()
    if (!s.can(event)) {
      this.refusals.notAllowed++
      throw new HttpError(
        409,
        `an update is already ${s.value === 'idle' ? 'starting' : `in ${s.value}`} and a follow-up is already queued; cancel or wait`,
        'QUEUE_FULL',
      )
    }
    const queued = s.value !== 'idle' && s.value !== 'failed'
    await this.system.sendCommitted(UPDATE_ACTOR, event)
    sendJson(ctx.res, 202, { accepted: true, queued, version: manifest!.version, state: this.snapshot().value })
    return undefined
  }

  private async actionRoute(ctx: any): Promise<unknown> {
    this.requireToken(ctx)
    const b = await this.body(ctx)
    const action = b.action
    if (typeof action !== 'string' || !(action in operatorActions)) {
      this.refusals.unknownAction++
      throw new HttpError(
        400,
        `unknown action ${JSON.stringify(action)}; the operator actions are ${Object.keys(operatorActions).join(', ')}`,
        'UNKNOWN_ACTION',
      )
    }
    for (const k of Object.keys(b))
      if (!['action', 'reason', 'ms'].includes(k)) this.bad(`unknown field "${k}"; an action is {action, reason?, ms?}`)
    if (
      (action === 'cancel' || action === 'defer') &&
      (typeof b.reason !== 'string' || !b.reason.trim() || b.reason.length > 500)
    )
      this.bad(`${action} needs a "reason" (a non-empty string of at most 500 characters)`)
    if (b.ms !== undefined && (action !== 'defer' || !Number.isInteger(b.ms) || b.ms < 0 || b.ms > 7 * 24 * 3600_000))
      this.bad('"ms" is only for defer: an integer of milliseconds, at most a week')
    const at = Date.now()
    const event =
      action === 'cancel'
        ? { type: 'update.cancel' as const, reason: b.reason, at }
        : action === 'defer'
          ? { type: 'update.defer' as const, reason: b.reason, at, ...(b.ms !== undefined ? { ms: b.ms } : {}) }
          : { type: 'update.promote' as const, at }
    const s = this.snapshot()
    if (!s.can(event)) {
      this.refusals.notAllowed++
      const states = operatorActions[action as keyof typeof operatorActions]
      throw new HttpError(
        409,
        `${action} is allowed only in ${states.join(', ')}; the transition is in ${s.value}`,
        'NOT_ALLOWED',
      )
    }
    await this.system.sendCommitted(UPDATE_ACTOR, event as any)
    return { ok: true, action, state: this.snapshot().value }
  }

  private requireToken(ctx: any): void {
    try {
      this.server.requireToken(ctx)
    } catch (err) {
      this.refusals.unauthorized++
      throw err
    }
  }

  private async body(ctx: any): Promise<Record<string, any>> {
    let b: unknown
    try {
      b = await this.server.body(ctx)
    } catch (err) {
      this.refusals.badBody++
      throw err
    }
    if (typeof b !== 'object' || b === null || Array.isArray(b)) this.bad('the body must be a JSON object')
    return b as Record<string, any>
  }

  private bad(message: string): never {
    this.refusals.badBody++
    throw new HttpError(400, message, 'BAD_BODY')
  }

  // ---- status ----------------------------------------------------------------------------------

  phase(): Phase {
    const v = this.snapshot().value as string
    const st = this.manager.activeState
    if (v === 'rollingBack') return 'rolling_back'
    if (v === 'rootPromotionPending') return 'root_promotion_pending'
    if (v === 'rootRestarting') return 'root_restarting'
    if (v === 'failed' || st === 'failed') return 'failed'
    if (APPLYING.has(v)) return 'applying'
    if (st === 'restarting' || st === 'starting' || st === 'switching') return 'restarting'
    if (st !== 'up' || !this.manager.active?.alive) return 'offline'
    return 'serving'
  }

  status() {
    const s = this.snapshot()
    const c = s.context
    const rt = (r: any) =>
      r && {
        runtimeInstanceId: r.runtimeInstanceId,
        role: r.role,
        slot: r.slot,
        mode: r.spec.mode,
        pid: r.pid,
        port: r.port,
        alive: r.alive,
        good: r.good,
        version: r.spec.manifest.version,
        buildId: r.spec.manifest.buildId,
      }
    const slot = (x: Slot) => {
      const m = readManifest(this.manager.slotDir(x))
      return {
        port: this.manager.opts.ports[x],
        version: m?.version ?? null,
        buildId: m?.buildId ?? null,
        checksum: m?.checksum ?? null,
        serving: c.serving === x,
      }
    }
    return {
      phase: this.phase(),
      supervisor: { pid: process.pid, version: this.version, url: this.url, uptimeMs: Date.now() - this.startedAt },
      transition: {
        state: s.value,
        seq: this.system.hosted(UPDATE_ACTOR)!.appliedSeq,
        attempt: c.attempt,
        queued: c.queued,
        lastFinishedAt: c.lastFinishedAt,
        settings: c.settings,
        history: c.history.slice(-3).map((a: any) => ({
          id: a.id,
          version: a.version,
          outcome: a.outcome,
          reason: a.reason,
          mode: a.mode,
          gapMs: a.gapMs,
        })),
      },
      serving: c.serving,
      active: rt(this.manager.active) ?? null,
      candidate: rt(this.manager.candidate) ?? null,
      runtime: {
        state: this.manager.activeState,
        lastError: this.manager.lastError ?? null,
        lastGapMs: this.manager.lastGapMs ?? null,
        lastCutover: this.manager.lastCutover ?? null,
      },
      slots: { A: slot('A'), B: slot('B') },
      proxy: {
        target: this.proxy.target,
        paused: this.proxy.paused,
        down: this.proxy.downReason,
        queued: this.proxy.queued,
        inFlight: this.proxy.inFlight,
        openWsTunnels: this.proxy.openTunnels,
        ...this.proxy.counters,
      },
      refusals: this.refusals,
      // runtimes that died or threw (newest last), and what the supervisor's own edges refused
      incidents: this.manager.incidents.slice(-20),
      sidecar: this.sidecarStatus(),
      edges: this.server.edges.list(),
      operatorActions: Object.fromEntries(
        Object.entries(operatorActions).map(([k, states]) => [k, (states as readonly string[]).includes(s.value)]),
      ),
    }
  }

  /** The owned sidecar: its socket, pid, restarts and lives (null without the `sidecar` option). */
  sidecarStatus() {
    if (!this.sidecar) return null
    const st = this.sidecar.status()
    return { socket: this.sidecar.opts.socket, nats: this.sidecar.opts.nats, restarts: st.counters.deaths, ...st }
  }

  /** Pushes the status to every supervisor WebSocket (coalesced per tick). */
  push(): void {
    this.member?.changed()
    if (this.pushQueued || this.sockets.size === 0 || this.closed) return
    this.pushQueued = true
    setImmediate(() => {
      this.pushQueued = false
      // Inside a warm switch's gap (milliseconds) a page would redraw for a state it cannot show
      // in time, on the cores the switch needs: the status waits for the resume, which pushes.
      if (this.closed || this.manager.warmSwitching) return
      const text = JSON.stringify({ type: 'supervisor.status', status: this.status() })
      for (const ws of this.sockets) ws.send(text)
    })
  }

  async close(opts: { stopRuntime?: boolean } = {}): Promise<void> {
    this.closed = true
    clearInterval(this.heartbeat)
    await this.member?.close()
    await this.inspector?.close()
    await this.proxy.close()
    if (opts.stopRuntime !== false) await this.manager.close()
    // after the runtimes: their hubs close their links to it first
    await this.sidecar?.stop()
    await this.server.close()
    await this.system.close()
    this.spans?.close()
  }
}

function isOwn(url: string | undefined): boolean {
  const p = (url ?? '/').split('?')[0]
  return p === '/api/supervisor' || p.startsWith('/api/supervisor/')
}

function packageVersion(): string {
  try {
    return JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version
  } catch {
    return '0.0.0'
  }
}

/** Each slot's reserved port: given, or picked once and kept in the data folder. */
async function reservePorts(dataDir: string, given?: Partial<Record<Slot, number>>): Promise<Record<Slot, number>> {
  const file = join(dataDir, 'ports.json')
  let kept: Partial<Record<Slot, number>> = {}
  try {
    kept = JSON.parse(readFileSync(file, 'utf8'))
  } catch {
    kept = {}
  }
  const ports = { A: given?.A ?? kept.A ?? (await freePort()), B: given?.B ?? kept.B ?? (await freePort()) }
  if (ports.A === ports.B) throw new Error(`slots A and B need different reserved ports (both are ${ports.A})`)
  writeFileSync(file, JSON.stringify(ports))
  return ports
}

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net')
  for (;;) {
    const port = await new Promise<number>((resolve) => {
      const s = createServer()
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as AddressInfo).port
        s.close(() => resolve(p))
      })
    })
    if (await portFree(port)) return port
  }
}
