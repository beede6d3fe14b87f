/**
 * `aether root` and `aether hub --nats` as child processes for the link's fault tests: started
 * on free ports with short heartbeat and authority thresholds, killed by pid.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { bin, root } from './cli.ts'
import { freePort } from './natsServer.ts'
import { sleep } from './tmp.ts'

export const TOKEN = 'test-token'

/** Fast link timing for tests (ms). */
export const FAST_LINK = {
  AETHER_LINK_HEARTBEAT_MS: '200',
  AETHER_AUTHORITY_AGING_MS: '600',
  AETHER_AUTHORITY_STALE_MS: '1500',
  AETHER_RETRANSMIT_MS: '800',
}

/** How long a child may take to print its URL (a loaded machine starts `tsx` slowly). */
export const procTimeouts = { startMs: 20_000 }

export class AetherProc {
  child!: ChildProcess
  out = ''
  url = ''
  constructor(
    readonly role: 'hub' | 'root',
    readonly args: string[],
    readonly env: Record<string, string>,
  ) {}

  async start(): Promise<this> {
    this.out = ''
    const child = spawn(process.execPath, [bin, this.role, ...this.args], {
      cwd: root,
      env: { ...process.env, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    this.child = child
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`${this.role} did not start in ${procTimeouts.startMs} ms:\n${this.out}`)),
        procTimeouts.startMs,
      )
      child.stdout!.on('data', (d) => {
        this.out += d
        const m = new RegExp(`aether ${this.role} (http://\\S+)`).exec(this.out)
        if (m && !this.url.startsWith(m[1])) {
          this.url = m[1]
          clearTimeout(t)
          resolve()
        }
      })
      child.stderr!.on('data', (d) => (this.out += d))
      child.once('exit', (code) => {
        clearTimeout(t)
        reject(new Error(`${this.role} exited (${code}):\n${this.out}`))
      })
    })
    return this
  }

  async kill9(): Promise<void> {
    const c = this.child
    if (c.exitCode !== null || c.signalCode !== null) return
    const gone = new Promise((r) => c.once('exit', r))
    process.kill(c.pid!, 'SIGKILL')
    await gone
    this.url = ''
  }

  async stop(): Promise<void> {
    const c = this.child
    if (!c || c.exitCode !== null || c.signalCode !== null) return
    const gone = new Promise((r) => c.once('exit', r))
    process.kill(c.pid!, 'SIGTERM')
    const t = setTimeout(() => c.exitCode === null && process.kill(c.pid!, 'SIGKILL'), 5000)
    await gone
    clearTimeout(t)
  }

  alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  async get(path: string): Promise<any> {
    const r = await fetch(this.url + path)
    if (!r.ok) throw new Error(`GET ${path}: ${r.status} ${await r.text()}`)
    return r.json()
  }

  async post(path: string, body: unknown): Promise<{ status: number; body: any }> {
    const r = await fetch(this.url + path, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    return { status: r.status, body: await r.json().catch(() => null) }
  }
}

/** A root child process on a fixed port (so a restart keeps its URL). */
export async function startRoot(nats: string, data: string, port?: number, extra: string[] = []): Promise<AetherProc> {
  const p = port ?? (await freePort())
  return new AetherProc(
    'root',
    [
      '--nats',
      nats,
      '--data',
      data,
      '--port',
      String(p),
      '--token',
      TOKEN,
      '--authority-aging',
      FAST_LINK.AETHER_AUTHORITY_AGING_MS,
      '--authority-stale',
      FAST_LINK.AETHER_AUTHORITY_STALE_MS,
      ...extra,
    ],
    {},
  ).start()
}

export async function startHubProc(
  nats: string,
  data: string,
  hubId: string,
  port?: number,
  env: Record<string, string> = {},
): Promise<AetherProc> {
  const p = port ?? (await freePort())
  return new AetherProc('hub', ['--nats', nats, '--data', data, '--port', String(p), '--token', TOKEN], {
    ...FAST_LINK,
    AETHER_HUB_ID: hubId,
    ...env,
  }).start()
}

/** Polls `fn` until it returns a truthy value; throws with `what` after `ms`. */
export async function waitFor<T>(fn: () => Promise<T | undefined | false>, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms
  let lastErr: unknown
  for (;;) {
    try {
      const v = await fn()
      if (v) return v
    } catch (err) {
      lastErr = err
    }
    if (Date.now() > end)
      throw new Error(`timed out after ${ms} ms waiting for ${what}${lastErr ? `: ${(lastErr as Error).message}` : ''}`)
    await sleep(50)
  }
}

/** Until the hub's control authority is fresh and both its NATS connections are up. */
export async function waitLinkReady(hub: AetherProc, ms = 10_000): Promise<void> {
  await waitFor(
    async () => {
      const r = await hub.get('/api/reliability')
      const transport = r.tree.children
        .find((c: any) => c.id === 'root-link')
        ?.children?.find((c: any) => c.id === 'transport')
      return (
        r.link.authority === 'fresh' &&
        transport?.detail.data === 'connected' &&
        transport?.detail.control === 'connected'
      )
    },
    ms,
    'a fresh, connected hub link',
  )
}
