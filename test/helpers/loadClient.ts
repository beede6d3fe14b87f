/**
 * A steady client for update tests and the update benchmark: `workers` loops each sending
 * GET /api/health through the supervisor, pausing `intervalMs` between requests, recording every
 * answer (status, runtime, version, latency). Failures are non-200 answers and network errors.
 */
import { Agent, request } from 'node:http'

export interface Sample {
  start: number
  end: number
  status: number
  runtimeInstanceId?: string
  version?: string
  error?: string
}

export class LoadClient {
  readonly samples: Sample[] = []
  private running = false
  private loops: Promise<void>[] = []
  private agent = new Agent({ keepAlive: true, maxSockets: 64 })

  constructor(
    readonly url: string,
    readonly workers = 4,
    readonly intervalMs = 5,
  ) {}

  start(): void {
    this.running = true
    for (let i = 0; i < this.workers; i++) this.loops.push(this.loop())
  }

  async stop(): Promise<void> {
    this.running = false
    await Promise.all(this.loops)
    this.agent.destroy()
  }

  private async loop(): Promise<void> {
    while (this.running) {
      this.samples.push(await this.one())
      if (this.intervalMs) await new Promise((r) => setTimeout(r, this.intervalMs))
    }
  }

  private one(): Promise<Sample> {
    const start = performance.now()
    return new Promise((resolve) => {
      const req = request(`${this.url}/api/health`, { agent: this.agent, timeout: 60_000 }, (res) => {
        let body = ''
        res.on('data', (d) => (body += d))
        res.on('end', () => {
          const s: Sample = { start, end: performance.now(), status: res.statusCode ?? 0 }
          try {
            const j = JSON.parse(body)
            s.runtimeInstanceId = j.runtimeInstanceId
            s.version = j.version
          } catch {
            s.error = 'not JSON'
          }
          resolve(s)
        })
        res.on('error', (err) => resolve({ start, end: performance.now(), status: 0, error: err.message }))
      })
      req.on('error', (err) => resolve({ start, end: performance.now(), status: 0, error: err.message }))
      req.on('timeout', () => req.destroy(new Error('timeout')))
      req.end()
    })
  }

  get failed(): Sample[] {
    return this.samples.filter((s) => s.status !== 200 || s.error)
  }

  /** Versions in the order the client saw them answer (runs collapsed). */
  versionRuns(): string[] {
    const out: string[] = []
    for (const s of [...this.samples].sort((a, b) => a.end - b.end))
      if (s.version && out.at(-1) !== s.version) out.push(s.version)
    return out
  }

  /** The slowest request (ms): what a client waited at most across the switch. */
  maxLatency(): number {
    return Math.max(0, ...this.samples.map((s) => s.end - s.start))
  }
}
