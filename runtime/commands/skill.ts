/**
 * `aether skill list | plan DIR | install DIR | refresh DIR | remove NAME | checksum DIR`: a
 * running hub's skills over its API (the hub loads them; the folder must be readable by the hub),
 * and the checksum a skill.json pins, computed locally.
 */
import { resolve } from 'node:path'
import { UsageError, type Command } from '../args.ts'
import { setting } from '../config.ts'
import { checksumDir } from '../skills/manifest.ts'
import { requestServer, serverFlag, serverUrl, subAction, tokenFlag } from './remote.ts'

const SUBS = ['list', 'plan', 'install', 'refresh', 'remove', 'checksum'] as const

export const skillCommand: Command = {
  name: 'skill',
  summary: "list, plan, install, refresh or remove a running hub's skills; print a skill folder's checksum",
  usage: 'aether skill list|plan|install|refresh|remove|checksum [DIR|NAME] [--url URL] [--token T] [--accept]',
  details: `Exit codes: 0 done (or planned), 1 refused by the hub (runtime code that needs aether supervisor,
a migration that blocks, a skill in use) or the hub unreachable, 2 usage error or a bad skill
(manifest, checksum, needs). plan shows the change class and path without changing anything.`,
  positionals: [
    { name: 'ACTION', help: SUBS.join(' | '), required: true },
    { name: 'TARGET', help: 'the skill folder (plan, install, refresh, checksum) or the skill name (remove)' },
  ],
  flags: {
    url: serverFlag('the running hub'),
    token: tokenFlag,
    accept: { type: 'boolean', help: 'refresh even when stored actors diverge under the new machine code' },
    json: { type: 'boolean', help: "print the hub's JSON answer" },
  },
  async run({ flags, positionals }) {
    const [sub, target] = subAction(positionals, SUBS)
    if (sub !== 'list' && !target) throw new UsageError(`${sub} needs the skill ${sub === 'remove' ? 'NAME' : 'DIR'}`)
    if (sub === 'checksum') {
      console.log(checksumDir(resolve(target!)))
      return 0
    }
    const token = setting('token', flags.token)
    const base = serverUrl(flags.url, 'url')
    if (sub !== 'list' && !token) throw new UsageError(`${sub} needs the hub token: pass --token T or set AETHER_TOKEN`)
    const body =
      sub === 'remove'
        ? { action: sub, name: target }
        : { action: sub, dir: resolve(target ?? '.'), ...(flags.accept ? { accept: true } : {}) }
    const res = await requestServer(base, '/api/skills', 'url', {
      method: sub === 'list' ? 'GET' : 'POST',
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(sub === 'list' ? {} : { 'content-type': 'application/json' }),
      },
      body: sub === 'list' ? undefined : JSON.stringify(body),
    })
    const out = (await res.json().catch(() => ({}))) as any
    if (flags.json) console.log(JSON.stringify(out, null, 2))
    if (!res.ok) {
      console.error(`aether skill ${sub}: ${res.status} ${out.error ?? ''}: ${out.message ?? ''}`)
      if (out.plan && !flags.json) printPlan(out.plan)
      return res.status === 409 || res.status >= 500 ? 1 : 2
    }
    if (flags.json) return 0
    if (sub === 'list') {
      if (!out.skills.length) console.log('no skills')
      for (const s of out.skills)
        console.log(
          `${s.name.padEnd(20)} ${String(s.version ?? '-').padEnd(10)} ${s.provenance.padEnd(10)} ${s.state.padEnd(7)} ${s.checksum ?? s.error}`,
        )
    } else if (sub === 'remove') console.log(`removed ${out.removed}`)
    else {
      printPlan(out.plan)
      if (sub !== 'plan')
        console.log(
          `${out.plan.class === 'unchanged' ? 'unchanged' : 'done'}: ${out.skill.name} ${out.skill.version} (${out.skill.provenance})`,
        )
    }
    return 0
  },
}

function printPlan(p: any): void {
  const from = p.from ? `${p.from.version} (${p.from.provenance})` : 'not installed'
  console.log(`${p.skill}: ${from} -> ${p.to.version} ${p.to.checksum}`)
  console.log(`  class  ${p.class}`)
  console.log(`  path   ${p.path}`)
  const m = p.migration
  if (m)
    console.log(
      `  migration: ${m.checked} actor(s) checked: ${m.identical.length} identical, ${m.diverged.length} diverge, ${m.stranded.length} stranded, ${m.timers.length} with timers in removed states`,
    )
  for (const d of m?.diverged ?? []) console.log(`    diverges ${d.path} at seq ${d.seq}: ${d.message}`)
  for (const d of m?.stranded ?? []) console.log(`    stranded ${d.path} in "${d.state}"`)
  if (p.refused) console.log(`  refused: ${p.refused}`)
}
