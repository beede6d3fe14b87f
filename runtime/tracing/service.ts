/**
 * The `tracing.spans` service (the hub's `Tracing` when tracing is on, absent otherwise) and
 * `startTracing`. Apart from Tracing.ts so that commands and features use them without loading
 * OpenTelemetry: with no endpoint set, not even `@opentelemetry/api` is loaded.
 */
import { defineService } from '../../actors/Services.ts'
import { setting } from '../config.ts'
import type { SignalTraces } from '../rtc/RtcNode.ts'
import type { Tracing, TracingOptions } from './Tracing.ts'

/** The hub's `Tracing`, when tracing is on (provided by the tracing feature before the others install). */
export const tracingService = defineService<Tracing>('tracing.spans')

/** Trace context for the hub's signaling frames (negotiation spans), when tracing is on. */
export const signalTracesService = defineService<SignalTraces>('tracing.signals')

/** The process's tracing from its settings, or undefined when no endpoint is set (tracing off). */
export async function startTracing(opts: TracingOptions): Promise<Tracing | undefined> {
  if (!setting('otel-endpoint')) return undefined
  const { Tracing } = await import('./Tracing.ts')
  return Tracing.start(opts)
}

/** `close`, then the spans still held are exported: what a process runs when it is told to stop. */
export function thenExport(close: () => Promise<void>, tracing: Tracing | undefined): () => Promise<void> {
  if (!tracing) return close
  return async () => {
    await close()
    await tracing.close()
  }
}
