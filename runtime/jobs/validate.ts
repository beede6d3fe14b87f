/**
 * Validation of job submissions at the edge (`POST /api/jobs`, triggers): a bad body is a
 * JobError (400) whose message names the field; nothing is created from it.
 */
import { MAX_PRIORITY, MIN_PRIORITY, Priority } from '../../machines/job.ts'
import { JobError, type SubmitRequest } from './JobQueue.ts'

export const TENANT_RE = /^[A-Za-z0-9_.-]{1,64}$/
const FIELDS = new Set(['type', 'input', 'priority', 'tenant', 'key', 'runAt', 'maxAttempts', 'queue'])

const bad = (field: string, what: string) => new JobError('BAD_BODY', `field "${field}" ${what}`)

/** Parses a priority: an integer 0..20 or one of URGENT, HIGH, NORMAL, LOW. */
export function parsePriority(v: unknown, field = 'priority'): number {
  if (typeof v === 'string') {
    const n = (Priority as Record<string, number>)[v.toUpperCase()]
    if (n === undefined)
      throw bad(field, `must be an integer ${MIN_PRIORITY}..${MAX_PRIORITY} or one of URGENT, HIGH, NORMAL, LOW`)
    return n
  }
  if (typeof v !== 'number' || !Number.isInteger(v) || v < MIN_PRIORITY || v > MAX_PRIORITY) {
    throw bad(field, `must be an integer ${MIN_PRIORITY}..${MAX_PRIORITY} or one of URGENT, HIGH, NORMAL, LOW`)
  }
  return v
}

/** Checks a `POST /api/jobs` body; `types` are the registered job type names. */
export function parseSubmit(body: unknown, types: Set<string>): SubmitRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new JobError(
      'BAD_BODY',
      'the body must be a JSON object {type, input?, priority?, tenant?, key?, runAt?, maxAttempts?, queue?}',
    )
  }
  const b = body as Record<string, unknown>
  for (const k of Object.keys(b))
    if (!FIELDS.has(k)) throw bad(k, `is unknown; the fields are ${[...FIELDS].join(', ')}`)
  if (typeof b.type !== 'string' || !b.type) throw bad('type', 'must be the name of a job type')
  if (!types.has(b.type)) throw bad('type', `names no job type; known: ${[...types].join(', ')}`)
  const req: SubmitRequest = { type: b.type }
  if (b.input !== undefined) {
    let size: number
    try {
      size = JSON.stringify(b.input).length
    } catch {
      throw bad('input', 'must be JSON')
    }
    if (size > 256 * 1024) throw bad('input', 'is larger than 256 KiB')
    req.input = b.input
  }
  if (b.priority !== undefined) req.priority = parsePriority(b.priority)
  if (b.tenant !== undefined) {
    if (typeof b.tenant !== 'string' || !TENANT_RE.test(b.tenant))
      throw bad('tenant', 'must match [A-Za-z0-9_.-]{1,64}')
    req.tenant = b.tenant
  }
  if (b.queue !== undefined) {
    if (typeof b.queue !== 'string' || !TENANT_RE.test(b.queue)) throw bad('queue', 'must match [A-Za-z0-9_.-]{1,64}')
    req.queue = b.queue
  }
  if (b.key !== undefined) {
    if (typeof b.key !== 'string' || b.key.length < 1 || b.key.length > 200)
      throw bad('key', 'must be a string of 1..200 characters')
    req.key = b.key
  }
  if (b.runAt !== undefined) {
    let t: number
    if (typeof b.runAt === 'number' && Number.isFinite(b.runAt) && b.runAt >= 0 && b.runAt < 8.64e15)
      t = Math.floor(b.runAt)
    else if (typeof b.runAt === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(b.runAt) && Number.isFinite(Date.parse(b.runAt)))
      t = Date.parse(b.runAt)
    else throw bad('runAt', 'must be a time: ms since the epoch or an ISO 8601 string')
    req.runAt = t
  }
  if (b.maxAttempts !== undefined) {
    if (
      typeof b.maxAttempts !== 'number' ||
      !Number.isInteger(b.maxAttempts) ||
      b.maxAttempts < 1 ||
      b.maxAttempts > 100
    )
      throw bad('maxAttempts', 'must be an integer 1..100')
    req.maxAttempts = b.maxAttempts
  }
  return req
}
