/**
 * The hub's side of supervision, as a hub feature:
 * - `GET /api/media/live` -> `{live, subflows}`: the live-media continuity gate asks this before an
 *   update. Live are: the hosted mediaSubflow actors with media flowing, the media slots a hosted
 *   peerSession has negotiated (a member's camera, microphone or screen, `member-1/peer/camera`)
 *   while its link is open or recovering, and what media code registers with `liveMedia.add(id)`.
 * - `GET /api/runtime` and the WebSocket `/api/runtime/ws`: who this runtime is (runtimeInstanceId,
 *   role, version, slot). The socket greets with that identity and echoes text frames, so clients
 *   and the supervisor's tests can tell which runtime a proxied connection reached.
 */
import type { Hub, HubFeature } from '../Hub.ts'

/** Live media subflows of this process, by id. */
export const liveMedia = new Set<string>()

export function runtimeIdentity(hub: Hub) {
  return {
    runtimeInstanceId: hub.runtimeInstanceId,
    role: hub.role,
    version: hub.version,
    slot: hub.slot,
    pid: process.pid,
  }
}

/**
 * The media slots a peer session carries now: those its last negotiation left sending or
 * receiving, while its link is open or being recovered (not connecting, failed or closed).
 */
export function sessionMedia(value: unknown, context: unknown): string[] {
  const link = (value as { active?: { link?: unknown } } | undefined)?.active?.link
  if (link !== 'open' && !(link && typeof link === 'object' && 'recovering' in link)) return []
  const shape = (context as { negotiatedShape?: Record<string, string> } | undefined)?.negotiatedShape ?? {}
  return Object.keys(shape).filter((slot) => shape[slot] !== 'inactive')
}

export function runtimeFeature(): HubFeature {
  return {
    name: 'runtime',
    install(hub) {
      // Live media = registered subflows plus every hosted mediaSubflow actor (issue 6) whose media
      // is flowing or being brought back (live, degraded, recovering): read on demand, no feed.
      hub.server.route('GET', '/api/media/live', () => {
        const subflows = new Set(liveMedia)
        for (const a of hub.system.list()) {
          const top =
            typeof a.value === 'string'
              ? a.value
              : a.value && typeof a.value === 'object'
                ? Object.keys(a.value)[0]
                : undefined
          if (
            a.machine === 'mediaSubflow' &&
            a.status === 'active' &&
            (top === 'live' || top === 'degraded' || top === 'recovering')
          )
            subflows.add(a.path)
          if (a.machine === 'peerSession' && a.status === 'active')
            for (const slot of sessionMedia(a.value, hub.system.hosted(a.path)?.actor?.getSnapshot()?.context))
              subflows.add(`${a.path}/${slot}`)
        }
        return { live: subflows.size, subflows: [...subflows] }
      })
      hub.server.route('GET', '/api/runtime', () => runtimeIdentity(hub))
      hub.server.ws('/api/runtime/ws', (ws) => {
        ws.send(JSON.stringify({ type: 'runtime.hello', ...runtimeIdentity(hub) }))
        ws.on('message', (data, binary) => {
          if (!binary)
            ws.send(
              JSON.stringify({
                type: 'runtime.echo',
                runtimeInstanceId: hub.runtimeInstanceId,
                data: String(data).slice(0, 4096),
              }),
            )
        })
      })
    },
  }
}
