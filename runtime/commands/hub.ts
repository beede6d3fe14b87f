import type { Command } from '../args.ts'
import { Config, settingFlags } from '../config.ts'
import { Hub } from '../Hub.ts'
import { hubFeatures } from '../hubFeatures.ts'
import { guardProcess, serve, SERVE_EXIT_CODES } from '../processLifecycle.ts'

export const hubCommand: Command = {
  name: 'hub',
  summary: 'run the edge hub: actors on LevelDB, the HTTP/WebSocket API and the inspector',
  usage: 'aether hub [--port P] [--host 127.0.0.1] [--data DIR] [--token T] [--print-config]',
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
    const hub = await Hub.start(
      {
        port: config.get('port'),
        host: config.get('host'),
        allowHosts: config.get('allow-host'),
        data: config.get('data'),
        token: config.get('token'),
        fsync,
        snapshotEvery: config.get('snapshot-every'),
        retain: config.get('retain'),
      },
      hubFeatures({ nats: config.get('nats'), harness: config.get('harness'), redis: config.get('redis') }),
    )
    const generated = config.get('token') === undefined
    console.log(`aether hub ${hub.url}`)
    console.log(`  data       ${hub.dataDir} (fsync ${fsync})`)
    console.log(`  actors     ${hub.system.list().length} recovered`)
    console.log(`  health     ${hub.url}/api/health`)
    console.log(`  actors     ${hub.url}/api/actors`)
    console.log(`  inspector  ${hub.url}/inspector`)
    console.log(`  token      ${hub.token}${generated ? '   (generated; pass --token to choose one)' : ''}`)
    return serve({ name: 'hub', guard, close: () => hub.close(), system: hub.system })
  },
}
