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
import { readFileSync } from 'node:fs'
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
export const READERS = ['hub', 'root', 'worker', 'supervisor', 'slot runtime', 'agent', 'webspace', 'migrate'] as const
export type Reader = (typeof READERS)[number]

/** One setting: the row of the table it came from, with its name's flag and its doc. */
export interface Setting<T> {
  /** The `aether hub` flag, named like the setting, for settings a hub takes on its command line. */
  flag?: string
  /** The environment variable. */
  env: string
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

/** Turns a flag's or variable's text into a value, or throws `Bad`; `type` is what docs call it. */
type Parser<T> = ((raw: string) => T) & { type: string }
const parser = <T>(type: string, parse: (raw: string) => T): Parser<T> => Object.assign(parse, { type })

const text = (type: string) => parser(type, (raw) => raw)
const integer = (min: number) =>
  parser(`integer >= ${min}`, (raw) => {
    const n = Number(raw)
    if (raw.trim() === '' || !Number.isInteger(n) || n < min) throw new Bad(`must be an integer >= ${min}`)
    return n
  })
const positiveInt = integer(1)
const ratio = parser('0..1', (raw) => {
  const n = Number(raw)
  if (raw.trim() === '' || !(n >= 0 && n <= 1)) throw new Bad('must be a number from 0 to 1')
  return n
})
const nonNegativeInt = integer(0)
const port = parser('port', (raw) => {
  const n = Number(raw)
  if (raw.trim() === '' || !Number.isInteger(n) || n < 0 || n > 65535) throw new Bad('must be a port number (0-65535)')
  return n
})
function oneOf<const V extends string>(...values: V[]): Parser<V> {
  return parser(values.join('|'), (raw) => {
    if (!(values as string[]).includes(raw)) throw new Bad(`must be one of ${values.join(', ')}`)
    return raw as V
  })
}
const list = parser('list', (raw) =>
  raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
)
const hostNames = parser('list', (raw) => {
  const names = list(raw)
  for (const n of names)
    if (hostname(n) === undefined)
      throw new Bad(`has "${n}", which is not a host name (letters, digits, dots and dashes, or an IP address)`)
  return names
})
const retain = parser('N|all', (raw) => {
  if (raw === 'all') return Number.POSITIVE_INFINITY
  const n = Number(raw)
  if (raw.trim() === '' || !(n >= 1)) throw new Bad('must be a number >= 1 or "all"')
  return n
})
const AGE_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
/** Milliseconds, or a number with a unit (`90s`, `15m`, `1h`, `7d`), or `never`. */
const age = parser('ms|Ns|Nm|Nh|Nd|never', (raw) => {
  if (raw.trim() === 'never') return Number.POSITIVE_INFINITY
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(raw)
  if (!m) throw new Bad('must be milliseconds, or a number with s, m, h or d (e.g. 1h), or "never"')
  return Math.round(Number(m[1]) * AGE_UNITS[m[2] ?? 'ms'])
})
const countOrAll = parser('N|all', (raw) => {
  if (raw.trim() === 'all') return Number.POSITIVE_INFINITY
  if (!/^\s*\d+\s*$/.test(raw)) throw new Bad('must be a whole number >= 0 or "all"')
  return Number(raw)
})
const onOff = parser('boolean', (raw) => {
  if (['1', 'true', 'on', 'yes'].includes(raw)) return true
  if (['0', 'false', 'off', 'no'].includes(raw)) return false
  throw new Bad('must be 1 or 0 (true/false, on/off)')
})
/** `key=value,key2=value2` (OTLP exporter headers; values may be percent-encoded). */
const otlpHeaders = parser('key=value,...', (raw) => {
  const out: Record<string, string> = {}
  for (const part of list(raw)) {
    const eq = part.indexOf('=')
    if (eq < 1) throw new Bad('must be key=value pairs separated by commas')
    try {
      out[part.slice(0, eq).trim()] = decodeURIComponent(part.slice(eq + 1).trim())
    } catch {
      throw new Bad('has a value that is not valid percent-encoding')
    }
  }
  return out
})
/** `route.frame:2000,telemetry:500` -> a budget per traffic class. */
const budgets = parser('class:N,...', (raw) => {
  const out: Partial<Record<TrafficClass, number>> = {}
  for (const part of list(raw)) {
    const [c, v] = part.split(':')
    const n = Number(v)
    if (!TRAFFIC_CLASSES.includes(c as TrafficClass) || !Number.isInteger(n) || n < 1)
      throw new Bad(`"${part}" must be <class>:<positive integer>, classes: ${TRAFFIC_CLASSES.join(', ')}`)
    out[c as TrafficClass] = n
  }
  return out
})

/** A row as the table states it; its doc is in DOCS, under the same name. */
interface Row<T> {
  arg: string | null
  env: string
  default: T
  parse: Parser<T>
  readers: readonly Reader[]
  secret: boolean
}

/**
 * A row: the hub flag's value name (the flag is `--<setting>`; null: no flag), the environment
 * variable, the default (undefined: none), the parser, who reads it (comma-separated), and
 * whether its value is a secret.
 */
function row<T, D extends T | undefined>(
  arg: string | null,
  env: string,
  dflt: D,
  parse: Parser<T>,
  readers: string,
  secret?: 'secret',
): Row<T | D> {
  const who = readers.split(', ') as Reader[]
  for (const r of who) if (!READERS.includes(r)) throw new Error(`config: unknown reader "${r}" of ${env}`)
  return { arg, env, default: dflt, parse, readers: who, secret: secret === 'secret' }
}

// setting: row(flag value name | null, environment variable, default, parser, read by[, 'secret'])
const ROWS = {
  app: row('FILE', 'AETHER_APP', undefined, text('path'), 'hub, migrate'),
  migration: row('accept|refuse', 'AETHER_MIGRATION', 'refuse', oneOf('accept', 'refuse'), 'hub'),
  port: row('P', 'AETHER_PORT', 7070, port, 'hub, slot runtime'),
  host: row('ADDR', 'AETHER_HOST', '127.0.0.1', text('address'), 'hub'),
  'allow-host': row('NAMES', 'AETHER_ALLOW_HOSTS', [], hostNames, 'hub, root, supervisor'),
  data: row('DIR', 'AETHER_DATA', '.aether', text('path'), 'hub, slot runtime'),
  token: row('T', 'AETHER_TOKEN', undefined, text('string'), 'hub, slot runtime, webspace', 'secret'),
  'token-file': row('FILE', 'AETHER_TOKEN_FILE', undefined, text('path'), 'hub, slot runtime, webspace'),
  fsync: row('POLICY', 'AETHER_FSYNC', 'batch', oneOf('always', 'batch', 'none'), 'hub'),
  'snapshot-every': row('N', 'AETHER_SNAPSHOT_EVERY', 100, positiveInt, 'hub'),
  retain: row('N|all', 'AETHER_RETAIN', Number.POSITIVE_INFINITY, retain, 'hub'),
  nats: row('URL', 'NATS_URL', undefined, text('url'), 'hub, slot runtime, root, worker, supervisor'),
  harness: row('FILE', 'AETHER_HARNESS', undefined, text('path'), 'hub, agent'),
  redis: row('URL', 'REDIS_URL', undefined, text('url'), 'hub'),
  transport: row('in-process|sidecar', 'AETHER_TRANSPORT', 'in-process', oneOf('in-process', 'sidecar'), 'hub'),
  'sidecar-socket': row(null, 'AETHER_SIDECAR_SOCKET', undefined, text('path'), 'hub'),
  'sidecar-token': row(null, 'AETHER_SIDECAR_TOKEN', undefined, text('string'), 'hub', 'secret'),
  'hub-id': row(null, 'AETHER_HUB_ID', undefined, text('node id'), 'hub'),
  'link-heartbeat-ms': row(null, 'AETHER_LINK_HEARTBEAT_MS', 1000, positiveInt, 'hub'),
  'root-url': row(null, 'AETHER_ROOT_URL', undefined, text('url'), 'hub'),
  'authority-aging-ms': row(null, 'AETHER_AUTHORITY_AGING_MS', 3000, positiveInt, 'hub, root'),
  'authority-stale-ms': row(null, 'AETHER_AUTHORITY_STALE_MS', 10_000, positiveInt, 'hub, root'),
  'retransmit-ms': row(null, 'AETHER_RETRANSMIT_MS', 2000, positiveInt, 'hub'),
  'rtc-grace-ms': row(null, 'AETHER_RTC_GRACE_MS', 30_000, positiveInt, 'hub'),
  'classa-sync': row(null, 'AETHER_CLASSA_SYNC', true, onOff, 'hub'),
  'traffic-budgets': row(null, 'AETHER_TRAFFIC_BUDGETS', undefined, budgets, 'hub'),
  'outbox-memory': row(null, 'AETHER_OUTBOX_MEMORY', 100_000, positiveInt, 'hub'),
  'jobs-config': row(null, 'AETHER_JOBS_CONFIG', undefined, text('path'), 'hub'),
  'jobs-nats': row(null, 'AETHER_JOBS_NATS', undefined, text('url'), 'hub'),
  'jobs-retain-age': row('AGE', 'AETHER_JOBS_RETAIN_AGE', undefined, age, 'hub'),
  'jobs-retain-count': row('N|all', 'AETHER_JOBS_RETAIN_COUNT', undefined, countOrAll, 'hub'),
  failpoints: row(null, 'AETHER_FAILPOINTS', [], list, 'hub'),
  'runtime-id': row(null, 'AETHER_RUNTIME_ID', undefined, text('string'), 'hub, slot runtime'),
  role: row(null, 'AETHER_ROLE', 'active', oneOf('active', 'candidate'), 'hub'),
  version: row(null, 'AETHER_VERSION', undefined, text('string'), 'hub, slot runtime'),
  slot: row(null, 'AETHER_SLOT', undefined, oneOf('A', 'B'), 'hub, slot runtime'),
  mode: row(null, 'AETHER_MODE', 'serve', oneOf('serve', 'validate', 'prewarm'), 'slot runtime'),
  'promote-deadline-ms': row(null, 'AETHER_PROMOTE_DEADLINE_MS', 15_000, positiveInt, 'slot runtime'),
  'relay-origins': row(null, 'AETHER_RELAY_ORIGINS', [], list, 'root'),
  'supervisor-version': row(null, 'AETHER_SUPERVISOR_VERSION', undefined, text('string'), 'supervisor'),
  'supervisor-step-delay-ms': row(null, 'AETHER_SUPERVISOR_STEP_DELAY_MS', 0, nonNegativeInt, 'supervisor'),
  'slot-loader': row(null, 'AETHER_SLOT_LOADER', 'tsx', text('module'), 'supervisor'),
  'otel-endpoint': row(null, 'OTEL_EXPORTER_OTLP_ENDPOINT', undefined, text('url'), 'hub, root, worker, supervisor'),
  'otel-headers': row(
    null,
    'OTEL_EXPORTER_OTLP_HEADERS',
    undefined,
    otlpHeaders,
    'hub, root, worker, supervisor',
    'secret',
  ),
  'otel-service-name': row(null, 'OTEL_SERVICE_NAME', undefined, text('string'), 'hub, root, worker, supervisor'),
  'otel-delay-ms': row(null, 'AETHER_OTEL_DELAY_MS', 1000, positiveInt, 'hub, root, worker, supervisor'),
  'otel-sample': row(null, 'AETHER_OTEL_SAMPLE', 1, ratio, 'hub, root, worker, supervisor'),
}

/** What each setting does (docs/config.md, `--help`); the type checker keeps it beside ROWS. */
const DOCS: Record<keyof typeof ROWS, string> = {
  app: 'your app module (TypeScript or JavaScript) exporting defineApp({ machines, jobTypes, features }); default: aether.config.ts|mts|js|mjs in the working directory, if there is one',
  migration:
    "when the app's machines changed and stored actors replay differently, are stranded in removed states or have timers there: refuse to start (print the report, exit 1) or accept and start",
  port: 'HTTP port (0: any free port). A slot runtime gets its reserved port here.',
  host: 'address to bind (keep loopback unless you mean it)',
  'allow-host':
    'comma-separated names clients may reach this server by, besides loopback and --host; other Host headers get 403 (DNS rebinding)',
  data: 'LevelDB data folder',
  token: 'token for actions that change state (default: generated and printed)',
  'token-file': 'file holding the token (its first line), instead of --token; the token is then never printed',
  fsync: 'journal fsync policy',
  'snapshot-every': 'write a snapshot every N events per actor',
  retain: 'snapshots kept per actor; older journal entries are compacted',
  nats: 'NATS server for the link to root (a hub runs without one); `aether root` and `aether worker` connect to it',
  harness: 'agent role harness file; see `aether agent --help` (`aether agent` defaults to ./harness.json)',
  redis: 'Redis server, an optional agent capability',
  transport:
    "where the hub's NATS connections live: in-process (default, one process) or sidecar (`aether sidecar`, started and restarted by the hub; the outbox stays in the hub)",
  'sidecar-socket':
    'the socket of a sidecar run by hand (`aether sidecar --socket PATH`); implies --transport sidecar and the hub starts none',
  'sidecar-token': 'the token of that sidecar (the one it reads from AETHER_SIDECAR_TOKEN)',
  'hub-id': "the hub's id toward root (default: generated once and kept in the data folder)",
  'link-heartbeat-ms': 'period of the lifecycle heartbeats to root',
  'root-url': "the root's HTTP URL (e.g. http://127.0.0.1:7080): the hub's inspector links to the root's inspector",
  'authority-aging-ms':
    'heartbeat silence after which control authority is aging (hub) or a hub is aging (root --authority-aging)',
  'authority-stale-ms':
    'heartbeat silence after which control authority is stale (hub) or a hub is stale (root --authority-stale)',
  'retransmit-ms':
    'Class A records not acked within this are sent again; the timer grows with the measured ack round trip (srtt + 4 rttvar, up to 30 s) when acks are slower',
  'rtc-grace-ms':
    'a WebRTC member without its signaling socket this long is gone: its peer session is closed (back sooner, it resumes); docs/rtc.md',
  'classa-sync': 'fsync each group commit of the Class A outbox (0: do not)',
  'traffic-budgets': 'budgets per traffic class on the link to root, e.g. `route.frame:2000,telemetry:500`',
  'outbox-memory': 'Class A records per stream held in memory; the rest wait on disk',
  'jobs-config': 'JSON file of the jobs feature: tenants, triggers, schedules, visibilityMs, concurrency',
  'jobs-nats': 'run job steps on `aether worker` processes over NATS JetStream at this URL',
  'jobs-retain-age':
    "finished jobs are archived this long after they finish (over jobs-config's retention.maxAgeMs; built-in default 1h); see docs/jobs.md",
  'jobs-retain-count':
    "at most N finished jobs stay live, the oldest beyond are archived (over jobs-config's retention.maxCount; built-in default 1000)",
  failpoints: 'crash tests only: the process kills itself (SIGKILL) when it reaches one of these named points',
  'runtime-id': "this runtime's instance id; default: generated per boot (set by the supervisor)",
  role: 'a candidate refuses every change until it is promoted (set by the supervisor)',
  version: "the slot's version from its manifest, reported by /api/health (set by the supervisor)",
  slot: 'the slot this runtime runs from (set by the supervisor)',
  mode: 'how a slot runtime starts (set by the supervisor; see runtime/supervisor/slotRuntime.ts)',
  'promote-deadline-ms': 'how long a promoted slot runtime keeps trying to open the data the old runtime is releasing',
  'relay-origins': "page origins allowed to attach browsers to the root's /relay (root --relay-origin)",
  'supervisor-version': "the supervisor's own version (default: package.json's)",
  'supervisor-step-delay-ms': 'tests only: a pause before each update step, to crash the supervisor inside one',
  'slot-loader':
    'module each slot runtime starts with (`node --import`), so its entry may import TypeScript; `none`: plain node (a JavaScript entry starts faster)',
  'otel-endpoint':
    'OTLP/HTTP collector base URL (spans go to <URL>/v1/traces as JSON); unset: tracing is off (docs/tracing.md)',
  'otel-headers': 'headers sent to the collector, `key=value,...` (e.g. its API key)',
  'otel-service-name': 'service.name of the spans (default aether-hub, aether-root, aether-worker, aether-supervisor)',
  'otel-delay-ms': 'spans are exported in batches at most this long after they end',
  'otel-sample':
    'share of traces recorded (0..1), decided where a trace starts (a job, a frame, an update); other processes follow that decision',
}

/** The settings, by name: each row with its flag and doc. */
export const SETTINGS = Object.fromEntries(
  Object.entries(ROWS).map(([name, r]: [string, Row<unknown>]) => [
    name,
    {
      ...(r.arg === null ? {} : { flag: name, arg: r.arg }),
      env: r.env,
      default: r.default,
      type: r.parse.type,
      doc: DOCS[name as keyof typeof ROWS],
      readers: r.readers,
      ...(r.secret ? { secret: true } : {}),
      parse: r.parse,
    } satisfies Setting<unknown>,
  ]),
) as unknown as { [K in keyof typeof ROWS]: Setting<(typeof ROWS)[K] extends Row<infer T> ? T : never> }

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
      // a secret's value is never echoed, not even a bad one
      throw new UsageError(`${label} ${err.message}, got ${s.secret ? 'a value (not shown: a secret)' : `"${raw}"`}`)
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

/**
 * The hub token: `--token`/`AETHER_TOKEN`, else the first line of the file `--token-file`/
 * `AETHER_TOKEN_FILE` names (undefined: none given). A UsageError for both at once, or for a
 * file that cannot be read or is empty; its content is never quoted.
 */
export function hubToken(config: { get(name: 'token' | 'token-file'): string | undefined }): string | undefined {
  const token = config.get('token')
  const file = config.get('token-file')
  if (file === undefined) return token
  if (token !== undefined)
    throw new UsageError('give the token once: --token (AETHER_TOKEN) or --token-file (AETHER_TOKEN_FILE), not both')
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new UsageError(`--token-file ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
  }
  const line = text.split(/\r?\n/, 1)[0].trim()
  if (!line) throw new UsageError(`--token-file ${file}: its first line is empty; put the token there`)
  return line
}
