import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { assign, setup } from 'xstate'
import { SimulatedClock } from '../../actors/index.ts'
import { checkMigration, formatMigration, migrationBlocks } from '../../runtime/migration.ts'
import { LevelStore } from '../../runtime/LevelStore.ts'
import { openSystem } from '../helpers/system.ts'
import { tmpDir } from '../helpers/tmp.ts'

/** A door; the variants are what a developer's next commit might do to it. */
const countOne = assign({ opened: ({ context }: { context: { opened: number } }) => context.opened + 1 })
const countTwo = assign({ opened: ({ context }: { context: { opened: number } }) => context.opened + 2 })

function door(o: { count?: any; locked?: boolean; ajar?: boolean; extra?: boolean } = {}) {
  const states: Record<string, any> = {
    closed: {
      on: {
        open: { target: 'open', actions: 'count' },
        ...(o.locked !== false ? { lock: 'locked' } : {}),
        ...(o.ajar !== false ? { nudge: 'ajar' } : {}),
      },
    },
    open: { on: { close: 'closed' } },
  }
  if (o.locked !== false) states.locked = { on: { unlock: 'closed' } }
  if (o.ajar !== false) states.ajar = { after: { 5000: 'closed' } }
  if (o.extra) states.painted = {}
  return setup({
    types: { context: {} as { opened: number } },
    actions: { count: o.count ?? countOne },
  }).createMachine({ id: 'door', context: { opened: 0 }, initial: 'closed', states })
}

const m = suite('migration - stored actors replayed through changed machine code')

m(
  'identical, diverged, stranded and timers in removed states are told apart; unchanged machines are not checked',
  async () => {
    const dir = tmpDir()
    const clock = new SimulatedClock(1_000_000)
    const before = { same: door(), math: door(), lock: door(), ajar: door(), kept: door() }
    const { system } = await openSystem(dir, { clock, machines: before, snapshotEvery: 2 })
    for (const name of Object.keys(before)) await system.spawn(name, name, { durable: true })
    for (const name of ['same', 'math', 'kept'])
      for (const type of ['open', 'close', 'open', 'close', 'open']) await system.hosted(name)!.sendCommitted({ type })
    await system.hosted('lock')!.sendCommitted({ type: 'lock' })
    await system.hosted('ajar')!.sendCommitted({ type: 'nudge' })
    await system.close()

    const after = {
      same: door({ extra: true }), // a new state nobody is in: the same journal, the same states
      math: door({ count: countTwo }), // counts differently: diverges at the first checkpoint after an open
      lock: door({ locked: false }), // the state `lock` sits in is gone
      ajar: door({ ajar: false }), // `ajar` and its 5 s timer are gone
      kept: before.kept, // unchanged: not checked
    }
    const store = await LevelStore.open(dir)
    const r = await checkMigration(store, after)
    await store.close()

    assert.is(r.checked, 4)
    assert.equal(
      r.identical.map((a) => a.path),
      ['same'],
    )
    assert.equal(
      r.diverged.map((a) => a.path),
      ['math'],
    )
    assert.is(r.diverged[0].seq, 2, 'the first checkpoint (after open, close)')
    assert.ok(r.diverged[0].diff.some((d) => d.path === 'context.opened' && d.expected === 1 && d.actual === 2))
    assert.equal(r.stranded, [
      { path: 'ajar', machine: 'ajar', state: 'ajar' },
      { path: 'lock', machine: 'lock', state: 'locked' },
    ])
    assert.equal(
      r.timers.map((t) => [t.path, t.state]),
      [['ajar', 'door.ajar']],
    )
    assert.ok(migrationBlocks(r))
    const text = formatMigration(r)
    assert.match(
      text,
      /4 actor\(s\) of changed machines checked: 1 replay identically, 1 diverge, 2 stranded, 1 with timers/,
    )
    assert.match(text, /diverges {2}math \(math\) at seq 2 on "close": the replayed state differs/)
    assert.match(text, /stranded {2}lock \(lock\) is in state "locked"/)
    assert.match(text, /timer {5}ajar \(ajar\) has xstate\.after\.5000\.door\.ajar pending in state "door\.ajar"/)
  },
)

m.run()
