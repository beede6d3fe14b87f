/**
 * The NATS adapter: the only file that imports `nats`. Everything else sees `NatsLink`, a small
 * surface (publish, subscribe with a callback, request, status changes), so the protocol code
 * can be tested and read without nats.js in mind.
 *
 * Promises: `connectNats` never blocks on an absent server unless asked (`wait: true`): the link
 * starts `connecting`, keeps retrying forever, and reports every status change. Subscriptions
 * survive reconnects (nats.js re-subscribes). A throwing callback is caught and counted, never
 * taking the connection down.
 *
 * `WorkQueueLink` (at the end) is the JetStream side the jobs' distributed mode needs: a
 * work-queue stream with one durable consumer, publishes deduplicated by message id, pulled work
 * items with ack / in-progress / terminate, and the stream reads of the max-deliveries advisory.
 */
import {
  AckPolicy,
  connect,
  createInbox,
  headers,
  Events,
  DebugEvents,
  nanos,
  StorageType,
  RetentionPolicy,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type NatsConnection,
  type Subscription,
} from 'nats'
import { CodedError } from '../errors.ts'

import { LinkStatusSource, type LinkStatus } from '../link/LinkStatus.ts'

export type { LinkStatus }

export interface NatsMessage {
  subject: string
  data: Uint8Array
  reply?: string
  /** The W3C trace context the sender put in the `traceparent` header, if any. */
  traceparent?: string
}

export interface NatsLinkOptions {
  url: string
  /** Connection name shown by the server (`aether-hub-<id>`). */
  name: string
  /** Client ping interval: a stalled server is noticed after about 2 of these. Default 1000 ms. */
  pingIntervalMs?: number
  reconnectWaitMs?: number
  /** Resolve only once connected (the root and the benchmarks); else return at once. */
  wait?: boolean
}

export interface NatsSub {
  unsubscribe(): void
}

/** One NATS connection that keeps trying to (re)connect. */
export class NatsLink extends LinkStatusSource {
  private nc?: NatsConnection
  private subs: Array<{
    subject: string
    cb: (m: NatsMessage) => void
    queue?: string
    sub?: Subscription
    closed: boolean
  }> = []
  private closing = false
  private ready: Promise<void>

  constructor(readonly opts: NatsLinkOptions) {
    super()
    this.ready = this.dial()
  }

  /** Resolves once connected for the first time (or rejects when closed before). */
  connected(): Promise<void> {
    return this.ready
  }

  private async dial(): Promise<void> {
    while (!this.closing) {
      try {
        this.nc = await connect({
          servers: this.opts.url,
          name: this.opts.name,
          maxReconnectAttempts: -1,
          reconnectTimeWait: this.opts.reconnectWaitMs ?? 250,
          reconnectJitter: 50,
          pingInterval: this.opts.pingIntervalMs ?? 1000,
          maxPingOut: 2,
          timeout: 2000,
          ignoreClusterUpdates: true,
        })
        break
      } catch (err) {
        this.lastError = (err as Error).message
        await new Promise((r) => setTimeout(r, this.opts.reconnectWaitMs ?? 500))
      }
    }
    if (this.closing || !this.nc) {
      await this.nc?.close().catch(() => {})
      throw new Error('the NATS link was closed before it connected')
    }
    const nc = this.nc
    for (const s of this.subs) if (!s.closed) this.attach(s)
    this.setStatus('connected')
    void this.watch(nc)
    void nc.closed().then((err) => {
      if (err) this.lastError = (err as Error).message
      this.setStatus('closed')
    })
  }

