/**
 * The hub's inbound traffic classes: control, route.control, integration, route.frame,
 * telemetry. Each has its own NATS subscription (control on its own connection), its own queue
 * with a pending budget, and its own counters, so a flood of route frames never delays control.
 *
 * A subscription callback only enqueues (cheap, never parses). One drain loop parses, validates
 * and handles, most urgent class first, a bounded number per turn before yielding to the event
 * loop (timers such as the heartbeats run between turns). Over budget, droppable classes
 * (route.frame, telemetry: Class C) drop their oldest message (counted `dropped`); the others keep
 * it (counted `deferred`) up to a hard limit of 8x the budget, beyond which the message is refused
 * with an `OVERLOADED` error (counted `dropped`). Class B messages are answered from a per-key
 * cache on retry.
 */
import {
  decodeFrame,
  encodeFrame,
  envelope,
  ProtocolError,
  subjects,
  TRAFFIC_CLASSES,
  TRAFFIC_SUBJECT,
  type Envelope,
  type TrafficClass,
} from '../../protocol/index.ts'
import type { NatsMessage } from '../nats/NatsTransport.ts'
import type { Transport } from './Transport.ts'

export interface TrafficCounters {
  budget: number
  received: number
  processed: number
  dropped: number
  deferred: number
  rejected: number
  cachedAnswers: number
  queued: number
  maxQueued: number
}

/** A class's counters before any message: its budget, and nothing counted. */
export function emptyCounters(budget: number): TrafficCounters {
  return {
    budget,
    received: 0,
    processed: 0,
    dropped: 0,
    deferred: 0,
    rejected: 0,
    cachedAnswers: 0,
    queued: 0,
    maxQueued: 0,
  }
}

export const DEFAULT_BUDGETS: Record<TrafficClass, number> = {
  control: 1000,
  'route.control': 1000,
  integration: 5000,
  'route.frame': 2000,
  telemetry: 1000,
}

const DROPPABLE: ReadonlySet<TrafficClass> = new Set(['route.frame', 'telemetry'])

/** Largest traffic-class frame a hub parses; bigger ones are refused unread (TOO_LARGE). */
export const MAX_TRAFFIC_FRAME_BYTES = 256 * 1024

/** Handles one valid message; the returned value (if any) is the Class B answer's `detail`. */
export type TrafficHandler = (env: Envelope, cls: TrafficClass) => unknown

class Queue {
  items: NatsMessage[] = []
  head = 0
  get length(): number {
    return this.items.length - this.head
  }
  push(m: NatsMessage): void {
    this.items.push(m)
  }
  shift(): NatsMessage | undefined {
    if (this.head >= this.items.length) return undefined
    const m = this.items[this.head++]
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return m
  }
}

export class TrafficClasses {
  readonly counters = {} as Record<TrafficClass, TrafficCounters>
  readonly rejectedByCode: Record<string, number> = {}
  private queues = {} as Record<TrafficClass, Queue>
  private subs: Array<{ unsubscribe(): void }> = []
  private scheduled = false
  private answers = new Map<string, { at: number; frame: Uint8Array }>()
  perTurn = 256

  constructor(
    readonly hubId: string,
    private links: { control: Transport; data: Transport },
    private handler: TrafficHandler,
    budgets: Partial<Record<TrafficClass, number>> = {},
    private answerTtlMs = 60_000,
    /** The classes this instance serves (the data classes may run in a worker thread). */
    readonly classes: readonly TrafficClass[] = TRAFFIC_CLASSES,
  ) {
    for (const c of TRAFFIC_CLASSES) {
      this.counters[c] = emptyCounters(budgets[c] ?? DEFAULT_BUDGETS[c])
      this.queues[c] = new Queue()
    }
  }

  start(): void {
    for (const c of this.classes) {
      const link = c === 'control' ? this.links.control : this.links.data
      this.subs.push(link.subscribe(subjects.hubTraffic(this.hubId, c), (m) => this.enqueue(c, m)))
    }
  }

