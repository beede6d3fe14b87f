/**
 * The skills of a hub: artifacts (a folder with `skill.json`, runtime/skills/manifest.ts) loaded
 * as app modules (runtime/app.ts: `defineApp({ machines, jobTypes, features })`), each with its
 * provenance:
 *
 * - `workspace`: installed into the hub's data folder (`POST /api/skills`, `aether skill install`):
 *   copied to `<data>/skills/<name>/<checksum>/`, its checksum verified, reloaded at every start;
 * - `dev`: the same, from a manifest whose checksum is `"dev"` (not pinned: for development);
 * - `slot`: found in the `skills/` folder of the slot image a supervisor runs the hub from;
 * - `builtin`: found in the `skills/` folder of the Aether package.
 *
 * A change to an installed skill is classified before anything happens (`plan`), and the class
 * decides the path:
 *
 * - `content`: files changed, no machine's code and no feature did: refreshed in place;
 * - `machine`: a machine was added, removed or its code changed: the migration check
 *   (runtime/migration.ts) replays every live actor of the changed machines through the new code;
 *   refreshed (and those actors hosted again on the new code) when nothing diverges, else refused
 *   unless accepted;
 * - `runtime`: its features (routes, sockets: code inside the hub's process) changed, or a new
 *   skill has features: refused in place; it goes into a slot image and rolls out A/B through
 *   `aether supervisor`.
 *
 * Each installed copy is content-addressed, so a refresh imports new module URLs (Node caches
 * ES modules by URL). Bare imports (`aether`, `xstate`) of a copy resolve through a `node_modules`
 * link to the one nearest the skill's source folder.
 */
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import type { AnyStateMachine } from 'xstate'
import { codeHash } from '../../actors/index.ts'
import type { Store } from '../../actors/index.ts'
import { type App, AppError, loadAppModule } from '../app.ts'
import { builtinMachines } from '../builtinMachines.ts'
import type { JobType } from '../jobs/jobTypes.ts'
import { jobMachinesFor } from '../jobs/machines.ts'
import { checkMigration, type MigrationReport, migrationBlocks } from '../migration.ts'
import { checksumDir, readManifest, SkillError, type SkillManifest } from './manifest.ts'

export type Provenance = 'workspace' | 'dev' | 'slot' | 'builtin'
export type ChangeClass = 'install' | 'unchanged' | 'content' | 'machine' | 'runtime'

/** A loaded skill. */
export interface Skill {
  manifest: SkillManifest
  provenance: Provenance
  /** Where it came from (the folder given at install, or the slot/builtin folder). */
  source: string
  /** The folder it is loaded from (the content-addressed copy for workspace and dev). */
  dir: string
  checksum: string
  installedAt: number
  app: App | null
  /** The entry's `check` export, run by a scenario switch before it commits. */
  check?: () => unknown
  /** Every machine it registers (its own and its job types'), by name. */
  machines: Record<string, AnyStateMachine>
}

/** What a change would do, shown before it runs. */
export interface SkillPlan {
  skill: string
  class: ChangeClass
  from: { version: string; checksum: string; provenance: Provenance } | null
  to: { version: string; checksum: string }
  /** The path the change takes, in words. */
  path: string
  machines: { added: string[]; removed: string[]; changed: string[] }
  migration?: MigrationReport
  /** Whether applying it is refused (runtime class, or a migration that blocks without accept). */
  refused?: string
}

/** What the hub gives the registry: where machines and job types go. */
export interface SkillHost {
  store: Store
  dataDir: string
  register(name: string, machine: AnyStateMachine): void
  unregister(name: string): void
  addJobType(t: JobType): void
  removeJobType(name: string): void
  /** Live actors of a machine (paths). */
  actorsOf(machine: string): string[]
  rehost(path: string): Promise<void>
  /** Writes a checkpoint of every actor with events since its last (what the migration check compares). */
  checkpoint(): Promise<void>
  /** Machine names the hub has besides skills (built-in and the app's). */
  reserved: Set<string>
}

interface InstalledRecord {
  name: string
  version: string
  checksum: string
  provenance: 'workspace' | 'dev'
  source: string
  dir: string
  installedAt: number
}

const short = (checksum: string) =>
  checksum === 'dev' ? 'dev' : checksum.slice('sha256:'.length, 'sha256:'.length + 16)

