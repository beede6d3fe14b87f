/**
 * The regression corpus (test/corpus/, recorded from real runs by `npm run corpus:refresh`) replays
 * through today's machines with no divergence; a one-character change to a guard of peerSession
 * makes it fail naming the logs and seqs; a corpus's bad inputs get one line each.
 */
import { copyFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { expandGlob, globRegExp, logFiles } from '../../../runtime/corpus/logFiles.ts'
import { machineSource } from '../../../runtime/corpus/machineSource.ts'
import { replayCorpus } from '../../../runtime/corpus/replayCorpus.ts'
import { replayCommand } from '../../../runtime/commands/replay.ts'
import { aether, root } from '../../helpers/cli.ts'
import { tmpDir } from '../../helpers/tmp.ts'

const corpus = join(root, 'test/corpus')
const app = join(root, 'test/corpus/app.ts')
const changed = join(root, 'test/fixtures/changedPeerSession.ts')

async function rejection(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (err) {
    return (err as Error).message
  }
  throw new Error('expected a rejection')
}

const Corpus = suite('replayCorpus - the project corpus')

Corpus('the corpus replays through the current machines: every log ok, at least 40 logs of 6 machines', async () => {
  const r = await replayCorpus(logFiles([corpus]), await machineSource({ app }))
  const bad = r.logs.filter((l) => l.status !== 'ok')
  assert.equal(bad, [], JSON.stringify(bad.slice(0, 2), null, 1))
  assert.is(r.code, 0)
  assert.ok(r.summary.total >= 40, `${r.summary.total} logs`)
  assert.ok(r.summary.machines >= 6, `${r.summary.machines} machines`)
  assert.is(r.summary.hashChanged, 0, 'recorded with the machines of today')
  // the corpus lives in git: it stays small
  const bytes = logFiles([corpus]).reduce((n, f) => n + statSync(f).size, 0)
  assert.ok(
    bytes < 2 * 1024 * 1024,
    `test/corpus holds ${(bytes / 1024 / 1024).toFixed(2)} MB of logs (keep it < 2 MB)`,
  )
})

Corpus('a one-character change to a guard of peerSession fails the corpus, naming the log and seq', async () => {
  const r = await replayCorpus(logFiles([corpus]), await machineSource({ machine: changed }))
  assert.is(r.code, 1)
  const diverged = r.logs.filter((l) => l.status === 'diverged')
  assert.ok(diverged.length >= 1)
  for (const l of diverged) {
    assert.is(l.machine, 'peerSession', `${l.file} diverged`)
    assert.ok(typeof l.seq === 'number' && l.seq > 0 && typeof l.line === 'number')
  }
  // the other machines (built in) still pass
  assert.ok(
    r.logs.filter((l) => l.machine !== 'peerSession').every((l) => l.status === 'ok' || l.status === 'no-machine'),
  )
  // the CLI, as a user calls it: exit 1, one line per log naming file and seq, and a summary
  const cli = await aether(['replay', 'test/corpus', '--machine', changed])
  assert.is(cli.code, 1, cli.stderr)
  const first = diverged[0]
  assert.match(
    cli.stdout,
    `DIVERGED  ${first.file} ${first.actor} (peerSession): at seq ${first.seq} (line ${first.line})`,
  )
  assert.match(cli.stdout, /logs of \d+ machines, \d+ events in \d+ ms: \d+ ok, \d+ diverged/)
})

Corpus('--json: logs, summary and code; a glob picks a part of the corpus', async () => {
  const cli = await aether(['replay', 'test/corpus/rtc-*/member.*.log', '--json'])
  assert.is(cli.code, 0, cli.stdout + cli.stderr)
  const r = JSON.parse(cli.stdout)
  assert.ok(r.logs.length >= 5)
  assert.ok(r.logs.every((l: any) => l.status === 'ok' && /^test\/corpus\/rtc-[^/]+\/member\./.test(l.file)))
  assert.is(r.summary.ok, r.logs.length)
})

Corpus('one log of a built-in machine needs no --machine', async () => {
  const log = console.log
  const out: string[] = []
  console.log = (...a: unknown[]) => out.push(a.join(' '))
  let code: number | undefined
  try {
    code = await replayCommand.run({
      flags: { verify: true },
      positionals: [join(corpus, 'channels/member_m-cut_command.log')],
    })
  } finally {
    console.log = log
  }
  assert.is(code, 0, out.join('\n'))
  assert.match(out[0], /^verified \d+ events of member:m-cut:command \(semanticChannel\)/)
})

const Bad = suite('replayCorpus - bad logs in a corpus')

Bad('malformed, unknown machine and unverifiable logs each get their line; exit 2 without a divergence', async () => {
  const dir = tmpDir('aether-corpus-')
  copyFileSync(join(corpus, 'actors/counter-0.log'), join(dir, 'a-good.log'))
  writeFileSync(
    join(dir, 'b-bad-json.log'),
    '{"format":"aether.log/1","actor":"x","machine":"counter","at":1}\n{"seq":1,\n',
  )
  writeFileSync(join(dir, 'c-unknown.log'), '{"format":"aether.log/1","actor":"y","machine":"nope","at":1}\n')
  writeFileSync(
    join(dir, 'd-no-snapshots.log'),
    '{"format":"aether.log/1","actor":"z","machine":"counter","at":1}\n{"seq":1,"at":2,"event":{"type":"inc"}}\n',
  )
  writeFileSync(join(dir, 'notes.txt'), 'not a log')
  const cli = await aether(['replay', dir])
  assert.is(cli.code, 2, cli.stdout + cli.stderr)
  const lines = cli.stdout.trimEnd().split('\n')
  assert.is(lines.length, 5, cli.stdout)
  assert.match(lines[0], /^ok +.*a-good\.log counter-0 \(counter\)/)
  assert.match(lines[1], /^MALFORMED .*b-bad-json\.log x \(counter\): at line 2: /)
  assert.match(lines[2], /^NO MACHINE .*c-unknown\.log y \(nope\): no machine "nope"/)
  assert.match(lines[3], /^UNVERIFIED .*d-no-snapshots\.log z \(counter\): the log has no snapshot line/)
  assert.match(lines[4], /^4 logs of 2 machines, .*1 ok, 1 malformed, 1 unverified, 1 without a machine$/)
})

Bad('paths that name nothing are usage errors that say so', async () => {
  assert.throws(() => logFiles([join(corpus, '*.nothing')]), /corpus\/\*\.nothing matches no file/)
  const empty = tmpDir('aether-corpus-empty-')
  assert.throws(() => logFiles([empty, join(corpus, 'actors/counter-0.log')]), /holds no log/)
  assert.throws(() => logFiles([join(corpus, 'none.log')]), /no such log file or folder/)
  assert.match(
    await rejection(replayCommand.run({ flags: { until: 3 }, positionals: [corpus] })),
    /--until replays one log/,
  )
  assert.match(await rejection(machineSource({ export: 'x' })), /--export NAME needs --machine MODULE/)
})

const Glob = suite('logFiles - globs')

Glob('globRegExp: * within a segment, ** across segments, ? one character', () => {
  assert.ok(globRegExp('*.log').test('a.log'))
  assert.not.ok(globRegExp('*.log').test('x/a.log'))
  assert.ok(globRegExp('**/*.log').test('a.log'))
  assert.ok(globRegExp('**/*.log').test('x/y/a.log'))
  assert.ok(globRegExp('rtc-?ebuild/*').test('rtc-rebuild/m.log'))
  assert.not.ok(globRegExp('a.log').test('aXlog'))
  assert.ok(expandGlob(join(corpus, '**/supervisor.update.log')).length >= 3)
})

Corpus.run()
Bad.run()
Glob.run()
