/**
 * Jobs over NATS JetStream, through the NATS adapter's `WorkQueueLink` (runtime/nats/NatsTransport.ts).
 *
 * The hub keeps every job as a durable actor (its journal is the source of truth). With
 * `--nats`, the queue leases jobs to `NatsJobBridge`, which turns each step attempt into a message
 * on a work-queue stream; `aether worker --nats URL` processes (`NatsJobWorker`) pull them, run the
 * step with its idempotency key and answer the hub with a request on `aether.jobs.result`; the
 * hub hands the result to the job actor (which journals it) and replies, then the worker acks.
 *
 * - ack wait = the lease (visibility timeout); a worker sends in-progress acks (`working()`) every
 *   third of it while the step runs (the heartbeat); a worker that dies stops both, and JetStream
 *   redelivers the message to another worker after the ack wait.
 * - max deliveries: after `maxDeliver` deliveries without an ack, JetStream gives up and publishes
 *   an advisory; the hub fails that attempt ("max deliveries"), so the job's retry policy applies
 *   and ends in the dead letter.
 * - message ids (`deliveryKey`, actors/effect.ts: `<jobId>/<step>#<attempt>#<hub boot>`) let
 *   JetStream drop duplicate publishes (a retried publish after a lost ack) within its window.
 */
import { randomBytes } from 'node:crypto'
import { deliveryKey } from '../../actors/effect.ts'
import { WorkQueueLink, type RequestMessage, type WorkItem } from '../nats/NatsTransport.ts'
import type { StepAttempt, StepTask } from './stepRunner.ts'
import type { JobQueue, JobWorker } from './JobQueue.ts'
import type { JobType } from './jobTypes.ts'
import type { Tracing } from '../tracing/Tracing.ts'

export interface NatsJobsOptions {
  url: string
  stream?: string
  /** Ack wait = lease (default: the queue's visibility timeout, 30 s). */
  ackWaitMs?: number
  maxDeliver?: number
  /** Attempts in flight at once (the consumer's max ack pending). */
  maxInFlight?: number
}

interface WorkMessage {
  id: string
  task: StepTask
}

interface ResultMessage {
  id: string
  ok: boolean
  output?: unknown
  error?: { message: string; code?: string }
  worker?: string
}

const utf8 = new TextEncoder()
const fromUtf8 = new TextDecoder()
const jc = {
  encode: (v: unknown): Uint8Array => utf8.encode(JSON.stringify(v)),
  decode: (d: Uint8Array): unknown => JSON.parse(fromUtf8.decode(d)),
}
const RESULT_SUBJECT = 'aether.jobs.result'
const CONSUMER = 'workers'
const subjectOf = (stream: string) => `aether.jobs.work.${stream}`
/** Results per report request at most. */
const MAX_RESULTS = 512
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** The hub side: a JobWorker whose slots are JetStream messages. */
export class NatsJobBridge implements JobWorker {
  readonly id: string
  readonly capacity: number
  readonly stats = { published: 0, results: 0, stale: 0, maxDeliveries: 0, publishRetries: 0 }
  private pending = new Map<string, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>()
  private boot = randomBytes(4).toString('hex')
  private timer?: ReturnType<typeof setInterval>
  private closed = false

  private constructor(
    private queue: JobQueue,
    private link: WorkQueueLink,
    private stream: string,
    opts: NatsJobsOptions,
  ) {
    this.id = `nats:${stream}`
    this.capacity = opts.maxInFlight ?? 10_000
  }

  static async start(queue: JobQueue, opts: NatsJobsOptions): Promise<NatsJobBridge> {
    const link = await WorkQueueLink.connect(opts.url, 'aether-hub-jobs')
    const stream = opts.stream ?? 'AETHER_JOBS'
    const ackWait = opts.ackWaitMs ?? queue.visibilityMs
    await link.ensure({
      stream,
      subject: subjectOf(stream),
      consumer: CONSUMER,
      ackWaitMs: ackWait,
      maxDeliver: opts.maxDeliver ?? 5,
      maxAckPending: opts.maxInFlight ?? 10_000,
      duplicateWindowMs: 120_000,
    })
    const b = new NatsJobBridge(queue, link, stream, opts)
    link.subscribe(RESULT_SUBJECT, (msg) => b.onResult(msg))
    link.subscribe(
      `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${stream}.${CONSUMER}`,
      (msg) => void b.onMaxDeliveries(msg.data),
    )
    await link.flush()
    // JetStream holds the real leases (ack wait); the queue's lease on the bridge is kept alive.
    b.timer = setInterval(() => queue.heartbeat(b.id), Math.max(50, queue.visibilityMs / 3))
    b.timer.unref?.()
    queue.addWorker(b)
    return b
  }

