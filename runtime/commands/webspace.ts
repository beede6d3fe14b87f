/**
 * `aether webspace list | show NAME | create NAME | backup NAME [--file F] | restore NAME --file F
 * | reset NAME | reload NAME`: the operator's actions on a running hub's webspaces, over its API
 * (the hub holds the data folder's lock). Actions that change state need the token.
 */
import { UsageError, type Command } from '../args.ts'
import { setting } from '../config.ts'
import { requestServer, serverFlag, serverUrl, subAction, tokenFlag } from './remote.ts'

const SUBS = ['list', 'show', 'create', 'backup', 'restore', 'reset', 'reload'] as const

export const webspaceCommand: Command = {
  name: 'webspace',
  summary: "list, back up, restore, reset or reload a running hub's Yjs webspaces",
  usage: 'aether webspace list|show|create|backup|restore|reset|reload [NAME] [--file F] [--url URL] [--token T]',
  positionals: [
    { name: 'ACTION', help: SUBS.join(' | '), required: true },
    { name: 'NAME', help: 'the webspace (all but list)' },
  ],
  flags: {
    url: serverFlag('the running hub'),
    token: tokenFlag,
    file: {
      type: 'string',
      arg: 'FILE',
      help: 'backup: where to write (default <data>/backups/NAME/); restore: the backup to restore',
    },
    content: { type: 'boolean', help: 'show: include the document as JSON' },
    json: { type: 'boolean', help: "print the hub's JSON answer" },
  },
  async run({ flags, positionals }) {
    const [sub, name] = subAction(positionals, SUBS)
    if (sub !== 'list' && !name) throw new UsageError(`${sub} needs the webspace NAME`)
    if (sub === 'restore' && !flags.file) throw new UsageError('restore needs --file FILE (a backup)')
    if (flags.file !== undefined && sub !== 'backup' && sub !== 'restore')
      throw new UsageError('--file is for backup and restore')
    const token = setting('token', flags.token)
    const base = serverUrl(flags.url, 'url')
    const enc = name ? encodeURIComponent(name) : ''
    let method = 'GET'
    let path = '/api/webspaces'
    let body: unknown
    if (sub === 'show') path = `/api/webspaces/${enc}${flags.content ? '?content=1' : ''}`
    else if (sub === 'create') [method, body] = ['POST', { name }]
    else if (sub !== 'list') {
      method = 'POST'
      path = `/api/webspaces/${enc}/${sub}`
      if (flags.file) body = { file: String(flags.file) }
    }
    if (method === 'POST' && !token) throw new UsageError(`${sub} changes state: pass --token T or set AETHER_TOKEN`)
    const res = await requestServer(base, path, 'url', {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    })
    const out = (await res.json().catch(() => ({}))) as any
    if (!res.ok) {
      console.error(`aether webspace ${sub}: ${res.status} ${out.error ?? ''}: ${out.message ?? ''}`)
      return res.status === 401 || res.status === 400 || res.status === 404 ? 2 : 1
    }
    if (flags.json) console.log(JSON.stringify(out, null, 2))
    else if (sub === 'list') {
      if (!out.webspaces.length) console.log('no webspaces')
      for (const w of out.webspaces)
        console.log(`${w.name.padEnd(24)} ${JSON.stringify(w.value).padEnd(24)} epoch ${w.epoch}  peers ${w.peers}`)
    } else if (sub === 'show') console.log(JSON.stringify(out, null, 2))
    else {
      const state = JSON.stringify(out.value)
      const extraInfo =
        sub === 'backup' && out.lastBackup
          ? ` -> ${out.lastBackup.file} (${out.lastBackup.bytes} bytes)`
          : sub === 'restore' || sub === 'reset'
            ? ` (epoch ${out.epoch})`
            : ''
      console.log(
        `${name}: ${sub} ${out.settled === false ? 'still running' : 'done'}, now ${state}${extraInfo}${out.lastError ? `; last error: ${out.lastError}` : ''}`,
      )
      if (out.settled === false) return 1
    }
    return 0
  },
}
