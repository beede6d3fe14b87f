/**
 * Who may write which subtree of a webspace (a Yjs document whose root maps are the subtrees):
 *
 * | subtree          | owner                                                          |
 * | ---------------- | -------------------------------------------------------------- |
 * | `ui`             | the effective scenario, written only by the scenario switch     |
 * | `data/<skill>`   | the skill that lists `data/<skill>` (or `data`) in `needs.yjs`  |
 * | `registry`       | the hub's skill registry                                        |
 * | `installed`      | the webspace's users (desktop items they installed and opened)  |
 *
 * A write through the hub names its owner and each path; a path outside what the owner holds is
 * refused (`NOT_OWNER`) before anything is written, so a scenario cannot clear the users'
 * installed items or another skill's data, and its writes are all or nothing.
 */
import { SkillError } from './manifest.ts'

export type Owner = { kind: 'scenario'; name: string; skills: Array<{ name: string; yjs: string[] }> } | { kind: 'hub' }

/** One entry to set: `root` map, `key` in it. */
export interface Write {
  root: string
  key: string
  value: unknown
}

/** The subtrees an owner may write, as `root` or `root/key`. */
export function ownedBy(owner: Owner): string[] {
  if (owner.kind === 'hub') return ['registry']
  const out = ['ui']
  for (const s of owner.skills)
    for (const y of s.yjs) if (y === `data/${s.name}` || y === 'data') out.push(`data/${s.name}`)
  return out
}

/** Throws `NOT_OWNER` for the first write outside what `owner` holds. */
export function checkWrites(owner: Owner, writes: Write[]): void {
  const owned = ownedBy(owner)
  for (const w of writes) {
    const path = `${w.root}/${w.key}`
    if (owned.includes(w.root) || owned.includes(path)) continue
    const who = owner.kind === 'hub' ? 'the hub' : `scenario ${owner.name}`
    throw new SkillError(
      'NOT_OWNER',
      `${who} may not write ${path}: it owns ${owned.join(', ')} (${w.root === 'installed' ? 'installed items belong to the users' : w.root === 'registry' ? 'registry belongs to the hub' : `data/<skill> belongs to a skill of the scenario that lists it in needs.yjs`})`,
      { path, owned },
    )
  }
}
