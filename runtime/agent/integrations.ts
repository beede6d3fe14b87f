/**
 * The agent's optional integrations as background actors (machines/integration.ts), one per
 * capability: `nats` (the NATS server the hub links through), `redis`, and `provider:<name>` per
 * model provider. Their probes speak just enough of each protocol to know the service answers
 * (NATS sends `INFO` on connect; Redis answers `PING` with `+PONG`; a model provider lists its
 * models) over node:net and fetch, so no client library (and no reconnect loop of its own) is
 * pulled in. Nothing waits on them: `capabilities()` reads their current states.
 */
import { connect } from 'node:net'
import { fromPromise } from 'xstate'
import type { ActorSystem } from '../../actors/index.ts'
import { integration, integrationStatus, type IntegrationInput } from '../../machines/integration.ts'
import type { CapabilityStatus } from '../../protocol/agent.ts'
import type { ModelProvider } from './providers.ts'

export const integrationPath = (name: string) => `agent-integration.${name.replace(/[^A-Za-z0-9_.-]/g, '-')}`

export interface IntegrationTiming {
  probeTimeoutMs?: number
  baseBackoffMs?: number
  maxBackoffMs?: number
  healthEveryMs?: number
}

/** host:port of a `nats://` or `redis://` URL (first server of a comma list), without credentials. */
export function hostPort(
  url: string,
  defaultPort: number,
): { host: string; port: number; password?: string; shown: string } {
  const first = url.split(',')[0].trim()
  const u = new URL(first.includes('://') ? first : `tcp://${first}`)
  const host = u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1'
  const port = u.port ? Number(u.port) : defaultPort
  return {
    host,
    port,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    shown: `${u.protocol}//${u.hostname}:${port}`,
  }
}

/**
 * Opens a TCP connection, optionally writes `send`, and resolves when a line matching `expect`
 * arrives. Rejects on refusal, close, a non-matching line or abort.
 */
export function tcpProbe(
  host: string,
  port: number,
  expect: RegExp,
  signal: AbortSignal,
  send?: string,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host, port })
    let buf = ''
    const done = (err?: Error) => {
      signal.removeEventListener('abort', onAbort)
      sock.destroy()
      err ? reject(err) : resolve()
    }
    const onAbort = () => done(new Error('probe cancelled'))
    signal.addEventListener('abort', onAbort, { once: true })
    sock.setEncoding('utf8')
    sock.once('connect', () => send && sock.write(send))
    sock.on('data', (d: string) => {
      buf += d
      const nl = buf.indexOf('\n')
      if (nl < 0) return
      const line = buf.slice(0, nl).trim()
      if (expect.test(line)) done()
      else done(new Error(`unexpected answer "${line.slice(0, 80)}"`))
    })
    sock.once('error', (e: NodeJS.ErrnoException) =>
      done(new Error(`cannot connect to ${host}:${port}: ${e.code ?? e.message}`)),
    )
    sock.once('close', () => done(new Error(`${host}:${port} closed the connection`)))
  })
}

export interface IntegrationSpec {
  name: string
  target: string
  probe: (signal: AbortSignal) => Promise<void>
}

export function natsIntegration(url: string): IntegrationSpec {
  const hp = hostPort(url, 4222)
  return { name: 'nats', target: hp.shown, probe: (signal) => tcpProbe(hp.host, hp.port, /^INFO /, signal) }
}

export function redisIntegration(url: string): IntegrationSpec {
  const hp = hostPort(url, 6379)
  const cmd = hp.password ? `AUTH ${hp.password}\r\nPING\r\n` : 'PING\r\n'
  return {
    name: 'redis',
    target: hp.shown,
    probe: (signal) => tcpProbe(hp.host, hp.port, hp.password ? /^\+OK/ : /^\+PONG/, signal, cmd),
  }
}

export function providerIntegration(p: ModelProvider, target: string): IntegrationSpec {
  return { name: `provider:${p.name}`, target, probe: (signal) => p.probe(signal) }
}

/** Spawns one integration actor per spec (memory actors: their state is now, not history). */
export async function startIntegrations(
  system: ActorSystem,
  specs: IntegrationSpec[],
  timing: IntegrationTiming = {},
): Promise<string[]> {
  const names: string[] = []
  for (const spec of specs) {
    const machine = integration.provide({
      actors: { probe: fromPromise<void, { name: string; target: string | null }>(({ signal }) => spec.probe(signal)) },
    })
    const input: IntegrationInput = { name: spec.name, target: spec.target, ...timing }
    const path = integrationPath(spec.name)
    if (!system.hosted(path)) await system.spawn(path, machine, { input })
    names.push(spec.name)
  }
  return names
}

export interface CapabilityReport {
  capabilities: Record<string, CapabilityStatus>
  /** Configured capabilities that are not ready now. */
  degraded: string[]
}

/** The capabilities now: `configured` names the integrations, `off` lists what is not configured. */
export function capabilities(system: ActorSystem, configured: string[], off: string[]): CapabilityReport {
  const caps: Record<string, CapabilityStatus> = {}
  const degraded: string[] = []
  for (const name of off) caps[name] = 'off'
  for (const name of configured) {
    const a = system.hosted(integrationPath(name))
    const status = a?.actor ? integrationStatus(a.actor.getSnapshot().value) : 'degraded'
    caps[name] = status
    if (status !== 'ready') degraded.push(name)
  }
  return { capabilities: caps, degraded }
}
