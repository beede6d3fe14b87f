import type { Command } from '../args.ts'
import { requestServer, serverFlag, serverUrl } from './remote.ts'
import { formatTree, type ReliabilityReport } from '../../protocol/index.ts'

export const reliabilityCommand: Command = {
  name: 'reliability',
  summary: "print a hub's or root's readiness tree, degraded matrix, incidents and channel stability",
  usage: 'aether reliability [--url U] [--json]',
  flags: {
    url: serverFlag('the hub or root to ask'),
    json: { type: 'boolean', help: 'print the report as JSON' },
  },
  async run({ flags }) {
    const base = serverUrl(flags.url, 'url')
    const res = await requestServer(base, '/api/reliability', 'url')
    if (!res.ok) {
      console.error(
        `aether reliability: ${base.origin}/api/reliability answered ${res.status}: ${(await res.text()).slice(0, 200)}`,
      )
      return 1
    }
    const r = (await res.json()) as ReliabilityReport
    if (flags.json) {
      console.log(JSON.stringify(r, null, 2))
      return r.status === 'ready' || r.status === 'unknown' ? 0 : 1
    }
    console.log(`${r.role} ${r.node}: ${r.status.toUpperCase()}  (${new Date(r.at).toISOString()})`)
    console.log('')
    for (const line of formatTree(r.tree)) console.log('  ' + line)
    if (r.matrix.length) {
      console.log('\nallowed now:')
      for (const m of r.matrix)
        console.log(`  ${m.allowed ? 'yes' : 'NO '}  ${m.capability}${m.why ? `  (${m.why})` : ''}`)
    }
    if (r.channels.length) {
      console.log('\nchannel stability:')
      for (const c of r.channels)
        console.log(
          `  ${c.channel.padEnd(14)} ${c.level.padEnd(9)} score ${c.score}  incidents ${c.incidents}  reconnects ${c.reconnects}`,
        )
    }
    const recent = r.incidents.slice(-10)
    if (recent.length) {
      console.log(`\nrecent incidents (${r.incidents.length}):`)
      for (const i of recent) console.log(`  ${new Date(i.at).toISOString()}  [${i.class}] ${i.subject}: ${i.message}`)
    }
    return r.status === 'ready' || r.status === 'unknown' ? 0 : 1
  },
}
