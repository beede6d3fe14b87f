import { readFileSync } from 'node:fs'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { SnapshotRecord } from '../../actors/Store.ts'
import { LevelAnswerCache } from '../../runtime/agent/AnswerCache.ts'
import { ExternalStore } from '../../runtime/inspector/ExternalStore.ts'
import {
  actorKeys,
  externalKeys,
  KEY_SPACES,
  type KeySpace,
  keyLayoutDoc,
  linkKeys,
  openSublevel,
  range,
  rootKeys,
} from '../../runtime/keyLayout.ts'
import { LevelStore } from '../../runtime/LevelStore.ts'
import { GroupWriter } from '../../runtime/link/GroupWriter.ts'
import { Outbox } from '../../runtime/link/Outbox.ts'
import { UpdateLog } from '../../runtime/webspace/UpdateLog.ts'
import { tmpDir } from '../helpers/tmp.ts'

const spaces = Object.entries(KEY_SPACES) as Array<[string, KeySpace]>
/** The spaces a key may end up in: those with no space inside them. */
const leaves = spaces.filter(([name]) => !spaces.some(([, s]) => s.parent === name))
const ancestors = (name: string): string[] => {
  const p = (KEY_SPACES as Record<string, KeySpace>)[name].parent
  return p ? [p, ...ancestors(p)] : []
}

const layout = suite('keyLayout - no two spaces overlap')

layout('prefixes are distinct and none starts another unless it is inside it', () => {
  const seen = new Set<string>()
  for (const [name, s] of spaces) {
    assert.not.ok(seen.has(s.prefix), `${name}: prefix ${s.prefix} is used once`)
    seen.add(s.prefix)
    if (s.parent)
      assert.ok(s.prefix.startsWith((KEY_SPACES as Record<string, KeySpace>)[s.parent].prefix), `${name} in its parent`)
    for (const [other, o] of spaces) {
      if (other === name || !s.prefix.startsWith(o.prefix)) continue
      assert.ok(ancestors(name).includes(other), `${o.prefix} (${other}) starts ${s.prefix} (${name})`)
    }
  }
})

layout('ranges of spaces at one level do not intersect', () => {
  for (const [a, s] of spaces)
    for (const [b, o] of spaces) {
      if (a === b || ancestors(a).includes(b) || ancestors(b).includes(a)) continue
      const r = range(s.prefix.endsWith('!') ? s.prefix : `${s.prefix}!`)
      const q = range(o.prefix.endsWith('!') ? o.prefix : `${o.prefix}!`)
      assert.ok(r.lt <= q.gte || q.lt <= r.gte, `${a} and ${b} overlap`)
    }
})

layout('the key builders put every key in its space, sorted by number', () => {
  const inSpace = (key: string, name: keyof typeof KEY_SPACES) =>
    assert.ok(key.startsWith(KEY_SPACES[name].prefix), `${key} is in ${name}`)
  inSpace(actorKeys.meta('a/b'), 'meta')
  inSpace(actorKeys.segment('a/b', 7), 'journal')
  inSpace(actorKeys.rejected('a/b', 7), 'rejected')
  inSpace(actorKeys.snapshot('a/b', 7), 'snapshots')
  inSpace(actorKeys.latest('a/b'), 'latest')
  inSpace(actorKeys.clean, 'cleanMarker')
  inSpace(actorKeys.image(3), 'cleanImage')
  inSpace(actorKeys.incident(1, 2), 'incidents')
  inSpace(linkKeys.hubId, 'linkHubId')
  inSpace(linkKeys.segment('h', 's', 1), 'outbox')
  inSpace(linkKeys.acked('h', 's'), 'outboxAcked')
  inSpace(rootKeys.inbox('h', 's'), 'rootInbox')
  inSpace(rootKeys.applied('h', 's', 1), 'rootApplied')
  inSpace(rootKeys.provenance('h', 's', 1), 'rootProvenance')
  inSpace(rootKeys.answer('h!k'), 'rootAnswers')
  inSpace(rootKeys.hub('h'), 'rootHubs')
  for (const [k, name] of [
    [externalKeys.lastRun('app'), 'extLastRun'],
    [externalKeys.run('app', 1), 'extRuns'],
    [externalKeys.meta('app/1/x'), 'extMeta'],
    [externalKeys.event('app/1/x', 1), 'extEvents'],
    [externalKeys.snapshot('app/1/x', 1), 'extSnapshots'],
    [externalKeys.definition('abc'), 'extDefinitions'],
  ] as const)
    inSpace(`${KEY_SPACES.ext.prefix}${k}`, name)
  // A path's keys are one range, and a child's path (a/b/c) is not inside its parent's (a/b).
  const r = range(actorKeys.segments('a/b'))
  assert.ok(actorKeys.segment('a/b', 0xfff) < r.lt)
  assert.not.ok(actorKeys.segment('a/b/c', 1) >= r.gte && actorKeys.segment('a/b/c', 1) < r.lt)
  assert.ok(actorKeys.segment('p', 9) < actorKeys.segment('p', 10))
})