  private async watch(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      switch (s.type) {
        case Events.Disconnect:
          this.counters.disconnects++
          this.setStatus('reconnecting')
          break
        case DebugEvents.Reconnecting:
        case DebugEvents.StaleConnection:
          this.setStatus('reconnecting')
          break
        case Events.Reconnect:
          this.countReconnect()
          this.setStatus('connected')
          break
        case Events.Error:
          this.lastError = String(s.data)
          break
      }
    }
  }

  private attach(s: (typeof this.subs)[number]): void {
    s.sub = this.nc!.subscribe(s.subject, {
      queue: s.queue,
      callback: (err, msg) => {
        if (err) {
          this.lastError = err.message
          return
        }
        try {
          const traceparent = msg.headers?.get('traceparent')
          s.cb({
            subject: msg.subject,
            data: msg.data,
            reply: msg.reply || undefined,
            ...(traceparent ? { traceparent } : {}),
          })
        } catch {
          this.counters.callbackErrors++
        }
      },
    })
  }

  /** Calls `cb` for each message on `subject` (wildcards allowed), across reconnects. */
  subscribe(subject: string, cb: (m: NatsMessage) => void, opts: { queue?: string } = {}): NatsSub {
    const s = { subject, cb, queue: opts.queue, closed: false, sub: undefined as Subscription | undefined }
    this.subs.push(s)
    if (this.nc && !this.nc.isClosed()) this.attach(s)
    return {
      unsubscribe: () => {
        s.closed = true
        s.sub?.unsubscribe()
        this.subs = this.subs.filter((x) => x !== s)
      },
    }
  }

  /**
   * Publishes (buffered by nats.js while reconnecting); false when not connected yet or closed.
   * `traceparent` (W3C trace context) travels as the header of that name.
   */
  publish(subject: string, data: Uint8Array, reply?: string, traceparent?: string): boolean {
    const nc = this.nc
    if (!nc || nc.isClosed()) return false
    try {
      const opts = reply ? { reply } : undefined
      if (traceparent) {
        const h = headers()
        h.set('traceparent', traceparent)
        nc.publish(subject, data, { ...opts, headers: h })
      } else nc.publish(subject, data, opts)
      return true
    } catch {
      this.counters.publishErrors++
      return false
    }
  }

  /** A request with a timeout; rejects when not connected. */
  async request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    const nc = this.nc
    if (!nc || nc.isClosed() || this.status !== 'connected') throw new Error(`NATS not connected (${this.status})`)
    const m = await nc.request(subject, data, { timeout: timeoutMs, noMux: false })
    return m.data
  }

  /** Waits until the server has processed everything published so far. */
  async flush(): Promise<void> {
    if (this.nc && !this.nc.isClosed() && this.status === 'connected') await this.nc.flush()
  }

  /** Bytes and messages pending on the socket (nats.js's outbound buffer). */
  stats(): { inMsgs: number; outMsgs: number; inBytes: number; outBytes: number } {
    return this.nc ? this.nc.stats() : { inMsgs: 0, outMsgs: 0, inBytes: 0, outBytes: 0 }
  }

  async close(): Promise<void> {
    this.closing = true
    const nc = this.nc
    if (nc && !nc.isClosed()) {
      // Drain only a live connection, and not for long: drain waits on a server that may be gone.
      if (this.status === 'connected') {
        const t = setTimeout(() => void nc.close().catch(() => {}), 2000)
        await nc.drain().catch(() => nc.close())
        clearTimeout(t)
      } else await nc.close().catch(() => {})
    }
    this.ready.catch(() => {})
    this.setStatus('closed')
  }

  /** JetStream, for the benchmark baseline: a file-backed stream and pipelined publishes. */
  async jetStream(
    streamName: string,
    subject: string,
  ): Promise<{ publish(data: Uint8Array): Promise<number>; remove(): Promise<void> }> {
    const nc = this.nc
    if (!nc) throw new Error('not connected')
    const jsm = await nc.jetstreamManager()
    await jsm.streams.delete(streamName).catch(() => false)
    await jsm.streams.add({
      name: streamName,
      subjects: [subject],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
    })
    const js = nc.jetstream()
    return {
      publish: async (data) => (await js.publish(subject, data)).seq,
      remove: async () => {
        await jsm.streams.delete(streamName).catch(() => false)
      },
    }
  }
}

/** Opens a link; with `wait` resolves once connected. */
export async function connectNats(opts: NatsLinkOptions): Promise<NatsLink> {
  const link = new NatsLink(opts)
  if (opts.wait) await link.connected()
  else link.connected().catch(() => {})
  return link
}

// ---- JetStream work queues (runtime/jobs/natsJobs.ts) ------------------------------------------

/** A work-queue stream and its one durable consumer. */
export interface WorkQueueSpec {
  stream: string
  subject: string
  consumer: string
  /** The consumer's ack wait: a pulled item not acked (or kept in progress) by then is redelivered. */
  ackWaitMs: number
  maxDeliver: number
  maxAckPending: number
  /** Publishes with the same message id within this window are stored once. */
  duplicateWindowMs: number
}

/** One pulled message of a work queue. */
export interface WorkItem {
  readonly data: Uint8Array
  /** 1 on the first delivery. */
  readonly deliveries: number
  ack(): void
  /** Keeps the item leased (an in-progress ack). */
  working(): void
  /** Never deliver it again. */
  term(): void
  /** A header of the message (`traceparent`), if it has it. */
  header(name: string): string | undefined
}

