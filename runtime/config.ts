/**
 * Every setting of Aether's processes, in one table: its name, its `aether hub` flag (if it has
 * one), its environment variable, its default, its type and what it does. A value comes from the
 * flag, else the environment, else the default; an empty variable counts as unset. This is the
 * only module that reads `process.env` (`environment()` hands it to the few callers that pass an
 * environment on to a child process or read a variable a file names, such as a provider's key).
 *
 * A bad value (a port that is not a number, an unknown enum member) is a `UsageError` that names
 * the setting and where the value came from (`--port`, `AETHER_PORT`), so `aether` exits 2.
 * `aether hub --print-config` prints the resolved settings of a hub and where each came from;
 * docs/config.md is generated from this table (`node scripts/docs.mjs`) and a test keeps
 * the two equal.
 *
 * @example
 * const port = setting('port', flags.port) // flag, else AETHER_PORT, else 7070
 */
import { TRAFFIC_CLASSES, type TrafficClass } from '../protocol/index.ts'
import { UsageError, type FlagSpec } from './args.ts'
import { code, generatedPage } from './generatedDoc.ts'
import { hostname } from './http/edges.ts'

/** The process environment as settings see it. */
export type Env = Readonly<Record<string, string | undefined>>

/** The process's environment: the one read of `process.env` in Aether. */
export function environment(): Env {
  return process.env
}

/** Where a resolved value came from. */
export type Source = 'flag' | 'env' | 'default'

/** The commands that read settings; `aether hub --print-config` prints those of `hub`. */
export type Reader = 'hub' | 'root' | 'worker' | 'supervisor' | 'slot runtime' | 'agent' | 'webspace'

/** One row of the table. `parse` turns a flag's or variable's text into the value or throws `Bad`. */
export interface Setting<T> {
  /** The `aether hub` flag (`--port`), for settings a hub takes on its command line. */
  flag?: string
  /** The environment variable. */
  env?: string
  default: T
  /** The type as docs show it (`port`, `always|batch|none`, `list`). */
  type: string
  /** Value name in `--help` (`--port P`). */
  arg?: string
  doc: string
  /** Who reads it. */
  readers: readonly Reader[]
  /** Printed as `(set)` rather than its value. */
  secret?: boolean
  parse(raw: string): T
}

/** Why a text is not a valid value (the caller adds which setting). */
class Bad extends Error {}

const text = (raw: string): string => raw
const optionalText = (raw: string): string | undefined => raw
function port(raw: string): number {
  const n = Number(raw)
  if (raw.trim() === '' || !Number.isInteger(n) || n < 0 || n > 65535) throw new Bad('must be a port number (0-65535)')
  return n
}
const positiveInt = (raw: string): number => {
  const n = Number(raw)
  if (raw.trim() === '' || !Number.isInteger(n) || n < 1) throw new Bad('must be an integer >= 1')
  return n
}
const nonNegativeInt = (raw: string): number => {
  const n = Number(raw)
  if (raw.trim() === '' || !Number.isInteger(n) || n < 0) throw new Bad('must be an integer >= 0')
  return n
}
function oneOf<const V extends string>(...values: V[]): (raw: string) => V {
  return (raw) => {
    if (!(values as string[]).includes(raw)) throw new Bad(`must be one of ${values.join(', ')}`)
    return raw as V
  }
}
const list = (raw: string): string[] =>
  raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
function hostNames(raw: string): string[] {
  const names = list(raw)
  for (const n of names)
    if (hostname(n) === undefined)
      throw new Bad(`has "${n}", which is not a host name (letters, digits, dots and dashes, or an IP address)`)
  return names
}
function retain(raw: string): number {
  if (raw === 'all') return Number.POSITIVE_INFINITY
  const n = Number(raw)
  if (raw.trim() === '' || !(n >= 1)) throw new Bad('must be a number >= 1 or "all"')
  return n
}
function onOff(raw: string): boolean {
  if (['1', 'true', 'on', 'yes'].includes(raw)) return true
  if (['0', 'false', 'off', 'no'].includes(raw)) return false
  throw new Bad('must be 1 or 0 (true/false, on/off)')
}

