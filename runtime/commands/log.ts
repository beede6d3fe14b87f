import { createWriteStream } from 'node:fs'
import { resolve } from 'node:path'
import { exportLog } from '../../actors/index.ts'
import { UsageError, type Command } from '../args.ts'
import { builtinMachines } from '../builtinMachines.ts'
import { LevelStore } from '../LevelStore.ts'
import { loadMachine } from '../loadMachine.ts'
import { appMachine } from '../app.ts'
import { requestServer, serverFlag, serverUrl } from './remote.ts'

export const logCommand: Command = {
  name: 'log',
  summary: "export an actor's journal as an aether.log/1 log (aether log export ID)",
  usage:
    'aether log export ID [--data DIR | --url URL] [--snapshots all|stored] [--out FILE] [--machine MODULE [--export NAME] | --app FILE]',
  positionals: [
    { name: 'export', help: 'the subcommand', required: true },
    { name: 'ID', help: "the actor's id path", required: true },
  ],
  flags: {
    data: { type: 'string', arg: 'DIR', help: 'LevelDB data folder of a stopped hub', default: '.aether' },
    url: serverFlag('export through a running hub instead (its data folder is locked)', null),
    snapshots: {
      type: 'string',
      arg: 'all|stored',
      help: 'all: a snapshot line after every event (needs the machine); stored: the checkpoints only',
      default: 'all',
    },
    out: { type: 'string', arg: 'FILE', help: 'write to FILE instead of standard output' },
    machine: {
      type: 'string',
      arg: 'MODULE',
      help: 'with --data: module exporting the machine, when it is not one of the built-in machines',
    },
    export: { type: 'string', arg: 'NAME', help: "the export of --machine to use (default: the actor's machine name)" },
    app: { type: 'string', arg: 'FILE', help: "with --data: an app module (defineApp) that has the actor's machine" },
  },
  details: `
Snapshot lines after stored checkpoints, and the last one of a running hub's export, are what the
actor was; the others are computed by pure replay with the machine at export time. Both modes end
with the final state when it is known (stored, live, or computed from the last checkpoint with
the machine), which \`aether replay --verify\` compares.

exit codes: 0 written; 1 the journal could not be read (e.g. JOURNAL_GAP); 2 usage error, unknown
actor, a data folder in use by a running hub (use --url), or a machine that is needed but unknown.`,
  async run({ flags, positionals }) {
    const [sub, id, extra] = positionals
    if (sub !== 'export')
      throw new UsageError(
        sub ? `unknown subcommand "${sub}" (only "export")` : 'missing subcommand: aether log export ID',
      )
    if (!id) throw new UsageError("missing ID (the actor's id path)")
    if (extra) throw new UsageError(`unexpected argument "${extra}"`)
    const snapshots = flags.snapshots
    if (snapshots !== 'all' && snapshots !== 'stored')
      throw new UsageError(`--snapshots takes "all" or "stored", got "${snapshots}"`)
    if (flags.url && flags.machine)
      throw new UsageError('--machine applies to --data: a running hub computes snapshots with its own machines')
    if (flags.export !== undefined && !flags.machine) throw new UsageError('--export needs --machine MODULE')
    if (flags.app && (flags.machine || flags.url))
      throw new UsageError('--app applies to --data, instead of --machine (a running hub has its app already)')
    // Opened at the first line, so a failed export leaves no empty file behind.
    let out: NodeJS.WritableStream | undefined
    const write = (s: string) => {
      out ??= flags.out ? createWriteStream(resolve(String(flags.out))) : process.stdout
      return out.write(s) ? undefined : new Promise<void>((r) => out!.once('drain', () => r()))
    }
    if (flags.url) {
      const path = `/api/actors/${id.split('/').map(encodeURIComponent).join('/')}/log?snapshots=${snapshots}`
      const server = serverUrl(flags.url, 'url')
      const res = await requestServer(server, path, 'url')
      if (!res.ok) {
        const body = await res.text()
        let answer: { error?: string; message?: string } = {}
        try {
          answer = JSON.parse(body)
        } catch {}
        if (answer.error === 'MACHINE_NEEDED') throw new UsageError(`the hub says: ${answer.message}`)
        throw Object.assign(new Error(`${res.status} from ${new URL(path, server)}: ${body}`), {
          code: res.status === 404 ? 'UNKNOWN_ACTOR' : answer.error,
        })
      }
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) await write(Buffer.from(chunk).toString('utf8'))
    } else {
      const store = await LevelStore.open(resolve(String(flags.data)))
      try {
        const meta = await store.getMeta(id)
        let machine = meta ? builtinMachines[meta.machine] : undefined
        if (flags.machine && meta)
          machine = await loadMachine(
            String(flags.machine),
            String(flags.export ?? meta.machine),
            flags.export === undefined ? ` (the machine of ${id})` : '',
          )
        if (flags.app && meta) machine = await appMachine(String(flags.app), meta.machine, id)
        if (meta && snapshots === 'all' && !machine)
          throw new UsageError(
            `a snapshot after every event needs the machine "${meta.machine}", which is not built in: pass --machine MODULE or --app FILE, or --snapshots stored for the checkpoints only`,
          )
        for await (const chunk of exportLog(store, id, { snapshots, machine })) await write(chunk)
      } finally {
        await store.close()
      }
    }
    if (out && out !== process.stdout) await new Promise<void>((r) => out!.end(r))
    return 0
  },
}