/** A request received on a plain subscription; `respond` answers it. */
export interface RequestMessage {
  readonly data: Uint8Array
  respond(data: Uint8Array): boolean
}

class PulledItem implements WorkItem {
  constructor(private m: JsMsg) {}
  get data(): Uint8Array {
    return this.m.data
  }
  get deliveries(): number {
    return this.m.info.redeliveryCount
  }
  ack(): void {
    this.m.ack()
  }
  working(): void {
    this.m.working()
  }
  term(): void {
    this.m.term()
  }
  header(name: string): string | undefined {
    return this.m.headers?.get(name) || undefined
  }
}

/** A JetStream publish that the server did not acknowledge (no stream, an error, or no answer in time). */
export class PublishError extends CodedError<'NO_STREAM' | 'JETSTREAM' | 'TIMEOUT' | 'BAD_ACK'> {}

const ackText = new TextDecoder()

/**
 * JetStream publishes awaiting their PubAck: each is a core publish whose reply subject is a token
 * under one inbox subscription, and one sweep timer enforces the timeouts. nats.js's `js.publish`
 * makes a request per message, which costs a timer and a subscription entry, and (nats.js 2.29)
 * constructs a NatsError on every successful request (`RequestOne.cancel` after resolving): 7% of a
 * hub's CPU in the jobs' NATS mode.
 */
class AckInbox {
  private n = 0
  private readonly waiting = new Map<
    string,
    { resolve: () => void; reject: (e: Error) => void; deadline: number; subject: string }
  >()
  private sweeper?: ReturnType<typeof setInterval>
  private readonly prefix = createInbox()
  constructor(private readonly nc: NatsConnection) {
    nc.subscribe(`${this.prefix}.*`, { callback: (err, msg) => !err && this.onAck(msg.subject, msg.data, msg.headers) })
  }

  publish(subject: string, data: Uint8Array, msgId: string, timeoutMs: number, traceparent?: string): Promise<void> {
    const token = (this.n++).toString(36)
    const h = headers()
    h.set('Nats-Msg-Id', msgId)
    if (traceparent) h.set('traceparent', traceparent)
    return new Promise<void>((resolve, reject) => {
      this.waiting.set(token, { resolve, reject, deadline: Date.now() + timeoutMs, subject })
      this.sweeper ??= setInterval(() => this.sweep(), 100)
      try {
        this.nc.publish(subject, data, { reply: `${this.prefix}.${token}`, headers: h })
      } catch (err) {
        this.waiting.delete(token)
        reject(err as Error)
      }
    })
  }

  private onAck(
    replySubject: string,
    data: Uint8Array,
    h: { hasError?: boolean; code?: number; description?: string } | undefined,
  ): void {
    const token = replySubject.slice(this.prefix.length + 1)
    const w = this.waiting.get(token)
    if (!w) return // timed out before
    this.waiting.delete(token)
    if (h?.hasError) {
      return w.reject(
        h.code === 503
          ? new PublishError('NO_STREAM', `no JetStream stream takes subject "${w.subject}"`)
          : new PublishError('JETSTREAM', `JetStream answered ${h.code} ${h.description ?? ''}`.trim()),
      )
    }
    let ack: any
    try {
      ack = JSON.parse(ackText.decode(data))
    } catch {
      return w.reject(new PublishError('BAD_ACK', `not a JetStream PubAck: ${ackText.decode(data).slice(0, 80)}`))
    }
    if (ack?.error)
      w.reject(
        new PublishError(
          'JETSTREAM',
          `JetStream refused the publish on "${w.subject}": ${ack.error.description ?? 'error'} (${ack.error.code ?? '?'})`,
        ),
      )
    else if (typeof ack?.seq !== 'number')
      w.reject(new PublishError('BAD_ACK', `not a JetStream PubAck: ${JSON.stringify(ack).slice(0, 80)}`))
    else w.resolve()
  }

  /** Rejects publishes past their deadline (in publish order; every caller uses one timeout, so the first live one ends the scan). */
  private sweep(): void {
    const now = Date.now()
    for (const [token, w] of this.waiting) {
      if (w.deadline > now) break
      this.waiting.delete(token)
      w.reject(
        new PublishError(
          'TIMEOUT',
          `no PubAck for a publish on "${w.subject}" within its timeout (NATS down or JetStream slow)`,
        ),
      )
    }
    if (!this.waiting.size) {
      clearInterval(this.sweeper)
      this.sweeper = undefined
    }
  }

