/**
 * The message catalog: for each envelope `subject`, its kind, delivery class and payload schema,
 * plus the envelope schema itself. `protocolJsonSchema()` exports all of it as one JSON Schema
 * document (`aether protocol schema`).
 *
 * Who sends what:
 *   hub -> root   stream.record (A), link.heartbeat (C), hub.register (B)
 *   root -> hub   stream.ack (A), link.heartbeat.ack (C), hub.register.result (B), error (C)
 *   any -> hub    control.command (B), route.control (B), route.frame (C),
 *                 integration.event (B), telemetry.sample (C)   (the hub's traffic classes)
 *   hub -> any    control.result (B): the answer to a control, route.control or integration message
 *
 * Pure: no node:*, runs in the browser.
 */
import { anyJson, bool, dict, int, lit, obj, str, type Schema } from './schema.ts'

const ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]*$/
const KINDS = ['command', 'event', 'state', 'ack'] as const
const CLASSES = ['A', 'B', 'C'] as const

const name = (description?: string) => str({ minLength: 1, maxLength: 128, pattern: ID, description })

export const envelopeSchema = obj(
  {
    v: lit(1),
    id: str({ minLength: 1, maxLength: 200, description: 'unique per sender; duplicates of a Class A id are refused' }),
    kind: str({ enum: KINDS }),
    class: str({ enum: CLASSES, description: 'A must-not-lose, B retryable request, C ephemeral' }),
    subject: str({ minLength: 1, maxLength: 64, description: 'the message type; selects the payload schema' }),
    streamId: name('Class A: the stream this record belongs to'),
    cursor: int({
      min: 1,
      max: Number.MAX_SAFE_INTEGER,
      description: 'Class A: position in the stream, from 1, no gaps',
    }),
    key: str({ minLength: 1, maxLength: 256, description: 'Class B: idempotency key' }),
    ts: int({ min: 0, description: 'sender clock, ms since the epoch' }),
    from: name('sender node id'),
    to: name('receiver node id'),
    payload: anyJson("checked against the subject's payload schema"),
  },
  ['v', 'id', 'kind', 'class', 'subject', 'ts', 'from', 'payload'],
  { description: 'Aether envelope v1' },
)

const count = () => int({ min: 0 })

export interface MessageSpec {
  kind: (typeof KINDS)[number]
  class: (typeof CLASSES)[number]
  payload: Schema<any>
  description: string
}

