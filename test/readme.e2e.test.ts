/**
 * README - every command in README.md's `sh` blocks, run the way a reader runs them, in order, against
 * real hubs on free ports. The test rewrites only what isolates it: the port 7070 becomes a free
 * port, the data folder `.aether` and the files the commands write become temporary paths, and
 * `curl` gets `-sSf` so an HTTP error fails the command. Servers (`npm start`, `aether hub`) are
 * started in the background and stopped with SIGTERM to their process group (they must shut down
 * cleanly and leave no process behind). A line
 * `# open in a browser: URL` is opened in Chromium. Two commands are not run, and the test fails if
 * any other is skipped: `npm install` (CI's `npm ci` has just installed the same lock file) and
 * `npm test` (the command running this test).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Browser, Page } from 'playwright-core'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { launchChromium } from './helpers/browser.ts'
import { freePort } from './helpers/natsServer.ts'
import { exitWhenDone } from './helpers/rtcPair.ts'
import { tmpDir, until } from './helpers/tmp.ts'

const root = fileURLToPath(new URL('..', import.meta.url))
const README = readFileSync(join(root, 'README.md'), 'utf8')
const NOT_RUN: Record<string, string> = {
  'npm install': "CI's `npm ci` has just installed the same lock file",
  'npm test': 'it is the command running this test',
}
const SERVER = /^(npm start|npx aether (hub|root|supervisor|worker))\b/

type Step = { kind: 'sh'; cmd: string } | { kind: 'open'; url: string }

/** The steps of every ```sh block, in order: commands (split on `&&`) and browser opens. */
export function readmeSteps(md: string): Step[] {
  const steps: Step[] = []
  for (const m of md.matchAll(/```sh\n([\s\S]*?)```/g)) {
    for (const raw of m[1].split('\n')) {
      const line = raw.trim()
      const open = /^# open in a browser: (\S+)$/.exec(line)
      if (open) steps.push({ kind: 'open', url: open[1] })
      if (!line || line.startsWith('#')) continue
      const cmd = line.replace(/\s{2,}#.*$/, '') // a comment after two spaces explains the command
      for (const part of cmd.split(' && ')) steps.push({ kind: 'sh', cmd: part.trim() })
    }
  }
  return steps
}

class Server {
  output = ''
  readonly exited: Promise<void>
  constructor(readonly child: ChildProcess) {
    child.stdout!.on('data', (d) => (this.output += d))
    child.stderr!.on('data', (d) => (this.output += d))
    this.exited = new Promise((r) => child.once('exit', () => r()))
  }
  /**
   * A process of the group still runs. A zombie does not count: it has exited, and only waits for
   * its parent to reap it (npm ends by the signal before the hub it started, the hub is reparented
   * to this machine's init, which reaps late; `kill(-pgid, 0)` still succeeds for it).
   */
  private groupAlive(): boolean {
    const pgid = this.child.pid!
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue
      let stat: string
      try {
        stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      } catch {
        continue // gone meanwhile
      }
      // pid (comm) state ppid pgrp ...: the comm may hold spaces and parentheses
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (Number(pgrp) === pgid && state !== 'Z') return true
    }
    return false
  }
  /**
   * SIGTERM to the process group the test started (npm or npx, and the hub under them), as Ctrl-C
   * in a terminal signals the whole group. True when every process of the group is gone within 10 s
   * and the hub said it shut down (npm itself ends by the signal, so its exit code says nothing).
   */
  async stop(): Promise<boolean> {
    if (!this.groupAlive()) return true
    process.kill(-this.child.pid!, 'SIGTERM')
    await this.exited
    const end = Date.now() + 10_000
    while (this.groupAlive() && Date.now() < end) await new Promise((r) => setTimeout(r, 20))
    if (this.groupAlive()) {
      process.kill(-this.child.pid!, 'SIGKILL')
      return false
    }
    return /SIGTERM, shutting down/.test(this.output) && !/Error|uncaught/i.test(this.output)
  }
}

function sh(cmd: string, timeoutMs = 60_000): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', cmd], { cwd: root, env: { ...process.env, FORCE_COLOR: '0' }, detached: true })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), timeoutMs)
    child.once('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, out })
    })
  })
}

const README_TEST = suite('README - every command in it, run as a reader runs it')
let browser: Browser | undefined
let page: Page | undefined
const servers: Server[] = []