  close(): void {
    if (this.sweeper) clearInterval(this.sweeper)
    this.sweeper = undefined
    for (const w of this.waiting.values())
      w.reject(new PublishError('TIMEOUT', 'the connection closed before the PubAck'))
    this.waiting.clear()
  }
}

/** A NATS connection for JetStream work queues (hub and workers of the jobs' NATS mode). */
export class WorkQueueLink {
  private js: JetStreamClient
  private jsmP?: Promise<JetStreamManager>
  private acks?: AckInbox

  private constructor(private nc: NatsConnection) {
    this.js = nc.jetstream()
  }

  /** Connects, waiting for the first connection, then reconnecting forever. */
  static async connect(url: string, name: string): Promise<WorkQueueLink> {
    // noAsyncTraces: nats.js otherwise builds an Error (a stack trace) for every request, every
    // JetStream publish included (about 8% of a hub's CPU in the jobs' NATS mode). Timeouts still reject.
    const nc = await connect({
      servers: url,
      name,
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      waitOnFirstConnect: true,
      noAsyncTraces: true,
    })
    return new WorkQueueLink(nc)
  }

  private jsm(): Promise<JetStreamManager> {
    return (this.jsmP ??= this.nc.jetstreamManager())
  }

  /** Creates the stream and its consumer, or brings the consumer's settings up to `spec`. */
  async ensure(spec: WorkQueueSpec): Promise<void> {
    const jsm = await this.jsm()
    try {
      await jsm.streams.info(spec.stream)
    } catch {
      await jsm.streams.add({
        name: spec.stream,
        subjects: [spec.subject],
        retention: RetentionPolicy.Workqueue,
        storage: StorageType.File,
        duplicate_window: nanos(spec.duplicateWindowMs),
      })
    }
    const cfg = {
      durable_name: spec.consumer,
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(spec.ackWaitMs),
      max_deliver: spec.maxDeliver,
      max_ack_pending: spec.maxAckPending,
    }
    try {
      await jsm.consumers.info(spec.stream, spec.consumer)
      await jsm.consumers.update(spec.stream, spec.consumer, {
        ack_wait: cfg.ack_wait,
        max_deliver: spec.maxDeliver,
        max_ack_pending: spec.maxAckPending,
      })
    } catch {
      await jsm.consumers.add(spec.stream, cfg)
    }
  }

  /**
   * Stores a message on the stream; a repeated `msgId` (within the duplicate window) is stored once.
   * `traceparent` (W3C trace context) travels as the header of that name.
   */
  publish(subject: string, data: Uint8Array, msgId: string, timeoutMs: number, traceparent?: string): Promise<void> {
    return (this.acks ??= new AckInbox(this.nc)).publish(subject, data, msgId, timeoutMs, traceparent)
  }

  /** A plain subscription; errors of the subscription are dropped (nats.js reports them per message). */
  subscribe(subject: string, cb: (m: RequestMessage) => void): void {
    this.nc.subscribe(subject, {
      callback: (err, msg) => {
        if (!err) cb(msg)
      },
    })
  }

  flush(): Promise<void> {
    return this.nc.flush()
  }

  request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    return this.nc.request(subject, data, { timeout: timeoutMs }).then((m) => m.data)
  }

  /** Reads the stream message at `seq`, then deletes it (a delete that fails is ignored). */
  async takeStreamMessage(stream: string, seq: number): Promise<Uint8Array> {
    const jsm = await this.jsm()
    const m = await jsm.streams.getMessage(stream, { seq })
    await jsm.streams.deleteMessage(stream, seq).catch(() => false)
    return m.data
  }

  /** The consumer's ack wait in ms (30 s when the server does not say). */
  async ackWaitMs(stream: string, consumer: string): Promise<number> {
    const c = await this.js.consumers.get(stream, consumer)
    return Math.floor(((await c.info()).config.ack_wait ?? nanos(30_000)) / 1e6)
  }

  /** Pulls work items, at most `maxMessages` buffered; `stop()` ends the iteration. */
  async consume(
    stream: string,
    consumer: string,
    maxMessages: number,
  ): Promise<AsyncIterable<WorkItem> & { stop(): void }> {
    const c = await this.js.consumers.get(stream, consumer)
    const messages: ConsumerMessages = await c.consume({ max_messages: maxMessages })
    return {
      stop: () => void messages.stop(),
      async *[Symbol.asyncIterator]() {
        for await (const m of messages) yield new PulledItem(m)
      },
    }
  }

  async close(): Promise<void> {
    await this.nc.drain().catch(() => this.nc.close())
    this.acks?.close()
  }
}
