/**
 * The browser bundle of the member's channels and webspaces (`/member/sync.js`), and the small
 * page `/member/sync?member=ID&doc=NAME&token=T[&direct=1][&ws=0][&relay=ROOT_URL&hub=HUB_ID&rtoken=ROOT_TOKEN]`
 * that uses it: it joins the webspace over the `sync` channel (direct WebRTC first when
 * `direct=1`: the member's peer session with the hub, its `events` and `sync` data channels, see
 * peerPath.ts; then the hub WebSocket unless `ws=0`, then the root relay when `relay` names the
 * root: `/relay` there, to hub HUB_ID over NATS; the root must allow this page's origin with
 * `--relay-origin`), shows the text and each channel's active path, and exposes
 * `window.aetherMember` for tests and applications (edit, command, state).
 */
import { MemberChannels, relayPath, WebSocketPath, type ChannelPath } from './memberChannels.ts'
import { MemberClient } from './member.ts'
import { PeerSessionPath } from './peerPath.ts'
import { WebspaceClient, Y } from './webspaceClient.ts'
import { RelaySyncTransport, WebspaceLink, WsSyncTransport, type SyncTransport } from './webspaceLink.ts'

export {
  MemberChannels,
  WebSocketPath,
  relayPath,
  PeerSessionPath,
  WebspaceClient,
  WebspaceLink,
  WsSyncTransport,
  RelaySyncTransport,
  Y,
}

export interface MemberOptions {
  url: string
  member: string
  doc: string
  token: string
  direct: boolean
  /** The hub WebSocket path (default true). */
  ws?: boolean
  /** The root relay path: the root's URL, this member's hub id and the root's token. */
  relay?: { url: string; hub: string; token: string }
  policy?: Record<string, number>
}

/** Starts a member: its paths, channels and the webspace link. */
export function startMember(o: MemberOptions) {
  const paths: ChannelPath[] = []
  const transports: SyncTransport[] = []
  let direct: PeerSessionPath | null = null
  let peer: MemberClient | null = null
  if (o.direct) {
    // the member's peer session (signaling on /ws); its link region is the path's up and down
    const ws = new URL('/ws', o.url.replace(/^http/, 'ws'))
    ws.searchParams.set('token', o.token)
    peer = new MemberClient({ nodeId: o.member, wsUrl: ws.toString() })
    direct = new PeerSessionPath(peer.exec)
    peer.start()
    paths.push(direct)
    transports.push(direct.sync)
  }
  if (o.ws !== false) {
    paths.push(new WebSocketPath({ url: o.url, member: o.member, token: o.token, heartbeatMs: 200, deadAfterMs: 1200 }))
    transports.push(new WsSyncTransport({ url: o.url, token: o.token }))
  }
  let relay: RelaySyncTransport | null = null
  if (o.relay) {
    const path = relayPath({
      url: o.relay.url,
      hub: o.relay.hub,
      member: o.member,
      token: o.relay.token,
      heartbeatMs: 200,
      deadAfterMs: 1200,
    })
    paths.push(path)
    relay = new RelaySyncTransport(path)
    transports.push(relay)
  }
  const channels = new MemberChannels({
    member: o.member,
    paths,
    channels: ['command', 'sync'],
    policy: {
      freezeMs: 500,
      probeBackoffMs: 300,
      maxProbeBackoffMs: 2000,
      ackTimeoutMs: 800,
      maxAttempts: 40,
      ...o.policy,
    },
  })
  const client = new WebspaceClient(o.doc)
  const link = new WebspaceLink(channels, client, transports)
  const switches: string[] = []
  channels.onSwitch((ch, from, to, reason) => switches.push(`${ch}: ${from} -> ${to} (${reason})`))
  const acked: string[] = []
  const api = {
    channels,
    direct,
    peer,
    relay,
    client,
    link,
    switches,
    acked,
    text: () => client.doc.getText('t').toString(),
    edit: (s: string) => client.doc.getText('t').insert(client.doc.getText('t').length, s),
    command: (payload: unknown) =>
      channels.command('command', payload).then(() => void acked.push(JSON.stringify(payload))),
    active: () => ({ command: channels.active('command'), sync: channels.active('sync'), attachedTo: link.current }),
  }
  return api
}

if (typeof window !== 'undefined' && typeof document !== 'undefined' && location.pathname === '/member/sync') {
  const q = new URLSearchParams(location.search)
  const relay = q.get('relay')
    ? { url: q.get('relay')!, hub: q.get('hub') ?? '', token: q.get('rtoken') ?? '' }
    : undefined
  const m = startMember({
    url: location.origin,
    member: q.get('member') ?? 'member',
    doc: q.get('doc') ?? 'default',
    token: q.get('token') ?? '',
    direct: q.get('direct') === '1',
    ws: q.get('ws') !== '0',
    relay,
  })
  ;(window as any).aetherMember = m
  const render = () => {
    const a = m.active()
    document.getElementById('paths')!.textContent =
      `command: ${a.command ?? '-'}   sync: ${a.sync ?? '-'}   switches: ${m.switches.length}`
    document.getElementById('text')!.textContent = m.text()
    requestAnimationFrame(render)
  }
  requestAnimationFrame(render)
}
