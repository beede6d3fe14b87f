/**
 * The package as a developer gets it: `npm pack`, the tarball installed into a fresh folder outside
 * the repository, an app written there in TypeScript (type-checked against the package's
 * declarations) and one in JavaScript (`aether.config.js`), each hosted with `npx aether hub`, its
 * actor driven over HTTP and seen lit in the inspector in Chromium, its log exported and replayed
 * with `--verify`; a job type whose step retries twice and completes.
 */
import { execFile, spawn } from 'node:child_process'
import { promisify } from 'node:util'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { launchChromium } from './helpers/browser.ts'
import { freePort } from './helpers/natsServer.ts'
import { exitWhenDone } from './helpers/rtcPair.ts'
import { until } from './helpers/tmp.ts'

const repo = fileURLToPath(new URL('..', import.meta.url))
const work = mkdtempSync(join(tmpdir(), 'aether-package-'))
const project = join(work, 'my-app')
const started: number[] = []

const execFileP = promisify(execFile)

// Not execFileSync: a test blocked for seconds cannot see the hub close an idle keep-alive socket,
// and its next fetch reuses the closed socket ("fetch failed").
async function run(cmd: string, args: string[], cwd: string): Promise<string> {
  const { stdout } = await execFileP(cmd, args, { cwd, encoding: 'utf8', timeout: 180_000 })
  return stdout
}

/** `npx aether hub ...` in the project folder, in its own process group; resolves with its URL. */
async function hub(args: string[]): Promise<{ url: string; stop(): void }> {
  const port = await freePort()
  const child = spawn('npx', ['aether', 'hub', '--port', String(port), '--token', 'T', ...args], {
    cwd: project,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  started.push(child.pid!)
  let out = ''
  child.stdout!.on('data', (d) => (out += d))
  child.stderr!.on('data', (d) => (out += d))
  await until(() => out.includes(`http://127.0.0.1:${port}`) || child.exitCode !== null, 30_000, `aether hub ${args}`)
  assert.is(child.exitCode, null, out)
  return { url: `http://127.0.0.1:${port}`, stop: () => process.kill(-child.pid!, 'SIGTERM') }
}

async function post(url: string, body: unknown) {
  const res = await fetch(url, { method: 'POST', headers: { authorization: 'Bearer T' }, body: JSON.stringify(body) })
  return { status: res.status, body: (await res.json()) as any }
}

const pkg = suite('package - npm pack, installed in a fresh folder, an app hosted from it')

pkg.after(() => {
  for (const pid of started) {
    try {
      process.kill(-pid, 'SIGKILL')
    } catch {}
  }
  rmSync(work, { recursive: true, force: true })
  exitWhenDone()
})

pkg(
  'a TypeScript app: types check, the machine is hosted, lit in the inspector, its log verifies; a job retries twice',
  async () => {
    const tarball = (await run('npm', ['pack', '--silent', '--pack-destination', work], repo)).trim().split('\n').pop()!
    await run('mkdir', ['-p', project], work)
    await run('npm', ['init', '-y'], project)
    await run('npm', ['pkg', 'set', 'type=module'], project)
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(work, tarball)], project)
    writeFileSync(
      join(project, 'app.ts'),
      `import { defineApp, defineJobType } from 'aether'
import { assign, setup } from 'xstate'

export const door = setup({
  types: { context: {} as { opened: number }, events: {} as { type: 'open' } | { type: 'close' } },
  actions: { count: assign({ opened: ({ context }) => context.opened + 1 }) },
}).createMachine({
  id: 'door',
  context: { opened: 0 },
  initial: 'closed',
  states: { closed: { on: { open: { target: 'opened', actions: 'count' } } }, opened: { on: { close: 'closed' } } },
})

export const deliver = defineJobType('deliver', [
  {
    name: 'drive',
    run: async ({ attempt }) => {
      if (attempt < 3) throw new Error('traffic jam')
      return { delivered: true, attempt }
    },
    retry: { maxAttempts: 3, baseMs: 20, jitter: 0 },
  },
])

export default defineApp({ machines: { door }, jobTypes: [deliver] })
`,
    )
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: [],
        },
        files: ['app.ts'],
      }),
    )
    // the package's declarations type the app (the repository's tsc, the project's tsconfig)
    await run(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '-p', '.'], project)

    const h = await hub(['--app', 'app.ts', '--data', 'data'])
    const browser = await launchChromium()
    try {
      assert.is((await post(`${h.url}/api/actors`, { path: 'front', machine: 'door' })).status, 201)
      for (const type of ['open', 'close', 'open'])
        assert.is((await post(`${h.url}/api/actors/front/events`, { type })).status, 200)
      const page = await browser.newPage()
      await page.goto(`${h.url}/inspector`)
      await page.click('.tree-row[data-path="front"]')
      await page.waitForSelector('[data-state="door.opened"].active')
      assert.not.ok(await page.$('[data-state="door.closed"].active'))
      assert.match((await page.textContent('[data-testid="context"]'))!, /"opened":\s*2/)

      await run('npx', ['aether', 'log', 'export', 'front', '--url', h.url, '--out', 'front.log'], project)
      const verified = await run('npx', ['aether', 'replay', 'front.log', '--app', 'app.ts', '--verify'], project)
      assert.match(verified, /verified 3 events of front \(door\)/)

      const job = await post(`${h.url}/api/jobs`, { type: 'deliver', input: {} })
      assert.is(job.status, 201)
      await until(
        async () => ((await (await fetch(`${h.url}/api/jobs/${job.body.id}`)).json()) as any).status === 'COMPLETED',
        10_000,
        'the job completed',
      )
      const done = (await (await fetch(`${h.url}/api/jobs/${job.body.id}`)).json()) as any
      assert.equal(done.output, { delivered: true, attempt: 3 })
      await run('npx', ['aether', 'log', 'export', job.body.id, '--url', h.url, '--out', 'job.log'], project)
      assert.match(
        await run('npx', ['aether', 'replay', 'job.log', '--app', 'app.ts', '--verify'], project),
        /verified/,
      )
    } finally {
      await browser.close()
      h.stop()
    }
  },
)

pkg('a JavaScript app found as aether.config.js in the working directory', async () => {
  writeFileSync(
    join(project, 'aether.config.js'),
    `import { defineApp } from 'aether'
import { createMachine } from 'xstate'
const lamp = createMachine({ id: 'lamp', initial: 'off', states: { off: { on: { toggle: 'on' } }, on: { on: { toggle: 'off' } } } })
export default defineApp({ machines: { lamp } })
`,
  )
  const h = await hub(['--data', 'data-js'])
  try {
    assert.is((await post(`${h.url}/api/actors`, { path: 'desk', machine: 'lamp' })).status, 201)
    const sent = await post(`${h.url}/api/actors/desk/events`, { type: 'toggle' })
    assert.is(sent.body.value, 'on')
  } finally {
    h.stop()
  }
})

pkg.run()
