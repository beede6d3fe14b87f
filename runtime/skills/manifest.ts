/**
 * A skill's manifest, `skill.json` at the root of the skill's folder, and the folder's checksum.
 *
 * ```json
 * {
 *   "name": "greeter",                 // [a-z0-9][a-z0-9_-]{0,63}
 *   "version": "1.2.0",                // MAJOR.MINOR.PATCH
 *   "entry": "index.mts",              // the app module (defineApp), relative to the folder
 *   "checksum": "sha256:<64 hex>",     // of the folder (below); "dev" only with provenance dev
 *   "needs": {
 *     "machines": ["greeter"],         // the machines the entry defines (checked after loading)
 *     "jobTypes": ["greet"],           // its job types
 *     "routes": ["GET /api/greeter"],  // routes its features add (runtime code: see docs/skills.md)
 *     "yjs": ["data/greeter"]          // the webspace subtrees it writes
 *   },
 *   "scenario": {                      // only for a scenario: the skills it runs and its ui
 *     "skills": ["greeter"],
 *     "ui": { "title": "Kiosk" },
 *     "data": { "greeter": { "greeting": "hello" } }
 *   }
 * }
 * ```
 *
 * The checksum is SHA-256 over every file of the folder except `skill.json` and anything under
 * `node_modules/` or a dot-folder, in byte order of their relative paths (`/`-separated), each as
 * `path \0 size \0 bytes`. `aether skill checksum DIR` prints it. Every way a manifest can be wrong
 * is a `SkillError` naming the field.
 */
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join, normalize, relative, sep } from 'node:path'
import { CodedError } from '../errors.ts'

export interface SkillNeeds {
  machines: string[]
  jobTypes: string[]
  routes: string[]
  yjs: string[]
}

export interface ScenarioSpec {
  /** The skills the scenario runs (installed skills, by name). */
  skills: string[]
  /** What the scenario shows: written to `ui.scenario` of the webspace when it becomes effective. */
  ui: Record<string, unknown>
  /** Initial data per skill, written to `data.<skill>` (each skill must own `data/<skill>`). */
  data: Record<string, unknown>
}

export interface SkillManifest {
  name: string
  version: string
  entry?: string
  checksum: string
  needs: SkillNeeds
  scenario?: ScenarioSpec
}

export type SkillErrorCode =
  | 'BAD_MANIFEST'
  | 'NO_MANIFEST'
  | 'CHECKSUM_MISMATCH'
  | 'LOAD_FAILED'
  | 'NEEDS_MISMATCH'
  | 'NAME_TAKEN'
  | 'UNKNOWN_SKILL'
  | 'SKILL_IN_USE'
  | 'NEEDS_SUPERVISOR'
  | 'MIGRATION_REFUSED'
  | 'NOT_OWNER'

/** A skill that cannot be read, installed or loaded: `code` is stable, `message` says what to do. */
export class SkillError extends CodedError<SkillErrorCode> {
  constructor(
    code: SkillErrorCode,
    message: string,
    /** What the refusal is about (a refused change's plan). */
    readonly details?: unknown,
    options?: { cause?: unknown },
  ) {
    super(code, message, options)
  }
}

export const SKILL_NAME_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/
const VERSION_RE = /^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$/
const CHECKSUM_RE = /^sha256:[0-9a-f]{64}$/
const MACHINE_RE = /^[A-Za-z0-9_.:-]+$/
/** A webspace subtree: a root (`ui`, `data`, `registry`, `installed`) and an optional key. */
export const SUBTREE_RE = /^(ui|data|registry|installed)(\/[A-Za-z0-9_.-]{1,64})?$/
const ROUTE_RE = /^(GET|POST|PUT|DELETE|PATCH) \/\S*$/

const bad = (field: string, what: string) => new SkillError('BAD_MANIFEST', `skill.json: field "${field}" ${what}`)

function strings(v: unknown, field: string, re: RegExp, what: string): string[] {
  if (v === undefined) return []
  if (!Array.isArray(v)) throw bad(field, 'must be an array of strings')
  v.forEach((s, i) => {
    if (typeof s !== 'string' || !re.test(s)) throw bad(`${field}[${i}]`, what)
  })
  if (new Set(v).size !== v.length) throw bad(field, 'lists a name twice')
  return v as string[]
}

function object(v: unknown, field: string): Record<string, unknown> {
  if (v === undefined) return {}
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(field, 'must be an object')
  return v as Record<string, unknown>
}