/** `route.frame:2000,telemetry:500` -> a budget per traffic class. */
function budgets(raw: string): Partial<Record<TrafficClass, number>> {
  const out: Partial<Record<TrafficClass, number>> = {}
  for (const part of list(raw)) {
    const [c, v] = part.split(':')
    const n = Number(v)
    if (!TRAFFIC_CLASSES.includes(c as TrafficClass) || !Number.isInteger(n) || n < 1)
      throw new Bad(`"${part}" must be <class>:<positive integer>, classes: ${TRAFFIC_CLASSES.join(', ')}`)
    out[c as TrafficClass] = n
  }
  return out
}

const def = <T>(s: Setting<T>): Setting<T> => s

/** A text the supervisor puts in a slot runtime's environment (RuntimeProcess.ts); unset otherwise. */
const fromSupervisor = (env: string, doc: string): Setting<string | undefined> =>
  def({
    env,
    default: undefined,
    type: 'string',
    doc: `${doc} (set by the supervisor)`,
    readers: ['hub', 'slot runtime'],
    parse: optionalText,
  })

/** The settings, by name. A name is the hub flag where there is one. */
export const SETTINGS = {
  port: def({
    flag: 'port',
    env: 'AETHER_PORT',
    default: 7070,
    type: 'port',
    arg: 'P',
    doc: 'HTTP port (0: any free port). A slot runtime gets its reserved port here.',
    readers: ['hub', 'slot runtime'],
    parse: port,
  }),
  host: def({
    flag: 'host',
    env: 'AETHER_HOST',
    default: '127.0.0.1',
    type: 'address',
    arg: 'ADDR',
    doc: 'address to bind (keep loopback unless you mean it)',
    readers: ['hub'],
    parse: text,
  }),
  'allow-host': def({
    flag: 'allow-host',
    env: 'AETHER_ALLOW_HOSTS',
    default: [] as string[],
    type: 'list',
    arg: 'NAMES',
    doc: 'comma-separated names clients may reach this server by, besides loopback and --host; other Host headers get 403 (DNS rebinding)',
    readers: ['hub', 'root', 'supervisor'],
    parse: hostNames,
  }),
  data: def({
    flag: 'data',
    env: 'AETHER_DATA',
    default: '.aether',
    type: 'path',
    arg: 'DIR',
    doc: 'LevelDB data folder',
    readers: ['hub', 'slot runtime'],
    parse: text,
  }),
  token: def({
    flag: 'token',
    env: 'AETHER_TOKEN',
    default: undefined as string | undefined,
    type: 'string',
    arg: 'T',
    doc: 'token for actions that change state (default: generated and printed)',
    readers: ['hub', 'slot runtime', 'webspace'],
    secret: true,
    parse: optionalText,
  }),
  fsync: def({
    flag: 'fsync',
    env: 'AETHER_FSYNC',
    default: 'batch' as 'always' | 'batch' | 'none',
    type: 'always|batch|none',
    arg: 'POLICY',
    doc: 'journal fsync policy',
    readers: ['hub'],
    parse: oneOf('always', 'batch', 'none'),
  }),
  'snapshot-every': def({
    flag: 'snapshot-every',
    env: 'AETHER_SNAPSHOT_EVERY',
    default: 100,
    type: 'integer >= 1',
    arg: 'N',
    doc: 'write a snapshot every N events per actor',
    readers: ['hub'],
    parse: positiveInt,
  }),
  retain: def({
    flag: 'retain',
    env: 'AETHER_RETAIN',
    default: Number.POSITIVE_INFINITY,
    type: 'N|all',
    arg: 'N|all',
    doc: 'snapshots kept per actor; older journal entries are compacted',
    readers: ['hub'],
    parse: retain,
  }),
  nats: def({
    flag: 'nats',
    env: 'NATS_URL',
    default: undefined as string | undefined,
    type: 'url',
    arg: 'URL',
    doc: 'NATS server for the link to root (a hub runs without one); `aether root` and `aether worker` connect to it',
    readers: ['hub', 'slot runtime', 'root', 'worker'],
    parse: optionalText,
  }),
  harness: def({
    flag: 'harness',
    env: 'AETHER_HARNESS',
    default: undefined as string | undefined,
    type: 'path',
    arg: 'FILE',
    doc: 'agent role harness file; see `aether agent --help` (`aether agent` defaults to ./harness.json)',
    readers: ['hub', 'agent'],
    parse: optionalText,
  }),
  redis: def({
    flag: 'redis',
    env: 'REDIS_URL',
    default: undefined as string | undefined,
    type: 'url',
    arg: 'URL',
    doc: 'Redis server, an optional agent capability',
    readers: ['hub'],
    parse: optionalText,
  }),
  'hub-id': def({
    env: 'AETHER_HUB_ID',
    default: undefined as string | undefined,
    type: 'node id',
    doc: "the hub's id toward root (default: generated once and kept in the data folder)",
    readers: ['hub'],
    parse: optionalText,
  }),
  'link-heartbeat-ms': def({
    env: 'AETHER_LINK_HEARTBEAT_MS',
    default: 1000,
    type: 'integer >= 1',
    doc: 'period of the lifecycle heartbeats to root',
    readers: ['hub'],
    parse: positiveInt,
  }),
  'authority-aging-ms': def({
    env: 'AETHER_AUTHORITY_AGING_MS',
    default: 3000,
    type: 'integer >= 1',
    doc: 'heartbeat silence after which control authority is aging (hub) or a hub is aging (root --authority-aging)',
    readers: ['hub', 'root'],
    parse: positiveInt,
  }),
  'authority-stale-ms': def({
    env: 'AETHER_AUTHORITY_STALE_MS',
    default: 10000,
    type: 'integer >= 1',
    doc: 'heartbeat silence after which control authority is stale (hub) or a hub is stale (root --authority-stale)',
    readers: ['hub', 'root'],
    parse: positiveInt,
  }),
  'retransmit-ms': def({
    env: 'AETHER_RETRANSMIT_MS',
    default: 2000,
    type: 'integer >= 1',
    doc: 'Class A records not acked within this are sent again',
    readers: ['hub'],
    parse: positiveInt,
  }),
  'classa-sync': def({
    env: 'AETHER_CLASSA_SYNC',
    default: true,
    type: 'boolean',
    doc: 'fsync each group commit of the Class A outbox (0: do not)',
    readers: ['hub'],
    parse: onOff,
  }),
  'traffic-budgets': def({
    env: 'AETHER_TRAFFIC_BUDGETS',
    default: undefined as Partial<Record<TrafficClass, number>> | undefined,
    type: 'class:N,...',
    doc: 'budgets per traffic class on the link to root, e.g. `route.frame:2000,telemetry:500`',
    readers: ['hub'],
    parse: budgets,
  }),
  'outbox-memory': def({
    env: 'AETHER_OUTBOX_MEMORY',
    default: 100_000,
    type: 'integer >= 1',
    doc: 'Class A records per stream held in memory; the rest wait on disk',
    readers: ['hub'],
    parse: positiveInt,
  }),
  'jobs-config': def({
    env: 'AETHER_JOBS_CONFIG',
    default: undefined as string | undefined,
    type: 'path',
    doc: 'JSON file of the jobs feature: tenants, triggers, schedules, visibilityMs, concurrency',
    readers: ['hub'],
    parse: optionalText,
  }),
  'jobs-nats': def({
    env: 'AETHER_JOBS_NATS',
    default: undefined as string | undefined,
    type: 'url',
    doc: 'run job steps on `aether worker` processes over NATS JetStream at this URL',
    readers: ['hub'],
    parse: optionalText,
  }),
  failpoints: def({
    env: 'AETHER_FAILPOINTS',
    default: [] as string[],
    type: 'list',
    doc: 'crash tests only: the process kills itself (SIGKILL) when it reaches one of these named points',
    readers: ['hub'],
    parse: list,
  }),
  'runtime-id': fromSupervisor('AETHER_RUNTIME_ID', "this runtime's instance id; default: generated per boot"),
  role: def({
    env: 'AETHER_ROLE',
    default: 'active' as 'active' | 'candidate',
    type: 'active|candidate',
    doc: 'a candidate refuses every change until it is promoted (set by the supervisor)',
    readers: ['hub'],
    parse: oneOf('active', 'candidate'),
  }),
  version: fromSupervisor('AETHER_VERSION', "the slot's version from its manifest, reported by /api/health"),
  slot: def({
    env: 'AETHER_SLOT',
    default: undefined as 'A' | 'B' | undefined,
    type: 'A|B',
    doc: 'the slot this runtime runs from (set by the supervisor)',
    readers: ['hub', 'slot runtime'],
    parse: oneOf('A', 'B'),
  }),
  mode: def({
    env: 'AETHER_MODE',
    default: 'serve' as 'serve' | 'validate' | 'prewarm',
    type: 'serve|validate|prewarm',
    doc: 'how a slot runtime starts (set by the supervisor; see runtime/supervisor/slotRuntime.ts)',
    readers: ['slot runtime'],
    parse: oneOf('serve', 'validate', 'prewarm'),
  }),
  'promote-deadline-ms': def({
    env: 'AETHER_PROMOTE_DEADLINE_MS',
    default: 15_000,
    type: 'integer >= 1',
    doc: 'how long a promoted slot runtime keeps trying to open the data the old runtime is releasing',
    readers: ['slot runtime'],
    parse: positiveInt,
  }),
  'relay-origins': def({
    env: 'AETHER_RELAY_ORIGINS',
    default: [] as string[],
    type: 'list',
    doc: "page origins allowed to attach browsers to the root's /relay (root --relay-origin)",
    readers: ['root'],
    parse: list,
  }),
  'supervisor-version': def({
    env: 'AETHER_SUPERVISOR_VERSION',
    default: undefined as string | undefined,
    type: 'string',
    doc: "the supervisor's own version (default: package.json's)",
    readers: ['supervisor'],
    parse: optionalText,
  }),
  'supervisor-step-delay-ms': def({
    env: 'AETHER_SUPERVISOR_STEP_DELAY_MS',
    default: 0,
    type: 'integer >= 0',
    doc: 'tests only: a pause before each update step, to crash the supervisor inside one',
    readers: ['supervisor'],
    parse: nonNegativeInt,
  }),
} as const