  execute(task: StepTask, attempt: StepAttempt): Promise<unknown> {
    const id = deliveryKey(task.idempotencyKey, task.attempt, this.boot)
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      attempt.onAbort(() => {
        // a paused or stopped job: its answer, if one comes, is stale
        this.pending.delete(id)
        reject(new Error('aborted'))
      })
      void this.publish(id, task, attempt.traceparent)
    })
  }

  private async publish(id: string, task: StepTask, traceparent: string | undefined): Promise<void> {
    const data = jc.encode({ id, task } satisfies WorkMessage)
    for (let i = 0; !this.closed && this.pending.has(id); i++) {
      try {
        await this.link.publish(subjectOf(this.stream), data, id, 5000, traceparent)
        this.stats.published++
        return
      } catch {
        // NATS down or restarting: keep the attempt, publish again (the msgID drops a duplicate)
        this.stats.publishRetries++
        await sleep(Math.min(2000, 100 * 2 ** Math.min(i, 5)))
      }
    }
  }

  /** A worker's report: one result, or `{results: [...]}` (the results of one turn of a worker). */
  private onResult(msg: RequestMessage): void {
    let rs: ResultMessage[]
    try {
      const body = jc.decode(msg.data) as any
      rs = Array.isArray(body?.results) ? body.results : [body]
      for (const r of rs) if (typeof r?.id !== 'string' || typeof r.ok !== 'boolean') throw new Error('not a result')
    } catch {
      msg.respond(
        jc.encode({ ok: false, error: 'a result is {id, ok, output?, error?} (or {results: [...]} of them)' }),
      )
      return
    }
    let stale = 0
    for (const r of rs) {
      const p = this.pending.get(r.id)
      if (!p) {
        // answered before, aborted, or from before a hub restart: the journal decides; ack it
        this.stats.stale++
        stale++
        continue
      }
      this.pending.delete(r.id)
      this.stats.results++
      if (r.ok) p.resolve(r.output ?? null)
      else
        p.reject(
          Object.assign(new Error(r.error?.message ?? 'step failed'), r.error?.code ? { code: r.error.code } : {}),
        )
    }
    // Answered at once: waiting for the results' commit would wait for the journal to go idle
    // under load. Safe: should the hub die before the commit, recovery re-issues the step with
    // the same idempotency key (a new message), so the result is never lost, only re-derived.
    msg.respond(jc.encode(stale ? { ok: true, stale } : { ok: true }))
  }

  private async onMaxDeliveries(data: Uint8Array): Promise<void> {
    try {
      const adv = jc.decode(data) as { stream_seq: number; deliveries: number }
      const w = jc.decode(await this.link.takeStreamMessage(this.stream, adv.stream_seq)) as WorkMessage
      this.stats.maxDeliveries++
      const p = this.pending.get(w.id)
      if (p) {
        this.pending.delete(w.id)
        p.reject(new Error(`max deliveries (${adv.deliveries}) reached: the workers that took this step died or hung`))
      }
    } catch {
      // the message is gone already (acked meanwhile)
    }
  }

  async close(): Promise<void> {
    this.closed = true
    if (this.timer) clearInterval(this.timer)
    this.queue.removeWorker(this.id)
    await this.link.close()
  }
}

export interface NatsJobWorkerOptions {
  url: string
  types: JobType[]
  stream?: string
  concurrency?: number
  id?: string
  log?: (line: string) => void
  /** Spans of the steps this worker runs, children of the hub's (the message's `traceparent`). */
  tracing?: Tracing
}

/** The worker side (`aether worker --nats URL`): pulls step attempts and runs them. */
export class NatsJobWorker {
  readonly stats = { received: 0, ok: 0, failed: 0, redelivered: 0 }
  private link?: WorkQueueLink
  private messages?: { stop(): void }
  private stopped = false
  private steps = new Map<string, JobType>()
  private inFlight = new Set<WorkItem>()
  private outbox: Array<{ r: ResultMessage; resolve: (sent: boolean) => void }> = []
  private beat?: ReturnType<typeof setInterval>

  constructor(readonly opts: NatsJobWorkerOptions) {
    for (const t of opts.types) this.steps.set(t.name, t)
  }

  get id(): string {
    return this.opts.id ?? `worker-${process.pid}`
  }

  async start(): Promise<void> {
    this.link = await WorkQueueLink.connect(this.opts.url, this.id)
    void this.run()
  }

