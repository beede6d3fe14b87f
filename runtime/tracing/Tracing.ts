/**
 * Tracing: OpenTelemetry spans for what Aether's runtime observes (jobs and their steps, ...),
 * made through `@opentelemetry/api` and exported over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT`
 * is set (runtime/config.ts). Unset, `startTracing` (service.ts) answers undefined and neither this
 * module, `@opentelemetry/api` nor the SDK is loaded: every
 * observer is an `if` on an absent object.
 *
 * Spans come from runtime/ observers and executors (the job queue's status changes, the step
 * dispatch, a worker's run), never from machines; a trace id is never journaled: the context
 * crosses processes in message headers (`traceparent`, protocol/traceparent.ts) and the
 * `TraceIndex` (memory only) remembers which trace each actor's work went to, for the inspector.
 */
import {
  type Attributes,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  ROOT_CONTEXT,
  trace,
} from '@opentelemetry/api'
import { decodeTraceParent, encodeTraceParent } from '../../protocol/traceparent.ts'
import { setting } from '../config.ts'

/** One trace an actor's work went to. */
export interface TraceRef {
  traceId: string
  spanId: string
  /** The span's name (`job echo`). */
  name: string
  /** Wall-clock ms when the span started. */
  at: number
}

/** Trace ids by actor id, newest last; memory only and bounded (oldest actors forgotten first). */
export class TraceIndex {
  private byActor = new Map<string, TraceRef[]>()
  constructor(
    readonly maxActors = 10_000,
    readonly perActor = 16,
  ) {}

  add(actor: string, ref: TraceRef): void {
    let refs = this.byActor.get(actor)
    if (refs) this.byActor.delete(actor)
    else refs = []
    refs.push(ref)
    if (refs.length > this.perActor) refs.shift()
    this.byActor.set(actor, refs) // most recently touched last
    if (this.byActor.size > this.maxActors) this.byActor.delete(this.byActor.keys().next().value as string)
  }

  of(actor: string): TraceRef[] {
    return this.byActor.get(actor) ?? []
  }

  /** The most recently touched actors with their traces, newest first. */
  recent(limit: number): Array<{ actor: string; traces: TraceRef[] }> {
    const out: Array<{ actor: string; traces: TraceRef[] }> = []
    for (const [actor, traces] of [...this.byActor].reverse()) {
      if (out.length >= limit) break
      out.push({ actor, traces })
    }
    return out
  }
}

/** A span's kind: `consumer` for work taken from a queue, `producer` for work put on one. */
export type Kind = 'internal' | 'producer' | 'consumer' | 'server' | 'client'
const KINDS: Record<Kind, SpanKind> = {
  internal: SpanKind.INTERNAL,
  producer: SpanKind.PRODUCER,
  consumer: SpanKind.CONSUMER,
  server: SpanKind.SERVER,
  client: SpanKind.CLIENT,
}

export interface TracingOptions {
  /** `service.name` when OTEL_SERVICE_NAME is unset (`aether-hub`, `aether-worker`). */
  service: string
}

/** A process's tracer, its exporter and the index of actors' traces. */
export class Tracing {
  readonly index = new TraceIndex()
  readonly stats = { spans: 0, badParents: 0 }

  constructor(
    readonly tracer: Tracer,
    private readonly shutdown: () => Promise<void> = async () => {},
  ) {}

  /** The process's tracing from its settings, or undefined when no endpoint is set (tracing off). */
  static async start(opts: TracingOptions): Promise<Tracing | undefined> {
    const endpoint = setting('otel-endpoint')
    if (!endpoint) return undefined
    const { otelProvider } = await import('./otel.ts')
    const p = otelProvider({
      endpoint,
      serviceName: setting('otel-service-name') ?? opts.service,
      headers: setting('otel-headers'),
      delayMs: setting('otel-delay-ms'),
      sampleRatio: setting('otel-sample'),
    })
    return new Tracing(p.tracer, p.shutdown)
  }

  /**
   * Starts a span, the child of `parent` (a span, or a `traceparent` from a message), else a root.
   * A `traceparent` that does not parse is counted and ignored: the span starts a trace of its own.
   */
  span(name: string, attributes: Attributes, parent?: Span | string, kind: Kind = 'internal'): Span {
    let ctx = ROOT_CONTEXT
    if (typeof parent === 'string') {
      const tp = decodeTraceParent(parent)
      if (tp)
        ctx = trace.setSpanContext(ctx, {
          traceId: tp.traceId,
          spanId: tp.spanId,
          traceFlags: tp.flags,
          isRemote: true,
        })
      else this.stats.badParents++
    } else if (parent) ctx = trace.setSpan(ctx, parent)
    this.stats.spans++
    return this.tracer.startSpan(name, { kind: KINDS[kind], attributes }, ctx)
  }

  /** The W3C `traceparent` naming `span` as the parent, for a message header. */
  traceparent(span: Span): string {
    const c = span.spanContext()
    return encodeTraceParent({ traceId: c.traceId, spanId: c.spanId, flags: c.traceFlags })
  }

  /** Ends `span`, as an error when `error` is given (its message, never its data). */
  end(span: Span, error?: unknown): void {
    if (error !== undefined) {
      const e = error as { message?: unknown; code?: unknown }
      span.setStatus({
        code: SpanStatusCode.ERROR,
        message: typeof e?.message === 'string' ? e.message : String(error),
      })
      if (e?.code !== undefined) span.setAttribute('error.type', String(e.code))
    }
    span.end()
  }

  /** Remembers that `actor`'s work went to `span`'s trace (for the inspector). */
  link(actor: string, span: Span, name: string): void {
    if (!span.isRecording()) return // not sampled: no trace to look up
    const c = span.spanContext()
    this.index.add(actor, { traceId: c.traceId, spanId: c.spanId, name, at: Date.now() })
  }

  /** Exports the spans not yet sent, then stops. */
  close(): Promise<void> {
    return this.shutdown().catch(() => {})
  }
}

export type { Span }
