import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { FeedEvent } from '../../protocol/inspection.ts'
import type { FeedActorState } from '../../protocol/inspectorFeed.ts'
import { hostPath, InspectorModel } from '../../inspector/src/model.ts'

const snap = (count: number, value = 'open') => ({ value, context: { count }, status: 'active' })
const ev = (seq: number, path: string, actorSeq: number): FeedEvent =>
  ({
    seq,
    path,
    at: 1000 + seq,
    rootId: 'n',
    sessionId: path,
    id: `n:${seq}`,
    createdAt: String(1000 + seq),
    _version: '1.0.0',
    type: '@xstate.event',
    event: { type: 'inc' },
    actorSeq,
    snapshot: snap(actorSeq),
  }) as FeedEvent
const state = (path: string, actorSeq: number, durable = true): FeedActorState => ({
  path,
  machine: 'counter',
  status: 'active',
  durable,
  actorSeq,
  at: actorSeq,
  snapshot: snap(actorSeq),
})

const hosts = suite('inspector model - other nodes')

hosts('inspector model - a supervisor feed beside the hub feed: own paths, own feed seqs, own snapshots', () => {
  const m = new InspectorModel()
  m.applySnapshot([state('c1', 2)], 50)
  m.applySnapshot([state('supervisor.update', 1)], 3, 'supervisor')
  const up = hostPath('supervisor', 'supervisor.update')
  assert.equal([...m.actors.keys()].sort(), [up, 'c1'].sort())
  assert.is(m.actors.get(up)!.host, 'supervisor')
  assert.is(m.actors.get(up)!.remotePath, 'supervisor.update')
  // seq 4 of the supervisor's feed is new although the hub's feed is at 50
  m.applyEvents([ev(4, 'supervisor.update', 2)], 0, 'supervisor')
  assert.equal(
    m.actors.get(up)!.entries.map((e) => e.seq),
    [1, 2],
  )
  assert.is(m.lastFeedSeq, 50, "the hub's feed seq is untouched")
  m.applyEvents([ev(51, 'c1', 3)])
  assert.equal(
    m.timeline.map((r) => (r.kind === 'event' ? r.path : '')),
    [up, 'c1'],
  )
  // a new hub snapshot replaces the hub's actors only
  m.applySnapshot([], 1)
  assert.equal([...m.actors.keys()], [up])
})

hosts('inspector model - a reconnected feed keeps the history of an actor whose journal goes on', () => {
  const m = new InspectorModel()
  m.applySnapshot([state('c1', 1), state('mem', 5, false)], 10)
  m.applyEvents([ev(11, 'c1', 2), ev(12, 'c1', 3), ev(13, 'mem', 6)])
  // the runtime was replaced (a cutover): a new feed, its seqs from 0, the same journal
  m.applySnapshot([state('c1', 4), state('mem', 0, false)], 0)
  assert.equal(
    m.actors.get('c1')!.entries.map((e) => e.seq),
    [1, 2, 3, 4],
    'kept, the new state appended',
  )
  assert.is(m.actors.get('c1')!.history, 'none', 'the gap is reloaded from the journal when selected')
  assert.equal(
    m.actors.get('mem')!.entries.map((e) => e.seq),
    [0],
    'a memory actor starts again',
  )
  assert.is(m.timeline.length, 3, 'the timeline keeps its rows')
  m.applyEvents([ev(1, 'c1', 5)])
  assert.is(m.actors.get('c1')!.entries.at(-1)!.seq, 5, "the new feed's seqs are taken")
})

hosts.run()
