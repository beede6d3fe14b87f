import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { LevelStore } from '../../runtime/LevelStore.ts'
import { aether, startHub, stopChild } from '../helpers/cli.ts'
import { tmpDir } from '../helpers/tmp.ts'

const lines = (file: string) => readFileSync(file, 'utf8').trimEnd().split('\n')
const counterModule = 'machines/counter.ts'
const changedModule = 'test/fixtures/changedCounter.ts'

const real = suite('aether replay - logs exported from a real hub on LevelDB')

const dir = tmpDir()
const logs = {
  url: join(dir, 'url.log'),
  urlStored: join(dir, 'url-stored.log'),
  data: join(dir, 'data.log'),
  dataStored: join(dir, 'data-stored.log'),
}

real.before(async () => {
  const data = tmpDir()
  const token = 'tok-replay-test'
  const hub = await startHub(['--port', '0', '--data', data, '--token', token])
  try {
    const post = async (path: string, body: unknown) => {
      const res = await fetch(hub.url + path, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
      assert.ok(res.ok, `${path} ${res.status} ${await res.text()}`)
    }
    await post('/api/actors', { path: 'c', machine: 'counter' })
    for (const e of [
      { type: 'inc' },
      { type: 'inc', by: 2 },
      { type: 'lock' },
      { type: 'unlock' },
      { type: 'inc', by: 3 },
    ])
      await post('/api/actors/c/events', e)
    const a = await aether(['log', 'export', 'c', '--url', hub.url, '--out', logs.url])
    assert.is(a.code, 0, a.stderr)
    const b = await aether(['log', 'export', 'c', '--url', hub.url, '--snapshots', 'stored', '--out', logs.urlStored])
    assert.is(b.code, 0, b.stderr)
  } finally {
    // a crash: no checkpoint at close, the journal's tail is all there is
    await stopChild(hub.child, 'SIGKILL')
  }
  const c = await aether(['log', 'export', 'c', '--data', data, '--out', logs.data])
  assert.is(c.code, 0, c.stderr)
  const d = await aether(['log', 'export', 'c', '--data', data, '--snapshots', 'stored', '--out', logs.dataStored])
  assert.is(d.code, 0, d.stderr)
})

real('exports have a snapshot after every event by default; stored ones end with the final state', () => {
  for (const f of [logs.url, logs.data]) {
    const rows = lines(f)
    assert.is(rows.filter((l) => l.includes('"event"')).length, 5, f)
    assert.is(rows.filter((l) => l.includes('"snapshot"')).length, 5, f)
  }
  for (const f of [logs.urlStored, logs.dataStored]) {
    const snaps = lines(f).filter((l) => l.includes('"snapshot"'))
    assert.is(snaps.length, 1, `${f}: no checkpoint stored, only the final state`)
    const last = JSON.parse(snaps[0])
    assert.equal([last.seq, last.snapshot.value, last.snapshot.context], [5, 'open', { count: 6 }])
  }
})

real('--verify against the same machine passes and says what it compared', async () => {
  for (const f of Object.values(logs)) {
    const r = await aether(['replay', f, '--machine', counterModule, '--verify'])
    assert.is(r.code, 0, f + r.stdout + r.stderr)
    const n = f.includes('stored') ? '1 snapshot matches' : '5 snapshots match'
    assert.match(r.stdout, `verified 5 events of c (counter): ${n}, the final state (seq 5) included`)
  }
})

real('--verify against a changed machine diverges at the seq of the first difference', async () => {
  for (const f of [logs.url, logs.data]) {
    const r = await aether(['replay', f, '--machine', changedModule, '--verify'])
    assert.is(r.code, 1, r.stdout + r.stderr)
    assert.match(r.stdout, 'DIVERGED at seq 1 (line 3): the replayed state differs from the recorded one')
    assert.match(r.stdout, 'context.count: expected 1, replayed 2')
  }
  // a stored log has one snapshot to compare: the final one
  const s = await aether(['replay', logs.dataStored, '--machine', changedModule, '--verify'])
  assert.is(s.code, 1)
  assert.match(s.stdout, 'DIVERGED at seq 5 (line 7)')
  assert.match(s.stdout, 'context.count: expected 6, replayed 12')
})

real('an event the changed machine does not accept is a divergence that names it', async () => {
  const r = await aether(['replay', logs.url, '--machine', changedModule, '--export', 'counterNoLock', '--verify'])
  assert.is(r.code, 1, r.stdout + r.stderr)
  assert.match(
    r.stdout,
    /DIVERGED at seq 3 \(line 7\): the replayed machine took no transition for "lock" in state "open"/,
  )
  const j = await aether(['replay', logs.url, '--machine', changedModule, '--export', 'counterThrows', '--json'])
  assert.is(j.code, 1)
  const res = JSON.parse(j.stdout)
  assert.equal([res.code, res.divergence.kind, res.divergence.seq], [1, 'threw', 5])
})

real('a log without snapshot lines: --verify has nothing to compare, exit 2 with the way out', async () => {
  const bare = join(dir, 'bare.log')
  writeFileSync(
    bare,
    `${lines(logs.url)
      .filter((l) => !l.includes('"snapshot"'))
      .join('\n')}\n`,
  )
  const r = await aether(['replay', bare, '--machine', counterModule, '--verify'])
  assert.is(r.code, 2, r.stdout + r.stderr)
  assert.match(
    r.stderr,
    /cannot verify .*bare\.log: the log has no snapshot line to compare with \(5 events replayed\)/,
  )
  assert.match(r.stderr, /aether log export ID/)
  const j = await aether(['replay', bare, '--machine', counterModule, '--verify', '--json'])
  assert.is(j.code, 2)
  const res = JSON.parse(j.stdout)
  assert.equal([res.ok, res.code, res.snapshotsChecked, res.events], [false, 2, 0, 5])
  assert.type(res.unverified, 'string')
  const plain = await aether(['replay', bare, '--machine', counterModule])
  assert.is(plain.code, 0, 'without --verify it replays')
  assert.match(plain.stdout, /replayed 5 events of c/)
})

const usage = suite('aether replay - usage and malformed logs exit 2')

usage('a folder or several files as LOG replay as a corpus: one line per log and a summary', async () => {
  const a = await aether(['replay', logs.url, logs.data, '--machine', counterModule])
  assert.is(a.code, 0, a.stdout + a.stderr)
  const lines = a.stdout.trimEnd().split('\n')
  assert.is(lines.length, 3, a.stdout)
  assert.match(lines[0], /^ok +.*data\.log c \(counter\)/)
  assert.match(lines[1], /^ok +.*url\.log c \(counter\)/)
  assert.match(lines[2], /^2 logs of 1 machine, .*: 2 ok$/)
  const b = await aether(['replay', dir, '--machine', counterModule])
  assert.not.match(b.stderr, /EISDIR/)
  assert.match(b.stdout, /logs? of \d+ machines?, /)
})

usage('a header naming a machine the module does not export is an error, exit 2', async () => {
  const f = join(dir, 'toaster.log')
  const rows = lines(logs.url)
  rows[0] = JSON.stringify({ ...JSON.parse(rows[0]), machine: 'toaster' })
  writeFileSync(f, rows.join('\n'))
  const r = await aether(['replay', f, '--machine', counterModule, '--verify'])
  assert.is(r.code, 2)
  assert.match(r.stderr, /has no export "toaster" \(the machine the log's header names; the log is of c\)/)
  assert.match(r.stderr, /machines it exports: counter, default \(choose one with --export NAME\)/)
  const ok = await aether(['replay', f, '--machine', counterModule, '--export', 'counter', '--verify'])
  assert.is(ok.code, 0, ok.stderr)
})

usage('a missing seq is a gap error naming the line, exit 2', async () => {
  const f = join(dir, 'gap.log')
  const rows = lines(logs.url)
  // drop event 3 and its snapshot (lines 6 and 7)
  writeFileSync(f, [...rows.slice(0, 5), ...rows.slice(7)].join('\n'))
  const r = await aether(['replay', f, '--machine', counterModule, '--verify'])
  assert.is(r.code, 2)
  assert.match(r.stderr, /malformed log .*gap\.log, line 6: seq 4 follows seq 2: a gap \(seq 3 missing\)/)
})

usage('--help states the exit codes', async () => {
  const r = await aether(['replay', '--help'])
  assert.is(r.code, 0)
  assert.match(r.stdout, /exit codes:\n {2}0 {2}replayed/)
  assert.match(r.stdout, /\n {2}1 {2}divergence/)
  assert.match(r.stdout, /\n {2}2 {2}usage error, malformed log/)
  assert.match(r.stdout, /--verify with nothing to compare/)
})

const exporting = suite('aether log export - snapshots and machines')

exporting('a machine that is not built in: --snapshots all needs --machine; stored works without', async () => {
  const data = tmpDir()
  const store = await LevelStore.open(data)
  await store.write(
    [
      { type: 'meta', meta: { path: 't', machine: 'toaster', machineHash: 'x', createdAt: 1, status: 'live' } },
      { type: 'event', path: 't', record: { seq: 1, at: 2, event: { type: 'inc' } } },
    ],
    true,
  )
  await store.close()
  const out = join(dir, 't.log')
  const a = await aether(['log', 'export', 't', '--data', data, '--out', out])
  assert.is(a.code, 2)
  assert.match(
    a.stderr,
    /needs the machine "toaster", which is not built in: pass --machine MODULE or --app FILE, or --snapshots stored/,
  )
  const b = await aether([
    'log',
    'export',
    't',
    '--data',
    data,
    '--machine',
    counterModule,
    '--export',
    'counter',
    '--out',
    out,
  ])
  assert.is(b.code, 0, b.stderr)
  assert.is(lines(out).filter((l) => l.includes('"snapshot"')).length, 1)
  const c = await aether(['log', 'export', 't', '--data', data, '--snapshots', 'stored', '--out', out])
  assert.is(c.code, 0, c.stderr)
  assert.is(lines(out).filter((l) => l.includes('"snapshot"')).length, 0, 'no checkpoint, no machine: no final state')
  const d = await aether(['log', 'export', 't', '--data', data, '--snapshots', 'some'])
  assert.is(d.code, 2)
  assert.match(d.stderr, /--snapshots takes "all" or "stored", got "some"/)
})

real.run()
usage.run()
exporting.run()
