/**
 * Apps: a developer's own machines, job types and features, hosted by `aether hub --app FILE` (or
 * the `aether.config.ts|mts|js|mjs` found in the working directory) exactly like the built-in ones.
 *
 * An app module's default export (or its export `app`) is the value of `defineApp(...)`. Its
 * machines are registered under their keys (durable actors from `POST /api/actors` or from the
 * app's own features, recovered after a restart like any other), its job types run on the hub's
 * in-process worker, and its features install with the same `HubFeature` contract the hub's own
 * use. Every way a module can be wrong is an `AppError`: one line naming the file, the export and
 * what is wrong, which the CLI prints as a usage error (exit 2).
 *
 * @example
 * // app.ts
 * import { defineApp, defineJobType } from 'aether'
 * export default defineApp({ machines: { checkout }, jobTypes: [defineJobType('ship', [...])] })
 */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { AnyStateMachine } from 'xstate'
import { UsageError } from './args.ts'
import { builtinMachines } from './builtinMachines.ts'
import type { HubFeature } from './Hub.ts'
import type { JobType } from './jobs/jobTypes.ts'
import { jobMachinesFor } from './jobs/machines.ts'
import { importModule } from './typescript.ts'

export interface AppSpec {
  /** Shown in the hub's start lines and errors (default: the module's file name). */
  name?: string
  /** Machines by the name `POST /api/actors` and recovery know them by. */
  machines?: Record<string, AnyStateMachine>
  /** Job types (`defineJobType`), run by the hub's in-process worker. */
  jobTypes?: JobType[]
  /** Routes, sockets and actors of the app's own, installed after the hub's features. */
  features?: HubFeature[]
}

const APP = Symbol.for('aether.app')

export interface App extends Required<Omit<AppSpec, 'name'>> {
  readonly [APP]: true
  name?: string
}

/** A module that cannot be an app, or an app that cannot be hosted; `message` is one line. */
export class AppError extends UsageError {
  constructor(message: string) {
    super(message)
    this.name = 'AppError'
    this.showUsage = false
  }
}

const NAME = /^[A-Za-z0-9_.:-]+$/

/**
 * Declares an app: checks what it can at once (names, that each machine is an XState v5 machine and
 * each job type has steps) and throws an `AppError` naming the entry that is wrong.
 */
export function defineApp(spec: AppSpec): App {
  if (!spec || typeof spec !== 'object') throw new AppError('defineApp: expected { machines, jobTypes, features }')
  const machines = spec.machines ?? {}
  const jobTypes = spec.jobTypes ?? []
  const features = spec.features ?? []
  if (typeof machines !== 'object' || Array.isArray(machines))
    throw new AppError('defineApp: "machines" must be an object of machines by name')
  if (!Array.isArray(jobTypes))
    throw new AppError('defineApp: "jobTypes" must be an array of defineJobType(...) values')
  if (!Array.isArray(features))
    throw new AppError('defineApp: "features" must be an array of { name, install } features')
  for (const [name, m] of Object.entries(machines)) {
    if (!NAME.test(name)) throw new AppError(`defineApp: machine name "${name}" must match [A-Za-z0-9_.:-]+`)
    if (!isMachineV5(m)) throw new AppError(`defineApp: machines.${name} is not an XState v5 machine (${describe(m)})`)
  }
  for (const [i, t] of jobTypes.entries()) {
    if (!t || typeof t !== 'object' || !(t.steps instanceof Map) || typeof t.machineName !== 'string')
      throw new AppError(`defineApp: jobTypes[${i}] is not a job type made with defineJobType (${describe(t)})`)
    if (t.steps.size === 0) throw new AppError(`defineApp: job type "${t.name}" has no steps`)
  }
  for (const [i, f] of features.entries()) {
    if (!f || typeof f.name !== 'string' || typeof f.install !== 'function')
      throw new AppError(`defineApp: features[${i}] is not a feature ({ name, install(hub) })`)
  }
  if (Object.keys(machines).length + jobTypes.length + features.length === 0)
    throw new AppError('defineApp: the app has no machines, job types or features')
  return Object.freeze({ [APP]: true as const, name: spec.name, machines, jobTypes, features })
}

export function isApp(v: unknown): v is App {
  return !!v && typeof v === 'object' && (v as any)[APP] === true
}

/** The config files `aether hub` looks for in its working directory when no `--app` is given. */
export const CONFIG_FILES = ['aether.config.ts', 'aether.config.mts', 'aether.config.js', 'aether.config.mjs']

/** The first `aether.config.*` in `dir`, if any. */
export function findAppConfig(dir = process.cwd()): string | undefined {
  for (const f of CONFIG_FILES) if (existsSync(resolve(dir, f))) return resolve(dir, f)
  return undefined
}

/**
 * Imports an app module (TypeScript or ESM JavaScript) and returns its app. Every failure is an
 * `AppError` whose message names the file: missing, not loadable (a syntax error, a throwing
 * import: the first line of the cause), no app export, or an export that is not an app.
 */
