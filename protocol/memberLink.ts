/**
 * The member link: how a member node's supervisor and its parent hub talk over NATS (issue 22).
 * JSON, one message per NATS message, version 1 (`v: 1`), at most MAX_MEMBER_MESSAGE bytes.
 *
 *   aether.fleet.<hub>.snapshot        member -> hub  `snapshot`: on change, every heartbeat, and after an `ask`
 *   aether.fleet.<hub>.ask             hub -> members `ask`: every member publishes its snapshot now
 *   aether.fleet.<hub>.member.<member> hub -> member  `request` (NATS request/reply; the reply is a `reply`)
 *
 *   {"v":1,"t":"snapshot","hub":"h1","member":"m1","seq":7,"at":1733..,"heartbeatMs":1000,
 *    "supervisor":"0.9.0","phase":"serving","ready":true,"slot":"A","version":"1.0.0","buildId":"b-1",
 *    "update":{"state":"idle","attempt":2,"version":"1.1.0","outcome":"rolled_back","reason":"..."},
 *    "requests":[{"id":"rollout:r1/wave@4/m1","action":"update","attempt":2,"result":"rolled_back"}]}
 *   {"v":1,"t":"ask","hub":"h1","at":1733..}
 *   {"v":1,"t":"request","id":"rollout:r1/wave@4/m1","hub":"h1","member":"m1","action":"update",
 *    "source":"/images/1.1.0","version":"1.1.0"}
 *   {"v":1,"t":"reply","id":"rollout:r1/wave@4/m1","member":"m1","ok":true,"state":"planned","attempt":3}
 *   {"v":1,"t":"reply","id":"...","member":"m1","ok":false,"state":"countdown","code":"BUSY","message":"..."}
 *
 * A request's `id` is its idempotency key (actors/effect.ts makes it): the member answers a repeated
 * id with its first answer (`duplicate: true`) and acts on it once, across restarts of either side.
 * `requests` in the snapshot lists the last requests the member took with the result of the update
 * attempt each started (`pending` while it runs), so the hub learns outcomes from snapshots alone.
 *
 * `decodeMemberMessage` checks everything and throws a `ProtocolError` naming the field (codes in
 * protocol/errors.ts); receivers count what they refuse and change nothing.
 */
import { ProtocolError } from './errors.ts'
import { arr, bool, int, lit, obj, str, type Schema } from './schema.ts'
import { NODE_ID } from './subjects.ts'

/** Largest member-link message (bytes). */
export const MAX_MEMBER_MESSAGE = 64 * 1024

export const MEMBER_ACTIONS = ['update', 'cancel', 'rollback'] as const
export type MemberAction = (typeof MEMBER_ACTIONS)[number]

/** What became of the update attempt a request started. */
export const REQUEST_RESULTS = ['pending', 'committed', 'rolled_back', 'cancelled', 'failed'] as const
export type RequestResult = (typeof REQUEST_RESULTS)[number]

export interface MemberUpdateState {
  /** The member's updateTransition state (`idle`, `countdown`, `verifying`, ...). */
  state: string
  /** The current or last attempt's number, version, outcome and reason. */
  attempt?: number
  version?: string
  outcome?: string
  reason?: string
  /** Why the attempt waits (live media, deferral, minimum interval). */
  waitReason?: string
}

export interface MemberRequestRecord {
  id: string
  action: MemberAction
  /** The update attempt the request started (none for a cancel). */
  attempt?: number
  result: RequestResult
}

export interface MemberSnapshot {
  v: 1
  t: 'snapshot'
  hub: string
  member: string
  /** Increases with every snapshot of one supervisor boot; `boot` tells boots apart. */
  seq: number
  boot: string
  at: number
  /** The member publishes at least this often; the hub calls it stale after 3 missed. */
  heartbeatMs: number
  supervisor: string
  phase: string
  /** The active runtime is up and marked itself good. */
  ready: boolean
  slot: string
  version: string | null
  buildId: string | null
  update: MemberUpdateState
  requests: MemberRequestRecord[]
}

export interface MemberAsk {
  v: 1
  t: 'ask'
  hub: string
  at: number
}

export interface MemberRequest {
  v: 1
  t: 'request'
  id: string
  hub: string
  member: string
  action: MemberAction
  /** update: the slot image folder on the member's disk. */
  source?: string
  version?: string
  reason?: string
  force?: boolean
}

export interface MemberReply {
  v: 1
  t: 'reply'
  id: string
  member: string
  ok: boolean
  /** The member's updateTransition state after the request. */
  state: string
  attempt?: number
  duplicate?: boolean
  code?: string
  message?: string
}

export type MemberMessage = MemberSnapshot | MemberAsk | MemberRequest | MemberReply

