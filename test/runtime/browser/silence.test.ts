import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { SilenceWatch } from '../../../runtime/browser/silence.ts'

const t = suite('SilenceWatch')

t('on-time ticks: down once nothing was heard for deadAfterMs, not before', () => {
  let now = 0
  const w = new SilenceWatch(100, 300, () => now)
  const verdicts: boolean[] = []
  for (let i = 1; i <= 5; i++) {
    now = i * 100
    verdicts.push(w.tick())
  }
  assert.equal(verdicts, [false, false, false, true, true])
})

t('a late tick does not judge: the messages queued behind it are heard first', () => {
  let now = 0
  const w = new SilenceWatch(100, 300, () => now)
  now = 100
  assert.is(w.tick(), false)
  // the page was starved for 900 ms; the pong that arrived at 150 is still queued behind the timer
  now = 1000
  assert.is(w.tick(), false, 'late tick deferred')
  w.heard() // the queued pong is dispatched right after
  now = 1100
  assert.is(w.tick(), false)
})

t('a dead path on a page that stays starved is still declared down on the next tick', () => {
  let now = 0
  const w = new SilenceWatch(100, 300, () => now)
  now = 1000
  assert.is(w.tick(), false, 'first late verdict deferred')
  now = 2000
  assert.is(w.tick(), true, 'second late tick judges')
})

t('hearing resets the silence; reset() starts over', () => {
  let now = 0
  const w = new SilenceWatch(100, 300, () => now)
  for (let i = 1; i <= 10; i++) {
    now = i * 100
    if (i % 3 === 0) w.heard()
    assert.is(w.tick(), false)
  }
  now = 1500
  w.reset()
  now = 1600
  assert.is(w.tick(), false)
})

t.run()
