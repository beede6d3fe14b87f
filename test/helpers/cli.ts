/** Running the `aether` command as a child process in tests. */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const root = fileURLToPath(new URL('../..', import.meta.url))
export const bin = fileURLToPath(new URL('../../bin/aether.mjs', import.meta.url))

export function aether(
  args: string[],
  opts: { timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      cwd: root,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const t = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`aether ${args.join(' ')} timed out\n${stdout}\n${stderr}`))
    }, opts.timeoutMs ?? 30_000)
    child.on('exit', (code) => {
      clearTimeout(t)
      resolve({ code: code ?? -1, stdout, stderr })
    })
  })
}

/** Starts `aether hub` and resolves once it printed its URL. */
export function startHub(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, 'hub', ...args], {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    const t = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`hub did not start:\n${out}`))
    }, 20_000)
    const onData = (d: Buffer) => {
      out += d
      const m = /aether hub (http:\/\/\S+)/.exec(out)
      if (m) {
        clearTimeout(t)
        resolve({ child, url: m[1], output: () => out })
      }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', (d) => (out += d))
    child.on('exit', (code) => {
      clearTimeout(t)
      reject(new Error(`hub exited (${code}):\n${out}`))
    })
  })
}

export function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once('exit', () => resolve())
    child.kill(signal)
  })
}