  private async run(): Promise<void> {
    const stream = this.opts.stream ?? 'AETHER_JOBS'
    const link = this.link!
    let failures = 0
    while (!this.stopped) {
      try {
        const ackWaitMs = await link.ackWaitMs(stream, CONSUMER)
        const messages = await link.consume(stream, CONSUMER, this.opts.concurrency ?? 64)
        this.messages = messages
        for await (const m of messages) {
          if (this.stopped) break
          void this.handle(m, ackWaitMs)
        }
      } catch (err) {
        // e.g. the hub has not created the stream yet: say so now and then, not 4 times a second
        if (failures++ % 40 === 0)
          this.opts.log?.(
            `stream ${stream} consumer ${CONSUMER}: ${(err as Error).message}; retrying (is a hub running with AETHER_JOBS_NATS?)`,
          )
      }
      if (!this.stopped) await sleep(250)
    }
  }

  private async handle(m: WorkItem, ackWaitMs: number): Promise<void> {
    this.stats.received++
    if (m.deliveries > 1) this.stats.redelivered++
    let w: WorkMessage
    try {
      w = jc.decode(m.data) as WorkMessage
      if (typeof w?.id !== 'string' || typeof w.task?.type !== 'string') throw new Error('bad work message')
    } catch {
      m.term()
      return
    }
    this.inFlight.add(m)
    this.armBeat(ackWaitMs)
    const t = w.task
    const span = this.opts.tracing?.span(
      `step ${t.type}/${t.step}`,
      {
        'aether.actor': t.jobId,
        'aether.job.id': t.jobId,
        'aether.job.step': t.step,
        'aether.job.attempt': t.attempt,
        'aether.worker': this.id,
        'messaging.message.delivery_count': m.deliveries,
      },
      m.header('traceparent'),
      'consumer',
    )
    let result: ResultMessage
    try {
      const fn = this.steps.get(t.type)?.steps.get(t.step)
      if (!fn)
        throw Object.assign(new Error(`this worker has no job type "${t.type}" step "${t.step}"`), {
          code: 'UNKNOWN_STEP',
        })
      const ac = new AbortController()
      const output = await fn({
        key: t.idempotencyKey,
        jobId: t.jobId,
        step: t.step,
        attempt: t.attempt,
        input: t.input,
        results: t.results,
        tenant: t.tenant,
        signal: ac.signal,
      })
      result = { id: w.id, ok: true, output: output === undefined ? null : output, worker: this.id }
      this.stats.ok++
    } catch (err) {
      const e = err as any
      result = {
        id: w.id,
        ok: false,
        error: { message: String(e?.message ?? e), ...(e?.code ? { code: String(e.code) } : {}) },
        worker: this.id,
      }
      this.stats.failed++
    }
    if (span) this.opts.tracing!.end(span, result.ok ? undefined : result.error)
    try {
      if (await this.report(result)) m.ack()
    } finally {
      this.inFlight.delete(m)
    }
  }

  /**
   * Reports a result to the hub; resolves true once the hub has it (false if the worker stopped).
   * Results finished in the same turn travel in one request (`{results: [...]}`).
   */
  private report(r: ResultMessage): Promise<boolean> {
    return new Promise((resolve) => {
      this.outbox.push({ r, resolve })
      if (this.outbox.length === 1) setImmediate(() => void this.sendResults())
    })
  }

  private async sendResults(): Promise<void> {
    const batch = this.outbox.splice(0, MAX_RESULTS)
    if (this.outbox.length) setImmediate(() => void this.sendResults())
    const data = jc.encode({ results: batch.map((b) => b.r) })
    // report until the hub has them (it may be restarting, or NATS may be); the shared heartbeat keeps the messages leased
    for (let i = 0; ; i++) {
      if (this.stopped)
        return batch.forEach((b) => {
          b.resolve(false)
        })
      try {
        await this.link!.request(RESULT_SUBJECT, data, 5000)
        return batch.forEach((b) => {
          b.resolve(true)
        })
      } catch {
        await sleep(Math.min(2000, 100 * 2 ** Math.min(i, 5)))
      }
    }
  }

  /** One heartbeat for all messages in flight (in-progress acks), not a timer per message. */
  private armBeat(ackWaitMs: number): void {
    if (this.beat) return
    this.beat = setInterval(
      () => {
        for (const m of this.inFlight) m.working()
        if (!this.inFlight.size) {
          clearInterval(this.beat)
          this.beat = undefined
        }
      },
      Math.max(50, ackWaitMs / 3),
    )
  }

  async close(): Promise<void> {
    this.stopped = true
    if (this.beat) clearInterval(this.beat)
    this.beat = undefined
    this.messages?.stop()
    await this.link?.close()
  }
}
