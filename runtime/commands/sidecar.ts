import type { Command } from '../args.ts'
import { UsageError } from '../args.ts'
import { guardProcess, serve } from '../processLifecycle.ts'
import { Sidecar } from '../sidecar/Sidecar.ts'
import { requestServer, serverFlag, serverUrl, subAction, tokenFlag } from './remote.ts'

const ACTIONS = ['status', 'restart'] as const

export const sidecarCommand: Command = {
  name: 'sidecar',
  summary: "run a hub's transport sidecar (its NATS connections, served on a local socket), or ask a hub about it",
  usage: `aether sidecar --socket PATH [--nats URL] [--name NAME]
       aether sidecar status [--hub URL] [--json]
       aether sidecar restart [--hub URL] [--token T]`,
  positionals: [{ name: 'ACTION', help: 'status | restart (none: run the sidecar)' }],
  details: `A hub started with --transport sidecar runs and supervises its own sidecar (restarted when it
dies), unless \`aether supervisor --sidecar\` owns one for its slot runtimes (status and restart
then reach the supervisor's); run one by hand only for a hub given AETHER_SIDECAR_SOCKET. The
socket's token comes from AETHER_SIDECAR_TOKEN (the hub sets it for the sidecar it starts).

exit codes: running: 0 stopped by SIGINT/SIGTERM or when the hub that started it went away,
1 could not start (another sidecar serves the socket, or it cannot listen), 2 usage error.
status: 0 control and route both ready, 1 not ready or the hub cannot be reached, 2 usage error.
restart: 0 restart requested, 1 refused (token, no sidecar) or the hub cannot be reached, 2 usage.`,
  flags: {
    socket: { type: 'string', arg: 'PATH', help: 'Unix socket to serve the hub on (running)' },
    nats: { type: 'string', arg: 'URL', help: 'NATS server (running; default NATS_URL, else nats://127.0.0.1:4222)' },
    name: { type: 'string', arg: 'NAME', help: "names the NATS connections (default 'sidecar')" },
    hub: serverFlag('the hub to ask (status, restart)'),
    token: tokenFlag,
    json: { type: 'boolean', help: 'print the status as JSON (status)' },
    standby: {
      type: 'boolean',
      help: "load, then wait for the hub's signal before serving (the warm spare a hub keeps; not for use by hand)",
    },
  },
  async run({ flags, positionals }) {
    if (positionals.length) {
      const [action] = subAction(positionals, ACTIONS)
      return action === 'status' ? status(flags) : restart(flags)
    }
    if (typeof flags.socket !== 'string') throw new UsageError('--socket PATH is required to run the sidecar')
    if (flags.standby) {
      if (!process.send) throw new UsageError('--standby needs a parent process (the hub starts spares)')
      const go = await new Promise<boolean>((resolve) => {
        process.on('message', (m: { type?: string }) => m?.type === 'serve' && resolve(true))
        process.once('disconnect', () => resolve(false))
        process.send!({ type: 'standby' }) // listening now: a message sent before would be lost
      })
      if (!go) return 0
      console.log(`aether sidecar: spare ${process.pid} told to serve`)
    }
    const guard = guardProcess({ name: 'sidecar' })
    const sc = await Sidecar.start({
      socket: flags.socket,
      nats: (flags.nats as string | undefined) ?? process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
      name: (flags.name as string | undefined) ?? 'sidecar',
      ...(process.env.AETHER_SIDECAR_TOKEN ? { token: process.env.AETHER_SIDECAR_TOKEN } : {}),
    })
    console.log(`aether sidecar ${flags.socket} (${sc.id}, pid ${process.pid})`)
    const served = serve({ name: 'sidecar', guard, close: () => sc.close() })
    // Started by a hub: end with it, and let go of its IPC channel once stopped (else it keeps us alive).
    if (process.send) process.once('disconnect', () => void sc.close().then(() => process.exit(0)))
    const code = await served
    if (process.connected) process.disconnect()
    return code
  },
}

async function status(flags: Record<string, unknown>): Promise<number> {
  const base = serverUrl(flags.hub, 'hub')
  const res = await requestServer(base, '/api/sidecar', 'hub')
  if (!res.ok) {
    console.error(
      `aether sidecar: ${base.origin}/api/sidecar answered ${res.status}: ${(await res.text()).slice(0, 200)}`,
    )
    return 1
  }
  const s = (await res.json()) as any
  // a hub behind `aether supervisor --sidecar`: the supervisor owns the process
  if (!s.process) {
    const own = await requestServer(base, '/api/supervisor/sidecar', 'hub').catch(() => null)
    const body = own?.ok ? ((await own.json()) as any) : null
    if (body) s.process = { ...body, owner: 'supervisor' }
  }
  const ready = !!s.control?.ready && !!s.route?.ready
  if (flags.json) console.log(JSON.stringify(s, null, 2))
  else {
    console.log(`transport ${s.strategy.current}: control ${s.control.status}, route ${s.route.status}`)
    console.log(`  sidecar   ${s.sidecar?.provenance?.sidecar ?? '(not answering)'} pid ${s.process?.pid ?? '-'}`)
    console.log(
      `  restarts  ${s.process?.counters.deaths ?? 0} deaths, ${s.process?.counters.manualRestarts ?? 0} by hand; hub reconnects ${s.control.reconnects}`,
    )
    console.log(`  attempts  ${s.strategy.attemptCounts.ok} ok, ${s.strategy.attemptCounts.failed} failed`)
  }
  return ready ? 0 : 1
}

async function restart(flags: Record<string, unknown>): Promise<number> {
  const base = serverUrl(flags.hub, 'hub')
  const token = (flags.token as string | undefined) ?? process.env.AETHER_TOKEN
  const post = (path: string) =>
    requestServer(base, path, 'hub', { method: 'POST', headers: token ? { authorization: `Bearer ${token}` } : {} })
  let res = await post('/api/sidecar/restart')
  let text = await res.text()
  // the hub owns none: behind `aether supervisor --sidecar` the supervisor does
  if (res.status === 409) {
    const own = await post('/api/supervisor/sidecar/restart')
    if (own.status !== 404) [res, text] = [own, await own.text()]
  }
  if (!res.ok) {
    console.error(`aether sidecar: restart refused (${res.status}): ${text.slice(0, 200)}`)
    return 1
  }
  console.log(`aether sidecar: restart requested (${text.slice(0, 200)})`)
  return 0
}
