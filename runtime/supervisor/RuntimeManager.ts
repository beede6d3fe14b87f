/**
 * The supervisor's hands on runtime processes: which runtime is active (exactly one, on its slot's
 * reserved port, behind the proxy), the candidate of an update, and the steps of a transition
 * (validate, admit, prewarm, cutover, rollback). Operations run one at a time, so two steps never
 * race over the same process or port. Every runtime it starts is recorded in a pid file, so a
 * supervisor that was killed reaps what it left behind before it starts anything.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { freemem } from 'node:os'
import { join } from 'node:path'
import type { AdmitOutput, Slot, SwitchMode } from '../../machines/updateTransition.ts'
import type { RuntimeProxy } from './RuntimeProxy.ts'
import { RuntimeError, RuntimeProcess, type RuntimeMode } from './RuntimeProcess.ts'
import { verifySlot } from './slotImage.ts'

export interface ManagerOptions {
  slotsDir: string
  /** The supervisor's data folder: hub data, validation scratch, the pid file. */
  dataDir: string
  ports: Record<Slot, number>
  token: string
  healthDeadlineMs: number
  prewarmSettleMs: number
  drainMs: number
  /** Memory the runtimes may use together (MB); warm switching needs room for two. */
  memoryBudgetMb: number
  /** Free memory that must remain after starting a candidate (MB). */
  minHeadroomMb: number
  proxy: RuntimeProxy
  /** More environment for every runtime. */
  env?: Record<string, string>
  /** What replaces `env` for a candidate in validate mode (it must not take the serving runtime's sidecar). */
  validateEnv?: Record<string, string>
}

/**
 * A runtime's failure an operator should see: an error nobody caught in it (sent over IPC by its
 * process guard, runtime/processLifecycle.ts) or an exit the supervisor did not ask for.
 */
export interface RuntimeIncident {
  at: number
  runtimeInstanceId: string
  slot: Slot
  kind: 'uncaughtException' | 'unhandledRejection' | 'exit'
  /** Whether the runtime ended because of it. */
  fatal: boolean
  message: string
  stack?: string
  exitCode?: number | null
  signal?: string | null
}

export type ActiveState = 'down' | 'starting' | 'up' | 'switching' | 'restarting' | 'failed'

export class RuntimeManager {
  active?: RuntimeProcess
  candidate?: RuntimeProcess
  activeState: ActiveState = 'down'
  /** True while a warm switch holds requests (from the proxy's pause to its resume). */
  warmSwitching = false
  lastError?: string
  lastGapMs?: number
  lastCutover?: {
    mode: SwitchMode
    gapMs: number
    drainMs: number
    stopOldMs: number
    startMs: number
    lockWaitMs?: number
    hubStartMs?: number
    passiveCloseMs?: number
    tries?: number
    oldCloseMs?: number
  }
  /** The last 50 runtime incidents, oldest first (in memory: `GET /api/supervisor/status`). */
  readonly incidents: RuntimeIncident[] = []
  private chain: Promise<unknown> = Promise.resolve()
  private pidFile: string
  /** Callbacks the supervisor sets. */
  onGood: (rt: RuntimeProcess) => void = () => {}
  onExit: (rt: RuntimeProcess) => void = () => {}
  onChange: () => void = () => {}

  constructor(readonly opts: ManagerOptions) {
    mkdirSync(opts.dataDir, { recursive: true })
    this.pidFile = join(opts.dataDir, 'runtimes.json')
  }

  get hubData(): string {
    return join(this.opts.dataDir, 'hub')
  }

  slotDir(slot: Slot): string {
    return join(this.opts.slotsDir, slot)
  }

