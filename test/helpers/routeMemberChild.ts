/**
 * A media-producing member node in a child process (runtime/rtc/RouteMember.ts), for route
 * tests: `node --import tsx test/helpers/routeMemberChild.ts HUB_URL TOKEN NODE_ID NEED [PATHS]`.
 * Prints `READY` once it advertised; on IPC `{cmd: 'cut'}` it cuts its direct path, on
 * `{cmd: 'stats'}` it answers with its counters.
 */
import type { RoutePathName } from '../../protocol/routeFrame.ts'
import { RouteMember } from '../../runtime/rtc/RouteMember.ts'

const [hubUrl, token, nodeId, need, paths] = process.argv.slice(2)
const m = new RouteMember({
  hubUrl,
  token,
  nodeId,
  needs: [need],
  paths: (paths ?? 'direct,relay').split(',') as RoutePathName[],
  fps: 20,
})
await m.start()
process.stdout.write('READY\n')
process.on('message', (msg: any) => {
  if (msg?.cmd === 'cut') {
    m.cutDirect()
    process.send?.({ cut: true })
  } else if (msg?.cmd === 'stats') process.send?.({ stats: m.stats })
})
process.on('SIGTERM', async () => {
  await m.close()
  process.exit(0)
})
