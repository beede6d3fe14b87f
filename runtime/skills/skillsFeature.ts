/**
 * The skills feature of a hub: installed skills loaded before recovery (their machines registered,
 * their job types on the in-process worker), the scenario switch of each webspace, and the API:
 *
 *   GET  /api/skills                          every skill: name, version, provenance, checksum, state
 *   POST /api/skills {action, dir?, name?, accept?}   plan | install | refresh | remove (token)
 *   GET  /api/scenario[?webspace=W]           requested, effective and error of W's scenario switch
 *   POST /api/scenario {scenario, webspace?}  switch (token); answers once it is effective or failed
 *
 * See docs/skills.md.
 */
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setting } from '../config.ts'
import type { Hub, HubFeature } from '../Hub.ts'
import { HttpError, sendJson, type Ctx } from '../http/HubServer.ts'
import { JobQueue } from '../jobs/JobQueue.ts'
import { jobHost } from '../jobs/jobTypes.ts'
import { scenarioEvents, type ScenarioContext } from '../../machines/scenarioSwitch.ts'
import type { WebspaceFeature } from '../webspace/webspaceFeature.ts'
import { WEBSPACE_NAME_RE } from '../webspace/YjsWebspaces.ts'
import { SKILL_NAME_RE, SkillError, type SkillErrorCode } from './manifest.ts'
import { checkWrites, type Write } from './ownership.ts'
import { scenarioHosted, skillsService } from './scenarioHosted.ts'
import { type Skill, Skills, type SkillPlan } from './Skills.ts'

export interface SkillsFeatureOptions {
  /** Folders of skills shipped with the runtime: the slot image's and the package's. */
  sources?: Array<{ dir: string; provenance: 'slot' | 'builtin' }>
  /** The webspace a scenario switch without one names (default `desktop`). */
  defaultWebspace?: string
  /** How long `POST /api/scenario` waits for the switch to settle before answering 202 (default 30 s). */
  switchTimeoutMs?: number
}

/**
 * Where a hub finds shipped skills: the `skills/` folder of the slot image it runs from (a slot
 * runtime's working directory, under `aether supervisor`) and the `skills/` folder of the package.
 */
export function defaultSkillSources(): Array<{ dir: string; provenance: 'slot' | 'builtin' }> {
  const out: Array<{ dir: string; provenance: 'slot' | 'builtin' }> = []
  if (setting('slot')) out.push({ dir: resolve('skills'), provenance: 'slot' })
  out.push({ dir: fileURLToPath(new URL('../../skills', import.meta.url)), provenance: 'builtin' })
  return out
}

export const scenarioPath = (webspace: string) => `scenario:${webspace}`

const STATUS: Record<SkillErrorCode, number> = {
  BAD_MANIFEST: 400,
  NO_MANIFEST: 400,
  CHECKSUM_MISMATCH: 400,
  LOAD_FAILED: 400,
  NEEDS_MISMATCH: 400,
  NAME_TAKEN: 409,
  UNKNOWN_SKILL: 404,
  SKILL_IN_USE: 409,
  NEEDS_SUPERVISOR: 409,
  MIGRATION_REFUSED: 409,
  NOT_OWNER: 403,
}

export class SkillsFeature implements HubFeature {
  readonly name = 'skills'
  skills!: Skills
  hub!: Hub
  readonly counters = { refused: {} as Record<string, number> }
  /** The features of skills loaded at start, installed in order. */
  private features: HubFeature[] = []

  constructor(
    readonly webspaces: WebspaceFeature,
    readonly opts: SkillsFeatureOptions = {},
  ) {}

  async install(hub: Hub): Promise<void> {
    this.hub = hub
    const sys = hub.system
    sys.register('scenarioSwitch', scenarioHosted)
    const queue = () => {
      const q = sys.services.find(jobHost)
      return q instanceof JobQueue ? q : undefined
    }
    this.skills = new Skills({
      store: hub.store,
      dataDir: hub.dataDir,
      register: (name, m) => sys.register(name, m),
      unregister: (name) => sys.unregister(name),
      addJobType: (t) => queue()?.addType(t),
      removeJobType: (name) => queue()?.types.delete(name),
      actorsOf: (machine) =>
        sys
          .list()
          // finished actors (done) hold no machine state that new code could break
          .filter((a) => a.machine === machine && a.durable && a.status !== 'stopped' && a.status !== 'done')
          .map((a) => a.path),
      rehost: (path) => sys.rehost(path),
      checkpoint: () => sys.checkpoint(),
      reserved: new Set(['scenarioSwitch', ...Object.keys(hub.opts.machines ?? {})]),
    })
    const failed = await this.skills.loadAll(this.opts.sources)
    for (const f of failed) console.error(`[skills] ${f.name} (${f.provenance}) not loaded: ${f.message}`)
    sys.services.provide(skillsService, { skills: this.skills, webspaces: this.webspaces })
    this.routes(hub)
    hub.server.addMetrics(() => this.prometheus())
    await this.installFeatures(hub)
  }

