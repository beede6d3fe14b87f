import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import type { Command } from '../args.ts'
import { appMachines, findAppConfig, loadApp } from '../app.ts'
import { Config, hubToken, settingFlags } from '../config.ts'
import { Hub } from '../Hub.ts'
import { hubFeatures } from '../hubFeatures.ts'
import {
  checkDataFolder,
  formatMigration,
  type MigrationReport,
  migrationBlocks,
  migrationFeature,
} from '../migration.ts'
import { guardProcess, serve, SERVE_EXIT_CODES } from '../processLifecycle.ts'
import { startTracing } from '../tracing/service.ts'
import { skillsService } from '../skills/scenarioHosted.ts'

export const hubCommand: Command = {
  name: 'hub',
  summary: 'run the edge hub: actors on LevelDB, the HTTP/WebSocket API and the inspector',
  usage: 'aether hub [--app FILE] [--port P] [--host 127.0.0.1] [--data DIR] [--token T] [--print-config]',
  details: `${SERVE_EXIT_CODES}
Each flag falls back to its environment variable [in brackets], then to its default; docs/config.md
lists every setting, including those read from the environment only.`,
  flags: {
    ...settingFlags('hub'),
    'print-config': {
      type: 'boolean',
      help: 'print the resolved settings and where each came from (flag, env, default), then exit',
    },
  },
  async run({ flags }) {
    // Every setting is checked before anything starts: a bad one is a usage error (exit 2).
    const config = Config.load(flags, undefined, 'hub')
    if (flags['print-config']) {
      console.log(config.format())
      return 0
    }
    const guard = guardProcess({ name: 'hub' })
    const fsync = config.get('fsync')
    const data = config.get('data')
    const appFile = config.get('app') ?? findAppConfig()
    const app = appFile ? await loadApp(appFile) : undefined
    // Before recovery: stored actors of the app's changed machines, replayed through the new code.
    let report: MigrationReport | null = null
    if (app && Object.keys(app.machines).length && existsSync(resolve(data))) {
      report = await checkDataFolder(resolve(data), app.machines)
      if (report.checked) console.log(formatMigration(report))
      if (migrationBlocks(report)) {
        if (config.get('migration') === 'refuse') {
          console.error(
            'aether hub: refusing to start: stored actors do not fit the changed machines (above); start with --migration accept to run them anyway, or restore the previous code',
          )
          return 1
        }
        console.log('  --migration accept: starting anyway')
      }
    }
    const token = hubToken(config)
    const tracing = await startTracing({ service: 'aether-hub' })
    const hub = await Hub.start(
      {
        port: config.get('port'),
        host: config.get('host'),
        allowHosts: config.get('allow-host'),
        data,
        token,
        fsync,
        snapshotEvery: config.get('snapshot-every'),
        retain: config.get('retain'),
        ...(app ? { machines: appMachines(app) } : {}),
      },
      [
        ...hubFeatures({
          nats: config.get('nats'),
          transport: config.get('transport'),
          harness: config.get('harness'),
          redis: config.get('redis'),
          jobTypes: app?.jobTypes,
          jobsRetainAge: config.get('jobs-retain-age'),
          jobsRetainCount: config.get('jobs-retain-count'),
          tracing,
        }),
        ...(app?.features ?? []),
        migrationFeature(report),
      ],
    )
    const generated = token === undefined
    // one write: a reader that sees the URL line sees the whole banner (tests read it at the URL line)
    const banner = [`aether hub ${hub.url}`, `  data       ${hub.dataDir} (fsync ${fsync})`]
    if (app) {
      const names = [...Object.keys(app.machines), ...app.jobTypes.map((t) => t.machineName)]
      banner.push(
        `  app        ${resolve(appFile!)}${app.name ? ` (${app.name})` : ''}: ${names.join(', ') || 'no machines'}`,
      )
    }
    // live now: the hub's own actors and what recovery brought back from the data folder (durable)
    const live = hub.system.list()
    banner.push(`  actors     ${live.length} live (${live.filter((a) => a.durable).length} durable)`)
    const skills = hub.system.services.find(skillsService)?.skills.list() ?? []
    if (skills.length)
      banner.push(
        `  skills     ${skills.map((s) => `${s.manifest.name} ${s.manifest.version} (${s.provenance})`).join(', ')}`,
      )
    banner.push(
      `  health     ${hub.url}/api/health`,
      `  actors     ${hub.url}/api/actors`,
      `  inspector  ${hub.url}/inspector`,
      // a token given (flag, environment, file) is the operator's secret: never printed
      `  token      ${generated ? `${hub.token}   (generated; pass --token or --token-file to choose one)` : '(set)'}`,
    )
    console.log(banner.join('\n'))
    return serve({ name: 'hub', guard, close: () => hub.close(), system: hub.system })
  },
}
