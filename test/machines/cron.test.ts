import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { cronNext, parseCron } from '../../machines/cron.ts'
import { nextDue } from '../../machines/schedule.ts'

const t = (iso: string) => Date.parse(iso)

const Cron = suite('cron - next due time')
Cron('every 15 minutes, hours, weekdays, month days (UTC)', () => {
  assert.is(cronNext('*/15 * * * *', t('2026-11-21T10:07:30Z')), t('2026-11-21T10:15:00Z'))
  assert.is(cronNext('*/15 * * * *', t('2026-11-21T10:15:00Z')), t('2026-11-21T10:30:00Z'), 'strictly after')
  assert.is(cronNext('0 3 * * *', t('2026-11-21T10:00:00Z')), t('2026-11-22T03:00:00Z'))
  assert.is(cronNext('30 9 * * 1-5', t('2026-11-21T10:00:00Z')), t('2026-11-23T09:30:00Z'), 'Saturday -> Monday')
  assert.is(cronNext('0 0 1 * *', t('2026-12-15T00:00:00Z')), t('2027-01-01T00:00:00Z'))
  assert.is(cronNext('0 12 29 2 *', t('2026-03-01T00:00:00Z')), t('2028-02-29T12:00:00Z'), 'leap day')
  assert.is(cronNext('0 0 * * 7', t('2026-11-21T00:00:00Z')), t('2026-11-22T00:00:00Z'), '7 is Sunday')
  assert.is(cronNext('0 0 13 * 5', t('2026-11-21T00:00:00Z')), t('2026-11-27T00:00:00Z'), 'day-of-month OR day-of-week')
})
Cron('bad expressions name the field', () => {
  assert.throws(() => parseCron('* * *'), /5 fields/)
  assert.throws(() => parseCron('61 * * * *'), /minute/)
  assert.throws(() => parseCron('* 24 * * *'), /hour/)
  assert.throws(() => parseCron('* * * 13 *'), /month/)
  assert.throws(() => parseCron('*/0 * * * *'), /minute/)
  assert.throws(() => parseCron('a * * * *'), /minute/)
})

const Missed = suite('schedule - missed-run policy')
Missed('interval: a late run is followed by the next slot after now (missed ones coalesce)', () => {
  assert.is(nextDue({ every: 1000 }, 5000, 5010), 6000, 'on time: next slot')
  assert.is(nextDue({ every: 1000 }, 5000, 9500), 10_500, 'four slots missed: one catch-up run, next from now')
  assert.is(
    nextDue({ cron: '0 * * * *' }, t('2026-11-21T08:00:00Z'), t('2026-11-21T10:30:00Z')),
    t('2026-11-21T11:00:00Z'),
  )
})

Cron.run()
Missed.run()
