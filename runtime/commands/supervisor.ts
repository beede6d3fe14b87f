import type { Command } from '../args.ts'
import { portFlag, UsageError } from '../args.ts'
import { Supervisor } from '../supervisor/Supervisor.ts'
import { guardProcess, serve, SERVE_EXIT_CODES } from '../processLifecycle.ts'
import { setting, settingFlag } from '../config.ts'
import { startTracing, thenExport } from '../tracing/service.ts'

const ms = (flags: Record<string, unknown>, name: string): number | undefined => {
  const v = flags[name]
  if (v === undefined) return undefined
  if (!Number.isInteger(v) || (v as number) < 0)
    throw new UsageError(`--${name} must be a non-negative integer of milliseconds, got "${v}"`)
  return v as number
}

export const supervisorCommand: Command = {
  name: 'supervisor',
  summary: 'run the hub from slot A or B under an update supervisor (A/B slots, warm cutover, rollback)',
  usage:
    'aether supervisor --slots DIR [--port P] [--data DIR] [--token T] [--slot-ports PA,PB] [--sidecar --nats URL] [--member-of HUB --member NAME --nats URL]',
  details: `With --sidecar the supervisor runs the hubs' transport sidecar (\`aether sidecar\`, connected to
--nats URL or NATS_URL) as its own supervised child, restarted with backoff when it dies: the slot
runtimes' hubs use its socket (DATA/sidecar.sock) instead of starting their own, so the NATS
connections outlive a hub cutover. Its pid and restarts are in /api/supervisor/status and
/api/supervisor/sidecar; POST /api/supervisor/sidecar/restart (or \`aether sidecar restart --hub
SUPERVISOR_URL\`) restarts it by hand. Without --sidecar a hub that uses a sidecar owns it.

${SERVE_EXIT_CODES}`,
  flags: {
    slots: { type: 'string', arg: 'DIR', help: 'folder with slots A/ and B/, each a hub version with manifest.json' },
    port: {
      type: 'number',
      arg: 'P',
      help: 'public HTTP/WebSocket port (proxied to the active runtime)',
      default: 7070,
    },
    host: { type: 'string', arg: 'ADDR', help: 'address to bind', default: '127.0.0.1' },
    'allow-host': settingFlag('allow-host'),
    data: {
      type: 'string',
      arg: 'DIR',
      help: "supervisor data: its LevelDB, the hub's data, the pid file (default SLOTS/.supervisor)",
    },
    token: {
      type: 'string',
      arg: 'T',
      help: 'token for update requests and operator actions (default: generated and printed)',
    },
    'slot-ports': {
      type: 'string',
      arg: 'PA,PB',
      help: "reserved ports of slot A's and slot B's runtime (default: picked once, kept in the data folder)",
    },
    'countdown-ms': {
      type: 'number',
      arg: 'MS',
      help: 'countdown before an update starts (defer/promote during it)',
      default: 5000,
    },
    'min-interval-ms': { type: 'number', arg: 'MS', help: 'minimum time between updates', default: 60000 },
    'verify-deadline-ms': {
      type: 'number',
      arg: 'MS',
      help: 'the new runtime must mark itself good within this',
      default: 15000,
    },
    'defer-ms': { type: 'number', arg: 'MS', help: 'default deferral, and the live-media gate retry', default: 30000 },
    'health-deadline-ms': {
      type: 'number',
      arg: 'MS',
      help: 'a runtime must be healthy within this after start',
      default: 15000,
    },
    'prewarm-settle-ms': {
      type: 'number',
      arg: 'MS',
      help: 'a prewarmed candidate must stay up this long before cutover',
      default: 200,
    },
    'drain-ms': {
      type: 'number',
      arg: 'MS',
      help: 'deadline for in-flight requests to the old runtime at cutover',
      default: 2000,
    },
    'memory-budget-mb': {
      type: 'number',
      arg: 'MB',
      help: 'memory the runtimes may use together; warm switching needs room for two',
      default: 4096,
    },
    'member-of': {
      type: 'string',
      arg: 'HUB',
      help: "run a member node: the parent hub's id (its AETHER_HUB_ID); needs --member and --nats (docs/members.md)",
    },
    member: { type: 'string', arg: 'NAME', help: "this member's name on the parent hub" },
    nats: {
      type: 'string',
      arg: 'URL',
      help: 'NATS server of the member link (with --member-of) and of the sidecar (with --sidecar; default NATS_URL)',
    },
    sidecar: {
      type: 'boolean',
      help: "own the hubs' transport sidecar: a supervised child the slot runtimes share (it outlives a cutover)",
    },
    'member-heartbeat-ms': {
      type: 'number',
      arg: 'MS',
      help: 'a member publishes its snapshot at least this often (the hub calls it stale after 3 missed)',
      default: 1000,
    },
    'min-headroom-mb': {
      type: 'number',
      arg: 'MB',
      help: 'memory that must remain free beside a warm candidate',
      default: 64,
    },
  },
  async run({ flags, positionals }) {
    const guard = guardProcess({ name: 'supervisor' })
    if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`)
    if (!flags.slots) throw new UsageError('--slots DIR is required')
    let slotPorts: { A: number; B: number } | undefined
    if (flags['slot-ports'] !== undefined) {
      const parts = String(flags['slot-ports']).split(',')
      if (parts.length !== 2) throw new UsageError('--slot-ports takes two ports: PA,PB')
      slotPorts = { A: portFlag(parts[0], 'slot-ports'), B: portFlag(parts[1], 'slot-ports') }
    }
    const mb = (n: string) => {
      const v = flags[n]
      if (typeof v !== 'number' || !(v >= 0)) throw new UsageError(`--${n} must be a number of MB >= 0`)
      return v
    }
    const memberFlags = ['member-of', 'member', 'nats'].filter((f) => flags[f] !== undefined)
    const isMember = flags['member-of'] !== undefined || flags.member !== undefined
    if ((isMember || !flags.sidecar) && memberFlags.length && memberFlags.length < 3)
      throw new UsageError('a member node needs all of --member-of HUB, --member NAME and --nats URL')
    const sidecarNats = flags.sidecar ? ((flags.nats as string | undefined) ?? setting('nats')) : undefined
    if (flags.sidecar && !sidecarNats) throw new UsageError('--sidecar needs a NATS server: --nats URL or NATS_URL')
    const member = isMember
      ? {
          hub: String(flags['member-of']),
          name: String(flags.member),
          nats: String(flags.nats),
          heartbeatMs: ms(flags, 'member-heartbeat-ms'),
        }
      : undefined
    const tracing = await startTracing({ service: 'aether-supervisor' })
    const sup = await Supervisor.start({
      tracing,
      slots: String(flags.slots),
      port: portFlag(flags.port),
      host: String(flags.host),
      allowHosts: setting('allow-host', flags['allow-host']),
      data: flags.data as string | undefined,
      token: flags.token as string | undefined,
      slotPorts,
      settings: {
        countdownMs: ms(flags, 'countdown-ms'),
        minIntervalMs: ms(flags, 'min-interval-ms'),
        verifyDeadlineMs: ms(flags, 'verify-deadline-ms'),
        deferMs: ms(flags, 'defer-ms'),
      },
      healthDeadlineMs: ms(flags, 'health-deadline-ms'),
      prewarmSettleMs: ms(flags, 'prewarm-settle-ms'),
      drainMs: ms(flags, 'drain-ms'),
      memoryBudgetMb: mb('memory-budget-mb'),
      minHeadroomMb: mb('min-headroom-mb'),
      member,
      ...(sidecarNats ? { sidecar: { nats: sidecarNats } } : {}),
    })
    const st = sup.status()
    console.log(`aether supervisor ${sup.url}`)
    console.log(
      `  phase      ${st.phase} (slot ${st.serving}${st.active ? `, ${st.active.version}, runtime ${st.active.runtimeInstanceId}` : ''})`,
    )
    console.log(
      `  status     ${sup.url}/api/supervisor/status   (pushed on ${sup.url.replace('http', 'ws')}/api/supervisor/ws)`,
    )
    console.log(
      `  slots      A:${st.slots.A.port} ${st.slots.A.version ?? '-'}   B:${st.slots.B.port} ${st.slots.B.version ?? '-'}`,
    )
    if (member) console.log(`  member     ${member.name} of hub ${member.hub} over ${member.nats}`)
    if (sup.sidecar)
      console.log(`  sidecar    ${sup.sidecar.opts.socket} (pid ${sup.sidecar.pid ?? '-'}) to ${sidecarNats}`)
    // a token given is the operator's secret: never printed
    console.log(
      `  token      ${flags.token === undefined ? `${sup.server.token}   (generated; pass --token to choose one)` : '(set)'}`,
    )
    return serve({ name: 'supervisor', guard, close: thenExport(() => sup.close(), tracing), system: sup.system })
  },
}