/** Checks a parsed `skill.json`; the first wrong field is a `SkillError` (`BAD_MANIFEST`) naming it. */
export function parseManifest(raw: unknown): SkillManifest {
  const m = object(raw, '(root)')
  if (raw === undefined) throw bad('(root)', 'must be an object')
  const known = new Set(['name', 'version', 'entry', 'checksum', 'needs', 'scenario', 'description'])
  for (const k of Object.keys(m)) if (!known.has(k)) throw bad(k, `is not a manifest field (${[...known].join(', ')})`)
  if (typeof m.name !== 'string' || !SKILL_NAME_RE.test(m.name))
    throw bad('name', 'must be 1-64 of a-z 0-9 _ - (starting with a letter or digit)')
  if (typeof m.version !== 'string' || !VERSION_RE.test(m.version))
    throw bad('version', 'must be a version MAJOR.MINOR.PATCH')
  if (m.entry !== undefined) {
    if (typeof m.entry !== 'string' || !m.entry || !/\.(m?ts|m?js)$/.test(m.entry))
      throw bad('entry', 'must be the path of a .ts, .mts, .js or .mjs module in the folder')
    const n = normalize(m.entry)
    if (n.startsWith('..') || n.startsWith(sep) || n.includes(`${sep}..${sep}`))
      throw bad('entry', 'must stay inside the skill folder')
  }
  if (typeof m.checksum !== 'string' || !(CHECKSUM_RE.test(m.checksum) || m.checksum === 'dev'))
    throw bad('checksum', 'must be "sha256:<64 hex digits>" (aether skill checksum DIR prints it), or "dev"')
  const n = object(m.needs, 'needs')
  for (const k of Object.keys(n))
    if (!['machines', 'jobTypes', 'routes', 'yjs'].includes(k))
      throw bad(`needs.${k}`, 'is not a need (machines, jobTypes, routes, yjs)')
  const needs: SkillNeeds = {
    machines: strings(n.machines, 'needs.machines', MACHINE_RE, 'must be a machine name'),
    jobTypes: strings(n.jobTypes, 'needs.jobTypes', MACHINE_RE, 'must be a job type name'),
    routes: strings(n.routes, 'needs.routes', ROUTE_RE, 'must be "METHOD /path"'),
    yjs: strings(
      n.yjs,
      'needs.yjs',
      SUBTREE_RE,
      'must be a webspace subtree: ui, data, registry or installed, optionally /<key>',
    ),
  }
  const hasCode = needs.machines.length + needs.jobTypes.length + needs.routes.length > 0
  if (hasCode && m.entry === undefined)
    throw bad('entry', 'is required when the skill needs machines, job types or routes')
  const out: SkillManifest = { name: m.name, version: m.version, checksum: m.checksum, needs }
  if (m.entry !== undefined) out.entry = m.entry as string
  if (m.scenario !== undefined) {
    const s = object(m.scenario, 'scenario')
    for (const k of Object.keys(s))
      if (!['skills', 'ui', 'data'].includes(k))
        throw bad(`scenario.${k}`, 'is not a scenario field (skills, ui, data)')
    out.scenario = {
      skills: strings(s.skills, 'scenario.skills', SKILL_NAME_RE, 'must be a skill name'),
      ui: object(s.ui, 'scenario.ui'),
      data: object(s.data, 'scenario.data'),
    }
    for (const k of Object.keys(out.scenario.data))
      if (!SKILL_NAME_RE.test(k)) throw bad(`scenario.data.${k}`, 'must be keyed by a skill name')
  }
  return out
}

/** Reads and checks `DIR/skill.json`. */
export function readManifest(dir: string): SkillManifest {
  const file = join(dir, 'skill.json')
  if (!existsSync(file)) throw new SkillError('NO_MANIFEST', `no skill.json in ${dir}: a skill is a folder with one`)
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'))
  } catch (err) {
    throw new SkillError('BAD_MANIFEST', `${file} is not JSON: ${(err as Error).message}`)
  }
  const m = parseManifest(raw)
  if (m.entry && !existsSync(join(dir, m.entry))) throw bad('entry', `names ${m.entry}, which is not in ${dir}`)
  return m
}

/** The files a checksum covers, relative and `/`-separated, in byte order. */
export function skillFiles(dir: string): string[] {
  const out: string[] = []
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.name === 'node_modules' || e.name.startsWith('.')) continue
      const full = join(d, e.name)
      if (e.isDirectory()) walk(full)
      else if (e.isFile()) {
        const rel = relative(dir, full).split(sep).join('/')
        if (rel !== 'skill.json') out.push(rel)
      }
    }
  }
  walk(dir)
  return out.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)) as number)
}

/** `sha256:<hex>` of the folder (see the top of this file). */
export function checksumDir(dir: string): string {
  const h = createHash('sha256')
  for (const rel of skillFiles(dir)) {
    const bytes = readFileSync(join(dir, rel))
    h.update(rel)
    h.update('\0')
    h.update(String(statSync(join(dir, rel)).size))
    h.update('\0')
    h.update(bytes)
  }
  return `sha256:${h.digest('hex')}`
}
