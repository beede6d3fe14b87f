/**
 * The life of a long-running Aether process (hub, root, supervisor, worker, a supervisor's slot
 * runtime): it serves until SIGINT or SIGTERM, then closes what it opened, and a process-level
 * guard turns what nobody caught into an incident instead of a silent exit.
 *
 * What the guard decides (docs/http-api.md, "Errors nobody caught"):
 * - An unhandled promise rejection is contained: the promise's own work is lost, but no synchronous
 *   code was cut off half-way, so the process goes on. It is logged with its stack and recorded as
 *   an incident (class `process`) in the actor system, when there is one (`GET /api/incidents`).
 * - An uncaught exception that belongs to one connection (a socket `error` nobody listened to:
 *   ECONNRESET, EPIPE, a `ws` frame error, ...) is contained the same way: it ends that
 *   connection only.
 * - Any other uncaught exception ends the process: it unwound code in the middle of its work, so
 *   state in memory can no longer be trusted. The stack is logged and recorded, the process closes
 *   what it can within `fatalCloseMs` (the journal is flushed, so nothing already acknowledged is
 *   lost) and exits with code 70 (EX_SOFTWARE). A supervisor sees the exit, restarts the runtime and
 *   shows the incident in `GET /api/supervisor/status` (a runtime under a supervisor also sends it
 *   the incident over IPC before it exits); without one, a process manager sees a non-zero exit.
 */

/** Exit code of a process that ended on an uncaught exception. */
export const FATAL_EXIT_CODE = 70

/** The exit codes of a long-running command, for its --help. */
export const SERVE_EXIT_CODES = `
exit codes: 0 stopped by SIGINT/SIGTERM (after closing), 1 could not start (the reason is printed),
2 usage error, 70 ended by an uncaught exception (stack in the log; a supervisor restarts it).
Unhandled promise rejections and errors of a single connection are logged as incidents and the
process goes on (docs/http-api.md: "Errors nobody caught").`

/** What the guard records about an error nobody caught. */
export interface ProcessIncident {
  at: number
  class: 'process'
  kind: 'uncaughtException' | 'unhandledRejection'
  /** Whether the process ends because of it. */
  fatal: boolean
  message: string
  stack?: string
  pid: number
}

/** Error codes of failures that concern one connection only. */
const CONNECTION_CODES = new Set([
  'ECONNRESET',
  'ECONNABORTED',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ERR_STREAM_DESTROYED',
  'ERR_STREAM_WRITE_AFTER_END',
  'ERR_STREAM_PREMATURE_CLOSE',
  'ERR_SOCKET_CLOSED',
])

/** Whether an error nobody caught ends the process (see the file header). */
export function isFatal(kind: ProcessIncident['kind'], err: unknown): boolean {
  if (kind === 'unhandledRejection') return false
  const code = (err as { code?: unknown } | null)?.code
  return !(typeof code === 'string' && (CONNECTION_CODES.has(code) || code.startsWith('WS_ERR_')))
}

export interface GuardOptions {
  /** Names the process in log lines (`hub`, `supervisor`, ...). */
  name: string
  /** How long a fatal exit waits for `close` (default 3000 ms). */
  fatalCloseMs?: number
  /** Called instead of `process.exit` (tests). */
  exit?: (code: number) => void
  log?: (line: string) => void
}

/**
 * The process-level guard. `attach` gives it, once the process has them, a place to record
 * incidents (the actor system) and what to close before a fatal exit.
 */
export class ProcessGuard {
  readonly incidents: ProcessIncident[] = []
  private record?: (i: ProcessIncident) => void
  private close?: () => Promise<void>
  private ending = false
  private readonly onException = (err: unknown) => this.caught('uncaughtException', err)
  private readonly onRejection = (err: unknown) => this.caught('unhandledRejection', err)

  constructor(private opts: GuardOptions) {}

  install(): this {
    process.on('uncaughtException', this.onException)
    process.on('unhandledRejection', this.onRejection)
    return this
  }

  uninstall(): void {
    process.off('uncaughtException', this.onException)
    process.off('unhandledRejection', this.onRejection)
  }