  /**
   * The hub's `registry` subtree of a served webspace: every skill by name with its version,
   * provenance, checksum and kind; removed skills deleted. Written only where it differs.
   */
  async projectRegistry(webspace: string): Promise<void> {
    const host = this.webspaces.host
    if (!host.status(webspace).serving) return
    const want = new Map(this.skills.list().map((s) => [s.manifest.name, registryEntry(s)]))
    const writes: Write[] = []
    for (const [key, value] of want)
      if (JSON.stringify(host.entry(webspace, 'registry', key)) !== JSON.stringify(value))
        writes.push({ root: 'registry', key, value })
    for (const key of host.keys(webspace, 'registry'))
      if (!want.has(key)) writes.push({ root: 'registry', key, value: undefined })
    if (!writes.length) return
    checkWrites({ kind: 'hub' }, writes)
    await host.setEntries(webspace, writes)
  }

  /** Every served webspace's registry, after a skill changed. */
  private async projectRegistries(): Promise<void> {
    for (const a of this.hub.system.list())
      if (a.machine === 'webspace') await this.projectRegistry(a.path.slice('webspace:'.length))
  }

  /**
   * The features of the skills loaded at start (runtime code: only a start installs them, see
   * docs/skills.md), each checked against its `needs.routes`: the routes it added must be exactly
   * those. A feature that fails or adds other routes is an error of the hub's start.
   */
  private async installFeatures(hub: Hub): Promise<void> {
    const routes = () => new Set(hub.server.routeTable().routes.map((r) => `${r.method} ${r.path}`))
    for (const skill of this.skills.list()) {
      if (!skill.app?.features.length) continue
      const before = routes()
      for (const f of skill.app.features) {
        await f.install(hub)
        this.features.push(f)
      }
      const added = [...routes()].filter((r) => !before.has(r)).sort()
      const declared = [...skill.manifest.needs.routes].sort()
      if (added.join('\n') !== declared.join('\n'))
        throw new SkillError(
          'NEEDS_MISMATCH',
          `skill ${skill.manifest.name}: skill.json field "needs.routes" lists [${declared.join(', ')}] but its features added [${added.join(', ')}]`,
        )
    }
  }

  async close(): Promise<void> {
    for (const f of [...this.features].reverse()) await f.close?.()
  }

  /**
   * After recovery: the skills' features start; a restored or rebuilt webspace gets its registry and
   * effective scenario written again.
   */
  async start(hub: Hub): Promise<void> {
    for (const f of this.features) await f.start?.(hub)
    this.webspaces.host.onServe.add((name) => {
      this.projectRegistry(name).catch((err) => console.error(`[skills] registry of webspace ${name}:`, err))
      const a = hub.system.hosted(scenarioPath(name))
      const ctx = a?.actor?.getSnapshot?.().context as ScenarioContext | undefined
      if (!ctx?.effective || a?.actor?.getSnapshot?.().value !== 'settled') return
      const shown = this.webspaces.host.entry(name, 'ui', 'current_scenario')
      if (shown !== ctx.effective.name)
        hub.system.send(scenarioPath(name), scenarioEvents.reproject(Date.now()), 'hub.webspace')
    })
  }

  /** The switch actor of `webspace`, created on first use. */
  ensureSwitch(webspace: string): Promise<void> {
    return this.hub.system.ensure(scenarioPath(webspace), 'scenarioSwitch', { durable: true, input: { webspace } })
  }

  /** The switch's state value and context (undefined before its first use). */
  scenario(webspace: string): { value: unknown; context: ScenarioContext; status: string } | undefined {
    const a = this.hub.system.hosted(scenarioPath(webspace))
    const s = a?.actor?.getSnapshot?.()
    if (!a || !s) return undefined
    return { value: s.value, context: s.context, status: a.status }
  }

