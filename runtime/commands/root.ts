import { hostname } from 'node:os'
import type { Command } from '../args.ts'
import { portFlag, UsageError } from '../args.ts'
import { Hub } from '../Hub.ts'
import { reliabilityFeature } from '../reliability/Reliability.ts'
import { incidentFeature } from '../incident/incidentFeature.ts'
import { inspectorFeature } from '../inspector/InspectorServer.ts'
import { rootFeature } from '../root/rootFeature.ts'
import { guardProcess, serve, SERVE_EXIT_CODES } from '../processLifecycle.ts'
import { setting, settingFlag } from '../config.ts'
import { NODE_ID } from '../../protocol/index.ts'
import { startTracing } from '../tracing/service.ts'
import { tracingFeature } from '../tracing/tracingFeature.ts'

export const rootCommand: Command = {
  name: 'root',
  summary: 'run the root: Class A inboxes and acks, Class B answers, hub heartbeats and provenance over NATS',
  usage: 'aether root [--nats URL] [--data DIR] [--port P] [--id ROOT_ID] [--fleet [--lease MS]]',
  details: SERVE_EXIT_CODES,
  flags: {
    nats: {
      type: 'string',
      arg: 'URL',
      help: 'NATS server (default NATS_URL, else nats://127.0.0.1:4222)',
    },
    data: {
      type: 'string',
      arg: 'DIR',
      help: 'LevelDB data folder (inboxes, ids seen, provenance)',
      default: '.aether-root',
    },
    port: { type: 'number', arg: 'P', help: 'HTTP port (provenance, reliability)', default: 7080 },
    host: { type: 'string', arg: 'ADDR', help: 'address to bind', default: '127.0.0.1' },
    'allow-host': settingFlag('allow-host'),
    token: { type: 'string', arg: 'T', help: 'token for actions that change state (default: generated)' },
    id: { type: 'string', arg: 'ROOT_ID', help: "this root's node id", default: 'root' },
    'authority-aging': {
      type: 'number',
      arg: 'MS',
      help: 'heartbeat silence after which a hub is aging (default AETHER_AUTHORITY_AGING_MS, else 3000)',
    },
    'authority-stale': {
      type: 'number',
      arg: 'MS',
      help: 'heartbeat silence after which a hub is stale (default AETHER_AUTHORITY_STALE_MS, else 10000)',
    },
    'cache-ttl': {
      type: 'number',
      arg: 'MS',
      help: 'how long a Class B answer is returned to retries',
      default: 600000,
    },
    'relay-origin': {
      type: 'string',
      arg: 'ORIGINS',
      help: "comma-separated page origins (e.g. the hub's http://host:7070) allowed to attach browsers to /relay (default AETHER_RELAY_ORIGINS)",
    },
    fleet: {
      type: 'boolean',
      help: 'one of several roots on this NATS server: hubs shared out, Class A inboxes in the JetStream stream AETHER_INBOX (docs/architecture.md, "Roots that scale out")',
    },
    lease: {
      type: 'number',
      arg: 'MS',
      help: "with --fleet: a root silent this long is gone and its hubs move (the others' handover time)",
      default: 1500,
    },
    fsync: { type: 'string', arg: 'always|none', help: 'fsync each Class A group commit', default: 'always' },
  },
  async run({ flags }) {
    const guard = guardProcess({ name: 'root' })
    const id = String(flags.id)
    if (!NODE_ID.test(id)) throw new UsageError(`--id must match ${NODE_ID.source}, got "${id}"`)
    const fsync = String(flags.fsync)
    if (fsync !== 'always' && fsync !== 'none') throw new UsageError(`--fsync must be always or none, got "${fsync}"`)
    const nats = setting('nats', flags.nats) ?? 'nats://127.0.0.1:4222'
    const lease = Number(flags.lease)
    if (!Number.isInteger(lease) || lease < 200 || lease > 600_000)
      throw new UsageError(`--lease must be an integer 200..600000 (ms), got "${flags.lease}"`)
    const aging = setting('authority-aging-ms', flags['authority-aging'])
    const stale = setting('authority-stale-ms', flags['authority-stale'])
    if (!(aging > 0) || !(stale > aging))
      throw new UsageError('--authority-stale must be greater than --authority-aging, both > 0')
    const tracing = await startTracing({ service: 'aether-root' })
    const hub = await Hub.start(
      {
        port: portFlag(flags.port),
        host: String(flags.host),
        allowHosts: setting('allow-host', flags['allow-host']),
        data: String(flags.data),
        token: flags.token as string | undefined,
        hostId: id,
      },
      [
        tracingFeature(tracing),
        reliabilityFeature({ role: 'root' }),
        inspectorFeature(),
        incidentFeature(),
        rootFeature({
          nats,
          rootId: id,
          agingMs: aging,
          staleMs: stale,
          cacheTtlMs: Number(flags['cache-ttl']),
          sync: fsync === 'always',
          relayOrigins: setting('relay-origins', flags['relay-origin']),
          fleet: flags.fleet ? { leaseMs: lease } : undefined,
        }),
      ],
    )
    console.log(`aether root ${hub.url}  (id ${id} on ${hostname()})`)
    console.log(`  nats         ${nats}`)
    if (flags.fleet) console.log(`  fleet        ${hub.url}/api/fleet  (lease ${lease} ms)`)
    console.log(`  data         ${hub.dataDir}`)
    console.log(`  reliability  ${hub.url}/api/reliability`)
    console.log(`  inspector    ${hub.url}/inspector`)
    console.log(`  relay        ${hub.url.replace(/^http/, 'ws')}/relay?hub=<hub>&member=<id>&token=<token>`)
    console.log(`  provenance   ${hub.url}/api/streams/<hub>/<stream>`)
    // a token given is the operator's secret: never printed
    console.log(
      `  token        ${flags.token === undefined ? `${hub.token}   (generated; pass --token to choose one)` : '(set)'}`,
    )
    return serve({ name: 'root', guard, close: () => hub.close(), system: hub.system })
  },
}