export class Skills {
  private skills = new Map<string, Skill>()
  /** One change at a time: installs, refreshes and removes queue here. */
  private chain: Promise<unknown> = Promise.resolve()

  constructor(readonly host: SkillHost) {}

  get root(): string {
    return join(this.host.dataDir, 'skills')
  }

  list(): Skill[] {
    return [...this.skills.values()].sort((a, b) => (a.manifest.name < b.manifest.name ? -1 : 1))
  }

  get(name: string): Skill | undefined {
    return this.skills.get(name)
  }

  /**
   * At start, before recovery: every installed skill from the data folder, then the slot's and
   * the package's folders of skills. A skill that does not load is listed with its error and
   * registers nothing, so the hub still starts.
   */
  async loadAll(sources: Array<{ dir: string; provenance: 'slot' | 'builtin' }> = []): Promise<SkillLoadFailure[]> {
    const failed: SkillLoadFailure[] = []
    let records: InstalledRecord[] = []
    try {
      records = this.readRecords()
    } catch (err) {
      // the hub still starts: the skills are listed as failed until installed again
      failed.push({
        name: 'installed.json',
        provenance: 'workspace',
        source: this.recordsFile,
        message: (err as Error).message,
      })
    }
    for (const r of records) {
      try {
        const m = readManifest(r.dir)
        const sum = checksumDir(r.dir)
        if (sum !== r.checksum)
          throw new SkillError(
            'CHECKSUM_MISMATCH',
            `skill ${r.name}: its installed copy ${r.dir} has checksum ${sum}, installed as ${r.checksum}: install it again`,
          )
        this.put(await this.load(m, r.dir, r.provenance, r.source, sum, r.installedAt))
      } catch (err) {
        failed.push({ name: r.name, provenance: r.provenance, source: r.source, message: (err as Error).message })
      }
    }
    for (const { dir, provenance } of sources) {
      if (!existsSync(dir)) continue
      for (const sub of readdirSafe(dir)) {
        const folder = join(dir, sub)
        if (!existsSync(join(folder, 'skill.json'))) continue
        try {
          const m = readManifest(folder)
          if (this.skills.has(m.name)) continue // an installed one wins; shown with its provenance
          const sum = verifyChecksum(m, folder, false)
          this.put(await this.load(m, folder, provenance, folder, sum, Date.now()))
        } catch (err) {
          failed.push({ name: sub, provenance, source: folder, message: (err as Error).message })
        }
      }
    }
    this.failures = failed
    return failed
  }

  /** Skills that did not load at start (listed by `GET /api/skills`). */
  failures: SkillLoadFailure[] = []

  /** What installing or refreshing from `dir` would do; changes nothing the hub runs. */
  plan(dir: string, opts: { accept?: boolean } = {}): Promise<SkillPlan> {
    return this.serial(async () => {
      const { plan, next } = await this.stage(resolve(dir), opts)
      // the staged copy is not kept (an install copies again, to the same content-addressed folder)
      if (next && next.dir !== this.skills.get(plan.skill)?.dir) dropCopy(next.dir)
      return plan
    })
  }

  /** Installs or refreshes the skill in `dir` along its plan; refuses `runtime` and blocking migrations. */
  apply(dir: string, opts: { accept?: boolean } = {}): Promise<SkillPlan> {
    return this.serial(async () => {
      const { plan, next } = await this.stage(resolve(dir), opts)
      if (plan.refused)
        throw new SkillError(plan.class === 'runtime' ? 'NEEDS_SUPERVISOR' : 'MIGRATION_REFUSED', plan.refused, plan)
      if (plan.class === 'unchanged' || !next) return plan
      const prev = this.skills.get(plan.skill)
      this.activate(prev, next)
      if (plan.class === 'machine')
        for (const name of plan.machines.changed)
          for (const path of this.host.actorsOf(name)) await this.host.rehost(path)
      this.writeRecords()
      if (prev && prev.dir !== next.dir && prev.provenance !== 'slot' && prev.provenance !== 'builtin')
        rmSync(prev.dir, { recursive: true, force: true })
      return plan
    })
  }