  /** Runs `fn` after every operation before it. */
  serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn)
    this.chain = run.catch(() => {})
    return run
  }

  // ---- processes -------------------------------------------------------------------------------

  private spawn(slot: Slot, mode: RuntimeMode, port: number, data: string): RuntimeProcess {
    const manifest = verifySlot(this.slotDir(slot))
    const rt = new RuntimeProcess({
      slot,
      slotDir: this.slotDir(slot),
      manifest,
      mode,
      port,
      data,
      token: this.opts.token,
      marker: this.opts.slotsDir,
      env: mode === 'validate' ? (this.opts.validateEnv ?? this.opts.env) : this.opts.env,
    })
    if (!rt.pid) throw new RuntimeError('SPAWN', `could not start a runtime from slot ${slot}`)
    this.record()
    rt.onMessage((m) => {
      if (m?.type === 'good') this.onGood(rt)
      else if (m?.type === 'incident' && m.incident && typeof m.incident === 'object') {
        const i = m.incident
        this.incident(rt, {
          kind: i.kind === 'unhandledRejection' ? 'unhandledRejection' : 'uncaughtException',
          fatal: i.fatal === true,
          message: String(i.message ?? '').slice(0, 2000),
          ...(typeof i.stack === 'string' ? { stack: i.stack.slice(0, 8000) } : {}),
        })
      }
    })
    void rt.exited.then(() => {
      this.record()
      // A runtime that dies before it was ready is the starter's failure to report, not a crash.
      if (rt === this.active && !rt.stopping && rt.wasReady) {
        // Hold requests while the supervisor brings a runtime back.
        this.opts.proxy.pause()
        this.activeState = 'restarting'
        this.lastError = rt.describeExit()
        this.incident(rt, {
          kind: 'exit',
          fatal: true,
          message: this.lastError,
          exitCode: rt.exitCode ?? null,
          signal: rt.exitSignal,
        })
      }
      this.onExit(rt)
      this.onChange()
    })
    return rt
  }

  private incident(rt: RuntimeProcess, i: Omit<RuntimeIncident, 'at' | 'runtimeInstanceId' | 'slot'>): void {
    this.incidents.push({ at: Date.now(), runtimeInstanceId: rt.runtimeInstanceId, slot: rt.slot, ...i })
    if (this.incidents.length > 50) this.incidents.shift()
    this.onChange()
  }

  private record(): void {
    const list = [this.active, this.candidate, ...this.extra]
      .filter((r): r is RuntimeProcess => !!r && r.alive)
      .map((r) => ({ pid: r.pid, runtimeInstanceId: r.runtimeInstanceId, slot: r.slot }))
    writeFileSync(this.pidFile, JSON.stringify(list))
  }
  /** Runtimes between spawn and assignment (validation) still count for the pid file. */
  private extra = new Set<RuntimeProcess>()

  /** Kills runtimes a previous supervisor left running (found by pid and runtime id). */
  async reapOrphans(): Promise<number> {
    if (!existsSync(this.pidFile)) return 0
    let list: Array<{ pid: number; runtimeInstanceId: string }> = []
    try {
      list = JSON.parse(readFileSync(this.pidFile, 'utf8'))
    } catch {
      list = []
    }
    let n = 0
    for (const e of list) {
      if (!isOurs(e.pid, e.runtimeInstanceId)) continue
      try {
        process.kill(e.pid, 'SIGKILL')
        n++
      } catch {
        continue
      }
      const until = Date.now() + 5000
      while (existsSync(`/proc/${e.pid}`) && !isZombie(e.pid) && Date.now() < until) await sleep(10)
    }
    writeFileSync(this.pidFile, '[]')
    return n
  }

  /** Waits until the runtime says it is ready (with the expected role) and its health agrees. */
  private async ready(rt: RuntimeProcess, role: 'active' | 'candidate', what: string): Promise<void> {
    await rt.waitFor((m) => m?.type === 'ready' && m.role === role, this.opts.healthDeadlineMs, what)
    rt.role = role
    rt.wasReady = true
    const h = await health(rt.port, Math.max(500, this.opts.healthDeadlineMs / 2))
    if (!h || h.runtimeInstanceId !== rt.runtimeInstanceId || h.role !== role) {
      throw new RuntimeError(
        'UNHEALTHY',
        `${what}: /api/health on port ${rt.port} answered ${JSON.stringify(h)}, expected role ${role} and runtime ${rt.runtimeInstanceId}`,
      )
    }
  }

  // ---- the active runtime ----------------------------------------------------------------------

  /** Makes `slot` the one active runtime (idempotent) and points the proxy at it. */
  ensureActive(slot: Slot): Promise<RuntimeProcess> {
    return this.serialize(() => this.ensureActiveNow(slot))
  }

  private async ensureActiveNow(slot: Slot): Promise<RuntimeProcess> {
    const a = this.active
    if (a?.alive && !a.stopping && a.slot === slot && a.role === 'active') {
      if (this.opts.proxy.paused) this.opts.proxy.resume(a.port)
      this.activeState = 'up'
      this.onChange()
      return a
    }
    this.opts.proxy.pause()
    if (this.activeState !== 'restarting') this.activeState = 'starting'
    this.onChange()
    if (a?.alive) await a.stop()
    this.active = undefined
    const port = (await portFree(this.opts.ports[slot]))
      ? this.opts.ports[slot]
      : this.opts.ports[slot === 'A' ? 'B' : 'A']
    const rt = this.spawn(slot, 'serve', port, this.hubData)
    this.active = rt
    this.record()
    try {
      await this.ready(rt, 'active', `starting slot ${slot}`)
    } catch (err) {
      rt.kill()
      await rt.exited
      this.active = undefined
      this.activeState = 'failed'
      this.lastError = (err as Error).message
      this.opts.proxy.down(`slot ${slot} failed to start`)
      this.onChange()
      throw err
    }
    this.activeState = 'up'
    this.lastError = undefined
    this.opts.proxy.resume(rt.port)
    this.onChange()
    return rt
  }

  // ---- transition steps ------------------------------------------------------------------------

  /** Structure check, then the candidate in validate mode on a scratch data folder, health within the deadline. */
  validate(slot: Slot): Promise<{ runtimeInstanceId: string }> {
    return this.serialize(async () => {
      await this.stopCandidateNow()
      verifySlot(this.slotDir(slot))
      const scratch = join(this.opts.dataDir, 'validate')
      rmSync(scratch, { recursive: true, force: true })
      if (!(await portFree(this.opts.ports[slot])))
        throw new RuntimeError(
          'UNHEALTHY',
          `slot ${slot}'s reserved port ${this.opts.ports[slot]} is taken; validation needs it`,
        )
      const rt = this.spawn(slot, 'validate', this.opts.ports[slot], scratch)
      this.extra.add(rt)
      this.candidate = rt
      this.record()
      this.onChange()
      try {
        await this.ready(rt, 'candidate', `validating slot ${slot}`)
        // A candidate must be passive: a change sent to it is refused.
        const r = await fetch(`http://127.0.0.1:${rt.port}/api/actors`, {
          method: 'POST',
          headers: { authorization: `Bearer ${this.opts.token}`, 'content-type': 'application/json' },
          body: '{"path":"probe","machine":"counter"}',
        })
        if (r.status !== 503)
          throw new RuntimeError(
            'UNHEALTHY',
            `validating slot ${slot}: the candidate accepted a change (HTTP ${r.status}) instead of refusing it`,
          )
        return { runtimeInstanceId: rt.runtimeInstanceId }
      } finally {
        await rt.stop()
        this.extra.delete(rt)
        if (this.candidate === rt) this.candidate = undefined
        rmSync(scratch, { recursive: true, force: true })
        this.onChange()
      }
    })
  }

  /** warm_switch when the target's reserved port is free and memory headroom suffices. */
  async admit(target: Slot): Promise<Omit<AdmitOutput, 'at'>> {
    const port = this.opts.ports[target]
    if (!(await portFree(port)))
      return { mode: 'stop_and_switch', reason: `reserved port ${port} of slot ${target} is taken` }
    const rssMb = this.active?.pid ? rssOf(this.active.pid) / 1024 / 1024 : 0
    const need = Math.max(rssMb, 1)
    const free = freemem() / 1024 / 1024
    const budgetLeft = this.opts.memoryBudgetMb - rssMb
    const headroom = Math.min(free, budgetLeft) - need
    const fmt = (n: number) => `${Math.round(n)} MB`
    if (headroom < this.opts.minHeadroomMb) {
      return {
        mode: 'stop_and_switch',
        reason: `memory headroom ${fmt(headroom)} < ${fmt(this.opts.minHeadroomMb)} (budget ${fmt(this.opts.memoryBudgetMb)}, free ${fmt(free)}, active uses ${fmt(rssMb)}, a candidate needs about ${fmt(need)})`,
      }
    }
    return {
      mode: 'warm_switch',
      reason: `port ${port} free and memory headroom ${fmt(headroom)} >= ${fmt(this.opts.minHeadroomMb)} (a candidate needs about ${fmt(need)})`,
    }
  }

  /** Starts the passive candidate and watches it for the settle time. */
  prewarm(target: Slot): Promise<{ runtimeInstanceId: string }> {
    return this.serialize(async () => {
      await this.stopCandidateNow()
      const rt = this.spawn(target, 'prewarm', this.opts.ports[target], this.hubData)
      this.candidate = rt
      this.record()
      this.onChange()
      try {
        await this.ready(rt, 'candidate', `prewarming slot ${target}`)
        if (this.opts.prewarmSettleMs > 0) {
          const died = await Promise.race([
            rt.exited.then(() => true),
            sleep(this.opts.prewarmSettleMs).then(() => false),
          ])
          if (died) throw new RuntimeError('EXITED', `the candidate died while prewarming: ${rt.describeExit()}`)
        }
        return { runtimeInstanceId: rt.runtimeInstanceId }
      } catch (err) {
        rt.kill()
        await rt.exited
        if (this.candidate === rt) this.candidate = undefined
        throw err
      }
    })
  }

  /** Pauses the proxy, drains, hands over to the target, resumes. Returns the paused time. */
  cutover(from: Slot, target: Slot, mode: SwitchMode): Promise<{ runtimeInstanceId: string; gapMs: number }> {
    return this.serialize(async () => {
      try {
        return await this.cutoverNow(from, target, mode)
      } finally {
        // a failed switch ends the hold of status pushes too
        if (this.warmSwitching) {
          this.warmSwitching = false
          this.onChange()
        }
      }
    })
  }

  private async cutoverNow(
    from: Slot,
    target: Slot,
    mode: SwitchMode,
  ): Promise<{ runtimeInstanceId: string; gapMs: number }> {
    const proxy = this.opts.proxy
    const old = this.active
    if (
      mode === 'warm_switch' &&
      !(this.candidate?.alive && this.candidate.slot === target && this.candidate.spec.mode === 'prewarm')
    ) {
      throw new RuntimeError(
        'EXITED',
        `no prewarmed candidate of slot ${target} is running${this.candidate ? `: ${this.candidate.describeExit()}` : ''}`,
      )
    }
    this.warmSwitching = mode === 'warm_switch'
    proxy.pause()
    const t0 = performance.now()
    // A warm candidate gets ready for the data now; it opens it when the old runtime, drained,
    // has released LevelDB's lock: told by its `released` message (or its exit), relayed here.
    if (mode === 'warm_switch') this.promote(this.candidate!, old)
    this.activeState = 'switching'
    this.onChange()
    await proxy.drain(this.opts.drainMs)
    const t1 = performance.now()
    let rt: RuntimeProcess
    if (mode === 'warm_switch') {
      rt = this.candidate!
      this.candidate = undefined
      if (old?.alive) {
        old.stopping = true
        old.send({ type: 'release' })
      }
      if (old?.alive) void old.stop(this.opts.drainMs + 5000)
    } else {
      if (old?.alive) await old.stop()
      const port = (await portFree(this.opts.ports[target])) ? this.opts.ports[target] : this.opts.ports[from]
      rt = this.spawn(target, 'serve', port, this.hubData)
    }
    const t2 = performance.now()
    this.active = rt
    this.record()
    // The runtime says ready only once its hub listens: resume on that message and check its
    // health right after (verifying still waits for it to mark itself good).
    const releasedMs = old?.alive
      ? old
          .waitFor((m) => m?.type === 'released', 10_000, 'release')
          .then(
            (m) => m.closeMs as number,
            () => null,
          )
      : Promise.resolve(null)
    const ready = await rt.waitFor(
      (m) => m?.type === 'ready' && m.role === 'active',
      this.opts.healthDeadlineMs,
      `cutover to slot ${target}`,
    )
    rt.role = 'active'
    rt.wasReady = true
    this.activeState = 'up'
    this.warmSwitching = false
    const gapMs = proxy.resume(rt.port)
    const t3 = performance.now()
    this.lastGapMs = gapMs
    this.lastCutover = { mode, gapMs, drainMs: t1 - t0, stopOldMs: t2 - t1, startMs: t3 - t2, ...ready.timing }
    void releasedMs.then((ms) => {
      if (this.lastCutover && ms !== null) this.lastCutover.oldCloseMs = ms
    })
    this.onChange()
    const h = await health(rt.port, 2000)
    if (!h || h.runtimeInstanceId !== rt.runtimeInstanceId || h.role !== 'active') {
      throw new RuntimeError('UNHEALTHY', `cutover to slot ${target}: /api/health answered ${JSON.stringify(h)}`)
    }
    return { runtimeInstanceId: rt.runtimeInstanceId, gapMs }
  }

  /**
   * Sends `promote` to a prewarmed candidate and relays the old runtime's release of the data to
   * it (`data-released`, once), so it opens LevelDB when the lock is free instead of polling for it.
   */
  private promote(candidate: RuntimeProcess, old: RuntimeProcess | undefined): void {
    if (!old?.alive) return candidate.send({ type: 'promote', awaitRelease: false })
    let told = false
    const tell = () => {
      off()
      if (told) return
      told = true
      candidate.send({ type: 'data-released' })
    }
    const off = old.onMessage((m) => {
      if (m?.type === 'released') tell()
    })
    void old.exited.then(tell)
    candidate.send({ type: 'promote', awaitRelease: true })
  }

  /** Stops any candidate and makes `to` the active runtime again. */
  rollback(to: Slot): Promise<void> {
    return this.serialize(async () => {
      await this.stopCandidateNow()
      await this.ensureActiveNow(to)
    })
  }

  stopCandidate(): Promise<void> {
    return this.serialize(() => this.stopCandidateNow())
  }

  private async stopCandidateNow(): Promise<void> {
    const c = this.candidate
    this.candidate = undefined
    if (c?.alive) await c.stop()
    this.onChange()
  }

  /** Asks the active runtime how many media subflows are live (the continuity gate). */
  async liveMedia(): Promise<number> {
    const a = this.active
    if (!a?.alive) return 0
    const r = await fetch(`http://127.0.0.1:${a.port}/api/media/live`, { signal: AbortSignal.timeout(2000) })
    if (!r.ok) throw new Error(`GET /api/media/live answered ${r.status}`)
    const j = (await r.json()) as { live?: unknown }
    return typeof j.live === 'number' ? j.live : 0
  }

  async close(): Promise<void> {
    await this.serialize(async () => {
      await this.stopCandidateNow()
      await this.active?.stop()
      this.active = undefined
      this.activeState = 'down'
      this.record()
    })
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

/** Whether a TCP port on 127.0.0.1 can be bound right now. */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer()
    s.once('error', () => resolve(false))
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)))
  })
}

async function health(port: number, deadlineMs: number): Promise<any> {
  const until = Date.now() + deadlineMs
  for (;;) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/api/health`, { signal: AbortSignal.timeout(1000) })
      if (r.ok) return await r.json()
    } catch {
      // not listening yet
    }
    if (Date.now() > until) return null
    await sleep(20)
  }
}

function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) * 1024 : 0
  } catch {
    return 0
  }
}

function isOurs(pid: number, runtimeInstanceId: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`AETHER_RUNTIME_ID=${runtimeInstanceId}`)
  } catch {
    return false
  }
}

function isZombie(pid: number): boolean {
  try {
    return /State:\s+Z/.test(readFileSync(`/proc/${pid}/status`, 'utf8'))
  } catch {
    return true
  }
}
