import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { ResendTimer } from '../../../runtime/link/ResendTimer.ts'

const R = suite('ResendTimer - the Class A resend timeout grows with the ack round trip')

R('the configured timer until an ack was measured, and never below it', () => {
  const t = new ResendTimer(800, 30_000)
  assert.equal(t.status(), { ms: 800, srttMs: null, rttvarMs: 0, samples: 0 })
  for (let i = 0; i < 50; i++) t.sample(5)
  assert.is(t.ms, 800, 'fast acks keep the configured timer')
})

R('acks slower than the timer: srtt + 4 rttvar, so the first copies are not sent again', () => {
  const t = new ResendTimer(800, 30_000)
  t.sample(2000) // srtt 2000, rttvar 1000
  assert.is(t.ms, 6000)
  t.sample(2000) // rttvar 750
  assert.is(t.ms, 5000)
  for (let i = 0; i < 100; i++) t.sample(2000)
  assert.ok(t.ms > 2000 && t.ms < 2010, `converges just above the round trip (${t.ms})`)
})

R('a jittery round trip keeps a margin above the slowest ack', () => {
  const t = new ResendTimer(100, 30_000)
  for (let i = 0; i < 200; i++) t.sample(i % 2 ? 500 : 1500)
  const s = t.status()
  assert.ok(s.srttMs! > 800 && s.srttMs! < 1200, `srtt ${s.srttMs}`)
  assert.ok(t.ms > 1500, `the timeout ${t.ms} exceeds the slowest ack`)
})

R('capped at the maximum; back to the configured timer once acks are fast again', () => {
  const t = new ResendTimer(800, 30_000)
  t.sample(100_000)
  assert.is(t.ms, 30_000)
  for (let i = 0; i < 100; i++) t.sample(10)
  assert.is(t.ms, 800)
})

R.run()
