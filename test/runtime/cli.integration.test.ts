import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { aether, startHub, stopChild } from '../helpers/cli.ts'
import { tmpDir } from '../helpers/tmp.ts'

const help = suite('cli - help and usage errors')

help('aether --help lists every command; each command has --help', async () => {
  const r = await aether(['--help'])
  assert.is(r.code, 0)
  for (const c of ['hub', 'replay', 'log']) assert.match(r.stdout, new RegExp(`\\n  ${c} `))
  for (const c of ['hub', 'replay', 'log']) {
    const h = await aether([c, '--help'])
    assert.is(h.code, 0, c)
    assert.match(h.stdout, /usage: aether/)
    assert.match(h.stdout, /--help/)
  }
})

help('npx aether works from the package (the declared bin)', async () => {
  const { spawnSync } = await import('node:child_process')
  const r = spawnSync('npx', ['--no-install', 'aether', '--help'], {
    cwd: (await import('../helpers/cli.ts')).root,
    encoding: 'utf8',
    timeout: 60_000,
  })
  assert.is(r.status, 0, r.stderr)
  assert.match(r.stdout, /usage: aether <command>/)
})

help('unknown commands and flags exit 2 naming them', async () => {
  const a = await aether(['frobnicate'])
  assert.is(a.code, 2)
  assert.match(a.stderr, /unknown command "frobnicate"/)
  const b = await aether(['replay', 'x.log', '--machine', 'm.ts', '--bogus'])
  assert.is(b.code, 2)
  assert.match(b.stderr, /unknown flag --bogus/)
  const c = await aether(['hub', '--port', 'abc'])
  assert.is(c.code, 2)
  assert.match(c.stderr, /--port must be a port number/)
  const d = await aether(['replay', 'nope.log', '--machine', 'machines/counter.ts'])
  assert.is(d.code, 2)
  assert.match(d.stderr, /no such log file/)
})

const flow = suite('cli - hub, log export and replay as a tester uses them')

flow('run a hub, drive an actor, export its log, replay and verify it', async () => {
  const data = tmpDir()
  const token = 'tok-cli-test'
  const hub = await startHub(['--port', '0', '--data', data, '--token', token, '--snapshot-every', '3'])
  try {
    assert.match(hub.url, /^http:\/\/127\.0\.0\.1:\d+$/)
    // a new data folder: the hub's own actors only, nothing durable (it said "2 recovered")
    assert.match(hub.output(), /\n {2}actors {5}\d+ live \(0 durable\)\n/)
    const post = (path: string, body: unknown) =>
      fetch(hub.url + path, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
    assert.is((await post('/api/actors', { path: 'lab', machine: 'counter' })).status, 201)
    assert.is(
      (await post('/api/actors', { path: 'lab/tl', machine: 'trafficLight', input: { maxCycles: 2 } })).status,
      201,
    )
    for (const type of ['tick', 'tick', 'pedestrian.request', 'emergency', 'resume', 'tick', 'tick', 'tick']) {
      assert.is((await post('/api/actors/lab/tl/events', { type })).status, 200)
    }
    const health = await (await fetch(hub.url + '/api/health')).json()
    assert.is(health.ok, true)
    const locked = await aether(['log', 'export', 'lab/tl', '--data', data])
    assert.is(locked.code, 2, 'the data folder of a running hub is locked')
    assert.match(locked.stderr, /in use by another process/)
    const viaUrl = await aether(['log', 'export', 'lab/tl', '--url', hub.url])
    assert.is(viaUrl.code, 0, viaUrl.stderr)
    assert.match(viaUrl.stdout.split('\n')[0], /"format":"aether.log\/1"/)
  } finally {
    await stopChild(hub.child)
  }
  const dir = tmpDir()
  const log = join(dir, 'tl.log')
  const exp = await aether(['log', 'export', 'lab/tl', '--data', data, '--out', log])
  assert.is(exp.code, 0, exp.stderr)
  // The light's own timers may fire while the test runs: count the events the log holds.
  const events = readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .filter((l) => l.includes('"event"')).length
  assert.ok(events >= 8)
  const ok = await aether([
    'replay',
    log,
    '--machine',
    'machines/trafficLight.ts',
    '--export',
    'trafficLight',
    '--verify',
  ])
  assert.is(ok.code, 0, ok.stderr + ok.stdout)
  assert.match(ok.stdout, new RegExp(`verified ${events} events of lab/tl`))
  const json = await aether([
    'replay',
    log,
    '--machine',
    'machines/trafficLight.ts',
    '--export',
    'trafficLight',
    '--verify',
    '--json',
  ])
  const res = JSON.parse(json.stdout)
  assert.is(res.ok, true)
  assert.is(res.events, events)
  assert.ok(res.snapshotsChecked >= 2)

  // --snapshots all: one snapshot line per event
  const all = join(dir, 'all.log')
  assert.is((await aether(['log', 'export', 'lab/tl', '--data', data, '--snapshots', 'all', '--out', all])).code, 0)
  const lines = readFileSync(all, 'utf8').trim().split('\n')
  assert.is(lines.filter((l) => l.includes('"snapshot"')).length, lines.filter((l) => l.includes('"event"')).length)

  // A tampered snapshot: exit 1 at its seq with a readable diff.
  const rows = lines.map((l) => JSON.parse(l))
  const i = rows.findIndex((r) => r.snapshot && r.seq === 5)
  rows[i].snapshot.value = { light: 'purple', pedestrian: 'idle' }
  const tampered = join(dir, 'tampered.log')
  writeFileSync(tampered, rows.map((r) => JSON.stringify(r)).join('\n'))
  const bad = await aether([
    'replay',
    tampered,
    '--machine',
    'machines/trafficLight.ts',
    '--export',
    'trafficLight',
    '--verify',
  ])
  assert.is(bad.code, 1)
  assert.match(bad.stdout, /DIVERGED at seq 5/)
  assert.match(bad.stdout, /value\.light: expected "purple", replayed "\w+"/)

  // A malformed log: exit 2 with the line number.
  const broken = join(dir, 'broken.log')
  writeFileSync(broken, lines.slice(0, 4).join('\n') + '\n{"seq": 1, "at": 1, "event": {"type": "tick"}}\n')
  const mal = await aether(['replay', broken, '--machine', 'machines/trafficLight.ts', '--export', 'trafficLight'])
  assert.is(mal.code, 2)
  assert.match(mal.stderr, /line 5: seq went backwards/)

  // Without --export the machine the header names is used; a missing export lists what there is.
  const named = await aether(['replay', log, '--machine', 'machines/trafficLight.ts', '--verify'])
  assert.is(named.code, 0, named.stderr)
  const wrong = await aether(['replay', log, '--machine', 'machines/trafficLight.ts', '--export', 'light'])
  assert.is(wrong.code, 2)
  assert.match(wrong.stderr, /machines it exports: trafficLight/)
})

help.run()
flow.run()
