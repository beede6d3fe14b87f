import type { Command } from '../args.ts'
import { portFlag, UsageError } from '../args.ts'
import { Hub } from '../Hub.ts'
import { hubFeatures } from '../hubFeatures.ts'
import { guardProcess, serve, SERVE_EXIT_CODES } from '../processLifecycle.ts'
import { allowHostFlag, allowHosts } from '../http/edges.ts'
import { appMachines, findAppConfig, loadApp } from '../app.ts'
import { resolve } from 'node:path'

export const hubCommand: Command = {
  name: 'hub',
  summary: 'run the edge hub: actors on LevelDB, the HTTP/WebSocket API and the inspector',
  usage: 'aether hub [--app FILE] [--port P] [--host 127.0.0.1] [--data DIR] [--token T]',
  details: SERVE_EXIT_CODES,
  flags: {
    app: {
      type: 'string',
      arg: 'FILE',
      help: 'your app module (TypeScript or JavaScript) exporting defineApp({ machines, jobTypes, features }); default: aether.config.ts|mts|js|mjs in the working directory, if there is one',
    },
    port: { type: 'number', arg: 'P', help: 'HTTP port', default: 7070 },
    host: {
      type: 'string',
      arg: 'ADDR',
      help: 'address to bind (keep loopback unless you mean it)',
      default: '127.0.0.1',
    },
    'allow-host': allowHostFlag,
    data: { type: 'string', arg: 'DIR', help: 'LevelDB data folder', default: '.aether' },
    token: { type: 'string', arg: 'T', help: 'token for actions that change state (default: generated and printed)' },
    fsync: { type: 'string', arg: 'POLICY', help: 'journal fsync policy: always | batch | none', default: 'batch' },
    'snapshot-every': { type: 'number', arg: 'N', help: 'write a snapshot every N events per actor', default: 100 },
    retain: {
      type: 'string',
      arg: 'N|all',
      help: 'snapshots kept per actor; older journal entries are compacted',
      default: 'all',
    },
    nats: { type: 'string', arg: 'URL', help: 'NATS server for the link to root (or NATS_URL); optional' },
    harness: {
      type: 'string',
      arg: 'FILE',
      help: 'agent role harness file (or AETHER_HARNESS); see `aether agent --help`',
    },
    redis: { type: 'string', arg: 'URL', help: 'Redis server, an optional agent capability (or REDIS_URL)' },
  },
  async run({ flags }) {
    const guard = guardProcess({ name: 'hub' })
    const fsync = String(flags.fsync)
    if (!['always', 'batch', 'none'].includes(fsync))
      throw new UsageError(`--fsync must be always, batch or none, got "${fsync}"`)
    const retainRaw = String(flags.retain)
    const retain = retainRaw === 'all' ? Infinity : Number(retainRaw)
    if (!(retain >= 1)) throw new UsageError(`--retain must be a number >= 1 or "all", got "${retainRaw}"`)
    const every = Number(flags['snapshot-every'])
    if (!Number.isInteger(every) || every < 1) throw new UsageError('--snapshot-every must be an integer >= 1')
    const appFile = (flags.app as string | undefined) ?? findAppConfig()
    const app = appFile ? await loadApp(appFile) : undefined
    const hub = await Hub.start(
      {
        port: portFlag(flags.port),
        host: String(flags.host),
        allowHosts: allowHosts(flags['allow-host']),
        data: String(flags.data),
        token: flags.token as string | undefined,
        fsync: fsync as any,
        snapshotEvery: every,
        retain,
        ...(app ? { machines: appMachines(app) } : {}),
      },
      [
        ...hubFeatures({
          nats: (flags.nats as string | undefined) ?? process.env.NATS_URL,
          harness: flags.harness as string | undefined,
          redis: flags.redis as string | undefined,
          jobTypes: app?.jobTypes,
        }),
        ...(app?.features ?? []),
      ],
    )
    const generated = flags.token === undefined
    console.log(`aether hub ${hub.url}`)
    console.log(`  data       ${hub.dataDir} (fsync ${fsync})`)
    if (app) {
      const names = [...Object.keys(app.machines), ...app.jobTypes.map((t) => t.machineName)]
      console.log(
        `  app        ${resolve(appFile!)}${app.name ? ` (${app.name})` : ''}: ${names.join(', ') || 'no machines'}`,
      )
    }
    console.log(`  actors     ${hub.system.list().length} recovered`)
    console.log(`  health     ${hub.url}/api/health`)
    console.log(`  actors     ${hub.url}/api/actors`)
    console.log(`  inspector  ${hub.url}/inspector`)
    console.log(`  token      ${hub.token}${generated ? '   (generated; pass --token to choose one)' : ''}`)
    return serve({ name: 'hub', guard, close: () => hub.close(), system: hub.system })
  },
}