  attach(to: { record?: (i: ProcessIncident) => void; close?: () => Promise<void> }): void {
    if (to.record) this.record = to.record
    if (to.close) this.close = to.close
  }

  /** Handles one error nobody caught (the listeners call it; tests may too). */
  caught(kind: ProcessIncident['kind'], err: unknown): void {
    const fatal = isFatal(kind, err)
    const e = err instanceof Error ? err : undefined
    const incident: ProcessIncident = {
      at: Date.now(),
      class: 'process',
      kind,
      fatal,
      message: e ? `${e.name}: ${e.message}` : String(err),
      stack: e?.stack,
      pid: process.pid,
    }
    this.incidents.push(incident)
    if (this.incidents.length > 100) this.incidents.shift()
    const log = this.opts.log ?? ((l: string) => console.error(l))
    log(
      `aether ${this.opts.name}: ${fatal ? 'fatal ' : ''}${kind === 'uncaughtException' ? 'uncaught exception' : 'unhandled rejection'}` +
        `${fatal ? `; closing and exiting with code ${FATAL_EXIT_CODE}` : ' (contained; the process goes on)'}\n${e?.stack ?? String(err)}`,
    )
    try {
      this.record?.(incident)
    } catch {
      // the system is closing: the log has it
    }
    // a runtime under a supervisor: tell it why, before the exit it will see
    if (process.send && process.connected) process.send({ type: 'incident', incident }, undefined, {}, () => {})
    if (fatal) void this.end()
  }

  private async end(): Promise<void> {
    const exit = this.opts.exit ?? ((code: number) => process.exit(code))
    if (this.ending) return exit(FATAL_EXIT_CODE)
    this.ending = true
    const deadline = new Promise<void>((r) => setTimeout(r, this.opts.fatalCloseMs ?? 3000).unref())
    await Promise.race([Promise.resolve(this.close?.()).catch(() => {}), deadline])
    exit(FATAL_EXIT_CODE)
  }
}

/** Installs the guard for a long-running process. */
export function guardProcess(opts: GuardOptions): ProcessGuard {
  return new ProcessGuard(opts).install()
}

/** Where a process records incidents: its actor system (`ActorSystem.incident`). */
export interface IncidentSink {
  incident(i: { at: number; class: string; message: string }): void
}

/** The guard's incident as the actor system records it (`GET /api/incidents`, the journal). */
export function systemIncident(i: ProcessIncident): { at: number; class: string; message: string } {
  return { at: i.at, class: 'process', message: `${i.fatal ? 'fatal ' : ''}${i.kind}: ${i.stack ?? i.message}` }
}

export interface ServeOptions {
  /** Names the process in log lines. */
  name: string
  /** The guard installed when the process started (`guardProcess`). */
  guard: ProcessGuard
  /** Closes what the process opened: on SIGINT/SIGTERM, and (bounded) before a fatal exit. */
  close: () => Promise<void>
  /** The actor system that records the guard's incidents, if the process has one. */
  system?: IncidentSink
  /** The word for the shutdown in the log line (default "shutting down"). */
  verb?: string
}

/**
 * Serves until SIGINT or SIGTERM, then runs `close` and resolves with exit code 0; until then the
 * guard records incidents in `system` and closes through `close` before a fatal exit. A second
 * signal while closing ends the process at once (Node's default).
 */
export function serve(opts: ServeOptions): Promise<number> {
  const { system } = opts
  // a fatal error while a signal's close runs (or the reverse) closes once
  let closed: Promise<void> | undefined
  const close = () => (closed ??= opts.close())
  opts.guard.attach({
    close,
    record: system ? (i) => system.incident(systemIncident(i)) : undefined,
  })
  return new Promise<number>((resolve) => {
    let closing = false
    const stop = async (sig: string) => {
      if (closing) return
      closing = true
      console.log(`aether ${opts.name}: ${sig}, ${opts.verb ?? 'shutting down'}`)
      await close()
      resolve(0)
    }
    process.once('SIGINT', () => void stop('SIGINT'))
    process.once('SIGTERM', () => void stop('SIGTERM'))
  })
}
