/**
 * The browser bundle of the member's channels and webspaces (`/member/sync.js`), and the small
 * page `/member/sync?member=ID&doc=NAME&token=T[&direct=1]` that uses it: it joins the webspace
 * over the `sync` channel (direct WebRTC first when `direct=1`, then the hub WebSocket), shows the
 * text and each channel's active path, and exposes `window.aetherMember` for tests and
 * applications (edit, command, state).
 */
import { MemberChannels, WebSocketPath, type ChannelPath } from './memberChannels.ts'
import { DirectPath } from './directPath.ts'
import { WebspaceClient, Y } from './webspaceClient.ts'
import { WebspaceLink, WsSyncTransport, type SyncTransport } from './webspaceLink.ts'

export { MemberChannels, WebSocketPath, DirectPath, WebspaceClient, WebspaceLink, WsSyncTransport, Y }

export interface MemberOptions {
  url: string
  member: string
  doc: string
  token: string
  direct: boolean
  policy?: Record<string, number>
}

/** Starts a member: its paths, channels and the webspace link. */
export function startMember(o: MemberOptions) {
  const paths: ChannelPath[] = []
  const transports: SyncTransport[] = []
  let direct: DirectPath | null = null
  if (o.direct) {
    direct = new DirectPath({ url: o.url, member: o.member, token: o.token, heartbeatMs: 200, deadAfterMs: 1200 })
    paths.push(direct)
    transports.push(direct.sync)
  }
  const ws = new WebSocketPath({ url: o.url, member: o.member, token: o.token, heartbeatMs: 200, deadAfterMs: 1200 })
  paths.push(ws)
  transports.push(new WsSyncTransport({ url: o.url, token: o.token }))
  const channels = new MemberChannels({ member: o.member, paths, channels: ['command', 'sync'], policy: { freezeMs: 500, probeBackoffMs: 300, maxProbeBackoffMs: 2000, ackTimeoutMs: 800, maxAttempts: 40, ...o.policy } })
  const client = new WebspaceClient(o.doc)
  const link = new WebspaceLink(channels, client, transports)
  const switches: string[] = []
  channels.onSwitch((ch, from, to, reason) => switches.push(`${ch}: ${from} -> ${to} (${reason})`))
  const acked: string[] = []
  const api = {
    channels,
    direct,
    client,
    link,
    switches,
    acked,
    text: () => client.doc.getText('t').toString(),
    edit: (s: string) => client.doc.getText('t').insert(client.doc.getText('t').length, s),
    command: (payload: unknown) => channels.command('command', payload).then(() => void acked.push(JSON.stringify(payload))),
    active: () => ({ command: channels.active('command'), sync: channels.active('sync'), attachedTo: link.current }),
  }
  return api
}

if (typeof window !== 'undefined' && typeof document !== 'undefined' && location.pathname === '/member/sync') {
  const q = new URLSearchParams(location.search)
  const m = startMember({ url: location.origin, member: q.get('member') ?? 'member', doc: q.get('doc') ?? 'default', token: q.get('token') ?? '', direct: q.get('direct') === '1' })
  ;(window as any).aetherMember = m
  const render = () => {
    const a = m.active()
    document.getElementById('paths')!.textContent = `command: ${a.command ?? '-'}   sync: ${a.sync ?? '-'}   switches: ${m.switches.length}`
    document.getElementById('text')!.textContent = m.text()
    requestAnimationFrame(render)
  }
  requestAnimationFrame(render)
}
