import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { hubLink } from '../../machines/hubLink.ts'
import { foldRows, foldSummary, periodicMatcher, periodicTypes, type FoldItem } from '../../inspector/src/fold.ts'

const fold = suite('inspector fold')

const TICK = 'xstate.after.probe.peerSession.active.probe.ticking'
const item = (i: number, type: string, periodic: boolean, path = 'm/peer'): FoldItem => ({
  path,
  type,
  at: 1000 + i * 125,
  id: i + 1,
  periodic,
})

/** A readable form of the rows: `fold TYPE ×N` or `#id TYPE`. */
function show(items: FoldItem[], open: Set<string> = new Set()) {
  return foldRows(items.length, (i) => items[i], open).map((r) =>
    r.kind === 'fold'
      ? `fold ${r.type} ×${r.count}`
      : `${r.nested ? '  ' : ''}#${items[r.index].id} ${items[r.index].type}`,
  )
}

fold('inspector fold - an idle peer session: one row per periodic kind, with count and rate', () => {
  const items: FoldItem[] = [item(0, 'rtc.answer', false)]
  // a minute of probing at 250 ms: a tick and a pong each time
  for (let k = 0; k < 240; k++) {
    items.push({ ...item(items.length, TICK, true), at: 2000 + k * 250 })
    items.push({ ...item(items.length, 'peer.pong', true), at: 2000 + k * 250 + 3 })
  }
  const rows = foldRows(items.length, (i) => items[i], new Set())
  assert.equal(
    rows.map((r) => (r.kind === 'fold' ? `fold ${r.type} ×${r.count}` : items[r.index].type)),
    [`fold peer.pong ×240`, `fold ${TICK} ×240`, 'rtc.answer'],
    'newest first: each fold where its newest member is',
  )
  const pong = rows[0]
  assert.ok(pong.kind === 'fold')
  assert.is(pong.rate, 4)
  assert.is(foldSummary(pong.count, pong.rate), '240× · 4.0/s')
  assert.is(pong.members.length, 240)
  assert.is(items.length, 481, 'nothing is taken out of the items')
})

fold('inspector fold - another event of the actor ends the runs; a run of one stays a plain row', () => {
  const items = [
    item(0, 'peer.pong', true),
    item(1, 'peer.pong', true),
    item(2, 'peer.msg', false),
    item(3, 'peer.pong', true),
    item(4, TICK, true),
    item(5, TICK, true),
  ]
  assert.equal(show(items), [`fold ${TICK} ×2`, '#4 peer.pong', '#3 peer.msg', 'fold peer.pong ×2'])
})

fold('inspector fold - runs are per actor: another actor does not break them', () => {
  const items = [
    item(0, 'peer.pong', true, 'a/peer'),
    item(1, 'inc', false, 'counter'),
    item(2, 'peer.pong', true, 'a/peer'),
    item(3, 'peer.pong', true, 'b/peer'),
    item(4, 'peer.pong', true, 'b/peer'),
  ]
  const rows = foldRows(items.length, (i) => items[i], new Set())
  assert.equal(
    rows.map((r) => (r.kind === 'fold' ? `${r.path} ×${r.count}` : items[r.index].path)),
    ['b/peer ×2', 'a/peer ×2', 'counter'],
  )
})

fold('inspector fold - an open fold is followed by its members, newest first; its key survives new members', () => {
  const items = [item(0, 'peer.pong', true), item(1, 'peer.pong', true), item(2, 'peer.pong', true)]
  const rows = foldRows(items.length, (i) => items[i], new Set())
  assert.ok(rows[0].kind === 'fold')
  const open = new Set([rows[0].key])
  assert.equal(show(items, open), ['fold peer.pong ×3', '  #3 peer.pong', '  #2 peer.pong', '  #1 peer.pong'])
  items.push(item(3, 'peer.pong', true))
  assert.equal(show(items, open).length, 5, 'still open after a new member joined')
})

fold('inspector fold - machines declare their periodic events in meta.periodic', () => {
  const hl = periodicMatcher(periodicTypes(hubLink.toJSON()))
  assert.ok(hl('link.heartbeat.ack'))
  assert.not.ok(hl('link.connected'))
  assert.equal(periodicTypes({ meta: { periodic: ['a.*', 3] } }), ['a.*'])
  assert.equal(periodicTypes(null), [])
  const wild = periodicMatcher(['link.heartbeat.*'])
  assert.ok(wild('link.heartbeat.missed'))
  assert.not.ok(wild('link.heart'))
})

fold.run()
