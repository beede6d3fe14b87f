import type { Command } from '../args.ts'
import { portFlag, UsageError } from '../args.ts'
import { Hub } from '../Hub.ts'
import { hubFeatures } from '../hubFeatures.ts'
import { guardProcess, serve, SERVE_EXIT_CODES } from '../processLifecycle.ts'
import { allowHostFlag, allowHosts } from '../http/edges.ts'
import { retentionWith } from '../jobs/Retirement.ts'
import { appMachines, findAppConfig, loadApp } from '../app.ts'
import { resolve } from 'node:path'
import { existsSync } from 'node:fs'
import {
  checkDataFolder,
  formatMigration,
  type MigrationReport,
  migrationBlocks,
  migrationFeature,
} from '../migration.ts'

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
    migration: {
      type: 'string',
      arg: 'accept|refuse',
      help: "when the app's machines changed and stored actors replay differently, are stranded in removed states or have timers there: refuse to start (print the report, exit 1) or accept and start",
      default: 'refuse',
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
    'jobs-retain-age': {
      type: 'string',
      arg: 'AGE',
      help: 'finished jobs are archived this long after they finish: ms, or 30s, 15m, 1h, 7d, or never (or AETHER_JOBS_RETAIN_AGE; default 1h)',
    },
    'jobs-retain-count': {
      type: 'string',
      arg: 'N|all',
      help: 'at most N finished jobs stay live, the oldest beyond are archived (or AETHER_JOBS_RETAIN_COUNT; default 1000)',
    },
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
    const jobsRetain = {
      age: flags['jobs-retain-age'] as string | undefined,
      count: flags['jobs-retain-count'] as string | undefined,
    }
    try {
      retentionWith(undefined, jobsRetain.age, jobsRetain.count, {
        age: '--jobs-retain-age',
        count: '--jobs-retain-count',
      })
    } catch (err) {
      throw new UsageError((err as Error).message)
    }
    const migration = String(flags.migration)
    if (migration !== 'accept' && migration !== 'refuse')
      throw new UsageError(`--migration must be accept or refuse, got "${migration}"`)
    const appFile = (flags.app as string | undefined) ?? findAppConfig()
    const app = appFile ? await loadApp(appFile) : undefined
    // Before recovery: stored actors of the app's changed machines, replayed through the new code.
    let report: MigrationReport | null = null
    if (app && Object.keys(app.machines).length && existsSync(resolve(String(flags.data)))) {
      report = await checkDataFolder(resolve(String(flags.data)), app.machines)
      if (report.checked) console.log(formatMigration(report))
      if (migrationBlocks(report)) {
        if (migration === 'refuse') {
          console.error(
            'aether hub: refusing to start: stored actors do not fit the changed machines (above); start with --migration accept to run them anyway, or restore the previous code',
          )
          return 1
        }
        console.log('  --migration accept: starting anyway')
      }
    }
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
          jobsRetain,
        }),
        ...(app?.features ?? []),
        migrationFeature(report),
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
