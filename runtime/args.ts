/**
 * Command-line flags: a small, strict parser. Unknown flags and bad values are usage errors
 * (exit 2) that name the flag; `--help` is always understood.
 */

export class UsageError extends Error {
  readonly code = 'USAGE'
  /** Whether the CLI prints the command's usage after the message (not when a file is at fault). */
  showUsage = true
  constructor(message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

export interface FlagSpec {
  type: 'string' | 'number' | 'boolean'
  /** One line for --help. */
  help: string
  default?: string | number | boolean
  /** Value name for --help (`--port P`). */
  arg?: string
  /** The command cannot run without it: a usage error names it when it is missing. */
  required?: boolean
  /** A string flag that may be given several times: its values are joined with commas. */
  repeat?: boolean
}

export interface Command {
  name: string
  summary: string
  /** The usage line; by default it is built from the positionals and flags (`usageOf`). */
  usage?: string
  flags: Record<string, FlagSpec>
  /** Positional arguments for --help. */
  positionals?: Array<{ name: string; help: string; required?: boolean }>
  /** More text for --help, after the flags. */
  details?: string
  run(args: ParsedArgs): Promise<number | undefined>
}

export interface ParsedArgs {
  flags: Record<string, string | number | boolean | undefined>
  positionals: string[]
}

export function parseArgs(argv: string[], spec: Record<string, FlagSpec>): ParsedArgs {
  const flags: ParsedArgs['flags'] = {}
  const positionals: string[] = []
  const given = new Set<string>()
  for (const [k, s] of Object.entries(spec)) if (s.default !== undefined) flags[k] = s.default
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--') {
      positionals.push(...argv.slice(i + 1))
      break
    }
    if (!a.startsWith('--')) {
      positionals.push(a)
      continue
    }
    const eq = a.indexOf('=')
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2)
    const s = spec[name]
    if (!s) throw new UsageError(`unknown flag --${name}`)
    if (s.type === 'boolean') {
      if (eq > 0) throw new UsageError(`--${name} takes no value`)
      flags[name] = true
      continue
    }
    const raw = eq > 0 ? a.slice(eq + 1) : argv[++i]
    if (raw === undefined || (eq < 0 && raw.startsWith('--')))
      throw new UsageError(`--${name} needs a value (${s.arg ?? s.type})`)
    if (s.type === 'number') {
      const n = Number(raw)
      if (!Number.isFinite(n) || raw.trim() === '') throw new UsageError(`--${name} must be a number, got "${raw}"`)
      flags[name] = n
    } else flags[name] = s.repeat && given.has(name) ? `${flags[name]},${raw}` : raw
    given.add(name)
  }
  for (const [k, s] of Object.entries(spec))
    if (s.required && flags[k] === undefined) throw new UsageError(`--${k} ${s.arg ?? s.type} is required`)
  return { flags, positionals }
}

/** A command's usage line: its own, or `aether NAME POSITIONALS --required ARG [--optional ARG] ...`. */
export function usageOf(c: Command): string {
  if (c.usage) return c.usage
  const parts = [`aether ${c.name}`]
  for (const p of c.positionals ?? []) parts.push(p.required ? p.name : `[${p.name}]`)
  for (const [k, s] of Object.entries(c.flags)) {
    const f = `--${k}${s.type === 'boolean' ? '' : ` ${s.arg ?? s.type.toUpperCase()}`}`
    parts.push(s.required ? f : `[${f}]`)
  }
  return parts.join(' ')
}

export function formatHelp(c: Command): string {
  const lines = [`aether ${c.name}: ${c.summary}`, '', `usage: ${usageOf(c)}`]
  if (c.positionals?.length) {
    lines.push('', 'arguments:')
    for (const p of c.positionals) lines.push(`  ${p.name.padEnd(22)} ${p.help}${p.required ? '' : ' (optional)'}`)
  }
  const entries = Object.entries(c.flags)
  lines.push('', 'flags:')
  for (const [k, s] of entries) {
    const left = `--${k}${s.type === 'boolean' ? '' : ' ' + (s.arg ?? s.type.toUpperCase())}`
    lines.push(
      `  ${left.padEnd(22)} ${s.help}${s.required ? ' (required)' : ''}${s.repeat ? ' (repeatable)' : ''}${s.default !== undefined && s.type !== 'boolean' ? ` (default ${s.default})` : ''}`,
    )
  }
  lines.push(`  ${'--help'.padEnd(22)} show this help`)
  if (c.details) lines.push(c.details)
  return lines.join('\n')
}

/** A positive integer port or a usage error. */
export function portFlag(v: unknown, name = 'port'): number {
  const n = Number(v)
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new UsageError(`--${name} must be a port number (0-65535), got "${v}"`)
  return n
}

/**
 * Runs one command with its arguments (after the command's name): `--help`, parsing, and the exit
 * code of a failure (2 for usage and input errors, else 1).
 */
export async function runCommand(cmd: Command, rest: string[]): Promise<number> {
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
