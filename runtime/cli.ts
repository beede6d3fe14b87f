/**
 * The `aether` command line. Each command lives in runtime/commands/ and declares its flags, so
 * `aether <command> --help` is always complete. Exit codes: 0 ok, 1 the command's own failure
 * (e.g. a replay divergence), 2 usage or input errors.
 */
import { formatHelp, parseArgs, UsageError, usageOf, type Command } from './args.ts'

/**
 * Every command, loaded only when it runs: `aether --help` and each command start without loading
 * the others' dependencies (werift, NATS, the hub's features take seconds to load on a busy
 * machine). `summary` is the command's own (test/runtime/cli.test.ts checks they agree).
 */
export interface CommandEntry {
  name: string
  summary: string
  load(): Promise<Command>
}

export const commands: CommandEntry[] = [
  {
    name: 'hub',
    summary: 'run the edge hub: actors on LevelDB, the HTTP/WebSocket API and the inspector',
    load: async () => (await import('./commands/hub.ts')).hubCommand,
  },
  {
    name: 'replay',
    summary: 'replay a log through a machine with pure transitions; --verify compares it with the recorded states',
    load: async () => (await import('./commands/replay.ts')).replayCommand,
  },
  {
    name: 'coverage',
    summary: 'which states and transitions of their machines recorded logs exercised, with counts',
    load: async () => (await import('./commands/coverage.ts')).coverageCommand,
  },
  {
    name: 'log',
    summary: "export an actor's journal as an aether.log/1 log (aether log export ID)",
    load: async () => (await import('./commands/log.ts')).logCommand,
  },
  {
    name: 'incident',
    summary: 'export an incident bundle: every actor touched in a time window, from every node given',
    load: async () => (await import('./commands/incident.ts')).incidentCommand,
  },
  {
    name: 'inspect',
    summary: "watch an XState v4 app's @xstate/inspect server in a hub's inspector (recorded, replayable)",
    load: async () => (await import('./commands/inspect.ts')).inspectCommand,
  },
  {
    name: 'root',
    summary: 'run the root: Class A inboxes and acks, Class B answers, hub heartbeats and provenance over NATS',
    load: async () => (await import('./commands/root.ts')).rootCommand,
  },
  {
    name: 'reliability',
    summary: "print a hub's or root's readiness tree, degraded matrix, incidents and channel stability",
    load: async () => (await import('./commands/reliability.ts')).reliabilityCommand,
  },
  {
    name: 'protocol',
    summary: 'protocol tools: `aether protocol schema` prints the JSON Schema of every message',
    load: async () => (await import('./commands/protocol.ts')).protocolCommand,
  },
  {
    name: 'agent',
    summary: 'model role harness: check a harness file, run the 20-task benchmark',
    load: async () => (await import('./commands/agent.ts')).agentCommand,
  },
  {
    name: 'supervisor',
    summary: 'run the hub from slot A or B under an update supervisor (A/B slots, warm cutover, rollback)',
    load: async () => (await import('./commands/supervisor.ts')).supervisorCommand,
  },
  {
    name: 'slot',
    summary: 'seal or verify a slot image (a hub version the supervisor can install)',
    load: async () => (await import('./commands/slot.ts')).slotCommand,
  },
  {
    name: 'worker',
    summary: "run job steps from a hub's queue over NATS JetStream (start the hub with AETHER_JOBS_NATS=URL)",
    load: async () => (await import('./commands/worker.ts')).workerCommand,
  },
  {
    name: 'webspace',
    summary: "list, back up, restore, reset or reload a running hub's Yjs webspaces",
    load: async () => (await import('./commands/webspace.ts')).webspaceCommand,
  },
  {
    name: 'migrate',
    summary: "check what changed machine code does to stored actors: replay their journals through the app's new code",
    load: async () => (await import('./commands/migrate.ts')).migrateCommand,
  },
  {
    name: 'skill',
    summary: "list, plan, install, refresh or remove a running hub's skills; print a skill folder's checksum",
    load: async () => (await import('./commands/skill.ts')).skillCommand,
  },
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
  const entry = commands.find((c) => c.name === name)
  if (!entry) {
    console.error(`aether: unknown command "${name}"\n\n${mainHelp()}`)
    return 2
  }
  const cmd = await entry.load()
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

/** The program: bin/aether.mjs calls this with the process's arguments and exits with its code. */
export function runCli(argv: string[] = process.argv.slice(2)): void {
  main(argv).then(
    (code) => {
      process.exitCode = code
    },
    (err) => {
      console.error(err)
      process.exitCode = 1
    },
  )
}
