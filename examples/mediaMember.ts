/**
 * A member node producing media for routes (docs/rtc.md, "Media routes"): a Node process with an
 * RtcNode (werift) that advertises a need on the hub's `/route` socket and serves it as the hub's
 * mediaRoute actor says: direct, to the consumer's own peer session, or relayed through the hub.
 *
 *   node --import tsx examples/mediaMember.ts http://127.0.0.1:8080 TOKEN cam-1 clock [direct,relay]
 *
 * Prints `READY` once it advertised. Started as a child process with an IPC channel (drills and
 * tests), it takes `{cmd: 'cut'}` (cut its direct path: every direct peer closed, its signaling
 * dropped) and `{cmd: 'stats'}` (answers with its counters).
 */
import type { RoutePathName } from '../protocol/routeFrame.ts'
import { RouteMember } from '../runtime/rtc/RouteMember.ts'

const [hubUrl, token, nodeId, need, paths] = process.argv.slice(2)
if (!hubUrl || !token || !nodeId || !need) {
  process.stderr.write('usage: mediaMember.ts HUB_URL TOKEN NODE_ID NEED [direct,relay]\n')
  process.exit(2)
}
const m = new RouteMember({
  hubUrl,
  token,
  nodeId,
  needs: [need],
  paths: (paths ?? 'direct,relay').split(',') as RoutePathName[],
})
await m.start()
process.stdout.write('READY\n')
process.on('message', (msg: { cmd?: string }) => {
  if (msg?.cmd === 'cut') {
    m.cutDirect()
    process.send?.({ cut: true })
  } else if (msg?.cmd === 'stats') process.send?.({ stats: m.stats })
})
for (const sig of ['SIGTERM', 'SIGINT'] as const)
  process.on(sig, async () => {
    await m.close()
    process.exit(0)
  })