export type SettingName = keyof typeof SETTINGS
/** The value type of each setting. */
export type Settings = { -readonly [K in SettingName]: (typeof SETTINGS)[K] extends Setting<infer T> ? T : never }

/** A setting's value and where it came from. */
export interface Resolved<K extends SettingName = SettingName> {
  name: K
  value: Settings[K]
  source: Source
}

/**
 * Resolves one setting: `flagValue` (what the command line gave, undefined if nothing), else the
 * environment variable, else the default. Throws a `UsageError` naming the setting for a bad value.
 */
export function resolveSetting<K extends SettingName>(
  name: K,
  flagValue?: unknown,
  env: Env = environment(),
): Resolved<K> {
  const s = SETTINGS[name] as unknown as Setting<Settings[K]>
  const from = (source: Source, raw: string, label: string): Resolved<K> => {
    try {
      return { name, value: s.parse(raw), source }
    } catch (err) {
      if (!(err instanceof Bad)) throw err
      throw new UsageError(`${label} ${err.message}, got "${raw}"`)
    }
  }
  if (flagValue !== undefined && flagValue !== null)
    return from('flag', String(flagValue), s.flag ? `--${s.flag}` : `setting ${name}`)
  const raw = s.env ? env[s.env] : undefined
  if (raw !== undefined && raw !== '') return from('env', raw, `${s.env} (setting ${name})`)
  return { name, value: s.default, source: 'default' }
}