export async function loadApp(file: string): Promise<App> {
  return (await loadAppModule(file)).app
}

/**
 * `loadApp`, also giving the module's other exports (a skill's `check`). `label` starts every
 * error message (`--app`, or `skill greeter`).
 */
export async function loadAppModule(
  file: string,
  label = '--app',
): Promise<{ app: App; exports: Record<string, unknown> }> {
  const path = resolve(file)
  if (!existsSync(path)) throw new AppError(`${label}: no such file ${path}`)
  const notEsm = esmProblem(path)
  if (notEsm) throw new AppError(`${label} ${path}: ${notEsm}`)
  let mod: Record<string, unknown>
  try {
    mod = await importModule(pathToFileURL(path).href)
  } catch (err) {
    if (err instanceof AppError) throw new AppError(`${label} ${path}: ${err.message}`)
    throw new AppError(`${label} ${path}: cannot load it: ${firstLine(err)}`)
  }
  const exported = mod.default !== undefined ? 'default' : mod.app !== undefined ? 'app' : undefined
  if (!exported) {
    const names = Object.keys(mod)
    throw new AppError(
      `${label} ${path}: no app: export default defineApp({ machines, jobTypes, features })${names.length ? ` (it exports ${names.join(', ')})` : ''}`,
    )
  }
  const app = mod[exported]
  if (!isApp(app))
    throw new AppError(
      `${label} ${path}: export "${exported}" is not an app made with defineApp (${describe(app)}); wrap it: export default defineApp({ machines: { ... } })`,
    )
  return { app, exports: mod }
}

/** The machines a hub hosting `app` registers besides its own: the app's, and its job types'. */
export function appMachines(app: App): Record<string, AnyStateMachine> {
  const jobs = jobMachinesFor(app.jobTypes)
  for (const name of [...Object.keys(app.machines), ...Object.keys(jobs)]) {
    if (builtinMachines[name]) throw new AppError(`app: machine "${name}" is a built-in machine's name; rename it`)
  }
  for (const name of Object.keys(jobs)) {
    if (app.machines[name]) throw new AppError(`app: machine "${name}" and a job type's machine share a name`)
  }
  return { ...app.machines, ...jobs }
}

/**
 * The machine named `name` in the app module `file` (its own machines and its job types'), for
 * `aether replay --app` and `aether log export --app`; an `AppError` listing the app's machines when
 * it has none of that name.
 */
export async function appMachine(file: string, name: string, actor?: string): Promise<AnyStateMachine> {
  const app = await loadApp(file)
  const all = { ...app.machines, ...jobMachinesFor(app.jobTypes) }
  const m = all[name]
  if (!m)
    throw new AppError(
      `--app ${resolve(file)}: no machine "${name}"${actor ? ` (the machine of ${actor})` : ''}; the app has ${Object.keys(all).join(', ') || 'no machines'}`,
    )
  return m
}

/**
 * Apps load as ES modules. A `.ts` or `.js` file is one only inside a package whose package.json
 * says `"type": "module"` (Node's rule, which tsx follows); elsewhere Node would load it as
 * CommonJS, which cannot import Aether's ES modules. Says what to do, or undefined when fine.
 */
function esmProblem(path: string): string | undefined {
  if (!/\.(ts|js)$/.test(path)) return undefined // .mts, .mjs: always ES modules
  let dir = dirname(path)
  for (;;) {
    const pkg = join(dir, 'package.json')
    if (existsSync(pkg)) {
      let type: unknown
      try {
        type = JSON.parse(readFileSync(pkg, 'utf8')).type
      } catch {
        return `cannot read ${pkg} (not JSON), which decides how Node loads the module`
      }
      return type === 'module'
        ? undefined
        : `apps load as ES modules: add "type": "module" to ${pkg}, or name the file .mts / .mjs`
    }
    const up = dirname(dir)
    if (up === dir)
      return `apps load as ES modules: put a package.json with "type": "module" beside it (npm init -y && npm pkg set type=module), or name the file .mts / .mjs`
    dir = up
  }
}

function isMachineV5(v: any): v is AnyStateMachine {
  return (
    !!v &&
    typeof v === 'object' &&
    typeof v.transition === 'function' &&
    typeof v.getInitialSnapshot === 'function' &&
    typeof v.provide === 'function' &&
    typeof v.toJSON === 'function'
  )
}

function describe(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  if (typeof v === 'function') return `a function${v.name ? ` ${v.name}` : ''}`
  if (typeof v === 'object')
    return `an object with keys ${
      Object.keys(v as object)
        .slice(0, 5)
        .join(', ') || '(none)'
    }`
  return `a ${typeof v}`
}

function firstLine(err: unknown): string {
  const msg = err instanceof Error ? `${err.name === 'Error' ? '' : `${err.name}: `}${err.message}` : String(err)
  return msg.split('\n')[0]
}
