/**
 * The `tracing.spans` service: the hub's `Tracing` when tracing is on, absent otherwise. Apart
 * from Tracing.ts so that features can look it up without loading OpenTelemetry.
 */
import { defineService } from '../../actors/Services.ts'
import type { SignalTraces } from '../rtc/RtcNode.ts'
import type { Tracing } from './Tracing.ts'

/** The hub's `Tracing`, when tracing is on (provided by the tracing feature before the others install). */
export const tracingService = defineService<Tracing>('tracing.spans')

/** Trace context for the hub's signaling frames (negotiation spans), when tracing is on. */
export const signalTracesService = defineService<SignalTraces>('tracing.signals')