  /** The subscription callback: count, apply the budget, enqueue. Never parses. */
  enqueue(c: TrafficClass, m: NatsMessage): void {
    const k = this.counters[c]
    const q = this.queues[c]
    k.received++
    if (q.length >= k.budget) {
      if (DROPPABLE.has(c)) {
        q.shift()
        k.dropped++
      } else if (q.length >= k.budget * 8) {
        k.dropped++
        this.replyError(
          m,
          new ProtocolError('BAD_FIELD', `the ${c} queue is over its budget; retry later`),
          'OVERLOADED',
        )
        return
      } else k.deferred++
    }
    q.push(m)
    k.queued = q.length
    if (q.length > k.maxQueued) k.maxQueued = q.length
    this.schedule()
  }

  private schedule(): void {
    if (this.scheduled) return
    this.scheduled = true
    setImmediate(() => this.drain())
  }

  private drain(): void {
    this.scheduled = false
    let budget = this.perTurn
    for (const c of TRAFFIC_CLASSES) {
      const q = this.queues[c]
      while (budget > 0 && q.length > 0) {
        this.process(c, q.shift()!)
        budget--
      }
      this.counters[c].queued = q.length
      if (budget === 0) break
    }
    for (const c of TRAFFIC_CLASSES) if (this.queues[c].length) return this.schedule()
  }

  private process(c: TrafficClass, m: NatsMessage): void {
    const k = this.counters[c]
    let envs: Envelope[]
    try {
      envs = decodeFrame(m.data, MAX_TRAFFIC_FRAME_BYTES)
      envs.forEach((e, i) => {
        const p = envs.length > 1 ? `[${i}].` : ''
        if (e.subject !== TRAFFIC_SUBJECT[c])
          throw new ProtocolError(
            'UNKNOWN_SUBJECT',
            `field "${p}subject" must be ${TRAFFIC_SUBJECT[c]} on the ${c} class`,
            `${p}subject`,
          )
        if (e.to !== undefined && e.to !== this.hubId)
          throw new ProtocolError('BAD_FIELD', `field "${p}to" must be "${this.hubId}"`, `${p}to`)
      })
    } catch (err) {
      k.rejected++
      this.replyError(m, err instanceof ProtocolError ? err : new ProtocolError('BAD_FIELD', String(err)))
      return
    }
    for (const e of envs) {
      if (e.class === 'B' && e.key !== undefined) {
        const ck = `${c}!${e.from}!${e.key}`
        const hit = this.answers.get(ck)
        if (hit && Date.now() - hit.at < this.answerTtlMs) {
          k.cachedAnswers++
          if (m.reply) this.linkOf(c).publish(m.reply, hit.frame)
          continue
        }
        let detail: unknown
        let ok = true
        try {
          detail = this.handler(e, c)
        } catch (err) {
          ok = false
          detail = { error: (err as Error).message }
        }
        const frame = encodeFrame(
          envelope(
            'control.result',
            this.hubId,
            { op: opOf(e), ok, at: Date.now(), detail: detail ?? null },
            { to: e.from, key: e.key },
          ),
        )
        this.answers.set(ck, { at: Date.now(), frame })
        if (this.answers.size > 10_000) this.answers.delete(this.answers.keys().next().value!)
        if (m.reply) this.linkOf(c).publish(m.reply, frame)
      } else {
        try {
          this.handler(e, c)
        } catch {
          k.rejected++
          continue
        }
      }
      k.processed++
    }
  }

  private linkOf(c: TrafficClass): Transport {
    return c === 'control' ? this.links.control : this.links.data
  }

  private replyError(m: NatsMessage, err: ProtocolError, code?: string): void {
    const c = code ?? err.code ?? 'BAD_FIELD'
    this.rejectedByCode[c] = (this.rejectedByCode[c] ?? 0) + 1
    if (m.reply) {
      const subjectOf = m.subject.split('.').slice(3).join('.') as TrafficClass
      const link = this.linkOf(TRAFFIC_CLASSES.includes(subjectOf) ? subjectOf : 'route.frame')
      link.publish(
        m.reply,
        encodeFrame(
          envelope('error', this.hubId, { code: c, message: err.message, ...(err.field ? { field: err.field } : {}) }),
        ),
      )
    }
  }

  /** Messages waiting in a class over its budget right now. */
  overBudget(): TrafficClass[] {
    return TRAFFIC_CLASSES.filter((c) => this.queues[c].length >= this.counters[c].budget)
  }

  close(): void {
    for (const s of this.subs) s.unsubscribe()
    this.subs = []
  }
}

function opOf(e: Envelope): string {
  const p = e.payload as { op?: unknown }
  return typeof p?.op === 'string' ? p.op : e.subject
}
