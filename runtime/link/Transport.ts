/**
 * The seam between the hub and whatever carries its traffic to the root: the small surface of a
 * NATS connection the link uses (publish, subscribe with a callback, request, flush, status
 * changes). Two implementations, one of each: `NatsLink` (runtime/nats/NatsTransport.ts), the
 * connection in the hub's own process (the default), and `SidecarLink`
 * (runtime/sidecar/SidecarLink.ts), the same calls carried over a local socket to
 * `aether sidecar`, which owns the connection. The Class A sender, the traffic classes, the data
 * plane and the relay ingress see only this interface.
 */
import type { LinkStatus, NatsLink, NatsMessage, NatsSub } from '../nats/NatsTransport.ts'

export type { LinkStatus, NatsMessage, NatsSub }

/** Where the hub's NATS connection lives. */
export const TRANSPORT_KINDS = ['in-process', 'sidecar'] as const
export type TransportKind = (typeof TRANSPORT_KINDS)[number]

export interface Transport {
  /** `connected` only when a publish now reaches NATS (for the sidecar: the socket and its NATS connection are both up). */
  readonly status: LinkStatus
  readonly lastError?: string
  readonly counters: { reconnects: number; disconnects: number; callbackErrors: number; publishErrors: number }
  /** Times (ms) of the reconnects, for channel stability. */
  readonly reconnectTimes: number[]
  /** Resolves once connected for the first time (rejects when closed before). */
  connected(): Promise<void>
  onStatus(fn: (s: LinkStatus, previous: LinkStatus) => void): () => void
  /** Calls `cb` for each message on `subject` (wildcards allowed), across reconnects. */
  subscribe(subject: string, cb: (m: NatsMessage) => void, opts?: { queue?: string }): NatsSub
  /** False when the message cannot be handed on now (not connected or closed). */
  publish(subject: string, data: Uint8Array, reply?: string, traceparent?: string): boolean
  request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array>
  /** Waits until the server has processed everything published so far. */
  flush(): Promise<void>
  close(): Promise<void>
}

type IsTransport<T extends Transport> = T
/** The in-process implementation is a Transport (checked by the compiler, no cost at run time). */
export type InProcessTransport = IsTransport<NatsLink>
