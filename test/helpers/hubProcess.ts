/**
 * `node bin/aether.mjs hub ...` as a child process for crash tests: waits for the URL line,
 * captures stdout and stderr (tests scan them for secrets), kills by pid.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'

const root = fileURLToPath(new URL('../..', import.meta.url))

export class HubProcess {
  url = ''
  output = ''
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>

  private constructor(readonly child: ChildProcess) {
    child.stdout!.on('data', (d) => (this.output += d))
    child.stderr!.on('data', (d) => (this.output += d))
    this.exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })))
  }

  get pid(): number {
    return this.child.pid!
  }

  /** `aether <command> --port 0 ...args` (`hub`, or `root`: any command that prints `aether <command> <url>`). */
  static async start(
    args: string[],
    env: Record<string, string> = {},
    timeoutMs = 15_000,
    command = 'hub',
    cwd = root,
  ): Promise<HubProcess> {
    const child = spawn(process.execPath, [join(root, 'bin/aether.mjs'), command, '--port', '0', ...args], {
      cwd,
      env: { ...process.env, FORCE_COLOR: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const h = new HubProcess(child)
    const deadline = Date.now() + timeoutMs
    const listening = new RegExp(`aether ${command} (http://\\S+)`)
    while (!listening.test(h.output)) {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`the hub exited before listening:\n${h.output}`)
      if (Date.now() > deadline) {
        child.kill('SIGKILL')
        throw new Error(`the hub did not start within ${timeoutMs} ms:\n${h.output}`)
      }
      await new Promise((r) => setTimeout(r, 20))
    }
    h.url = listening.exec(h.output)![1]
    return h
  }

  /** Kills the hub by pid and waits for it to be gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) process.kill(this.pid, signal)
    await this.exited
  }
}

/** Runs `node bin/aether.mjs ...args` to completion. */
export function runCli(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 60_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/aether.mjs', ...args], {
      cwd: root,
      env: { ...process.env, FORCE_COLOR: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.once('exit', (code) => {
      clearTimeout(t)
      resolve({ code, stdout, stderr })
    })
  })
}
