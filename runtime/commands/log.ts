import { createWriteStream } from 'node:fs'
import { resolve } from 'node:path'
import { exportLog } from '../../actors/index.ts'
import { UsageError, type Command } from '../args.ts'
import { builtinMachines } from '../builtinMachines.ts'
import { LevelStore } from '../LevelStore.ts'
import { loadMachine } from '../loadMachine.ts'

export const logCommand: Command = {
  name: 'log',
  summary: "export an actor's journal as an aether.log/1 log (aether log export ID)",
  usage: 'aether log export ID [--data DIR | --url URL] [--snapshots all] [--out FILE] [--machine MODULE]',
  positionals: [
    { name: 'export', help: 'the subcommand', required: true },
    { name: 'ID', help: "the actor's id path", required: true },
  ],
  flags: {
    data: { type: 'string', arg: 'DIR', help: 'LevelDB data folder of a stopped hub', default: '.aether' },
    url: { type: 'string', arg: 'URL', help: 'export through a running hub instead (its data folder is locked)' },
    snapshots: { type: 'string', arg: 'all', help: 'add a snapshot line after every event (computed by pure replay)' },
    out: { type: 'string', arg: 'FILE', help: 'write to FILE instead of standard output' },
    machine: {
      type: 'string',
      arg: 'MODULE',
      help: 'module exporting the machine, for --snapshots all when it is not built in',
    },
    export: { type: 'string', arg: 'NAME', help: 'the export of --machine to use', default: 'default' },
  },
  async run({ flags, positionals }) {
    const [sub, id, extra] = positionals
    if (sub !== 'export')
      throw new UsageError(
        sub ? `unknown subcommand "${sub}" (only "export")` : 'missing subcommand: aether log export ID',
      )
    if (!id) throw new UsageError("missing ID (the actor's id path)")
    if (extra) throw new UsageError(`unexpected argument "${extra}"`)
    if (flags.snapshots !== undefined && flags.snapshots !== 'all') throw new UsageError('--snapshots takes only "all"')
    const out = flags.out ? createWriteStream(resolve(String(flags.out))) : process.stdout
    const write = (s: string) => (out.write(s) ? undefined : new Promise<void>((r) => out.once('drain', () => r())))
    if (flags.url) {
      const u = new URL(`/api/actors/${id.split('/').map(encodeURIComponent).join('/')}/log`, String(flags.url))
      if (flags.snapshots) u.searchParams.set('snapshots', 'all')
      const res = await fetch(u)
      if (!res.ok)
        throw Object.assign(new Error(`${res.status} from ${u}: ${await res.text()}`), {
          code: res.status === 404 ? 'UNKNOWN_ACTOR' : undefined,
        })
      for await (const chunk of res.body as any) await write(Buffer.from(chunk).toString('utf8'))
    } else {
      const store = await LevelStore.open(resolve(String(flags.data)))
      try {
        const meta = await store.getMeta(id)
        let machine = meta ? builtinMachines[meta.machine] : undefined
        if (flags.machine) machine = await loadMachine(String(flags.machine), String(flags.export))
        if (flags.snapshots === 'all' && !machine)
          throw new UsageError(`--snapshots all needs the machine "${meta?.machine}": pass --machine MODULE`)
        for await (const chunk of exportLog(store, id, {
          snapshots: flags.snapshots === 'all' ? 'all' : 'stored',
          machine,
        }))
          await write(chunk)
      } finally {
        await store.close()
      }
    }
    if (out !== process.stdout) await new Promise<void>((r) => (out as any).end(r))
    return 0
  },
}
