/**
 * A nats-server of the test's own, on a free port with a temporary JetStream store, that the
 * test can kill -9 and restart on the same port, or SIGSTOP/SIGCONT (a partition).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer, connect } from 'node:net'
import { tmpDir, sleep } from './tmp.ts'

export const NATS_BIN = '/usr/sbin/nats-server'

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as any).port
      s.close(() => resolve(p))
    })
  })
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(port, '127.0.0.1')
    c.once('connect', () => (c.destroy(), resolve(true)))
    c.once('error', () => resolve(false))
  })
}

export class NatsServer {
  child?: ChildProcess
  readonly dir = tmpDir('aether-nats-')
  log = ''
  private constructor(readonly port: number) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`
  }

  static async start(port?: number): Promise<NatsServer> {
    const s = new NatsServer(port ?? (await freePort()))
    await s.restart()
    return s
  }

  /** (Re)starts the server on the same port and store. */
  async restart(): Promise<void> {
    const child = spawn(NATS_BIN, ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    child.stdout!.on('data', (d) => (this.log = (this.log + d).slice(-20000)))
    child.stderr!.on('data', (d) => (this.log = (this.log + d).slice(-20000)))
    this.child = child
    const end = Date.now() + 10_000
    while (!(await canConnect(this.port))) {
      if (Date.now() > end || child.exitCode !== null)
        throw new Error(`nats-server did not start on ${this.port}:\n${this.log}`)
      await sleep(20)
    }
  }

  /** kill -9, and wait until the process is gone. */
  async kill9(): Promise<void> {
    const c = this.child
    if (!c || c.exitCode !== null || c.signalCode !== null) return
    const gone = new Promise((r) => c.once('exit', r))
    process.kill(c.pid!, 'SIGKILL')
    await gone
  }

  /** SIGSTOP (a partition): the process stays, paused; `cont()` resumes it, `close()` ends it. */
  pause(): void {
    process.kill(this.child!.pid!, 'SIGSTOP')
  }

  /** SIGSTOP, resolving once the kernel shows the process stopped (kill() returns before that). */
  async stopped(): Promise<void> {
    this.pause()
    const end = Date.now() + 5000
    while (readFileSync(`/proc/${this.child!.pid}/stat`, 'utf8').split(') ')[1][0] !== 'T') {
      if (Date.now() > end) throw new Error(`nats-server ${this.child!.pid} did not stop`)
      await sleep(1)
    }
  }

  cont(): void {
    process.kill(this.child!.pid!, 'SIGCONT')
  }

  async close(): Promise<void> {
    try {
      this.cont()
    } catch {}
    await this.kill9()
  }
}
