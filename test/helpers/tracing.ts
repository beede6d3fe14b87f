/**
 * A `Tracing` whose spans stay in memory (the SDK's InMemorySpanExporter), for in-process tests:
 * `spans()` lists the finished spans with their parent, kind and service.
 */
import { resourceFromAttributes } from '@opentelemetry/resources'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { Tracing } from '../../runtime/tracing/Tracing.ts'

export interface MemorySpan {
  service: string
  name: string
  traceId: string
  spanId: string
  parentSpanId: string
  /** SpanKind: 0 internal, 3 producer, 4 consumer (the API's enum). */
  kind: number
  attributes: Record<string, unknown>
  status: { code: number; message?: string }
  events: string[]
}

export function memoryTracing(service: string): { tracing: Tracing; spans(): MemorySpan[] } {
  const exporter = new InMemorySpanExporter()
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': service }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  })
  return {
    tracing: new Tracing(provider.getTracer('aether'), () => provider.shutdown()),
    spans: () =>
      exporter.getFinishedSpans().map((s) => ({
        service,
        name: s.name,
        traceId: s.spanContext().traceId,
        spanId: s.spanContext().spanId,
        parentSpanId: s.parentSpanContext?.spanId ?? '',
        kind: s.kind,
        attributes: { ...s.attributes },
        status: { ...s.status },
        events: s.events.map((e) => e.name),
      })),
  }
}
