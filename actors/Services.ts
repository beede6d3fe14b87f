/**
 * The services of an actor system: what the effects of its actors need from the world (the job
 * queue, the Yjs host, the agent runtime...), provided under typed keys by whoever owns them.
 *
 * The order is what makes it simple: a system is opened, the features provide their services, and
 * only then does the system recover its actors (`ActorSystem.recover`). An effect that recovery
 * restarts therefore finds its service on the first lookup. There is no waiting: a lookup of a
 * service nobody provided is a bug of the order, and throws SERVICE_MISSING at once. Lookups and
 * misses are counted per service (`stats()`; a hub serves them at `/metrics`).
 *
 * @example
 * export const jobHost = defineService<JobHost>('jobs.host')
 * system.services.provide(jobHost, queue) // the owner, before the system recovers
 * serviceOf(self, jobHost).dispatch(task) // an effect of a hosted actor
 */
import { ActorError } from './errors.ts'
import { hostingOf } from './xstateSeams.ts'

/** A typed name for a service. Define each once, next to the service's type. */
export interface ServiceKey<T> {
  readonly name: string
  /** Type only: carries `T` to `get` and `provide`. */
  readonly type?: T
}

const NAME_RE = /^[a-z][A-Za-z0-9]*(\.[a-z][A-Za-z0-9]*)*$/

/**
 * Defines the key of a service: a dotted name such as `jobs.host`, its feature first.
 *
 * @example
 * export const webspaceHost = defineService<WebspaceBinding>('webspace.host')
 */
export function defineService<T>(name: string): ServiceKey<T> {
  if (!NAME_RE.test(name)) throw new Error(`service name "${name}" must be dotted lowerCamel words, as "jobs.host"`)
  return { name }
}

/** A lookup of a service that nobody provided. */
export class ServiceMissingError extends ActorError {
  constructor(
    readonly service: string,
    provided: string[],
  ) {
    super(
      'SERVICE_MISSING',
      `no service "${service}" is provided (provided: ${provided.join(', ') || 'none'}); the feature that owns it provides it at install, before the actor system recovers`,
    )
    this.name = 'ServiceMissingError'
  }
}

/** Lookups and misses, in all and per service. */
export interface ServiceStats {
  lookups: number
  misses: number
  services: Record<string, { provided: boolean; lookups: number; misses: number }>
}

interface Entry {
  value: unknown
  provided: boolean
  lookups: number
  misses: number
}

export class Services {
  private entries = new Map<string, Entry>()
  private lookups = 0
  private misses = 0

  /**
   * Provides `value` under `key` and returns it. A second value under a key already provided is
   * refused (SERVICE_TAKEN): withdraw the first one.
   */
  provide<T>(key: ServiceKey<T>, value: T): T {
    const e = this.entry(key.name)
    if (e.provided && e.value !== value)
      throw new ActorError(
        'SERVICE_TAKEN',
        `service "${key.name}" is provided already; withdraw it first (services.withdraw) or use the one provided`,
      )
    e.value = value
    e.provided = true
    return value
  }

  /** Withdraws the service (only if it is still `value`, when given): later lookups miss. */
  withdraw<T>(key: ServiceKey<T>, value?: T): void {
    const e = this.entries.get(key.name)
    if (!e?.provided || (value !== undefined && e.value !== value)) return
    e.value = undefined
    e.provided = false
  }

  /** The service under `key`; throws SERVICE_MISSING (counted) if nobody provided it. */
  get<T>(key: ServiceKey<T>): T {
    const e = this.entry(key.name)
    this.lookups++
    e.lookups++
    if (e.provided) return e.value as T
    this.misses++
    e.misses++
    throw new ServiceMissingError(key.name, this.names())
  }

  /** An optional service: undefined when it is not provided. Counted as a lookup, never as a miss. */
  find<T>(key: ServiceKey<T>): T | undefined {
    const e = this.entry(key.name)
    this.lookups++
    e.lookups++
    return e.provided ? (e.value as T) : undefined
  }

  /** Whether `key` is provided (not counted). */
  has<T>(key: ServiceKey<T>): boolean {
    return this.entries.get(key.name)?.provided ?? false
  }

  /** The names of the services provided. */
  names(): string[] {
    return [...this.entries].filter(([, e]) => e.provided).map(([n]) => n)
  }

  stats(): ServiceStats {
    const services: ServiceStats['services'] = {}
    for (const [name, e] of this.entries)
      services[name] = { provided: e.provided, lookups: e.lookups, misses: e.misses }
    return { lookups: this.lookups, misses: this.misses, services }
  }

  /** The counters in Prometheus text format. */
  prometheus(): string {
    let text =
      '# HELP aether_service_lookups_total Lookups of a service by the effects and features of the actor system.\n' +
      '# TYPE aether_service_lookups_total counter\n'
    const names = [...this.entries.keys()].sort()
    for (const n of names) text += `aether_service_lookups_total{service="${n}"} ${this.entries.get(n)!.lookups}\n`
    text +=
      '# HELP aether_service_misses_total Lookups of a service nobody provided (SERVICE_MISSING).\n' +
      '# TYPE aether_service_misses_total counter\n'
    for (const n of names) text += `aether_service_misses_total{service="${n}"} ${this.entries.get(n)!.misses}\n`
    return text
  }

  private entry(name: string): Entry {
    let e = this.entries.get(name)
    if (!e) this.entries.set(name, (e = { value: undefined, provided: false, lookups: 0, misses: 0 }))
    return e
  }
}

/** What a hosted actor's hosting gives: its system's services. */
interface ServiceHosting {
  host: { services: Services }
}

/**
 * The service under `key` of the actor system hosting `self` (an actor ref inside an effect or
 * action: the machine's own `self`, or an invoked child's). Throws NOT_HOSTED outside a system,
 * SERVICE_MISSING when the system does not provide it.
 */
export function serviceOf<T>(self: unknown, key: ServiceKey<T>): T {
  const h = hostingOf<ServiceHosting>(self)
  if (!h)
    throw new ActorError(
      'NOT_HOSTED',
      `service "${key.name}" is looked up by an actor that no ActorSystem hosts; spawn the machine with system.spawn`,
    )
  return h.host.services.get(key)
}
