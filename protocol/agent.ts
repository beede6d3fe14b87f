/**
 * The agent session wire format, spoken over the hub's `/ws/agent` WebSocket as JSON text frames.
 *
 * Client -> hub:
 *   {"type":"task","taskId"?:ID,"role":ROLE,"prompt":TEXT,"images"?:[URL]}   run a task on a role
 *   {"type":"session.close"}                                                   end the session
 *   {"type":"ping"}                                                            liveness
 * Hub -> client:
 *   {"type":"session.ready", sessionId, resumed, capabilities, degraded, history, outcomes, handshakeMs}
 *   {"type":"capabilities", capabilities, degraded}          whenever an integration changes
 *   {"type":"task.accepted", taskId}
 *   {"type":"task.result", n, taskId, ok, text?, provider?, model?, fallbacks, cached, requestId, error?}
 *   {"type":"session.closed", sessionId}
 *   {"type":"error", code, field?, message}                  a bad frame: counted, nothing changes
 *   {"type":"pong"}
 * Connect with `?token=T` (or `Authorization: Bearer T`); resume with `&session=ID&after=N` to get
 * the outcomes after N again. Decoding is pure and throws nothing: bad input becomes an error value.
 */

/** Roles every harness knows by name; a harness file may add its own. */
export const BUILTIN_ROLES = ['chat', 'vision', 'planner', 'browser'] as const

export const ROLE_RE = /^[a-z][a-z0-9_-]{0,39}$/
export const SESSION_ID_RE = /^[A-Za-z0-9_-]{8,64}$/
export const TASK_ID_RE = /^[A-Za-z0-9_.:-]{1,64}$/
export const MAX_PROMPT = 100_000
export const MAX_IMAGES = 8

export interface TaskFrame {
  type: 'task'
  taskId?: string
  role: string
  prompt: string
  images?: string[]
}
export type ClientFrame = TaskFrame | { type: 'session.close' } | { type: 'ping' }

/** A bad frame: `field` names what is wrong. */
export interface FrameError {
  code: 'BAD_FRAME'
  field?: string
  message: string
}

/** What a capability is doing now; `off` means not configured (not degraded). */
export type CapabilityStatus = 'off' | 'connecting' | 'ready' | 'degraded' | 'retrying'

export interface TaskOutcome {
  /** Position in the session's outcome list (1, 2, ...): resume with `after=n`. */
  n: number
  taskId: string
  role: string
  ok: boolean
  text?: string
  provider?: string
  model?: string
  /** Attempts that failed or were skipped before the answer (0 = first choice answered). */
  fallbacks: number
  /** Answered from the request-id cache (a retry after a crash), not by a new paid call. */
  cached: boolean
  requestId: string
  latencyMs?: number
  error?: { code: string; message: string }
}

const fail = (message: string, field?: string): { ok: false; error: FrameError } => ({
  ok: false,
  error: { code: 'BAD_FRAME', field, message },
})

/** Decodes one client frame. */
export function decodeClientFrame(text: unknown): { ok: true; frame: ClientFrame } | { ok: false; error: FrameError } {
  if (typeof text !== 'string') return fail('frames are JSON text')
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch {
    return fail('the frame is not valid JSON')
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail('a frame is a JSON object with a "type"')
  const o = v as Record<string, unknown>
  if (o.type === 'ping') return { ok: true, frame: { type: 'ping' } }
  if (o.type === 'session.close') return { ok: true, frame: { type: 'session.close' } }
  if (o.type !== 'task')
    return fail(`unknown frame type ${JSON.stringify(o.type)}: use "task", "session.close" or "ping"`, 'type')
  if (typeof o.role !== 'string' || !ROLE_RE.test(o.role))
    return fail('"role" must be a role name (lowercase letters, digits, "-", "_")', 'role')
  if (typeof o.prompt !== 'string' || o.prompt.length === 0)
    return fail('"prompt" must be a non-empty string', 'prompt')
  if (o.prompt.length > MAX_PROMPT) return fail(`"prompt" is longer than ${MAX_PROMPT} characters`, 'prompt')
  if (o.taskId !== undefined && (typeof o.taskId !== 'string' || !TASK_ID_RE.test(o.taskId)))
    return fail('"taskId" must be 1-64 characters of letters, digits, ".", "_", ":", "-"', 'taskId')
  const frame: TaskFrame = { type: 'task', role: o.role, prompt: o.prompt }
  if (o.taskId !== undefined) frame.taskId = o.taskId as string
  if (o.images !== undefined) {
    if (!Array.isArray(o.images) || o.images.length > MAX_IMAGES)
      return fail(`"images" must be an array of at most ${MAX_IMAGES} URLs`, 'images')
    for (let i = 0; i < o.images.length; i++) {
      const u = o.images[i]
      if (typeof u !== 'string' || !/^(https?:|data:image\/)/.test(u) || u.length > 5_000_000)
        return fail('each image is an http(s) or data:image/ URL', `images[${i}]`)
    }
    frame.images = o.images as string[]
  }
  for (const k of Object.keys(o))
    if (!['type', 'taskId', 'role', 'prompt', 'images'].includes(k)) return fail(`unknown field "${k}"`, k)
  return { ok: true, frame }
}
