/**
 * The external-app fixtures (test/fixtures/external-v5, external-v4): each is copied to a temp
 * folder outside the repository and installed there from its own lock file (`npm ci`, preferring
 * npm's cache), so its `xstate` is its own (v4 for the v4 app), never the repository's. Apps run
 * as child processes that take commands on stdin; `stop()` ends them by their pid.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { cpSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const fixtures = fileURLToPath(new URL('../fixtures', import.meta.url))

/** Installs a fixture app into a fresh temp folder; returns the folder. */
export async function installFixture(name: 'external-v5' | 'external-v4', timeoutMs = 180_000): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), `aether-${name}-`))
  cpSync(join(fixtures, name), dir, { recursive: true, filter: (src) => !src.includes('node_modules') })
  const child = spawn('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund'], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout!.on('data', (d) => (out += d))
  child.stderr!.on('data', (d) => (out += d))
  const code = await new Promise<number | null>((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.once('exit', (c) => {
      clearTimeout(t)
      resolve(c)
    })
  })
  if (code !== 0) {
    rmSync(dir, { recursive: true, force: true })
    throw new Error(`npm ci of ${name} failed (${code}):\n${out}`)
  }
  return dir
}

/** A fixture app running as a child process. */
export class AppProcess {
  out = ''
  readonly exited: Promise<number | null>

  private constructor(readonly child: ChildProcess) {
    child.stdout!.on('data', (d) => (this.out += d))
    child.stderr!.on('data', (d) => (this.out += d))
    this.exited = new Promise((r) => child.once('exit', (code) => r(code)))
  }

  static start(dir: string, args: string[]): AppProcess {
    return new AppProcess(
      spawn(process.execPath, args, { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env } }),
    )
  }

  /** Waits until the app's output matches `re`; returns the match. */
  async waitFor(re: RegExp, timeoutMs = 15_000): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const m = re.exec(this.out)
      if (m) return m
      if (this.child.exitCode !== null) throw new Error(`the app exited (${this.child.exitCode}):\n${this.out}`)
      if (Date.now() > deadline) throw new Error(`the app did not print ${re} within ${timeoutMs} ms:\n${this.out}`)
      await new Promise((r) => setTimeout(r, 20))
    }
  }

  /** Sends one command line and waits for the app to have taken it (its `n`-th answer matching `ack`). */
  async command(line: string, ack: RegExp, n: number): Promise<void> {
    this.child.stdin!.write(line + '\n')
    const deadline = Date.now() + 15_000
    while ((this.out.match(new RegExp(ack.source, 'g')) ?? []).length < n) {
      if (this.child.exitCode !== null) throw new Error(`the app exited (${this.child.exitCode}):\n${this.out}`)
      if (Date.now() > deadline) throw new Error(`the app did not take ${line}:\n${this.out}`)
      await new Promise((r) => setTimeout(r, 10))
    }
  }

  /** Asks the app to quit; kills it (by pid) if it has not exited within `timeoutMs`. */
  async stop(timeoutMs = 10_000): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode
    this.child.stdin!.end('quit\n')
    const t = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs)
    const code = await this.exited
    clearTimeout(t)
    return code
  }
}

/** Polls `probe` until it returns a value that is not undefined (bounded in time). */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await probe()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}
