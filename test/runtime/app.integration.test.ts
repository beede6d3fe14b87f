/**
 * Apps - `aether hub --app FILE` as a developer runs it: bad modules are one clear line and exit 2;
 * a good one is hosted, found as `aether.config.ts` too, and its logs replay with `--app`.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { AppError, defineApp, defineJobType } from '../../index.ts'
import { counter } from '../../machines/counter.ts'
import { HubProcess, runCli } from '../helpers/hubProcess.ts'
import { tmpDir } from '../helpers/tmp.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))
const entry = join(root, 'index.ts')
const xstate = join(root, 'node_modules/xstate/dist/xstate.esm.js')

const unit = suite('defineApp - what it refuses, by name')

unit('an app needs something to host; each entry is checked and named', () => {
  const refuses = (spec: any, message: RegExp) => {
    try {
      defineApp(spec)
    } catch (err) {
      assert.instance(err, AppError)
      assert.match((err as Error).message, message)
      assert.not.match((err as Error).message, /\n/, 'one line')
      return
    }
    assert.unreachable(`defineApp accepted ${JSON.stringify(spec)}`)
  }
  refuses({}, /no machines, job types or features/)
  refuses({ machines: { door: 42 } }, /machines\.door is not an XState v5 machine \(a number\)/)
  refuses({ machines: { 'bad name': counter } }, /machine name "bad name"/)
  refuses({ jobTypes: [{ name: 'x' }] }, /jobTypes\[0\] is not a job type made with defineJobType/)
  refuses({ features: [{}] }, /features\[0\] is not a feature/)
  assert.throws(() => defineJobType('ship', []), /job type "ship" has no steps/)
  assert.throws(() => defineJobType('ship', [{ name: 'a' } as any]), /step 0 needs a name and a run function/)
  const app = defineApp({ machines: { counter } })
  assert.equal(Object.keys(app.machines), ['counter'])
})

unit.run()

const cli = suite('aether hub --app - a bad module is one line and exit 2')

cli('missing file, syntax error, no machines, a non-machine export, a job type without steps, not an app', async () => {
  const dir = tmpDir('aether-app-')
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}')
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text)
    return join(dir, name)
  }
  const cases: Array<[string, RegExp]> = [
    [join(dir, 'nope.ts'), /--app: no such file .*nope\.ts/],
    [file('syntax.ts', 'export default defineApp({ machines: { \n'), /--app .*syntax\.ts: cannot load it: /],
    [
      file('empty.ts', `import { defineApp } from '${entry}'\nexport default defineApp({ machines: {} })\n`),
      /--app .*empty\.ts: defineApp: the app has no machines, job types or features/,
    ],
    [
      file(
        'notmachine.ts',
        `import { defineApp } from '${entry}'\nexport default defineApp({ machines: { door: { id: 'door' } } })\n`,
      ),
      /--app .*notmachine\.ts: defineApp: machines\.door is not an XState v5 machine \(an object with keys id\)/,
    ],
    [
      file(
        'nosteps.ts',
        `import { defineApp, defineJobType } from '${entry}'\nexport default defineApp({ jobTypes: [defineJobType('ship', [])] })\n`,
      ),
      /--app .*nosteps\.ts: cannot load it: job type "ship" has no steps/,
    ],
    [
      file(
        'plain.ts',
        `import { createMachine } from '${xstate}'\nexport default { machines: { m: createMachine({}) } }\n`,
      ),
      /--app .*plain\.ts: export "default" is not an app made with defineApp/,
    ],
    [
      file('noexport.ts', 'export const x = 1\n'),
      /--app .*noexport\.ts: no app: export default defineApp.*\(it exports x\)/,
    ],
  ]
  // all at once: each is a separate `aether hub` process that fails at start
  const runs = await Promise.all(
    cases.map(([path]) => runCli(['hub', '--app', path, '--port', '0', '--data', join(dir, 'data')])),
  )
  for (const [i, [path, expected]] of cases.entries()) {
    const r = runs[i]
    assert.is(r.code, 2, `${path}: exit code\n${r.stdout}${r.stderr}`)
    assert.is(r.stderr.trim().split('\n').length, 1, `${path}: one line\n${r.stderr}`)
    assert.match(r.stderr, expected, `${path}: ${r.stderr}`)
  }
})

cli.run()

const hosted = suite("aether hub --app - the developer's machine hosted, recovered and replayed")

hosted(
  'aether.config.ts in the working directory is the app; its actors survive kill -9; replay --app verifies',
  async () => {
    const dir = tmpDir('aether-app-')
    const project = join(dir, 'project')
    mkdirSync(project)
    writeFileSync(join(project, 'package.json'), '{"name":"my-project","type":"module"}')
    writeFileSync(
      join(project, 'aether.config.ts'),
      `import { defineApp } from '${entry}'\nimport { counter } from '${join(root, 'machines/counter.ts')}'\nexport default defineApp({ machines: { tally: counter } })\n`,
    )
    const data = join(dir, 'data')
    const start = () => HubProcess.start(['--data', data, '--token', 'T'], {}, 20_000, 'hub', project)
    let hub = await start()
    assert.match(hub.output, /app\s+.*aether\.config\.ts: tally/)
    const post = (path: string, body: unknown) =>
      fetch(`${hub.url}${path}`, { method: 'POST', headers: { authorization: 'Bearer T' }, body: JSON.stringify(body) })
    assert.is((await post('/api/actors', { path: 'votes', machine: 'tally' })).status, 201)
    for (const by of [1, 2, 3]) assert.is((await post('/api/actors/votes/events', { type: 'inc', by })).status, 200)
    await hub.kill('SIGKILL')
    hub = await start()
    const after = await (await fetch(`${hub.url}/api/actors/votes`)).json()
    assert.is(after.context.count, 6)
    const log = join(dir, 'votes.log')
    const exported = await runCli(['log', 'export', 'votes', '--url', hub.url, '--out', log])
    assert.is(exported.code, 0, exported.stderr)
    await hub.kill('SIGTERM')
    const replayed = await runCli(['replay', log, '--app', join(project, 'aether.config.ts'), '--verify'])
    assert.is(replayed.code, 0, replayed.stdout + replayed.stderr)
    assert.match(replayed.stdout, /verified 3 events of votes \(tally\)/)
    const fromData = await runCli([
      'log',
      'export',
      'votes',
      '--data',
      data,
      '--app',
      join(project, 'aether.config.ts'),
      '--out',
      join(dir, 'votes2.log'),
    ])
    assert.is(fromData.code, 0, fromData.stderr)
    const wrong = await runCli(['replay', log, '--app', join(root, 'examples/checkout/app.ts'), '--verify'])
    assert.is(wrong.code, 2)
    assert.match(wrong.stderr, /no machine "tally" \(the machine of votes\); the app has checkout/)
  },
)

hosted.run()
