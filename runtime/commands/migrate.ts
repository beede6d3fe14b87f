import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import type { Command } from '../args.ts'
import { UsageError } from '../args.ts'
import { findAppConfig, loadApp } from '../app.ts'
import { setting, settingFlag } from '../config.ts'
import { checkDataFolder, formatMigration, migrationBlocks } from '../migration.ts'

export const migrateCommand: Command = {
  name: 'migrate',
  summary: "check what changed machine code does to stored actors: replay their journals through the app's new code",
  positionals: [{ name: 'check', help: 'the subcommand', required: true }],
  flags: {
    data: { type: 'string', arg: 'DIR', help: 'LevelDB data folder of a stopped hub', default: '.aether' },
    app: settingFlag('app'),
    json: { type: 'boolean', help: 'print the report as JSON' },
  },
  details: `
Every live actor of an app machine whose code changed since it was journaled is replayed through
the new code and compared with its recorded checkpoints. An actor replays identically, diverges
(first seq, the event, a diff), is stranded in a state the new code does not have, or has timers
pending in such a state. \`aether hub\` runs the same check before it starts and refuses to start
on anything but identical actors unless given --migration accept.

exit codes: 0 every checked actor replays identically (or none changed); 1 some diverge, are
stranded, have timers in removed states or cannot be read; 2 usage error (a bad app module, a
missing data folder, a data folder in use by a running hub).`,
  async run({ flags, positionals }) {
    if (positionals[0] !== 'check' || positionals.length !== 1)
      throw new UsageError(`unknown migrate subcommand "${positionals.join(' ')}"; try: aether migrate check`)
    const file = setting('app', flags.app) ?? findAppConfig()
    if (!file) throw new UsageError('--app FILE is required (no aether.config.* in the working directory)')
    const data = resolve(String(flags.data))
    if (!existsSync(data)) throw new UsageError(`no data folder ${data}`)
    const app = await loadApp(file)
    let report: Awaited<ReturnType<typeof checkDataFolder>>
    try {
      report = await checkDataFolder(data, app.machines)
    } catch (err) {
      if (/lock/i.test(String((err as Error).message)))
        throw new UsageError(`${data} is in use by a running hub; stop it first`)
      throw err
    }
    if (flags.json) console.log(JSON.stringify(report))
    else console.log(formatMigration(report))
    return migrationBlocks(report) ? 1 : 0
  },
}
