import { setting } from '../config.ts'

/**
 * Failpoints for crash tests: with `AETHER_FAILPOINTS=<name>[,<name>]` in its environment the
 * process kills itself with SIGKILL when it reaches a named point, so a test can crash a hub in
 * a window too narrow to hit from outside (after an answer is cached, before the session has
 * journaled it). Unset, a failpoint costs one string lookup.
 */
const armed = new Set(setting('failpoints'))

export function failpoint(name: string): void {
  if (armed.size && armed.has(name)) process.kill(process.pid, 'SIGKILL')
}