README_TEST.after(async () => {
  for (const s of servers) await s.stop()
  await browser?.close()
  exitWhenDone()
})

README_TEST('the README has the two commands first, then the tour', () => {
  const steps = readmeSteps(README)
  assert.equal(
    steps.slice(0, 3).map((s) => (s.kind === 'sh' ? s.cmd : s.url)),
    ['npm install', 'npm start', 'npm test'],
  )
  assert.ok(steps.some((s) => s.kind === 'sh' && /aether hub/.test(s.cmd)))
  assert.ok(steps.some((s) => s.kind === 'sh' && /aether replay .* --verify/.test(s.cmd)))
})

README_TEST('every command runs and succeeds against a hub on a free port', async () => {
  const data = tmpDir('aether-readme-')
  let port = 0
  let current: Server | undefined
  const skipped: string[] = []
  const ran: string[] = []
  const rewrite = (s: string) =>
    s
      .replaceAll('7070', String(port))
      .replace(/(^|\s)\.aether(\s|$)/g, `$1${join(data, 'hub')}$2`)
      .replace(/(\S+\.log)\b/g, (f) => join(data, f))
      .replace(/^curl /, 'curl -sSf ')

  for (const step of readmeSteps(README)) {
    if (step.kind === 'open') {
      const url = rewrite(step.url)
      if (!browser) {
        browser = await launchChromium()
        page = await browser.newPage()
      }
      const errors: string[] = []
      page!.on('pageerror', (e) => errors.push(String(e)))
      const res = await page!.goto(url)
      assert.is(res?.status(), 200, url)
      if (new URL(url).pathname === '/member') {
        // the member page opens its peer session with the hub: wait until both sides say so
        await until(
          async () => (await page!.evaluate(() => (globalThis as any).aether?.link?.())) === 'open',
          20_000,
          `${url}: the peer session open`,
        )
      } else {
        // the inspector lists every actor the hub has
        const { actors } = (await (await fetch(`http://127.0.0.1:${port}/api/actors`)).json()) as {
          actors: { path: string }[]
        }
        await until(
          async () => {
            const text = await page!.evaluate(() => document.body.textContent ?? '')
            return actors.every((a) => text.includes(a.path.split('/').pop()!))
          },
          20_000,
          `${url}: the actor tree listing ${actors.map((a) => a.path).join(', ')}`,
        )
      }
      assert.equal(errors, [], `${url}: page errors`)
      ran.push(`open ${step.url}`)
      continue
    }
    if (NOT_RUN[step.cmd]) {
      skipped.push(step.cmd)
      continue
    }
    if (SERVER.test(step.cmd) && !step.cmd.includes('--help')) {
      if (current) assert.ok(await current.stop(), `${current.output}\nthe previous server did not shut down cleanly`)
      port = await freePort()
      const cmd =
        step.cmd === 'npm start' ? `npm start -- --port ${port} --data ${join(data, 'start')}` : rewrite(step.cmd)
      const child = spawn('sh', ['-c', cmd], {
        cwd: root,
        env: { ...process.env, FORCE_COLOR: '0' },
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      current = new Server(child)
      servers.push(current)
      const s = current
      await until(() => s.output.includes(`http://127.0.0.1:${port}`) || s.child.exitCode !== null, 30_000, cmd)
      assert.is(s.child.exitCode, null, `${cmd} exited:\n${s.output}`)
      const health = await fetch(`http://127.0.0.1:${port}/api/health`)
      assert.is(health.status, 200, `${cmd}: GET /api/health`)
      ran.push(step.cmd)
      continue
    }
    const cmd = rewrite(step.cmd)
    const r = await sh(cmd)
    assert.is(r.code, 0, `${step.cmd}\n(run as: ${cmd})\n${r.out}`)
    if (/aether replay .* --verify/.test(step.cmd)) assert.match(r.out, /verified/i, r.out)
    ran.push(step.cmd)
  }
  if (current) assert.ok(await current.stop(), `${current.output}\nthe hub did not shut down cleanly on SIGTERM`)
  assert.equal(skipped.sort(), Object.keys(NOT_RUN).sort(), 'only npm install and npm test are not run')
  assert.ok(ran.length >= 15, `ran ${ran.length} commands`)
  console.log(`[readme] ran ${ran.length} commands and browser opens; not run: ${skipped.join(', ')}`)
})

README_TEST.run()