  /** Removes an installed skill: refused while actors of its machines live or `inUse` says so. */
  remove(name: string, inUse?: (name: string) => string | undefined): Promise<{ removed: string }> {
    return this.serial(async () => {
      const s = this.skills.get(name)
      if (!s) throw new SkillError('UNKNOWN_SKILL', `no skill "${name}" is installed`)
      if (s.provenance === 'slot' || s.provenance === 'builtin')
        throw new SkillError(
          'NEEDS_SUPERVISOR',
          `skill ${name} comes with the ${s.provenance === 'slot' ? 'slot image' : 'package'} (${s.source}): remove it there and roll out with aether supervisor`,
        )
      const live = Object.keys(s.machines).flatMap((m) => this.host.actorsOf(m))
      if (live.length)
        throw new SkillError(
          'SKILL_IN_USE',
          `skill ${name}: ${live.length} live actor(s) of its machines (${live.slice(0, 5).join(', ')}): stop them first`,
        )
      const why = inUse?.(name)
      if (why) throw new SkillError('SKILL_IN_USE', `skill ${name}: ${why}`)
      this.deactivate(s)
      this.skills.delete(name)
      this.writeRecords()
      rmSync(join(this.root, name), { recursive: true, force: true })
      return { removed: name }
    })
  }

  /** Loads the skill in `dir` into a copy and compares it with the installed one. */
  private async stage(src: string, opts: { accept?: boolean }): Promise<{ plan: SkillPlan; next?: Skill }> {
    const m = readManifest(src)
    const sum = verifyChecksum(m, src, true)
    const prev = this.skills.get(m.name)
    const to = { version: m.version, checksum: sum }
    const from = prev ? { version: prev.manifest.version, checksum: prev.checksum, provenance: prev.provenance } : null
    const none = { added: [], removed: [], changed: [] }
    // same checksum and an intact copy: nothing to do (a copy changed on disk is copied again)
    if (prev && prev.checksum === sum && m.checksum !== 'dev' && checksumDir(prev.dir) === sum)
      return {
        plan: { skill: m.name, class: 'unchanged', from, to, path: 'nothing to do: same checksum', machines: none },
      }
    const dir = this.copy(m, src, sum)
    let next: Skill
    try {
      next = await this.load(m, dir, m.checksum === 'dev' ? 'dev' : 'workspace', src, sum, Date.now())
      this.checkNames(next, prev)
    } catch (err) {
      // a refused skill leaves nothing behind
      if (dir !== prev?.dir) dropCopy(dir)
      throw err
    }
    const machines = diffMachines(prev?.machines ?? {}, next.machines)
    const plan: SkillPlan = { skill: m.name, class: 'install', from, to, path: '', machines }
    if (next.app?.features.length && (!prev || featureSig(prev) !== featureSig(next))) {
      plan.class = 'runtime'
      plan.path = `runtime code: its features (${next.app.features.map((f) => f.name).join(', ')}) run inside the hub's process and are installed before recovery; a running hub does not replace them`
      plan.refused = `skill ${m.name}: runtime code changed (features); not done in place: put the skill in the next slot image's skills/ folder and roll it out A/B with aether supervisor (POST /api/supervisor/update), which validates the new runtime with it before cutover`
    } else if (!prev) {
      plan.path = `install: register ${describeNames(next)}`
    } else if (machines.added.length + machines.removed.length + machines.changed.length > 0) {
      plan.class = 'machine'
      const changed = Object.fromEntries(machines.changed.map((n) => [n, next.machines[n]]))
      await this.host.checkpoint()
      plan.migration = await checkMigration(this.host.store, changed)
      const live = machines.removed.flatMap((n) => this.host.actorsOf(n))
      plan.path = `new machine version: migration check of ${plan.migration.checked} live actor(s) of ${machines.changed.join(', ') || 'no changed machine'}, then refresh${plan.migration.checked ? ' and host them again on the new code' : ''}`
      if (live.length)
        plan.refused = `skill ${m.name}: machines ${machines.removed.join(', ')} are gone from the new version but ${live.length} live actor(s) use them: stop them first`
      else if (migrationBlocks(plan.migration) && !opts.accept)
        plan.refused = `skill ${m.name}: stored actors do not fit the changed machines (see migration); refresh with accept to run them anyway`
    } else {
      plan.class = 'content'
      plan.path = 'content only (no machine or feature changed): refresh in place'
    }
    if (plan.refused && dir !== prev?.dir) dropCopy(dir)
    return { plan, next }
  }

