/**
 * What the commands that talk to a running hub or root share (`inspect`, `log export --url`,
 * `reliability`, `webspace`): the flag that names the server, its parsing, and a request whose
 * failure to connect says what to check.
 */
import { UsageError, type FlagSpec } from '../args.ts'

/** Where a hub listens by default (`aether hub`). */
export const DEFAULT_HUB_URL = 'http://127.0.0.1:7070'

/** The flag naming the server (`--url`, `--hub`); without `dflt: null`, the default hub. */
export function serverFlag(help: string, dflt: string | null = DEFAULT_HUB_URL): FlagSpec {
  return dflt === null ? { type: 'string', arg: 'URL', help } : { type: 'string', arg: 'URL', help, default: dflt }
}

/** The value of `--<name>` as a URL, or a usage error that names the flag. */
export function serverUrl(value: unknown, name: string): URL {
  try {
    return new URL(String(value))
  } catch {
    throw new UsageError(`--${name} must be a URL such as ${DEFAULT_HUB_URL}, got "${value}"`)
  }
}

/**
 * `fetch(path on server)`. A server that cannot be reached is an Error (exit 1) that names it and
 * the flag to check; an HTTP error status is the caller's to read.
 */
export async function requestServer(
  server: URL,
  path: string,
  flag: string,
  init: RequestInit = {},
): Promise<Response> {
  try {
    return await fetch(new URL(path, server), init)
  } catch (err) {
    throw new Error(
      `cannot reach ${server.origin}: ${(err as Error).message}. Is it running (aether hub) and is --${flag} right?`,
    )
  }
}

/** `--token T`: the hub token, for actions that change state (else AETHER_TOKEN). */
export const tokenFlag: FlagSpec = { type: 'string', arg: 'T', help: 'the hub token (or AETHER_TOKEN)' }

/**
 * The ACTION and TARGET positionals of a command with sub-actions (`aether webspace backup NAME`):
 * a usage error for a missing or unknown action or an extra argument.
 */
export function subAction<S extends string>(positionals: string[], subs: readonly S[]): [S, string | undefined] {
  const [sub, target, extra] = positionals
  if (!sub || !(subs as readonly string[]).includes(sub))
    throw new UsageError(sub ? `unknown action "${sub}" (${subs.join(', ')})` : `missing ACTION (${subs.join(', ')})`)
  if (extra) throw new UsageError(`unexpected argument "${extra}"`)
  return [sub as S, target]
}