const real = suite('keyLayout - a store written by every owner holds only keys of its spaces')

real('every key written lands in a leaf space of the layout', async () => {
  const store = await LevelStore.open(tmpDir())
  const snap: SnapshotRecord = { seq: 1, at: 1, snapshot: { value: 'a' }, timers: [], effects: {} }
  await store.write(
    [
      { type: 'meta', meta: { path: 'a/b', machine: 'm', machineHash: 'x', createdAt: 1, status: 'live' } },
      { type: 'event', path: 'a/b', record: { seq: 1, at: 1, event: { type: 'go' } } },
      { type: 'event', path: 'a/b', record: { seq: 2, at: 1, event: { type: 'go' }, rejected: 'no' }, unwritten: true },
      { type: 'snapshot', path: 'a/b', record: snap },
      { type: 'incident', incident: { at: 1, class: 'actor', message: 'm' } },
    ] as any,
    true,
  )
  // a retired actor: its archive record, the finish-time index and its name
  await store.write(
    [
      { type: 'meta', meta: { path: 'done', machine: 'm', machineHash: 'x', createdAt: 1, status: 'live' } },
      {
        type: 'archive',
        record: {
          meta: { path: 'done', machine: 'm', machineHash: 'x', createdAt: 1, status: 'live' },
          finishedAt: 2,
          archivedAt: 3,
          seq: 0,
          summary: {},
          name: 't\u0000k',
        },
      },
    ] as any,
    true,
  )
  await store.markClean(true)
  const writer = new GroupWriter(store, true)
  const outbox = await Outbox.open(writer, 'h1')
  await outbox.append('s', [1, 2])
  outbox.ack('s', 1)
  await writer.write([{ type: 'put', key: linkKeys.hubId, value: 'h1' }])
  await writer.write([
    { type: 'put', key: rootKeys.inbox('h', 's'), value: '{}' },
    { type: 'put', key: rootKeys.applied('h', 's', 1), value: '[]' },
    { type: 'put', key: rootKeys.provenance('h', 's', 1), value: '{}' },
    { type: 'put', key: rootKeys.answer('h!k'), value: '{}' },
    { type: 'put', key: rootKeys.hub('h'), value: '{}' },
  ])
  const updates = new UpdateLog(store, true)
  await updates.append('doc', [new Uint8Array([1, 2])])
  await updates.compact('doc', new Uint8Array([3]), 1)
  await new LevelAnswerCache(store).put('req-1', { ok: true, at: 1 } as any)
  const ext = new ExternalStore(openSublevel(store, 'ext'))
  const run = await ext.nextRun('app')
  ext.putRun({ app: 'app', run, source: 'statelyai-inspect', startedAt: 1 })
  ext.putMeta({
    path: `app/${run}/x`,
    app: 'app',
    run,
    source: 'statelyai-inspect',
    name: 'x',
    machine: 'm',
    start: 'init',
    createdAt: 1,
  })
  ext.putEvent(`app/${run}/x`, { seq: 1, at: 1, event: { type: 'go' } })
  ext.putSnapshot(`app/${run}/x`, { seq: 1, at: 1, snapshot: { value: 'a' } } as any)
  ext.putDefinition('abc', { text: '{}', json: {} })
  await ext.flush()

  const keys = await store.db.keys().all()
  const found = new Set<string>()
  for (const key of keys) {
    const hit = leaves.find(([, s]) => key.startsWith(s.prefix))
    assert.ok(hit, `key ${JSON.stringify(key)} is in no space of runtime/keyLayout.ts`)
    found.add(hit![0])
  }
  // each leaf was written by its owner (the test covers the whole layout)
  assert.equal([...found].sort(), leaves.map(([n]) => n).sort())
  await store.close()
})

const doc = suite('keyLayout - docs/storage.md')

doc('is generated from the table (regenerate: node scripts/docs.mjs)', () => {
  const text = readFileSync(new URL('../../docs/storage.md', import.meta.url), 'utf8')
  assert.fixture(text, keyLayoutDoc())
})

layout.run()
real.run()
doc.run()
