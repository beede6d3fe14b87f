/**
 * One WebRTC stack (issue 20.3): a peer session's `events` channel carries channel frames beside
 * the session's own frames, its `sync` channel binary webspace frames; neither reaches the
 * machine (nothing journaled). Two RtcNodes over werift, as rtcPair makes them.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { encodeChannelFrame } from '../../../protocol/channelFrame.ts'
import { decodeSyncMessage, encodeSyncMessage } from '../../../runtime/rtc/peerChannels.ts'
import { exitWhenDone, openPair, until } from '../../helpers/rtcPair.ts'

const Codec = suite('peerChannels - the sync message header')

Codec('a sync message round-trips; a header that does not fit is refused', () => {
  const frame = new Uint8Array([0, 1, 2, 250, 251])
  const m = decodeSyncMessage(encodeSyncMessage('a7', 'notes', frame))
  assert.ok(m)
  assert.is(m!.attachment, 'a7')
  assert.is(m!.name, 'notes')
  assert.equal([...m!.frame], [...frame])
  assert.is(decodeSyncMessage(new Uint8Array([])), null)
  assert.is(decodeSyncMessage(new Uint8Array([9, 65])), null, 'attachment longer than the message')
  assert.is(decodeSyncMessage(new Uint8Array([1, 65, 9, 66])), null, 'webspace longer than the message')
  assert.throws(() => encodeSyncMessage('x'.repeat(256), 'n', frame))
})

Codec.run()

const Carry = suite('peerChannels - channel frames and webspace frames over a peer session')

Carry('events carries channel frames, sync binary frames, both ways; the journals do not move', async () => {
  const p = await openPair()
  try {
    const up = Promise.all([p.member.whenUp('hub'), p.hub.whenUp('member-1')])
    await p.member.openSession('hub', 'member-1.g0')
    await up
    const m = p.member.executor('hub')!
    const h = p.hub.executor('member-1')!
    const atHub: string[] = []
    const atMember: string[] = []
    const syncAtHub: Uint8Array[] = []
    const syncAtMember: Uint8Array[] = []
    h.onChannelFrame((t) => atHub.push(t))
    m.onChannelFrame((t) => atMember.push(t))
    h.onSync((b) => syncAtHub.push(b))
    m.onSync((b) => syncAtMember.push(b))
    await p.memberSystem.flush()
    await p.hubSystem.flush()
    const seq = (sys: typeof p.hubSystem, path: string) => sys.hosted(path)!.nextSeq
    const before = { member: seq(p.memberSystem, 'hub/peer'), hub: seq(p.hubSystem, 'member-1/peer') }
    const frames = Array.from({ length: 50 }, (_, i) =>
      encodeChannelFrame({ v: 1, ch: 'command', k: 'cmd', id: `c${i}`, payload: { i } } as any),
    )
    for (const f of frames) assert.ok(m.sendChannelFrame(f))
    const bytes = new Uint8Array(40_000).map((_, i) => i & 0xff)
    assert.ok(m.sendSync(encodeSyncMessage('1', 'notes', bytes)))
    assert.ok(h.sendChannelFrame(frames[0]))
    assert.ok(h.sendSync(encodeSyncMessage('1', 'notes', bytes.subarray(0, 10))))
    await until(
      () => atHub.length === 50 && syncAtHub.length === 1 && atMember.length === 1 && syncAtMember.length === 1,
      5000,
      'every frame across',
    )
    assert.equal(atHub, frames, 'in order, once, as sent')
    const s = decodeSyncMessage(syncAtHub[0])!
    assert.is(s.name, 'notes')
    assert.equal([...s.frame], [...bytes])
    assert.equal([...decodeSyncMessage(syncAtMember[0])!.frame], [...bytes.subarray(0, 10)])
    // a text message on sync is refused and counted, not delivered
    const bad = h.stats.badFrames
    m.handle!.send('sync', 'text on sync')
    await until(() => h.stats.badFrames === bad + 1, 5000, 'the text on sync counted')
    assert.is(syncAtHub.length, 1)
    await p.memberSystem.flush()
    await p.hubSystem.flush()
    assert.is(seq(p.memberSystem, 'hub/peer'), before.member, "the member's session journaled nothing")
    assert.is(seq(p.hubSystem, 'member-1/peer'), before.hub, "the hub's session journaled nothing")
  } finally {
    await p.close()
  }
})

Carry.after(() => exitWhenDone())
Carry.run()
