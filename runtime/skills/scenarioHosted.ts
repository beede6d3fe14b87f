/**
 * The `scenarioSwitch` machine with its effects bound. Each takes the hub's skills and webspaces
 * from the `skills` service, which the skills feature provides at install, before recovery: a
 * switch recovered mid-effect finds it on the first lookup.
 *
 * - `prepare` loads and checks: the scenario is an installed skill with a `scenario` section; every
 *   skill it names is installed, its copy still has its checksum, and its `check()` export (if
 *   any) resolves; every write of the projection is to a subtree the scenario owns
 *   (runtime/skills/ownership.ts). Nothing is written.
 * - `commit` writes the projection (`ui.current_scenario`, `ui.scenario`, `data.<skill>`) in one
 *   transaction once the webspace is served, and resolves when it is in LevelDB. Writing the same
 *   projection twice changes nothing a reader sees, so a commit restarted after a crash is harmless.
 */
import { fromPromise } from 'xstate'
import { defineService, serviceOf } from '../../actors/index.ts'
import { type Projection, type ScenarioRef, scenarioSwitch } from '../../machines/scenarioSwitch.ts'
import type { WebspaceFeature } from '../webspace/webspaceFeature.ts'
import { checksumDir, SkillError } from './manifest.ts'
import { checkWrites, type Write } from './ownership.ts'
import type { Skills } from './Skills.ts'

export interface SkillsBinding {
  skills: Skills
  webspaces: WebspaceFeature
  /** How long a commit waits for its webspace to be served (default 30 s). */
  serveTimeoutMs?: number
}

/** The hub's skills and webspaces, for the scenario switch's effects. */
export const skillsService = defineService<SkillsBinding>('skills')

/** The entries a projection sets, in the webspace's root maps. */
export function projectionWrites(scenario: string, p: Projection): Write[] {
  return [
    { root: 'ui', key: 'current_scenario', value: scenario },
    { root: 'ui', key: 'scenario', value: p.ui },
    ...Object.entries(p.data).map(([skill, value]) => ({ root: 'data', key: skill, value })),
  ]
}

/** Loads and checks the scenario `name` and what it runs (the `prepare` effect). */
export async function prepareScenario(b: SkillsBinding, name: string): Promise<ScenarioRef> {
  const sc = b.skills.get(name)
  if (!sc) throw new SkillError('UNKNOWN_SKILL', `no scenario "${name}" is installed`)
  const spec = sc.manifest.scenario
  if (!spec) throw new SkillError('UNKNOWN_SKILL', `skill ${name} is not a scenario (its skill.json has no "scenario")`)
  const skills: ScenarioRef['skills'] = []
  for (const n of [name, ...spec.skills]) {
    const s = b.skills.get(n)
    if (!s) throw new SkillError('UNKNOWN_SKILL', `scenario ${name} needs skill ${n}, which is not installed`)
    if (s.checksum !== 'dev') {
      const now = checksumDir(s.dir)
      if (now !== s.checksum)
        throw new SkillError(
          'CHECKSUM_MISMATCH',
          `skill ${n}: its copy ${s.dir} has checksum ${now}, installed as ${s.checksum}; install it again`,
        )
    }
    try {
      await s.check?.()
    } catch (err) {
      throw new SkillError('LOAD_FAILED', `skill ${n}: its check failed: ${(err as Error)?.message ?? String(err)}`)
    }
    skills.push({ name: n, version: s.manifest.version, checksum: s.checksum, provenance: s.provenance })
  }
  const projection: Projection = { ui: { name, version: sc.manifest.version, ...spec.ui }, data: spec.data }
  const owners = spec.skills.map((n) => ({ name: n, yjs: b.skills.get(n)!.manifest.needs.yjs }))
  checkWrites({ kind: 'scenario', name, skills: owners }, projectionWrites(name, projection))
  return { name, version: sc.manifest.version, checksum: sc.checksum, skills, projection }
}

/** Writes the projection once the webspace is served; resolves when it is durable. */
export async function commitScenario(b: SkillsBinding, webspace: string, scenario: ScenarioRef): Promise<void> {
  await b.webspaces.ensure(webspace)
  const end = Date.now() + (b.serveTimeoutMs ?? 30_000)
  while (!b.webspaces.host.status(webspace).serving) {
    if (Date.now() > end)
      throw new Error(`webspace "${webspace}" was not served within ${b.serveTimeoutMs ?? 30_000} ms`)
    await new Promise((r) => setTimeout(r, 10))
  }
  await b.webspaces.host.setEntries(webspace, projectionWrites(scenario.name, scenario.projection))
}

export const scenarioHosted = scenarioSwitch.provide({
  actors: {
    prepare: fromPromise(async ({ input, self }) => ({
      scenario: await prepareScenario(serviceOf(self, skillsService), input.name),
      at: Date.now(),
    })),
    commit: fromPromise(async ({ input, self }) => {
      await commitScenario(serviceOf(self, skillsService), input.webspace, input.scenario)
      return { at: Date.now() }
    }),
  },
})
