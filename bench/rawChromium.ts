/**
 * A Chromium page driven over a bare CDP socket, for benchmarks of the hub: playwright's driver
 * enables the Network domain and so receives every WebSocket frame of the page in the benchmark's
 * own process (the hub's), which bills the hub for the harness. Here only `Runtime.evaluate` and
 * `Performance.getMetrics` cross, on demand. The browser runs in its own process group, killed
 * by `close()`.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import WebSocket from 'ws'
import { CHROMIUM_ARGS } from '../test/helpers/browser.ts'

export class RawPage {
  private nextId = 1
  private waiting = new Map<number, (r: any) => void>()
  private constructor(
    private child: ChildProcess,
    private dir: string,
    private ws: WebSocket,
  ) {
    ws.on('message', (d) => {
      const m = JSON.parse(String(d))
      const w = this.waiting.get(m.id)
      if (w) {
        this.waiting.delete(m.id)
        w(m)
      }
    })
  }

  /** Opens `url` in a fresh headless Chromium; `nice` runs it at nice 19. */
  static async open(url: string, opts: { nice?: boolean; args?: string[] } = {}): Promise<RawPage> {
    const dir = mkdtempSync(join(tmpdir(), 'aether-bench-chromium-'))
    const cmd = [...(opts.nice ? ['nice', '-n', '19'] : []), '/usr/bin/chromium']
    const child = spawn(
      cmd[0],
      [
        ...cmd.slice(1),
        ...CHROMIUM_ARGS,
        ...(opts.args ?? []),
        `--user-data-dir=${dir}`,
        '--window-size=1440,900',
        '--remote-debugging-port=0',
        url,
      ],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
        detached: true,
      },
    )
    const port = await new Promise<number>((resolve, reject) => {
      let err = ''
      const t = setTimeout(() => reject(new Error(`Chromium did not start: ${err.slice(-500)}`)), 20_000)
      child.stderr!.on('data', (d) => {
        err += d
        const m = /DevTools listening on ws:\/\/[^:]+:(\d+)\//.exec(err)
        if (m) {
          clearTimeout(t)
          resolve(Number(m[1]))
        }
      })
    })
    let target: any
    for (let i = 0; i < 100 && !target; i++) {
      const list = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as any[]
      target = list.find((t) => t.type === 'page' && t.url.startsWith(url.split('#')[0]))
      if (!target) await new Promise((r) => setTimeout(r, 100))
    }
    if (!target) throw new Error('the inspector page did not open')
    const ws = new WebSocket(target.webSocketDebuggerUrl, { perMessageDeflate: false })
    await new Promise((r, j) => (ws.once('open', r), ws.once('error', j)))
    const page = new RawPage(child, dir, ws)
    await page.send('Performance.enable')
    return page
  }

  send(method: string, params: object = {}): Promise<any> {
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.waiting.set(id, (m) => (m.error ? reject(new Error(m.error.message)) : resolve(m.result)))
      this.ws.send(JSON.stringify({ id, method, params }))
    })
  }

  async evaluate<T>(expression: string): Promise<T> {
    const r = await this.send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true })
    if (r.exceptionDetails) throw new Error(r.exceptionDetails.text)
    return r.result.value as T
  }

  async metric(name: string): Promise<number> {
    const r = await this.send('Performance.getMetrics')
    return r.metrics.find((m: any) => m.name === name)?.value ?? NaN
  }

  async close(): Promise<void> {
    this.ws.close()
    try {
      process.kill(-this.child.pid!, 'SIGKILL')
    } catch {}
    if (this.child.exitCode === null && this.child.signalCode === null)
      await new Promise((r) => this.child.once('exit', r))
    rmSync(this.dir, { recursive: true, force: true })
  }
}