  /** The names of the scenarios whose switch has `name` effective or requested (a skill in use). */
  private usedBy(name: string): string | undefined {
    for (const a of this.hub.system.list()) {
      if (a.machine !== 'scenarioSwitch') continue
      const ctx = this.scenario(a.path.slice('scenario:'.length))?.context
      const e = ctx?.effective
      if (e && (e.name === name || e.skills.some((s) => s.name === name)))
        return `the effective scenario ${e.name} of webspace ${ctx.webspace} runs it; switch away first`
      if (ctx?.requested?.name === name) return `webspace ${ctx.webspace} is switching to it`
    }
    return undefined
  }

  /** `/metrics`: skills by provenance and state, refusals by code. */
  private prometheus(): string {
    const by = new Map<string, number>()
    for (const s of this.skills.list()) by.set(`${s.provenance}|loaded`, (by.get(`${s.provenance}|loaded`) ?? 0) + 1)
    for (const f of this.skills.failures) by.set(`${f.provenance}|failed`, (by.get(`${f.provenance}|failed`) ?? 0) + 1)
    let text = '# HELP aether_skills Skills the hub has, by provenance and state.\n# TYPE aether_skills gauge\n'
    for (const [k, n] of by) {
      const [provenance, state] = k.split('|')
      text += `aether_skills{provenance="${provenance}",state="${state}"} ${n}\n`
    }
    text +=
      '# HELP aether_skills_refused_total Skill actions refused, by code.\n# TYPE aether_skills_refused_total counter\n'
    for (const [code, n] of Object.entries(this.counters.refused))
      text += `aether_skills_refused_total{code="${code}"} ${n}\n`
    return text
  }

  /** A refused skill action: its code and message, and the plan when there is one (counted). */
  private fail(ctx: Ctx, err: unknown): undefined {
    if (!(err instanceof SkillError)) throw err
    this.counters.refused[err.code] = (this.counters.refused[err.code] ?? 0) + 1
    const plan = err.details && typeof err.details === 'object' && 'class' in err.details ? err.details : undefined
    sendJson(ctx.res, STATUS[err.code], { error: err.code, message: err.message, ...(plan ? { plan } : {}) })
    return undefined
  }

  private routes(hub: Hub): void {
    const s = hub.server
    s.route('GET', '/api/skills', () => ({
      skills: [
        ...this.skills.list().map(skillInfo),
        ...this.skills.failures.map((f) => ({ ...f, state: 'failed', error: f.message })),
      ],
    }))
    s.route('POST', '/api/skills', (ctx) => this.skillAction(ctx))
    s.route('GET', '/api/scenario', (ctx) => {
      const webspace = ctx.url.searchParams.get('webspace') ?? this.defaultWebspace
      checkWebspace(webspace)
      return this.scenarioInfo(webspace)
    })
    s.route('POST', '/api/scenario', (ctx) => this.switchScenario(ctx))
  }

  private get defaultWebspace(): string {
    return this.opts.defaultWebspace ?? 'desktop'
  }

  /** The token, then a JSON object body with only `fields` (400 naming an unknown one). */
  private async body(ctx: Ctx, fields: string[]): Promise<Record<string, unknown>> {
    const s = this.hub.server
    s.requireToken(ctx)
    const b = await s.body(ctx)
    if (typeof b !== 'object' || b === null || Array.isArray(b))
      throw new HttpError(400, `the body must be a JSON object {${fields.join(', ')}}`, 'BAD_BODY')
    for (const k of Object.keys(b))
      if (!fields.includes(k)) throw new HttpError(400, `unknown field "${k}" (${fields.join(', ')})`, 'BAD_BODY')
    return b as Record<string, unknown>
  }

