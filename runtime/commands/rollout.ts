/**
 * `aether rollout members | list | update SOURCE | rollback | cancel ID | cancel-member NAME`: a running hub's members
 * and the rollouts over them (docs/members.md), over its API.
 */
import { UsageError, type Command } from '../args.ts'
import { setting } from '../config.ts'
import { requestServer, serverFlag, serverUrl, subAction, tokenFlag } from './remote.ts'

const SUBS = ['members', 'list', 'update', 'rollback', 'cancel', 'cancel-member'] as const

export const rolloutCommand: Command = {
  name: 'rollout',
  summary: "list a hub's members and rollouts; update, roll back or cancel a rollout over its members",
  usage:
    'aether rollout members|list|update SOURCE|rollback|cancel ID|cancel-member NAME [--members a,b | --prefix P | --on-version V] [--canary N] [--reason R] [--url URL] [--token T]',
  details: `update SOURCE asks the hub to roll the slot image at SOURCE (a path on the members' disks) out to the
members named by --members, or chosen by --prefix / --on-version (all members when none is given):
the first --canary members (default 1) first, then the rest. rollback rolls the members back to the
version in their inactive slot, the same way. cancel ID lets the running wave finish and starts no
further wave (--reason is required). cancel-member NAME cancels that member's update in progress
(--reason is required; 1 when the member refuses or does not answer).
Exit codes: 0 done (update/rollback: the rollout was accepted and runs on the hub; follow it with
aether rollout list), 1 refused by the hub (a rollout already runs, it has ended) or the hub
unreachable, 2 usage error or a request the hub rejects as bad (a bad field, no member matching the selector).`,
  positionals: [
    { name: 'ACTION', help: SUBS.join(' | '), required: true },
    { name: 'TARGET', help: 'the slot image folder (update), the rollout id (cancel) or a member (cancel-member)' },
  ],
  flags: {
    url: serverFlag('the running hub'),
    token: tokenFlag,
    members: { type: 'string', arg: 'a,b', help: 'the members, in order (the first --canary are the canary wave)' },
    prefix: { type: 'string', arg: 'P', help: 'all members whose name starts with P' },
    'on-version': { type: 'string', arg: 'V', help: 'all members running version V' },
    canary: { type: 'number', arg: 'N', help: 'members in the first wave', default: 1 },
    version: { type: 'string', arg: 'V', help: 'the version SOURCE must hold (checked by each member)' },
    reason: { type: 'string', arg: 'R', help: 'why (cancel)' },
    json: { type: 'boolean', help: "print the hub's JSON answer" },
  },
  async run({ flags, positionals }) {
    const [sub, target] = subAction(positionals, SUBS)
    const base = serverUrl(flags.url, 'url')
    const token = setting('token', flags.token)
    const read = sub === 'members' || sub === 'list'
    if (!read && !token) throw new UsageError(`${sub} needs the hub token: pass --token T or set AETHER_TOKEN`)
    let path = sub === 'members' ? '/api/members' : '/api/rollouts'
    let body: Record<string, unknown> | undefined
    if (sub === 'update' || sub === 'rollback') {
      if (sub === 'update' && !target) throw new UsageError('update needs the SOURCE slot image folder')
      if (sub === 'rollback' && target) throw new UsageError(`unexpected argument "${target}"`)
      const canary = flags.canary as number
      if (!Number.isInteger(canary) || canary < 1) throw new UsageError('--canary must be an integer >= 1')
      const names = flags.members === undefined ? undefined : String(flags.members).split(',').filter(Boolean)
      if (names && (flags.prefix !== undefined || flags['on-version'] !== undefined))
        throw new UsageError('give --members, or --prefix / --on-version, not both')
      body = {
        action: sub,
        ...(sub === 'update' ? { source: target } : {}),
        ...(flags.version !== undefined ? { version: String(flags.version) } : {}),
        canary,
        ...(names
          ? { members: names }
          : {
              selector: {
                ...(flags.prefix !== undefined ? { prefix: String(flags.prefix) } : {}),
                ...(flags['on-version'] !== undefined ? { version: String(flags['on-version']) } : {}),
              },
            }),
      }
    } else if (sub === 'cancel') {
      if (!target) throw new UsageError('cancel needs the rollout ID (aether rollout list)')
      if (typeof flags.reason !== 'string' || !flags.reason.trim()) throw new UsageError('cancel needs --reason R')
      path = '/api/rollouts/cancel'
      body = { id: target, reason: flags.reason }
    } else if (sub === 'cancel-member') {
      if (!target) throw new UsageError('cancel-member needs the member NAME (aether rollout members)')
      if (typeof flags.reason !== 'string' || !flags.reason.trim())
        throw new UsageError('cancel-member needs --reason R')
      path = '/api/members/cancel'
      body = { member: target, reason: flags.reason }
    } else if (target) throw new UsageError(`unexpected argument "${target}"`)
    const res = await requestServer(base, path, 'url', {
      method: body ? 'POST' : 'GET',
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    })
    const out = (await res.json().catch(() => ({}))) as any
    if (flags.json) console.log(JSON.stringify(out, null, 2))
    if (!res.ok) {
      console.error(`aether rollout ${sub}: ${res.status} ${out.error ?? ''}: ${out.message ?? ''}`)
      return res.status === 409 || res.status >= 500 ? 1 : 2 // 504: the member did not answer
    }
    if (flags.json) return 0
    if (sub === 'members') {
      console.log(`hub ${out.hub}  link ${out.link}  cohort ${out.cohort.state} (${out.cohort.reason})`)
      for (const m of out.members) {
        const s = m.snapshot
        console.log(
          `${m.name.padEnd(16)} ${m.freshness.padEnd(8)} ${String(s?.version ?? '-').padEnd(12)} slot ${s?.slot ?? '-'}  ${s?.phase ?? '-'}  update ${s?.update.state ?? '-'}${m.lastRequest ? `  last ${m.lastRequest.action} ${m.lastRequest.result}/${m.lastRequest.outcome ?? '-'}` : ''}`,
        )
      }
    } else if (sub === 'list') {
      if (!out.rollouts.length) console.log('no rollouts')
      for (const r of out.rollouts) printRollout(r)
    } else if (sub === 'cancel-member') console.log(`${out.member}: cancel accepted (now ${out.state})`)
    else printRollout(out)
    return 0
  },
}

function printRollout(r: any): void {
  console.log(
    `${r.id}  ${r.action} ${r.version ?? r.source ?? ''}  ${typeof r.state === 'string' ? r.state : JSON.stringify(r.state)}  wave ${r.wave + 1}/${r.waves.length}${r.outcome ? `  ${r.outcome}` : ''}${r.reason ? `: ${r.reason}` : ''}`,
  )
  for (const [name, m] of Object.entries<any>(r.members))
    console.log(`  ${name.padEnd(16)} wave ${m.wave + 1}  ${m.status}${m.reason ? `  ${m.reason}` : ''}`)
}