  /** Copies the folder to `<data>/skills/<name>/<checksum>/` (once) and links its node_modules. */
  private copy(m: SkillManifest, src: string, sum: string): string {
    const dir = join(this.root, m.name, sum === 'dev' ? `dev-${Date.now()}` : short(sum))
    if (existsSync(dir) && sum !== 'dev' && checksumDir(dir) === sum && existsSync(join(dir, 'skill.json'))) return dir
    rmSync(dir, { recursive: true, force: true })
    const tmp = `${dir}.tmp`
    rmSync(tmp, { recursive: true, force: true })
    mkdirSync(dirname(dir), { recursive: true })
    cpSync(src, tmp, {
      recursive: true,
      filter: (from) => {
        const rel = from.slice(src.length)
        return !/(^|[\\/])(node_modules|\.[^\\/]*)([\\/]|$)/.test(rel)
      },
    })
    const nm = nearestNodeModules(src)
    if (nm) symlinkSync(nm, join(tmp, 'node_modules'), 'dir')
    renameSync(tmp, dir)
    if (sum !== 'dev' && checksumDir(dir) !== sum) {
      dropCopy(dir)
      throw new SkillError('CHECKSUM_MISMATCH', `skill ${m.name}: ${src} changed while it was copied; install it again`)
    }
    return dir
  }

  private async load(
    m: SkillManifest,
    dir: string,
    provenance: Provenance,
    source: string,
    checksum: string,
    installedAt: number,
  ): Promise<Skill> {
    let app: App | null = null
    let check: (() => unknown) | undefined
    if (m.entry) {
      try {
        const mod = await loadAppModule(join(dir, m.entry), `skill ${m.name}`)
        app = mod.app
        if (typeof mod.exports.check === 'function') check = mod.exports.check as () => unknown
      } catch (err) {
        if (err instanceof AppError) throw new SkillError('LOAD_FAILED', err.message, undefined, { cause: err })
        throw err
      }
    }
    const own = app?.machines ?? {}
    const jobs = jobMachinesFor(app?.jobTypes ?? [])
    const mismatch = (field: string, declared: string[], actual: string[]) => {
      const a = [...declared].sort().join(', ')
      const b = [...actual].sort().join(', ')
      if (a !== b)
        throw new SkillError(
          'NEEDS_MISMATCH',
          `skill ${m.name}: skill.json field "needs.${field}" lists [${a}] but the entry defines [${b}]`,
        )
    }
    mismatch('machines', m.needs.machines, Object.keys(own))
    mismatch(
      'jobTypes',
      m.needs.jobTypes,
      (app?.jobTypes ?? []).map((t) => t.name),
    )
    if ((app?.features.length ?? 0) > 0 !== m.needs.routes.length > 0)
      throw new SkillError(
        'NEEDS_MISMATCH',
        `skill ${m.name}: skill.json field "needs.routes" must list the routes of its features, and only a skill with features has routes`,
      )
    return { manifest: m, provenance, source, dir, checksum, installedAt, app, check, machines: { ...own, ...jobs } }
  }

  /** A skill's machine names may not be the hub's own or another skill's. */
  private checkNames(next: Skill, prev?: Skill): void {
    for (const name of Object.keys(next.machines)) {
      if (builtinMachines[name] || this.host.reserved.has(name))
        throw new SkillError('NAME_TAKEN', `skill ${next.manifest.name}: machine "${name}" is the hub's own; rename it`)
      for (const other of this.skills.values())
        if (other !== prev && other.machines[name])
          throw new SkillError(
            'NAME_TAKEN',
            `skill ${next.manifest.name}: machine "${name}" belongs to skill ${other.manifest.name}; rename it`,
          )
    }
  }

  private put(s: Skill): void {
    this.checkNames(s)
    this.activate(undefined, s)
  }

  private activate(prev: Skill | undefined, next: Skill): void {
    if (prev) for (const name of Object.keys(prev.machines)) if (!next.machines[name]) this.host.unregister(name)
    for (const t of prev?.app?.jobTypes ?? []) this.host.removeJobType(t.name)
    for (const [name, m] of Object.entries(next.machines)) this.host.register(name, m)
    for (const t of next.app?.jobTypes ?? []) this.host.addJobType(t)
    this.skills.set(next.manifest.name, next)
  }

