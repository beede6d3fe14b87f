/**
 * The root's inboxes as the memory actor `inboxes` (machine `rootInboxes`), so `aether root`'s
 * inspector shows, per hub, its authority and heartbeats and, per stream, cursor, applied,
 * duplicates, stale, gaps and the last receive time. Refreshed every `everyMs` when it changed.
 */
import { rootInboxes, type RootHubView } from '../../machines/index.ts'
import type { Hub } from '../Hub.ts'
import type { RootService } from './RootService.ts'

/** The view the actor holds (also what a test compares). */
export function inboxesOf(svc: RootService): Record<string, RootHubView> {
  const hubs: Record<string, RootHubView> = {}
  for (const h of svc.hubs.values())
    hubs[h.hub] = { authority: h.authority, lastHeartbeatAt: h.lastHeartbeatAt, heartbeats: h.heartbeats, streams: {} }
  for (const ib of svc.inboxes.values()) {
    hubs[ib.hub] ??= { authority: 'missing', lastHeartbeatAt: 0, heartbeats: 0, streams: {} }
    const { cursor, applied, duplicates, stale, gaps, lastReceivedAt } = ib
    hubs[ib.hub].streams[ib.stream] = { cursor, applied, duplicates, stale, gaps, lastReceivedAt }
  }
  return hubs
}

/** Spawns the `inboxes` actor and keeps it current; returns the function that stops it. */
export async function installInboxesView(hub: Hub, svc: RootService, everyMs = 1000): Promise<() => void> {
  hub.system.register('rootInboxes', rootInboxes)
  if (!hub.system.hosted('inboxes')) await hub.system.spawn('inboxes', 'rootInboxes', { durable: false })
  let last = ''
  const refresh = () => {
    const hubs = inboxesOf(svc)
    // heartbeat counts and times change every beat: the actor follows streams and authority only
    const key = JSON.stringify(Object.entries(hubs).map(([k, h]) => [k, h.authority, h.streams]))
    if (key === last) return
    last = key
    try {
      hub.system.send('inboxes', { type: 'root.inboxes', hubs })
    } catch {
      // the system is closing
    }
  }
  const timer = setInterval(refresh, everyMs)
  timer.unref?.()
  refresh()
  return () => clearInterval(timer)
}
