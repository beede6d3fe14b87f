/**
 * Runs `aether supervisor` as a child process for integration tests, with helpers to poll its
 * status, kill it with SIGKILL, and count the hub runtimes it (or a killed predecessor) left alive.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as any).port
      s.close(() => resolve(p))
    })
  })
}

export interface SupervisorHandle {
  proc: ChildProcess
  url: string
  token: string
  output: () => string
  status: () => Promise<any>
  post: (path: string, body: unknown, token?: string) => Promise<{ status: number; body: any }>
  kill: () => Promise<void>
  stop: () => Promise<void>
}

export async function startSupervisor(opts: {
  slots: string
  data: string
  port: number
  slotPorts: [number, number]
  args?: string[]
  env?: Record<string, string>
  /** How long the start may take (default 120 s: a cold node + tsx + hub on a loaded 2-core machine; a harness wait, not a tested bound). */
  startMs?: number
}): Promise<SupervisorHandle> {
  const token = 'test-token'
  const proc = spawn(
    process.execPath,
    [
      'bin/aether.mjs',
      'supervisor',
      '--slots',
      opts.slots,
      '--data',
      opts.data,
      '--port',
      String(opts.port),
      '--token',
      token,
      '--slot-ports',
      opts.slotPorts.join(','),
      ...(opts.args ?? []),
    ],
    {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...opts.env },
    },
  )
  let out = ''
  proc.stdout!.on('data', (d) => (out += d))
  proc.stderr!.on('data', (d) => (out += d))
  const url = `http://127.0.0.1:${opts.port}`
  const exited = new Promise<void>((r) => proc.once('exit', () => r()))
  const h: SupervisorHandle = {
    proc,
    url,
    token,
    output: () => out,
    status: async () => (await fetch(`${url}/api/supervisor/status`)).json(),
    post: async (path, body, tok = token) => {
      const r = await fetch(url + path, {
        method: 'POST',
        headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      })
      const text = await r.text()
      let parsed: any = text
      try {
        parsed = JSON.parse(text)
      } catch {
        // not JSON
      }
      return { status: r.status, body: parsed }
    },
    kill: async () => {
      proc.kill('SIGKILL')
      await exited
    },
    stop: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return
      proc.kill('SIGTERM')
      const t = setTimeout(() => proc.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(t)
    },
  }
  // The banner comes once the first runtime serves: a cold node + tsx + hub, which took over 30 s
  // at load average 25 on two cores (the behaviour under test starts after it).
  const until = Date.now() + (opts.startMs ?? 120_000)
  while (!/aether supervisor http/.test(out)) {
    if (proc.exitCode !== null) throw new Error(`the supervisor exited: ${out}`)
    if (Date.now() > until) {
      // not left behind: the caller has no handle to stop it with
      proc.kill('SIGKILL')
      await exited
      throw new Error(`the supervisor did not start: ${out}`)
    }
    await sleep(20)
  }
  return h
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

/** Polls `fn` until it returns a truthy value (returned), or throws after `ms`. */
export async function until<T>(fn: () => Promise<T> | T, ms: number, what: string, every = 25): Promise<T> {
  const end = Date.now() + ms
  let last: unknown
  for (;;) {
    try {
      const v = await fn()
      if (v) return v
    } catch (err) {
      last = err
    }
    if (Date.now() > end)
      throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`)
    await sleep(every)
  }
}

/** Waits until the supervisor's update attempt has resolved and it serves again; returns that status. */
export function updateResolved(sup: SupervisorHandle, ms = 60_000): Promise<any> {
  return until(
    async () => {
      const s = await sup.status()
      return s.transition.state === 'idle' && s.transition.attempt?.outcome && s.phase === 'serving' ? s : null
    },
    ms,
    'the update to resolve',
  )
}

/** Hub runtimes alive on this machine started for `slotsDir` (by the marker in their environment). */
export function runtimesOf(slotsDir: string): Array<{ pid: number; role: string; id: string }> {
  const out: Array<{ pid: number; role: string; id: string }> = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      if (/State:\s+Z/.test(readFileSync(`/proc/${name}/status`, 'utf8'))) continue
      const env = readFileSync(`/proc/${name}/environ`, 'utf8').split('\0')
      if (!env.includes(`AETHER_SUPERVISOR_MARK=${slotsDir}`)) continue
      // a runtime is a Node process; its children inherit the marker (tsx starts an esbuild
      // service while its cache is cold), and they are not runtimes
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0')[0] !== process.execPath) continue
      const get = (k: string) => env.find((e) => e.startsWith(k + '='))?.slice(k.length + 1) ?? ''
      out.push({ pid: Number(name), role: get('AETHER_ROLE'), id: get('AETHER_RUNTIME_ID') })
    } catch {
      // gone
    }
  }
  return out
}

/** Kills every runtime left for `slotsDir` (test cleanup). */
export function reapRuntimes(slotsDir: string): void {
  for (const r of runtimesOf(slotsDir)) {
    try {
      process.kill(r.pid, 'SIGKILL')
    } catch {
      // gone
    }
  }
}
