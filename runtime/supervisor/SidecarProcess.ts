/**
 * The transport sidecar as a supervised child process, restarted whenever it exits and restarted
 * by hand (`restart()`: the HTTP API and `aether sidecar restart`). A restart is short because a
 * warm spare waits beside the active sidecar: a child that has loaded the sidecar's code
 * (runtime/sidecar/main.mjs --standby) and serves when told to. When the active one dies the
 * spare serves at once and a new spare is started; without a spare (it died too) a new sidecar
 * is spawned, after a backoff that grows only while sidecars keep dying young.
 *
 * Each life (pid, when it began serving, how it ended) is kept for the status API. A sidecar
 * ends itself when this process goes (its IPC channel closes), so it never outlives its owner: the
 * hub (`aether hub --transport sidecar`) or `aether supervisor --sidecar`, whose slot runtimes
 * share it and so keep one NATS connection across a cutover. The token reaches the child in its
 * environment (AETHER_SIDECAR_TOKEN), never in argv.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export interface SidecarProcessOptions {
  nats: string
  socket: string
  token: string
  name: string
  /** Restart delay after a death: `minMs`, doubled per quick death up to `maxMs`; reset once it stayed up `stableMs`. */
  backoff?: { minMs: number; maxMs: number; stableMs: number }
  /** Told when a serving sidecar ends (its life, `end` set), before the next one serves. */
  onExit?: (life: SidecarLife) => void
}

export interface SidecarLife {
  pid: number
  startedAt: number
  exitedAt?: number
  /** `SIGKILL`, `exit 1`, or `restart requested` for a restart by hand. */
  end?: string
}

const MAIN = fileURLToPath(new URL('../sidecar/main.mjs', import.meta.url))
const KEPT = 100
const SPARE_DELAY_MS = 500

export class SidecarProcess {
  child?: ChildProcess
  private spare?: ChildProcess
  /** Spares that said they wait for `serve`. */
  private standby = new WeakSet<ChildProcess>()
  readonly lives: SidecarLife[] = []
  readonly counters = { starts: 0, deaths: 0, manualRestarts: 0, fromSpare: 0, spareDeaths: 0 }
  /** The last lines the sidecars wrote (they explain a failure). */
  output = ''
  private delay: number
  private stopped = false
  private timers = new Set<ReturnType<typeof setTimeout>>()
  private readonly backoff: { minMs: number; maxMs: number; stableMs: number }

  constructor(readonly opts: SidecarProcessOptions) {
    this.backoff = opts.backoff ?? { minMs: 50, maxMs: 2000, stableMs: 250 }
    this.delay = this.backoff.minMs
    this.serve()
    // the spare loads after the first sidecar, not competing with it for the CPU
    this.later(SPARE_DELAY_MS, () => this.keepSpare())
  }

  /** The serving sidecar's pid, if one runs. */
  get pid(): number | undefined {
    return alive(this.child) ? this.child!.pid : undefined
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t)
      fn()
    }, ms)
    this.timers.add(t)
  }

  private spawnChild(standby: boolean): ChildProcess {
    const args = [MAIN, '--nats', this.opts.nats, '--socket', this.opts.socket, '--name', this.opts.name]
    const child = spawn(process.execPath, standby ? [...args, '--standby'] : args, {
      env: { ...process.env, AETHER_SIDECAR_TOKEN: this.opts.token },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    })
    const keep = (d: Buffer) => (this.output = (this.output + d).slice(-4000))
    child.stdout!.on('data', keep)
    child.stderr!.on('data', keep)
    child.on('error', (err) => keep(Buffer.from(`spawn failed: ${err.message}\n`)))
    child.unref()
    ;(child as unknown as { channel?: { unref(): void } }).channel?.unref()
    return child
  }

  /** Keeps one warm spare (re-spawned after the backoff when it dies while waiting). */
  private keepSpare(): void {
    if (this.stopped || alive(this.spare)) return
    const spare = this.spawnChild(true)
    this.spare = spare
    spare.once('message', () => this.standby.add(spare))
    spare.once('exit', () => {
      if (this.spare !== spare || this.stopped) return
      this.spare = undefined
      this.counters.spareDeaths++
      this.later(this.backoff.maxMs, () => this.keepSpare())
    })
  }

  /** Makes a sidecar serve: the spare if one waits, else a fresh process. */
  private serve(): void {
    if (this.stopped) return
    let child: ChildProcess
    if (alive(this.spare) && this.spare!.connected) {
      child = this.spare!
      this.spare = undefined
      child.removeAllListeners('exit')
      // it serves once it says it waits (an IPC message before its listener would be lost)
      const go = () => child.connected && child.send({ type: 'serve' })
      if (this.standby.has(child)) go()
      else child.once('message', go)
      this.standby.delete(child)
      this.counters.fromSpare++
      this.keepSpare() // the next spare loads while this one serves
    } else child = this.spawnChild(false)
    this.child = child
    this.counters.starts++
    const life: SidecarLife = { pid: child.pid ?? -1, startedAt: Date.now() }
    this.lives.push(life)
    if (this.lives.length > KEPT) this.lives.shift()
    child.once('exit', (code, signal) => {
      life.exitedAt = Date.now()
      life.end ??= signal ?? `exit ${code}`
      if (this.stopped) return
      this.opts.onExit?.(life)
      this.counters.deaths++
      const upMs = life.exitedAt - life.startedAt
      this.delay = upMs >= this.backoff.stableMs ? this.backoff.minMs : Math.min(this.backoff.maxMs, this.delay * 2)
      // A sidecar that lived serves again at once; one that keeps dying young waits the backoff.
      const wait = life.end === 'restart requested' || upMs >= this.backoff.stableMs ? 0 : this.delay
      this.later(wait, () => this.serve())
    })
  }

  /** Stops the serving sidecar (SIGTERM); the spare (or a new one) serves next. */
  restart(): void {
    this.counters.manualRestarts++
    const life = this.lives[this.lives.length - 1]
    if (alive(this.child)) {
      if (life) life.end = 'restart requested'
      this.child!.kill('SIGTERM')
    } else this.serve()
  }

  /** Stops both for good (the hub closes). */
  async stop(): Promise<void> {
    this.stopped = true
    for (const t of this.timers) clearTimeout(t)
    await Promise.all([this.child, this.spare].map(end))
  }

  status(): {
    pid: number | null
    sparePid: number | null
    /** A spare has loaded and waits: a restart now is a hand-over, not a process start. */
    spareReady: boolean
    counters: SidecarProcess['counters']
    lives: SidecarLife[]
    output: string
  } {
    return {
      pid: this.pid ?? null,
      sparePid: alive(this.spare) ? this.spare!.pid! : null,
      spareReady: alive(this.spare) && this.standby.has(this.spare!),
      counters: { ...this.counters },
      lives: this.lives.slice(-25),
      output: this.output.slice(-1000),
    }
  }
}

function alive(c: ChildProcess | undefined): boolean {
  return !!c && c.exitCode === null && c.signalCode === null
}

async function end(c: ChildProcess | undefined): Promise<void> {
  if (!c || !alive(c)) return
  const gone = new Promise((r) => c.once('exit', r))
  c.kill('SIGTERM')
  const t = setTimeout(() => c.kill('SIGKILL'), 2000)
  await gone
  clearTimeout(t)
}
