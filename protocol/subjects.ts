/**
 * NATS subjects of the hub<->root protocol. One place, so both ends and other-language clients
 * agree. Node ids match `[A-Za-z0-9][A-Za-z0-9_-]*` (no dots: a dot splits subject tokens).
 *
 *   aether.root.<hub>.stream      hub -> root  Class A record batches (reply: stream.ack)
 *   aether.root.<hub>.link        hub -> root  link.heartbeat (reply: link.heartbeat.ack)
 *   aether.root.<hub>.cmd         hub -> root  Class B commands (reply: the cached-or-new answer)
 *   aether.root.<hub>.relay       hub -> root  member channel frames relayed back to browsers (relayFrame.ts)
 *   aether.hub.<hub>.<class>      any -> hub   the hub's traffic classes (see TRAFFIC_CLASSES)
 *   aether.hub.<hub>.relay        root -> hub  member channel frames from browsers attached to the root
 */

/** The hub's inbound traffic classes, most urgent first; each has its own subscription. */
export const TRAFFIC_CLASSES = ['control', 'route.control', 'integration', 'route.frame', 'telemetry'] as const
export type TrafficClass = (typeof TRAFFIC_CLASSES)[number]

/** Which message subject each traffic class carries. */
export const TRAFFIC_SUBJECT = {
  control: 'control.command',
  'route.control': 'route.control',
  integration: 'integration.event',
  'route.frame': 'route.frame',
  telemetry: 'telemetry.sample',
} as const satisfies Record<TrafficClass, string>

export const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/

export const subjects = {
  rootStream: (hub: string) => `aether.root.${hub}.stream`,
  rootLink: (hub: string) => `aether.root.${hub}.link`,
  rootCommand: (hub: string) => `aether.root.${hub}.cmd`,
  /** Wildcards the root subscribes to. */
  rootStreamAll: 'aether.root.*.stream',
  rootLinkAll: 'aether.root.*.link',
  rootCommandAll: 'aether.root.*.cmd',
  rootRelay: (hub: string) => `aether.root.${hub}.relay`,
  rootRelayAll: 'aether.root.*.relay',
  hubRelay: (hub: string) => `aether.hub.${hub}.relay`,
  hubTraffic: (hub: string, cls: TrafficClass) => `aether.hub.${hub}.${cls}`,
  /** Where the root's Class A acks to `hub` arrive (the reply subject of its record batches). */
  hubAck: (hub: string) => `aether.hub.${hub}.ack`,
} as const

/** The hub id in a root subject `aether.root.<hub>.<x>`, or undefined. */
export function hubOfSubject(subject: string): string | undefined {
  const parts = subject.split('.')
  return parts.length === 4 && parts[0] === 'aether' && parts[1] === 'root' && NODE_ID.test(parts[2])
    ? parts[2]
    : undefined
}
