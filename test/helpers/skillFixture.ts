/**
 * Skill folders for tests: `skill.json` (with the folder's checksum), a package.json saying
 * `"type": "module"` and an entry that imports Aether and XState by absolute path (as a copy in a
 * hub's data folder still resolves them).
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { checksumDir } from '../../runtime/skills/manifest.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))
export const AETHER_ENTRY = join(root, 'index.ts')
export const XSTATE = join(root, 'node_modules/xstate/dist/xstate.esm.js')

export interface FixtureSpec {
  name: string
  version?: string
  /** The entry's source (omit for a content-only skill or a scenario). */
  entry?: string
  needs?: Record<string, string[]>
  scenario?: Record<string, unknown>
  /** Other files of the folder. */
  files?: Record<string, string>
  /** Write this checksum instead of the folder's. */
  checksum?: string
}

/** Writes the skill folder `parent/<name>` and returns its path. */
export function writeSkill(parent: string, spec: FixtureSpec): string {
  const dir = join(parent, spec.name)
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n')
  if (spec.entry) writeFileSync(join(dir, 'index.ts'), spec.entry)
  for (const [f, text] of Object.entries(spec.files ?? {})) {
    mkdirSync(join(dir, f, '..'), { recursive: true })
    writeFileSync(join(dir, f), text)
  }
  const manifest: Record<string, unknown> = {
    name: spec.name,
    version: spec.version ?? '1.0.0',
    checksum: spec.checksum ?? checksumDir(dir),
    needs: spec.needs ?? {},
  }
  if (spec.entry) manifest.entry = 'index.ts'
  if (spec.scenario) manifest.scenario = spec.scenario
  writeFileSync(join(dir, 'skill.json'), `${JSON.stringify(manifest, null, 2)}\n`)
  return dir
}

/**
 * A skill with one machine `<machine>`: idle --go--> `target`; `extra` adds states (a new machine
 * version that replays identically).
 */
export function machineSkill(machine: string, opts: { target?: string; extra?: string; check?: string } = {}): string {
  const target = opts.target ?? 'busy'
  return `import { defineApp } from '${AETHER_ENTRY}'
import { setup } from '${XSTATE}'
const ${machine} = setup({}).createMachine({
  id: '${machine}',
  initial: 'idle',
  states: {
    idle: { on: { go: '${target}' } },
    busy: { on: { stop: 'idle' } },
    elsewhere: { on: { stop: 'idle' } },${opts.extra ?? ''}
  },
})
${opts.check ?? ''}
export default defineApp({ machines: { ${machine} } })
`
}

/** `(method, path, body?) => {status, body}` against a hub, with its token. */
export function jsonApi(url: string, token: string) {
  return async (method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> => {
    const res = await fetch(url + path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    })
    return { status: res.status, body: await res.json() }
  }
}
