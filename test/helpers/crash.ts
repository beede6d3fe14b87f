/** Shared parts of the jobs crash tests: the external effect sink, a seeded PRNG, child process control. */
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdirSync } from 'node:fs'
import { basename, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildSync } from 'esbuild'

export const root = fileURLToPath(new URL('../..', import.meta.url))

/** mulberry32 */
export function prng(seed: number): () => number {
  let s = seed | 0
  return () => {
    s = (s + 0x6d2b79f5) | 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * The external sink: applies an effect once per idempotency key (as an idempotent target does)
 * and records, per logical (job, step), under which keys it was applied. A duplicate is a logical
 * step applied twice (under two keys); a repeated request with a known key is a redelivery.
 */
export class Sink {
  server!: Server
  url = ''
  readonly byKey = new Map<string, { job: string; step: string }>()
  readonly applied = new Map<string, string[]>()
  redeliveries = 0
  requests = 0

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let body = ''
      req.on('data', (d) => (body += d))
      req.on('end', () => {
        this.requests++
        const { key, job, step } = JSON.parse(body)
        let applied = false
        if (this.byKey.has(key)) this.redeliveries++
        else {
          this.byKey.set(key, { job, step })
          const l = `${job}/${step}`
          this.applied.set(l, [...(this.applied.get(l) ?? []), key])
          applied = true
        }
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ applied }))
      })
    })
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r))
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/effect`
  }

  /** Logical steps applied under more than one key. */
  duplicates(): string[] {
    return [...this.applied].filter(([, keys]) => keys.length > 1).map(([l]) => l)
  }

  close(): Promise<void> {
    this.server.closeAllConnections?.()
    return new Promise((r) => this.server.close(() => r()))
  }
}

/**
 * Bundles a TypeScript entry (our code inlined, packages external) into test/.artifacts/, so the
 * many restarts of a crash test start in well under a second instead of compiling through tsx
 * each time. The bundle runs the same source.
 */
export function bundle(entry: string): string {
  const dir = join(root, 'test/.artifacts')
  mkdirSync(dir, { recursive: true })
  const out = join(dir, basename(entry).replace(/\.ts$/, '.mjs'))
  buildSync({
    entryPoints: [join(root, entry)],
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    outfile: out,
    target: 'node20',
    logLevel: 'error',
  })
  return out
}

/** Starts `node FILE ARGS` (through tsx for .ts) and resolves with the first stdout line starting with `READY `. */
export function startChild(
  file: string,
  args: string[],
  env: Record<string, string>,
  readyPrefix = 'READY ',
): Promise<{ child: ChildProcess; ready: string; out: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(file.endsWith('.ts') ? ['--import', 'tsx'] : []), file, ...args], {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const out: string[] = []
    let buf = ''
    let done = false
    child.stdout!.on('data', (d) => {
      buf += d
      let i: number
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i)
        buf = buf.slice(i + 1)
        out.push(line)
        if (!done && line.startsWith(readyPrefix)) {
          done = true
          resolve({ child, ready: line.slice(readyPrefix.length), out })
        }
      }
    })
    child.stderr!.on('data', (d) => out.push(String(d)))
    // A child that prints READY and dies at once can be seen to exit before that line is read:
    // it failed only if READY is not in what it wrote ('close': all of it read; a grandchild that
    // keeps the pipes open gets 2 s).
    child.on('exit', (code, sig) => {
      const fail = () => {
        if (done) return
        done = true
        reject(new Error(`child ${file} exited (${code ?? sig}) before READY:\n${out.join('\n')}`))
      }
      child.once('close', fail)
      setTimeout(fail, 2000).unref()
    })
  })
}

export function killHard(child: ChildProcess): Promise<void> {
  return new Promise((r) => {
    if (child.exitCode !== null || child.signalCode !== null) return r()
    child.once('exit', () => r())
    child.kill('SIGKILL')
  })
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as AddressInfo).port
  await new Promise((r) => s.close(r))
  return port
}

/** Our own nats-server with JetStream on `port`, storing in `dir`; resolves once it accepts connections. */
export async function startNats(port: number, dir: string): Promise<ChildProcess> {
  const child = spawn('/usr/sbin/nats-server', ['-js', '-sd', dir, '-p', String(port), '-a', '127.0.0.1'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let log = ''
  child.stderr!.on('data', (d) => (log += d))
  const net = await import('node:net')
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((r) => {
      const c = net.connect(port, '127.0.0.1', () => (c.destroy(), r(true)))
      c.on('error', () => r(false))
    })
    if (ok && /Server is ready/.test(log)) return child
    if (child.exitCode !== null) throw new Error(`nats-server exited: ${log}`)
    await sleep(50)
  }
  throw new Error(`nats-server did not start: ${log}`)
}