const node = str({ pattern: NODE_ID, description: 'a node id' })
const text = (maxLength: number) => str({ maxLength })
const requestId = str({ minLength: 1, maxLength: 256, pattern: /^[\x21-\x7e]+$/ })

/** The schemas of the member link, by `t` (exported as JSON Schema with the others). */
export const memberMessageSchemas: Record<MemberMessage['t'], Schema<unknown>> = {
  snapshot: obj(
    {
      v: lit(1),
      t: lit('snapshot'),
      hub: node,
      member: node,
      seq: int({ min: 0 }),
      boot: text(64),
      at: int({ min: 0 }),
      heartbeatMs: int({ min: 10, max: 3_600_000 }),
      supervisor: text(64),
      phase: text(64),
      ready: bool(),
      slot: str({ enum: ['A', 'B'] }),
      version: nullable(text(128)),
      buildId: nullable(text(256)),
      update: obj(
        {
          state: text(64),
          attempt: int({ min: 0 }),
          version: text(128),
          outcome: text(64),
          reason: text(2000),
          waitReason: text(2000),
        },
        ['state'],
      ),
      requests: arr(
        obj(
          {
            id: requestId,
            action: str({ enum: MEMBER_ACTIONS }),
            attempt: int({ min: 0 }),
            result: str({ enum: REQUEST_RESULTS }),
          },
          ['id', 'action', 'result'],
        ),
        { maxItems: 50 },
      ),
    },
    [
      'v',
      't',
      'hub',
      'member',
      'seq',
      'boot',
      'at',
      'heartbeatMs',
      'supervisor',
      'phase',
      'ready',
      'slot',
      'version',
      'buildId',
      'update',
      'requests',
    ],
  ),
  ask: obj({ v: lit(1), t: lit('ask'), hub: node, at: int({ min: 0 }) }, ['v', 't', 'hub', 'at']),
  request: obj(
    {
      v: lit(1),
      t: lit('request'),
      id: requestId,
      hub: node,
      member: node,
      action: str({ enum: MEMBER_ACTIONS }),
      source: str({ minLength: 1, maxLength: 4096 }),
      version: text(128),
      reason: text(500),
      force: bool(),
    },
    ['v', 't', 'id', 'hub', 'member', 'action'],
  ),
  reply: obj(
    {
      v: lit(1),
      t: lit('reply'),
      id: requestId,
      member: node,
      ok: bool(),
      state: text(64),
      attempt: int({ min: 0 }),
      duplicate: bool(),
      code: text(64),
      message: text(2000),
    },
    ['v', 't', 'id', 'member', 'ok', 'state'],
  ),
}

function nullable<T>(s: Schema<T>): Schema<T | null> {
  return {
    check: (v, path) => {
      if (v !== null) s.check(v, path)
    },
    json: () => ({ anyOf: [s.json(), { type: 'null' }] }),
  }
}

/** NATS subjects of the member link of hub `hub`. */
export const memberSubjects = {
  snapshot: (hub: string) => `aether.fleet.${hub}.snapshot`,
  ask: (hub: string) => `aether.fleet.${hub}.ask`,
  request: (hub: string, member: string) => `aether.fleet.${hub}.member.${member}`,
} as const

const enc = new TextEncoder()
const dec = new TextDecoder('utf-8', { fatal: true })

export function encodeMemberMessage(m: MemberMessage): Uint8Array {
  return enc.encode(JSON.stringify(m))
}

/**
 * Decodes one member-link message; `expect` names the kinds the receiver takes (a hub takes
 * snapshots, a member asks and requests). Throws `ProtocolError` naming the bad field.
 */
export function decodeMemberMessage<T extends MemberMessage['t']>(
  data: Uint8Array,
  expect: readonly T[],
): Extract<MemberMessage, { t: T }> {
  if (data.byteLength > MAX_MEMBER_MESSAGE)
    throw new ProtocolError('TOO_LARGE', `a member-link message is at most ${MAX_MEMBER_MESSAGE} bytes`)
  let o: unknown
  try {
    o = JSON.parse(dec.decode(data))
  } catch {
    throw new ProtocolError('BAD_JSON', 'a member-link message must be UTF-8 JSON')
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o))
    throw new ProtocolError('BAD_FIELD', 'a member-link message must be an object', 'message')
  const rec = o as Record<string, unknown>
  if (rec.v !== 1) throw new ProtocolError('BAD_VERSION', 'field "v" must be 1 (member link version 1)', 'v')
  const t = rec.t
  if (typeof t !== 'string' || !(expect as readonly string[]).includes(t))
    throw new ProtocolError('UNKNOWN_KIND', `field "t" must be one of ${expect.join(' | ')} here`, 't')
  memberMessageSchemas[t as T].check(o, '')
  return o as Extract<MemberMessage, { t: T }>
}
