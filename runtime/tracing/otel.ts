/**
 * The OpenTelemetry SDK adapter: the one file that imports the SDK and the OTLP exporter. It is
 * loaded (a dynamic import) only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, so a process without
 * tracing never loads it. Spans are batched and sent as OTLP/HTTP JSON to `<endpoint>/v1/traces`.
 */
import type { Tracer } from '@opentelemetry/api'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { resourceFromAttributes } from '@opentelemetry/resources'
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base'

export interface OtelOptions {
  /** The collector's base URL (`OTEL_EXPORTER_OTLP_ENDPOINT`). */
  endpoint: string
  serviceName: string
  /** Sent with every export (a collector's API key): never logged. */
  headers?: Record<string, string>
  /** Most time between a span's end and its export. */
  delayMs: number
  /**
   * Share of traces recorded (0..1, default 1), decided where a trace starts; a span with a parent
   * from another process follows that process's decision (the `traceparent` flags).
   */
  sampleRatio?: number
}

/** A tracer provider exporting over OTLP/HTTP; `shutdown` exports what is left, then stops. */
export function otelProvider(o: OtelOptions): { tracer: Tracer; shutdown(): Promise<void> } {
  const exporter = new OTLPTraceExporter({
    url: `${o.endpoint.replace(/\/+$/, '')}/v1/traces`,
    headers: { ...o.headers },
  })
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': o.serviceName }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(o.sampleRatio ?? 1) }),
    spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: o.delayMs })],
  })
  return { tracer: provider.getTracer('aether'), shutdown: () => provider.shutdown() }
}
