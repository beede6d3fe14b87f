import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { LevelStore } from '../../../runtime/LevelStore.ts'
import { RootService } from '../../../runtime/root/RootService.ts'
import { decodeFrame, encodeFrame, envelope, type Envelope } from '../../../protocol/index.ts'
import { tmpDir } from '../../helpers/tmp.ts'

/** A link that records what the root publishes. */
function fakeLink() {
  const sent: Array<{ subject: string; envs: Envelope[] }> = []
  return {
    sent,
    publish: (subject: string, data: Uint8Array) => (sent.push({ subject, envs: decodeFrame(data) }), true),
  } as any
}
const rec = (hub: string, cursor: number, id = `${hub}.s.${cursor}`) =>
  envelope('stream.record', hub, { c: cursor }, { streamId: 's', cursor, id })
const frame = (hub: string, envs: Envelope[]) => ({
  subject: `aether.root.${hub}.stream`,
  data: encodeFrame(envs),
  reply: 'ack',
})
const settle = async (svc: RootService) => {
  await svc.writer.flush()
  await new Promise((r) => setImmediate(r))
}

const Inbox = suite('RootService - Class A inbox applies each cursor once, in order')

Inbox('in order applied; duplicates, stale, gaps and duplicate ids refused and counted', async () => {
  const store = await LevelStore.open(tmpDir())
  const svc = new RootService(store, { rootId: 'root' })
  await svc.start()
  const link = fakeLink()
  svc.onStream(frame('h', [rec('h', 1), rec('h', 2)]), link)
  assert.is(link.sent.length, 0, 'no ack before the write is on disk')
  await settle(svc)
  assert.is(link.sent.length, 1)
  assert.equal(link.sent[0].envs[0].payload, { streamId: 's', upTo: 2, applied: 2, duplicates: 0, stale: 0, gaps: 0 })
  svc.onStream(frame('h', [rec('h', 2), rec('h', 4)]), link) // resend of 2, then a gap
  svc.onStream(frame('h', [rec('h', 3, 'h.s.1')]), link) // a known id at a new cursor
  svc.onStream(frame('h', [rec('h', 1, 'other')]), link) // an old cursor with an unknown id
  await settle(svc)
  const acks = link.sent.slice(1).map((s: any) => s.envs[0].payload)
  assert.equal(acks[0], { streamId: 's', upTo: 2, applied: 0, duplicates: 1, stale: 0, gaps: 1 })
  assert.equal(acks[1], { streamId: 's', upTo: 2, applied: 0, duplicates: 1, stale: 0, gaps: 0 })
  assert.equal(acks[2], { streamId: 's', upTo: 2, applied: 0, duplicates: 0, stale: 1, gaps: 0 })
  const st = svc.stateOf('h', 's')!
  assert.equal([st.cursor, st.applied, st.duplicates, st.stale, st.gaps, st.idDuplicates], [2, 2, 1, 1, 1, 1])
  const refused = await svc.refused('h', 's')
  assert.equal(
    refused.map((r) => r.result),
    ['duplicate', 'gap', 'duplicate-id', 'stale'],
  )
  await svc.close()
  await store.close()
})

Inbox('state, ids seen and provenance survive a restart', async () => {
  const dir = tmpDir()
  let store = await LevelStore.open(dir)
  let svc = new RootService(store, { rootId: 'root' })
  await svc.start()
  const link = fakeLink()
  svc.onStream(frame('h', [rec('h', 1), rec('h', 2), rec('h', 3)]), link)
  await settle(svc)
  await svc.close()
  await store.close()
  store = await LevelStore.open(dir)
  svc = new RootService(store, { rootId: 'root' })
  await svc.start()
  svc.onStream(frame('h', [rec('h', 3), rec('h', 4, 'h.s.2')]), link)
  await settle(svc)
  const st = svc.stateOf('h', 's')!
  assert.is(st.cursor, 3)
  assert.is(st.duplicates, 1, 'a resend after the restart is recognised')
  assert.is(st.idDuplicates, 1, 'ids seen were reloaded')
  const applied = await svc.applied('h', 's', 1, 10)
  assert.equal(
    applied.map((r) => r.cursor),
    [2, 3],
  )
  assert.ok(applied.every((r) => r.result === 'applied' && r.receivedAt > 0))
  await svc.close()
  await store.close()
})

Inbox('a frame is refused whole when one envelope is from another hub', async () => {
  const store = await LevelStore.open(tmpDir())
  const svc = new RootService(store, { rootId: 'root' })
  await svc.start()
  const link = fakeLink()
  svc.onStream(frame('h', [rec('h', 1), rec('x', 2)]), link)
  await settle(svc)
  assert.is(svc.stateOf('h', 's'), undefined)
  assert.is(svc.rejectedByCode.WRONG_SENDER, 1)
  assert.is(link.sent[0].envs[0].subject, 'error')
  assert.is((link.sent[0].envs[0].payload as any).field, '[1].from')
  await svc.close()
  await store.close()
})

const ClassB = suite('RootService - Class B answers are cached by idempotency key')

ClassB('a retry with the same key gets the cached answer; a new key a new one', async () => {
  const store = await LevelStore.open(tmpDir())
  const svc = new RootService(store, { rootId: 'root', cacheTtlMs: 60_000 })
  await svc.start()
  const link = fakeLink()
  const cmd = (key: string) => ({
    subject: 'aether.root.h.cmd',
    data: encodeFrame(envelope('hub.register', 'h', { hubId: 'h', version: '1', startedAt: 1 }, { key })),
    reply: 'r',
  })
  svc.onCommand(cmd('k1'), link)
  await settle(svc)
  svc.onCommand(cmd('k1'), link)
  svc.onCommand(cmd('k2'), link)
  await settle(svc)
  const answers = link.sent.map((s: any) => s.envs[0].payload)
  assert.is(answers[0].cached, false)
  assert.is(answers[1].cached, true)
  assert.is(answers[1].registeredAt, answers[0].registeredAt)
  assert.is(answers[1].registrations, 1)
  assert.is(answers[2].registrations, 2)
  await svc.close()
  await store.close()
})

Inbox.run()
ClassB.run()
