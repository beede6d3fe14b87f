/**
 * W3C Trace Context `traceparent` (https://www.w3.org/TR/trace-context/#traceparent-header): the
 * one field that carries a trace from process to process (NATS headers of job messages, the
 * optional `trace` field of an envelope and of signaling messages).
 *
 *   00-<trace id: 32 lowercase hex>-<parent span id: 16 lowercase hex>-<flags: 2 hex>
 *
 * Version 00 only; an all-zero trace or span id is invalid. A value from outside that does not
 * parse is ignored by its receiver (the message still counts, it just starts a trace of its own).
 *
 * Pure: no node:*, runs in the browser.
 */

/** The parts of a `traceparent`. */
export interface TraceParent {
  traceId: string
  spanId: string
  /** Bit 0: sampled. */
  flags: number
}

const RE = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/
const ZERO_TRACE = '0'.repeat(32)
const ZERO_SPAN = '0'.repeat(16)

/** `00-<traceId>-<spanId>-<flags>`. */
export function encodeTraceParent(t: TraceParent): string {
  return `00-${t.traceId}-${t.spanId}-${(t.flags & 0xff).toString(16).padStart(2, '0')}`
}

/** The parts of a `traceparent`, or undefined if `value` is not a valid version-00 one. */
export function decodeTraceParent(value: unknown): TraceParent | undefined {
  if (typeof value !== 'string' || value.length !== 55) return undefined
  const m = RE.exec(value)
  if (!m || m[1] === ZERO_TRACE || m[2] === ZERO_SPAN) return undefined
  return { traceId: m[1], spanId: m[2], flags: Number.parseInt(m[3], 16) }
}
