import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { ResendTimer } from '../../../runtime/link/ResendTimer.ts'

const R = suite('ResendTimer - the Class A resend timeout follows the ack round trip')

R('the configured maximum until an ack was measured', () => {
  const t = new ResendTimer(200, 2000)
  assert.is(t.ms, 2000)
  assert.equal(t.status(), { ms: 2000, srttMs: null, rttvarMs: 0, samples: 0, backoff: 1 })
})

R('fast, steady acks: down to the minimum; slow ones: srtt + 4 rttvar', () => {
  const fast = new ResendTimer(200, 2000)
  for (let i = 0; i < 50; i++) fast.sample(5)
  assert.is(fast.ms, 200, 'never below the minimum')
  const slow = new ResendTimer(200, 2000)
  slow.sample(300) // srtt 300, rttvar 150
  assert.is(slow.ms, 900)
  slow.sample(300) // rttvar 0.75*150 + 0 = 112.5; srtt 300
  assert.is(slow.ms, 750)
  for (let i = 0; i < 100; i++) slow.sample(300)
  assert.ok(slow.ms > 300 && slow.ms < 310, `converges on the round trip (${slow.ms})`)
})

R('a jittery round trip keeps a margin above the mean', () => {
  const t = new ResendTimer(50, 5000)
  for (let i = 0; i < 200; i++) t.sample(i % 2 ? 100 : 300)
  const s = t.status()
  assert.ok(s.srttMs! > 150 && s.srttMs! < 250, `srtt ${s.srttMs}`)
  assert.ok(t.ms > 300, `the timeout ${t.ms} exceeds the slowest ack`)
})

R('each timeout doubles it up to the maximum; progress resets it', () => {
  const t = new ResendTimer(200, 2000)
  for (let i = 0; i < 20; i++) t.sample(10)
  const seen = [t.ms]
  for (let i = 0; i < 6; i++) {
    t.timedOut()
    seen.push(t.ms)
  }
  assert.equal(seen, [200, 400, 800, 1600, 2000, 2000, 2000])
  assert.is(t.backoff, 16, 'no doubling once at the maximum')
  t.progressed()
  assert.is(t.ms, 200)
})

R.run()