  private deactivate(s: Skill): void {
    for (const name of Object.keys(s.machines)) this.host.unregister(name)
    for (const t of s.app?.jobTypes ?? []) this.host.removeJobType(t.name)
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn)
    this.chain = run.catch(() => {})
    return run
  }

  private get recordsFile(): string {
    return join(this.root, 'installed.json')
  }

  private readRecords(): InstalledRecord[] {
    if (!existsSync(this.recordsFile)) return []
    const v = JSON.parse(readFileSync(this.recordsFile, 'utf8'))
    return Array.isArray(v?.skills) ? v.skills : []
  }

  /** The installed (workspace and dev) skills, atomically: a temp file renamed over the old one. */
  private writeRecords(): void {
    const skills: InstalledRecord[] = this.list()
      .filter((s) => s.provenance === 'workspace' || s.provenance === 'dev')
      .map((s) => ({
        name: s.manifest.name,
        version: s.manifest.version,
        checksum: s.checksum,
        provenance: s.provenance as 'workspace' | 'dev',
        source: s.source,
        dir: s.dir,
        installedAt: s.installedAt,
      }))
    mkdirSync(this.root, { recursive: true })
    writeFileSync(`${this.recordsFile}.tmp`, `${JSON.stringify({ format: 'aether.skills/1', skills }, null, 2)}\n`)
    renameSync(`${this.recordsFile}.tmp`, this.recordsFile)
  }
}

export interface SkillLoadFailure {
  name: string
  provenance: Provenance
  source: string
  message: string
}

/** The folder's checksum, refused when it differs from the manifest's (a `dev` manifest pins none). */
function verifyChecksum(m: SkillManifest, dir: string, allowDev: boolean): string {
  const sum = checksumDir(dir)
  if (m.checksum === 'dev') {
    if (!allowDev)
      throw new SkillError('BAD_MANIFEST', `skill ${m.name}: field "checksum" is "dev"; shipped skills pin theirs`)
    return 'dev'
  }
  if (sum !== m.checksum)
    throw new SkillError(
      'CHECKSUM_MISMATCH',
      `skill ${m.name}: skill.json field "checksum" says ${m.checksum} but the folder ${dir} has ${sum}; refused (run aether skill checksum DIR after a deliberate change)`,
    )
  return sum
}

function diffMachines(
  prev: Record<string, AnyStateMachine>,
  next: Record<string, AnyStateMachine>,
): SkillPlan['machines'] {
  const added = Object.keys(next).filter((n) => !prev[n])
  const removed = Object.keys(prev).filter((n) => !next[n])
  const changed = Object.keys(next).filter((n) => prev[n] && codeHash(prev[n]) !== codeHash(next[n]))
  return { added, removed, changed }
}

/** The features' names and code: a change here is runtime code. */
function featureSig(s: Skill): string {
  return JSON.stringify(
    (s.app?.features ?? []).map((f) => [f.name, String(f.install), String(f.start ?? ''), String(f.close ?? '')]),
  )
}

function describeNames(s: Skill): string {
  const parts = []
  const own = Object.keys(s.app?.machines ?? {})
  if (own.length) parts.push(`machines ${own.join(', ')}`)
  const jobs = (s.app?.jobTypes ?? []).map((t) => t.name)
  if (jobs.length) parts.push(`job types ${jobs.join(', ')}`)
  return parts.join(' and ') || 'content only (no code)'
}

/** Removes a staged copy, and its skill's folder when nothing else is in it. */
function dropCopy(dir: string): void {
  rmSync(dir, { recursive: true, force: true })
  const parent = dirname(dir)
  if (existsSync(parent) && readdirSync(parent).length === 0) rmSync(parent, { recursive: true, force: true })
}

function nearestNodeModules(dir: string): string | undefined {
  for (let d = dir; ; d = dirname(d)) {
    const nm = join(d, 'node_modules')
    if (existsSync(nm)) return nm
    if (dirname(d) === d) return undefined
  }
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir).sort()
  } catch {
    return []
  }
}