  private async skillAction(ctx: Ctx): Promise<unknown> {
    const { action, dir, name, accept } = await this.body(ctx, ['action', 'dir', 'name', 'accept'])
    if (accept !== undefined && typeof accept !== 'boolean')
      throw new HttpError(400, 'field "accept" must be a boolean', 'BAD_BODY')
    if (action === 'remove') {
      if (typeof name !== 'string' || !SKILL_NAME_RE.test(name))
        throw new HttpError(400, 'field "name" must be the name of an installed skill', 'BAD_BODY')
      return this.skills
        .remove(name, (n) => this.usedBy(n))
        .then(async (r) => (await this.projectRegistries(), r))
        .catch((e) => this.fail(ctx, e))
    }
    if (action !== 'plan' && action !== 'install' && action !== 'refresh')
      throw new HttpError(400, 'field "action" must be plan, install, refresh or remove', 'BAD_BODY')
    if (typeof dir !== 'string' || !dir || dir.includes('\0'))
      throw new HttpError(
        400,
        'field "dir" must be the path of a skill folder (with skill.json) on the hub',
        'BAD_BODY',
      )
    const folder = resolve(dir)
    try {
      if (action === 'plan') return { plan: await this.skills.plan(folder, { accept: accept === true }) }
      const plan: SkillPlan = await this.skills.apply(folder, { accept: accept === true })
      await this.projectRegistries()
      if (action === 'refresh' && plan.from === null)
        return { plan, skill: skillInfo(this.skills.get(plan.skill)!), note: 'it was not installed: installed' }
      if (plan.class !== 'unchanged') ctx.res.statusCode = plan.from ? 200 : 201
      return { plan, skill: skillInfo(this.skills.get(plan.skill)!) }
    } catch (err) {
      return this.fail(ctx, err)
    }
  }

  private scenarioInfo(webspace: string): unknown {
    const st = this.scenario(webspace)
    const c = st?.context
    return {
      webspace,
      path: scenarioPath(webspace),
      state: st?.value ?? null,
      status: st?.status ?? null,
      requested: c?.requested ?? null,
      effective: c?.effective ?? null,
      error: c?.error ?? null,
      history: c?.history ?? [],
      shown: this.webspaces.host.entry(webspace, 'ui', 'current_scenario') ?? null,
    }
  }

  private async switchScenario(ctx: Ctx): Promise<unknown> {
    const { scenario, webspace = this.defaultWebspace } = await this.body(ctx, ['scenario', 'webspace'])
    if (typeof scenario !== 'string' || !SKILL_NAME_RE.test(scenario))
      throw new HttpError(400, 'field "scenario" must be the name of an installed scenario', 'BAD_BODY')
    checkWebspace(webspace)
    await this.ensureSwitch(webspace)
    const before = this.scenario(webspace)!
    if (before.value !== 'settled')
      throw new HttpError(
        409,
        `webspace ${webspace} is switching to ${before.context.requested?.name ?? '?'}; wait until it settles`,
        'SCENARIO_BUSY',
      )
    const id = before.context.requests + 1
    await this.hub.system.sendCommitted(scenarioPath(webspace), scenarioEvents.set(scenario, Date.now()), 'operator')
    const end = Date.now() + (this.opts.switchTimeoutMs ?? 30_000)
    for (;;) {
      const st = this.scenario(webspace)!
      const done = st.context.history.find((h) => h.id === id)
      if (done && st.value === 'settled') {
        if (done.outcome === 'failed') ctx.res.statusCode = 409
        return {
          ...(this.scenarioInfo(webspace) as object),
          outcome: done.outcome,
          ...(done.message ? { message: done.message } : {}),
        }
      }
      if (Date.now() > end) {
        ctx.res.statusCode = 202
        return this.scenarioInfo(webspace)
      }
      await new Promise((r) => setTimeout(r, 10))
    }
  }
}

function checkWebspace(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !WEBSPACE_NAME_RE.test(name))
    throw new HttpError(400, 'field "webspace" must be a webspace name: 1-100 of A-Z a-z 0-9 _ . -', 'BAD_BODY')
}

/** A skill as a webspace's `registry` shows it. */
function registryEntry(s: Skill): Record<string, unknown> {
  return {
    version: s.manifest.version,
    provenance: s.provenance,
    checksum: s.checksum,
    kind: s.manifest.scenario ? 'scenario' : 'skill',
  }
}

/** A skill as `GET /api/skills` lists it. */
export function skillInfo(s: Skill): Record<string, unknown> {
  return {
    name: s.manifest.name,
    version: s.manifest.version,
    provenance: s.provenance,
    checksum: s.checksum,
    state: 'loaded',
    kind: s.manifest.scenario ? 'scenario' : 'skill',
    source: s.source,
    dir: s.dir,
    installedAt: s.installedAt,
    needs: s.manifest.needs,
    machines: Object.keys(s.machines),
    ...(s.manifest.scenario ? { scenario: { skills: s.manifest.scenario.skills } } : {}),
  }
}