/** One setting's value: the flag's if given, else the environment's, else the default. */
export function setting<K extends SettingName>(name: K, flagValue?: unknown, env: Env = environment()): Settings[K] {
  return resolveSetting(name, flagValue, env).value
}

/** The resolved settings of one command, with their sources. */
export class Config {
  private constructor(private readonly rows: Map<SettingName, Resolved>) {}

  /**
   * Resolves every setting `reader` reads (all when absent) from `flags` (by flag name), `env`
   * and the defaults. Every bad value is found here, before anything starts.
   */
  static load(flags: Record<string, unknown> = {}, env: Env = environment(), reader?: Reader): Config {
    const rows = new Map<SettingName, Resolved>()
    for (const name of Object.keys(SETTINGS) as SettingName[]) {
      const s: Setting<unknown> = SETTINGS[name]
      if (reader && !s.readers.includes(reader)) continue
      rows.set(name, resolveSetting(name, s.flag ? flags[s.flag] : undefined, env))
    }
    return new Config(rows)
  }

  get<K extends SettingName>(name: K): Settings[K] {
    const r = this.rows.get(name)
    if (!r) throw new Error(`setting ${name} was not loaded for this command`)
    return r.value as Settings[K]
  }

  source(name: SettingName): Source | undefined {
    return this.rows.get(name)?.source
  }

