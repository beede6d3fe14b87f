/**
 * Cron expressions (5 fields, UTC: minute hour day-of-month month day-of-week) and their next
 * due time. Pure: schedules (machines/schedule.ts) compute their next run with it, so replay gets
 * the same times. Fields take `*`, numbers, lists `1,5`, ranges `1-5` and steps `*\/15`, `10-40/10`.
 * Day-of-month and day-of-week combine as in Vixie cron: when both are restricted, either matches.
 */

export interface Cron {
  minutes: Set<number>
  hours: Set<number>
  days: Set<number>
  months: Set<number>
  weekdays: Set<number>
  anyDay: boolean
  anyWeekday: boolean
}

export class CronError extends Error {
  readonly code = 'BAD_CRON'
  constructor(message: string) {
    super(message)
    this.name = 'CronError'
  }
}

const FIELDS: Array<[string, number, number]> = [
  ['minute', 0, 59],
  ['hour', 0, 23],
  ['day of month', 1, 31],
  ['month', 1, 12],
  ['day of week', 0, 7],
]

function field(text: string, [name, lo, hi]: [string, number, number]): Set<number> {
  const out = new Set<number>()
  for (const part of text.split(',')) {
    const m = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part)
    if (!m) throw new CronError(`cron ${name} "${part}" is not *, N, N-M or a step (*/N)`)
    const from = m[1] === '*' ? lo : Number(m[2])
    const to = m[1] === '*' ? hi : m[3] !== undefined ? Number(m[3]) : m[4] !== undefined ? hi : from
    const step = m[4] !== undefined ? Number(m[4]) : 1
    if (from < lo || to > hi || from > to || step < 1)
      throw new CronError(`cron ${name} "${part}" is outside ${lo}-${hi}`)
    for (let v = from; v <= to; v += step) out.add(name === 'day of week' && v === 7 ? 0 : v)
  }
  return out
}

/** Parses a 5-field cron expression; throws CronError naming the bad field. */
export function parseCron(expr: string): Cron {
  const parts = expr.trim().split(/\s+/)
  if (parts.length !== 5)
    throw new CronError(
      `a cron expression has 5 fields (minute hour day month weekday), got ${parts.length}: "${expr}"`,
    )
  const [minutes, hours, days, months, weekdays] = parts.map((p, i) => field(p, FIELDS[i]))
  return { minutes, hours, days, months, weekdays, anyDay: parts[2] === '*', anyWeekday: parts[4] === '*' }
}

/** The first due time strictly after `after` (ms since the epoch, UTC), within 5 years. */
export function cronNext(cron: Cron | string, after: number): number {
  const c = typeof cron === 'string' ? parseCron(cron) : cron
  const d = new Date(Math.floor(after / 60_000) * 60_000 + 60_000)
  const limit = after + 5 * 366 * 86_400_000
  while (d.getTime() <= limit) {
    if (!c.months.has(d.getUTCMonth() + 1)) {
      d.setUTCMonth(d.getUTCMonth() + 1, 1)
      d.setUTCHours(0, 0, 0, 0)
      continue
    }
    const dom = c.days.has(d.getUTCDate())
    const dow = c.weekdays.has(d.getUTCDay())
    const dayOk = c.anyDay && c.anyWeekday ? true : c.anyDay ? dow : c.anyWeekday ? dom : dom || dow
    if (!dayOk) {
      d.setUTCDate(d.getUTCDate() + 1)
      d.setUTCHours(0, 0, 0, 0)
      continue
    }
    if (!c.hours.has(d.getUTCHours())) {
      d.setUTCHours(d.getUTCHours() + 1, 0, 0, 0)
      continue
    }
    if (!c.minutes.has(d.getUTCMinutes())) {
      d.setUTCMinutes(d.getUTCMinutes() + 1, 0, 0)
      continue
    }
    return d.getTime()
  }
  throw new CronError('the cron expression never matches within 5 years')
}
