/**
 * The `aether` command line. Each command lives in runtime/commands/ and declares its flags, so
 * `aether <command> --help` is always complete. Exit codes: 0 ok, 1 the command's own failure
 * (e.g. a replay divergence), 2 usage or input errors.
 */
import { formatHelp, parseArgs, UsageError, usageOf, type Command } from './args.ts'
import { hubCommand } from './commands/hub.ts'
import { inspectCommand } from './commands/inspect.ts'
import { logCommand } from './commands/log.ts'
import { replayCommand } from './commands/replay.ts'
import { incidentCommand } from './commands/incident.ts'
import { coverageCommand } from './commands/coverage.ts'
import { rootCommand } from './commands/root.ts'
import { reliabilityCommand } from './commands/reliability.ts'
import { protocolCommand } from './commands/protocol.ts'
import { agentCommand } from './commands/agent.ts'
import { slotCommand } from './commands/slot.ts'
import { supervisorCommand } from './commands/supervisor.ts'
import { workerCommand } from './commands/worker.ts'

import { webspaceCommand } from './commands/webspace.ts'
import { migrateCommand } from './commands/migrate.ts'
import { skillCommand } from './commands/skill.ts'
import { rolloutCommand } from './commands/rollout.ts'

export const commands: Command[] = [
  hubCommand,
  replayCommand,
  coverageCommand,
  logCommand,
  incidentCommand,
  inspectCommand,
  rootCommand,
  reliabilityCommand,
  protocolCommand,
  agentCommand,
  supervisorCommand,
  slotCommand,
  workerCommand,
  webspaceCommand,
  migrateCommand,
  skillCommand,
  rolloutCommand,
]

function mainHelp(): string {
  const lines = ['aether: an actor runtime for edge hubs', '', 'usage: aether <command> [flags]', '', 'commands:']
  for (const c of commands) lines.push(`  ${c.name.padEnd(14)} ${c.summary}`)
  lines.push('', 'Run `aether <command> --help` for its flags.')
  return lines.join('\n')
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(mainHelp())
    return name ? 0 : 2
  }
  const cmd = commands.find((c) => c.name === name)
  if (!cmd) {
    console.error(`aether: unknown command "${name}"\n\n${mainHelp()}`)
    return 2
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(formatHelp(cmd))
    return 0
  }
  try {
    const args = parseArgs(rest, cmd.flags)
    return (await cmd.run(args)) ?? 0
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(
        err.showUsage
          ? `aether ${cmd.name}: ${err.message}\n\nusage: ${usageOf(cmd)}\nRun \`aether ${cmd.name} --help\` for details.`
          : `aether ${cmd.name}: ${err.message}`,
      )
      return 2
    }
    const e = err as Error & { code?: string }
    console.error(`aether ${cmd.name}: ${e.message}`)
    return e.code === 'DATA_DIR_LOCKED' || e.code === 'UNKNOWN_ACTOR' || e.code === 'LOG_FORMAT' ? 2 : 1
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err) => {
    console.error(err)
    process.exitCode = 1
  },
)