  list(): Resolved[] {
    return [...this.rows.values()]
  }

  /** The table `--print-config` prints: setting, value, where it came from, flag and variable. */
  format(): string {
    const rows = this.list().map((r) => {
      const s: Setting<unknown> = SETTINGS[r.name]
      return [r.name, showValue(s, r.value), r.source, [s.flag && `--${s.flag}`, s.env].filter(Boolean).join(' ')]
    })
    const head = ['setting', 'value', 'from', 'flag / environment']
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))
    return [head, ...rows]
      .map((r) =>
        r
          .map((c, i) => c.padEnd(widths[i]))
          .join('  ')
          .trimEnd(),
      )
      .join('\n')
  }
}

function showValue(s: Setting<unknown>, v: unknown): string {
  if (v === undefined) return '-'
  if (s.secret) return '(set)'
  if (Array.isArray(v)) return v.length ? v.join(',') : '-'
  if (v === Number.POSITIVE_INFINITY) return 'all'
  if (typeof v === 'object' && v !== null)
    return Object.entries(v)
      .map(([k, n]) => `${k}:${n}`)
      .join(',')
  return String(v)
}

/**
 * The `aether hub` flags of the table, for the command's flag spec. Every one is taken as text
 * (the table parses it) and has no default here, so a given flag can be told from a default.
 */
export function settingFlags(reader: Reader): Record<string, FlagSpec> {
  const out: Record<string, FlagSpec> = {}
  for (const [name, s] of Object.entries(SETTINGS) as Array<[SettingName, Setting<unknown>]>)
    if (s.flag && s.readers.includes(reader)) out[s.flag] = settingFlag(name)
  return out
}

/** The flag spec of one setting, for commands that take it beside flags of their own. */
export function settingFlag(name: SettingName): FlagSpec {
  const s: Setting<unknown> = SETTINGS[name]
  const dflt = showValue({ ...s, secret: false }, s.default)
  return {
    type: 'string',
    arg: s.arg,
    help: `${s.doc}${dflt === '-' ? '' : ` (default ${dflt})`}${s.env ? ` [${s.env}]` : ''}`,
  }
}

/** docs/config.md: the table as Markdown (generated; a test checks the file matches). */
export function configDoc(): string {
  return generatedPage({
    title: 'Configuration',
    source: 'runtime/config.ts',
    test: 'test/runtime/config.test.ts',
    text: `
Every setting is read from its flag, else its environment variable, else its default (an empty
variable counts as unset). A bad value is a usage error that names the setting (exit 2).
\`aether hub --print-config\` prints the settings of a hub as they resolve, with where each came
from (flag, env or default), and exits 0.`,
    head: ['setting', 'flag', 'environment', 'default', 'type', 'read by', 'what it does'],
    rows: (Object.entries(SETTINGS) as Array<[string, Setting<unknown>]>).map(([name, s]) => {
      const dflt = showValue({ ...s, secret: false }, s.default)
      return [
        name,
        code(s.flag && `--${s.flag}`),
        code(s.env),
        code(dflt === '-' ? '' : dflt),
        s.type,
        s.readers.join(', '),
        s.doc,
      ]
    }),
  })
}
