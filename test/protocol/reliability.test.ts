import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { branch, channelStability, formatTree, worst } from '../../protocol/index.ts'

const R = suite('reliability - readiness tree and channel stability')

R('a branch takes its worst child and says why', () => {
  const t = branch('hub', 'hub', [
    { id: 'a', label: 'root link', status: 'degraded', reason: 'NATS down' },
    { id: 'b', label: 'jobs', status: 'ready' },
  ])
  assert.is(t.status, 'degraded')
  assert.match(t.reason!, /root link: NATS down/)
  assert.is(worst(['ready', 'unknown']), 'unknown')
  assert.is(worst(['degraded', 'down', 'ready']), 'down')
  assert.match(formatTree(t).join('\n'), /DEG +root link \(NATS down\)/)
})

R('stability comes from incidents and reconnect churn, not from being connected now', () => {
  const now = 1_000_000
  assert.is(channelStability('c', [], [], now).level, 'stable')
  const churn = channelStability('c', [], [now - 1000, now - 2000, now - 3000], now)
  assert.is(churn.level, 'flapping', 'three reconnects, each successful, still count')
  const bad = channelStability('c', [now - 10, now - 20, now - 30], [now - 1, now - 2, now - 3], now)
  assert.is(bad.level, 'unstable')
  assert.is(
    channelStability('c', [now - 600_000], [now - 600_000], now).level,
    'stable',
    'old trouble leaves the window',
  )
})

R.run()
