/**
 * One hub runtime as a child process of the supervisor: spawned from a slot's entry with an IPC
 * channel, its messages awaited with deadlines, its output kept (the last lines explain a failure),
 * stopped politely (release, then SIGKILL after a deadline).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import type { Slot } from '../../machines/updateTransition.ts'
import { environment, setting } from '../config.ts'
import { CodedError } from '../errors.ts'
import type { SlotManifest } from './slotImage.ts'

export type RuntimeMode = 'serve' | 'validate' | 'prewarm'
export type RuntimeRoleName = 'active' | 'candidate'

/** A runtime did not do what it should in time, or exited. */
export class RuntimeError extends CodedError<'EXITED' | 'DEADLINE' | 'SPAWN' | 'UNHEALTHY'> {}

export interface SpawnRuntime {
  slot: Slot
  slotDir: string
  manifest: SlotManifest
  mode: RuntimeMode
  port: number
  data: string
  token: string
  /** Marks the process so a restarted supervisor can find and reap it. */
  marker: string
  /** Module for `node --import` (default: the slot-loader setting, tsx), so slot entries may be TypeScript-aware; `none`: no loader. */
  loader?: string
  /** More environment for the runtime (e.g. AETHER_ALLOW_HOSTS: the names the supervisor serves). */
  env?: Record<string, string>
}

const tsxUrl = (() => {
  try {
    return import.meta.resolve('tsx')
  } catch {
    return undefined
  }
})()

export class RuntimeProcess {
  readonly runtimeInstanceId = `rt-${randomBytes(5).toString('hex')}`
  readonly startedAt = Date.now()
  role: RuntimeRoleName
  readonly child: ChildProcess
  exitCode: number | null | undefined = undefined
  exitSignal: NodeJS.Signals | null = null
  /** Set once the runtime said it is good (verifying). */
  good = false
  /** Set once it reported ready as the active runtime (a later exit is a crash). */
  wasReady = false
  /** Set when the supervisor stops it on purpose. */
  stopping = false
  readonly exited: Promise<void>
  private output: string[] = []
  private listeners = new Set<(m: any) => void>()

  constructor(readonly spec: SpawnRuntime) {
    this.role = spec.mode === 'serve' ? 'active' : 'candidate'
    const named = spec.loader ?? setting('slot-loader')
    const loader = named === 'none' ? undefined : named === 'tsx' ? tsxUrl : named
    const args = [...(loader ? ['--import', loader] : []), join(spec.slotDir, spec.manifest.entry)]
    this.child = spawn(process.execPath, args, {
      cwd: spec.slotDir,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: {
        ...environment(),
        AETHER_MODE: spec.mode,
        AETHER_ROLE: this.role,
        AETHER_RUNTIME_ID: this.runtimeInstanceId,
        AETHER_PORT: String(spec.port),
        AETHER_DATA: spec.data,
        AETHER_TOKEN: spec.token,
        AETHER_VERSION: spec.manifest.version,
        AETHER_BUILD_ID: spec.manifest.buildId,
        AETHER_SLOT: spec.slot,
        AETHER_SUPERVISOR_MARK: spec.marker,
        ...spec.env,
      },
    })
    const keep = (d: Buffer) => {
      for (const line of String(d).split('\n')) if (line.trim()) this.output.push(line)
      if (this.output.length > 40) this.output.splice(0, this.output.length - 40)
    }
    this.child.stdout!.on('data', keep)
    this.child.stderr!.on('data', keep)
    this.child.on('message', (m: any) => {
      if (m?.type === 'good') this.good = true
      for (const l of [...this.listeners]) l(m)
    })
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitCode = code
        this.exitSignal = signal
        resolve()
      })
      // a listener for the process's whole life: a failed kill emits 'error' too, and without one
      // it would end the supervisor
      this.child.on('error', (err) => {
        this.output.push(`process error: ${err.message}`)
        if (this.child.pid !== undefined) return // still running: only a kill or a message failed
        if (this.exitCode === undefined) this.exitCode = -1
        resolve()
      })
    })
  }

  get pid(): number | undefined {
    return this.child.pid
  }

  get alive(): boolean {
    return this.exitCode === undefined
  }

  get slot(): Slot {
    return this.spec.slot
  }

  get port(): number {
    return this.spec.port
  }

  /** The last lines the process printed (for reasons). */
  tail(n = 5): string {
    return this.output.slice(-n).join(' | ')
  }

  describeExit(): string {
    const how = this.exitSignal ? `signal ${this.exitSignal}` : `code ${this.exitCode}`
    const t = this.tail(3)
    return `runtime ${this.runtimeInstanceId} (slot ${this.slot}, ${this.spec.mode}) exited with ${how}${t ? `: ${t}` : ''}`
  }

  onMessage(fn: (m: any) => void): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  send(m: Record<string, unknown>): void {
    // the callback takes a send error (the runtime just went away); without it the error would be
    // emitted on the child process
    if (this.alive && this.child.connected) this.child.send(m, () => {})
  }

  /** Waits for a message matching `pred`; rejects when the process exits or the deadline passes. */
  /** Resolves once the process's stdout and stderr have ended (or after 500 ms: a grandchild may hold them). */
  private outputEnded(): Promise<void> {
    const open = [this.child.stdout, this.child.stderr].filter((s) => s && !s.readableEnded && !s.destroyed)
    if (!open.length) return Promise.resolve()
    return new Promise((resolve) => {
      let left = open.length
      const t = setTimeout(resolve, 500)
      for (const s of open)
        s!.once('close', () => {
          if (--left === 0) {
            clearTimeout(t)
            resolve()
          }
        })
    })
  }

  waitFor(pred: (m: any) => boolean, deadlineMs: number, what: string): Promise<any> {
    return new Promise((resolve, reject) => {
      const exited = () => new RuntimeError('EXITED', `${what}: ${this.describeExit()}`)
      if (!this.alive) return void this.outputEnded().then(() => reject(exited()))
      const timer = setTimeout(
        () =>
          finish(
            new RuntimeError(
              'DEADLINE',
              `${what}: runtime ${this.runtimeInstanceId} (slot ${this.slot}) did not answer within ${deadlineMs} ms${this.tail(2) ? `; its output: ${this.tail(2)}` : ''}`,
            ),
          ),
        deadlineMs,
      )
      const off = this.onMessage((m) => {
        if (pred(m)) finish(undefined, m)
      })
      // the reason quotes its last lines, which may still be in the pipes when 'exit' fires
      const onExit = () => void this.outputEnded().then(() => finish(exited()))
      this.child.once('exit', onExit)
      const finish = (err?: Error, m?: any) => {
        clearTimeout(timer)
        off()
        this.child.off('exit', onExit)
        err ? reject(err) : resolve(m)
      }
    })
  }

  /** Asks the runtime to release its data and exit; SIGKILL after `deadlineMs`. */
  async stop(deadlineMs = 5000): Promise<void> {
    this.stopping = true
    if (!this.alive) return
    this.send({ type: 'release' })
    if (!this.child.connected) this.child.kill('SIGTERM')
    const t = setTimeout(() => this.child.kill('SIGKILL'), deadlineMs)
    await this.exited
    clearTimeout(t)
  }

  kill(): void {
    this.stopping = true
    if (this.alive) this.child.kill('SIGKILL')
  }
}