export const messageSchemas = {
  'stream.record': {
    kind: 'event',
    class: 'A',
    description: 'one must-not-lose record of a hub stream',
    payload: anyJson('the record'),
  },
  'stream.ack': {
    kind: 'ack',
    class: 'A',
    description: 'root: every cursor <= upTo of streamId is persisted and applied',
    payload: obj(
      { streamId: name(), upTo: int({ min: 0 }), applied: count(), duplicates: count(), stale: count(), gaps: count() },
      ['streamId', 'upTo', 'applied', 'duplicates', 'stale', 'gaps'],
    ),
  },
  'link.heartbeat': {
    kind: 'state',
    class: 'C',
    description: 'hub lifecycle heartbeat; the answer renews control authority',
    payload: obj(
      {
        seq: int({ min: 0 }),
        uptimeMs: int({ min: 0 }),
        degraded: bool(),
        status: str({ maxLength: 32 }),
        streams: dict(obj({ next: int({ min: 1 }), acked: int({ min: 0 }) }, ['next', 'acked']), {
          maxProperties: 1024,
        }),
      },
      ['seq', 'uptimeMs', 'degraded'],
    ),
  },
  'link.heartbeat.ack': {
    kind: 'ack',
    class: 'C',
    description: 'root answers a heartbeat: its id and clock',
    payload: obj({ seq: int({ min: 0 }), rootId: name(), rootTime: int({ min: 0 }) }, ['seq', 'rootId', 'rootTime']),
  },
  'hub.register': {
    kind: 'command',
    class: 'B',
    description: 'a hub announces itself (retry-safe)',
    payload: obj({ hubId: name(), version: str({ maxLength: 64 }), startedAt: int({ min: 0 }) }, [
      'hubId',
      'version',
      'startedAt',
    ]),
  },
  'hub.register.result': {
    kind: 'ack',
    class: 'B',
    description: 'root: the (cached) answer to hub.register',
    payload: obj({ rootId: name(), registeredAt: int({ min: 0 }), registrations: int({ min: 1 }), cached: bool() }, [
      'rootId',
      'registeredAt',
      'registrations',
      'cached',
    ]),
  },
  error: {
    kind: 'ack',
    class: 'C',
    description: 'the receiver refused a message',
    payload: obj({ code: str({ maxLength: 64 }), message: str({ maxLength: 1000 }), field: str({ maxLength: 256 }) }, [
      'code',
      'message',
    ]),
  },
  'control.command': {
    kind: 'command',
    class: 'B',
    description: 'traffic class control: an operator command to a hub',
    payload: obj({ op: str({ enum: ['ping', 'report', 'resync'] }) }, ['op']),
  },
  'control.result': {
    kind: 'ack',
    class: 'B',
    description: 'a hub answers a control, route.control or integration message (cached per key)',
    payload: obj({ op: str({ maxLength: 64 }), ok: bool(), at: int({ min: 0 }), detail: anyJson() }, [
      'op',
      'ok',
      'at',
    ]),
  },
  'route.control': {
    kind: 'command',
    class: 'B',
    description: 'traffic class route.control: open, close or probe a route',
    payload: obj({ routeId: name(), op: str({ enum: ['open', 'close', 'probe'] }) }, ['routeId', 'op']),
  },
  'route.frame': {
    kind: 'event',
    class: 'C',
    description: 'traffic class route.frame: a relayed frame (droppable)',
    payload: obj({ routeId: name(), seq: int({ min: 0 }), data: str({ maxLength: 65536 }) }, [
      'routeId',
      'seq',
      'data',
    ]),
  },
  'integration.event': {
    kind: 'event',
    class: 'B',
    description: 'traffic class integration: an event from an integration',
    payload: obj({ source: name(), body: anyJson() }, ['source', 'body']),
  },
  'telemetry.sample': {
    kind: 'state',
    class: 'C',
    description: 'traffic class telemetry: one sample (droppable)',
    payload: obj({ name: name(), value: int({ min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }) }, [
      'name',
      'value',
    ]),
  },
} satisfies Record<string, MessageSpec>

export type MessageSubject = keyof typeof messageSchemas

/** All subjects, in catalog order. */
export const messageSubjects = Object.keys(messageSchemas) as MessageSubject[]

/** One JSON Schema document: `$defs.envelope`, and per subject a schema of the whole message. */
export function protocolJsonSchema(): Record<string, unknown> {
  const defs: Record<string, unknown> = { envelope: envelopeSchema.json() }
  const oneOf: unknown[] = []
  for (const s of messageSubjects) {
    const m = messageSchemas[s] as MessageSpec
    const env = envelopeSchema.json() as any
    defs[s] = {
      ...env,
      description: m.description,
      properties: {
        ...env.properties,
        subject: { const: s },
        kind: { const: m.kind },
        class: { const: m.class },
        payload: m.payload.json(),
      },
      required: [
        ...env.required,
        ...(m.class === 'A' && m.kind !== 'ack' ? ['streamId', 'cursor'] : []),
        ...(m.class === 'B' && m.kind === 'command' ? ['key'] : []),
      ],
    }
    oneOf.push({ $ref: `#/$defs/${s}` })
  }
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'https://aether.dev/schema/protocol/v1.json',
    title: 'Aether hub<->root protocol v1',
    description: 'A NATS message body is one message or an array (batch) of messages.',
    oneOf: [{ oneOf }, { type: 'array', minItems: 1, maxItems: 1024, items: { oneOf } }],
    $defs: defs,
  }
}
