/**
 * Incident bundles the way a user makes them: two nodes running in this process, `aether incident
 * export` (a child process) asking both, `aether replay BUNDLE --verify`, and a tampered bundle.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseBundle } from '../../../protocol/bundle.ts'
import { counter } from '../../../machines/counter.ts'
import { Hub } from '../../../runtime/Hub.ts'
import { incidentFeature } from '../../../runtime/incident/incidentFeature.ts'
import { reliabilityFeature } from '../../../runtime/reliability/Reliability.ts'
import { incidentCommand, parseTime } from '../../../runtime/commands/incident.ts'
import { aether } from '../../helpers/cli.ts'
import { sleep, tmpDir } from '../../helpers/tmp.ts'

const test = suite('incident bundle - export, replay, tamper')

let a: Hub
let b: Hub
const dir = tmpDir()
const file = join(dir, 'incident.bundle')
let from = 0
let to = 0

async function rejects(fn: () => Promise<unknown>, re: RegExp): Promise<void> {
  const err = await fn().then(
    () => undefined,
    (e: Error) => e,
  )
  assert.ok(err, `expected a rejection matching ${re}`)
  assert.match(err.message, re)
}

async function inc(h: Hub, path: string, by: number) {
  h.system.send(path, { type: 'inc', by })
  await h.system.flush()
}

test.before(async () => {
  a = await Hub.start({ data: tmpDir(), port: 0, token: 'tok', hostId: 'hub-a' }, [
    reliabilityFeature(),
    incidentFeature(),
  ])
  b = await Hub.start({ data: tmpDir(), port: 0, token: 'tok', hostId: 'root-b' }, [
    reliabilityFeature({ role: 'root' }),
    incidentFeature(),
  ])
  for (const h of [a, b]) h.system.register('counter', counter)
  await a.system.spawn('before', 'counter', { durable: true })
  await a.system.spawn('both', 'counter', { durable: true })
  await inc(a, 'before', 1)
  await inc(a, 'both', 1)
  await inc(a, 'both', 2)
  await sleep(20)
  from = Date.now()
  await inc(a, 'both', 3)
  await inc(a, 'both', 4)
  await b.system.spawn('inside', 'counter', { durable: true })
  await inc(b, 'inside', 5)
  await inc(b, 'inside', 6)
  await sleep(5)
  to = Date.now()
  await sleep(20)
  await inc(a, 'both', 100)
})

test.after(async () => {
  await a?.close()
  await b?.close()
})

test('incident - export asks every node and keeps the actors touched in the window, cut to it', async () => {
  const r = await aether([
    'incident',
    'export',
    '--from',
    String(from),
    '--to',
    String(to),
    '--url',
    a.url,
    '--url',
    b.url,
    '--out',
    file,
  ])
  assert.is(r.code, 0, r.stderr)
  const { manifest, logs } = parseBundle(readFileSync(file, 'utf8'))
  assert.equal(
    manifest.nodes.map((n) => [n.id, n.role]),
    [
      ['hub-a', 'hub'],
      ['root-b', 'root'],
    ],
  )
  assert.is(manifest.nodes[0].offsetVia, 'reference')
  assert.is(manifest.nodes[1].offsetVia, 'http')
  assert.ok(Math.abs(manifest.nodes[1].offsetMs) < 1000, 'one machine: a small offset')
  assert.equal(
    logs.map((l) => `${l.node}:${l.header.actor}`),
    ['hub-a:both', 'root-b:inside'],
    'the actor without events in the window is left out',
  )
  const both = logs[0].lines
  assert.equal(both[0], { ...both[0], seq: 2 }, 'starts from the snapshot before the window')
  assert.ok('snapshot' in both[0])
  assert.equal(
    both.filter((l) => 'event' in l).map((l) => l.seq),
    [3, 4],
    'events of the window only',
  )
  assert.equal((both[both.length - 1] as any).snapshot.context, { count: 10 })
})

test('incident - replay BUNDLE --verify reports every actor ok', async () => {
  const r = await aether(['replay', file, '--verify'])
  assert.is(r.code, 0, r.stdout + r.stderr)
  assert.match(r.stdout, /ok +hub-a +both \(counter\): 2 events, 2 snapshots match/)
  assert.match(r.stdout, /ok +root-b +inside \(counter\): 2 events, 2 snapshots match/)
  assert.match(r.stdout, /2 of 2 actors verified/)
})

test('incident - a tampered event makes replay name the actor and the seq', async () => {
  const text = readFileSync(file, 'utf8').split('\n')
  const i = text.findIndex((l) => l.includes('"event":{"type":"inc","by":6}'))
  assert.ok(i > 0)
  text[i] = text[i].replace('"by":6', '"by":7')
  const bad = join(dir, 'tampered.bundle')
  writeFileSync(bad, text.join('\n'))
  const r = await aether(['replay', bad, '--verify'])
  assert.is(r.code, 1, r.stdout + r.stderr)
  assert.match(r.stdout, /ok +hub-a +both/)
  assert.match(r.stdout, /FAIL +root-b +inside \(counter\): DIVERGED at seq 2 /)
  assert.match(r.stdout, /context\.count: expected 11, replayed 12/)
  const j = await aether(['replay', bad, '--verify', '--json'])
  const out = JSON.parse(j.stdout)
  assert.equal(
    out.actors.map((x: any) => [x.actor, x.ok, x.divergence?.seq]),
    [
      ['both', true, undefined],
      ['inside', false, 2],
    ],
  )
})

test('incident - a malformed bundle is refused with its line and what is wrong (exit 2)', async () => {
  const text = readFileSync(file, 'utf8').split('\n')
  const m = JSON.parse(text[0])
  m.actors[0].lines += 1
  const bad = join(dir, 'malformed.bundle')
  writeFileSync(bad, [JSON.stringify(m), ...text.slice(1)].join('\n'))
  const r = await aether(['replay', bad, '--verify'])
  assert.is(r.code, 2, r.stdout + r.stderr)
  assert.match(r.stderr, /malformed bundle .*log of both.*a log header inside the log of both/)
})

test('incident - usage errors and unreachable nodes', async () => {
  const run = (flags: Record<string, string>) => incidentCommand.run({ flags, positionals: ['export'] })
  await rejects(() => run({ from: 'yesterday', to: 'now' }), /--from must be ms since the epoch/)
  await rejects(() => run({ from: 'now', to: 'now-1h' }), /is after --to/)
  await rejects(
    () => run({ from: 'now-1m', to: 'now', url: 'http://127.0.0.1:9' }),
    /cannot reach http:\/\/127\.0\.0\.1:9/,
  )
  assert.is(parseTime('now-2m', 'from', 1_000_000), 880_000)
  assert.is(parseTime('2026-12-05T17:00:00Z', 'from'), Date.parse('2026-12-05T17:00:00Z'))
  const res = await fetch(`${a.url}/api/incident?from=5&to=1`)
  assert.is(res.status, 400)
  assert.is((await res.json()).error, 'BAD_QUERY')
})

test.run()
