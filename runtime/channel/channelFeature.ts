/**
 * The hub's end of the members' semantic channels. Each member's logical channel is a
 * `semanticChannel` actor on the hub (`member:<id>:<channel>`, visible in the inspector) that
 * receives over whichever path the member uses and answers on the path a frame came by.
 *
 * Paths reach it through `attachPath(member, pathId, send)`: the `/chan` WebSocket
 * (`/chan?member=ID&path=ws&token=T`, JSON text channel frames) attaches itself; a WebRTC data
 * channel or the root relay attach the same way. Frames are validated at the edge
 * (protocol/channelFrame.ts): a bad one is counted and answered with a close, nothing changes.
 *
 *   GET /api/members                           members and their channels' active paths
 *   GET /api/members/<id>/delivered?channel=C  the commands delivered to the hub, in order (tests)
 */
import type { Hub, HubFeature } from '../Hub.ts'
import { HttpError } from '../http/HubServer.ts'
import { channelEvents, semanticChannel, type Delivery, type PathId } from '../../machines/semanticChannel.ts'
import {
  CHANNELS,
  ChannelFrameError,
  decodeChannelFrame,
  encodeChannelFrame,
  type ChannelFrame,
  type ChannelName,
} from '../../protocol/channelFrame.ts'

const MEMBER_RE = /^[A-Za-z0-9_.-]{1,64}$/
const PATH_RE = /^[a-z]{1,16}$/

export interface ChannelFeatureOptions {
  /** Commands kept per member and channel for `/delivered` (default 10000). */
  keepDelivered?: number
  /**
   * Journal the channel actors (default false: a channel's state is rebuilt by its member's paths
   * after a restart). The regression corpus records them this way, to export their logs.
   */
  durable?: boolean
}

interface Member {
  id: string
  paths: Map<PathId, (text: string) => void>
  delivered: Map<ChannelName, Array<{ id: string; payload: unknown; path?: PathId }>>
  channels: Set<ChannelName>
}

export class ChannelFeature implements HubFeature {
  readonly name = 'channels'
  readonly counters = { frames: 0, badFrames: 0, refused: 0 }
  hub!: Hub
  private members = new Map<string, Member>()
  private listeners = new Set<(member: string, channel: ChannelName, d: Delivery) => void>()
  private machine = semanticChannel.provide({
    actions: {
      transmit: ({ context }: any, p: { path: PathId; frame: ChannelFrame }) => {
        this.members.get(context.member)?.paths.get(p.path)?.(encodeChannelFrame(p.frame))
      },
      deliver: ({ context }: any, d: Delivery) => {
        const m = this.members.get(context.member)
        if (m && d.kind === 'command') {
          const list = m.delivered.get(context.channel) ?? []
          list.push({ id: d.id, payload: d.payload })
          if (list.length > (this.opts.keepDelivered ?? 10_000)) list.shift()
          m.delivered.set(context.channel, list)
        }
        for (const fn of this.listeners) fn(context.member, context.channel, d)
      },
      // the hub answers probes itself (pong); its own probes of a path succeed while it is attached
      probe: ({ context, self }: any, p: { path: PathId }) => {
        const ok = this.members.get(context.member)?.paths.has(p.path) ?? false
        queueMicrotask(() => self.send(channelEvents.probeResult(p.path, ok)))
      },
    } as any,
  })

  constructor(readonly opts: ChannelFeatureOptions = {}) {}

  install(hub: Hub): void {
    this.hub = hub
    hub.server.ws(
      '/chan',
      (ws, req, url) => {
        const member = url.searchParams.get('member') ?? ''
        const path = url.searchParams.get('path') ?? 'ws'
        if (!hub.server.hasToken(req, url))
          return void (this.counters.refused++, ws.close(4401, 'the hub token is required (?token=)'))
        if (!MEMBER_RE.test(member) || !PATH_RE.test(path))
          return void (this.counters.refused++, ws.close(4400, 'member: 1-64 of A-Z a-z 0-9 _ . -; path: a-z'))
        const att = this.attachPath(member, path, (text) => ws.readyState === ws.OPEN && ws.send(text))
        ws.on('message', (data: Buffer, isBinary: boolean) => {
          if (!att.receive(isBinary ? '' : data.toString('utf8'))) ws.close(1007, 'bad channel frame')
        })
        ws.on('close', () => att.closed())
      },
      { query: 'member=m1&path=ws' },
    )
    hub.server.route('GET', '/api/members', () => ({
      members: [...this.members.values()].map((m) => ({
        id: m.id,
        paths: [...m.paths.keys()],
        channels: [...m.channels].map((ch) => this.channelInfo(m.id, ch)),
      })),
    }))
    hub.server.route('GET', '/api/members/:id/delivered', (ctx) => {
      const m = this.members.get(ctx.params.id)
      if (!m) throw new HttpError(404, `no member "${ctx.params.id}"`, 'UNKNOWN_MEMBER')
      const ch = (ctx.url.searchParams.get('channel') ?? 'command') as ChannelName
      if (!CHANNELS.includes(ch)) throw new HttpError(400, `channel must be one of ${CHANNELS.join(', ')}`, 'BAD_QUERY')
      return { member: m.id, channel: ch, delivered: m.delivered.get(ch) ?? [] }
    })
  }

  /** Listens to what members deliver to the hub. */
  onDeliver(fn: (member: string, channel: ChannelName, d: Delivery) => void): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  delivered(member: string, channel: ChannelName = 'command'): Array<{ id: string; payload: unknown }> {
    return this.members.get(member)?.delivered.get(channel) ?? []
  }

  /**
   * Attaches a path of a member (a socket, a data channel). `receive` takes each text frame and
   * returns false for a bad one (the caller closes); `closed` detaches.
   */
  attachPath(
    member: string,
    path: PathId,
    send: (text: string) => void,
  ): { receive(text: string): boolean; closed(): void } {
    let m = this.members.get(member)
    if (!m) this.members.set(member, (m = { id: member, paths: new Map(), delivered: new Map(), channels: new Set() }))
    const mem = m
    mem.paths.set(path, send)
    for (const ch of mem.channels) this.actorSend(member, ch, channelEvents.up(path))
    return {
      receive: (text) => {
        let frame: ChannelFrame
        try {
          frame = decodeChannelFrame(text)
        } catch (err) {
          if (err instanceof ChannelFrameError) {
            this.counters.badFrames++
            return false
          }
          throw err
        }
        this.counters.frames++
        if (!mem.channels.has(frame.ch)) {
          mem.channels.add(frame.ch)
          void this.ensureChannel(mem, frame.ch)
        }
        this.actorSend(member, frame.ch, channelEvents.receive(frame, path))
        return true
      },
      closed: () => {
        if (mem.paths.get(path) !== send) return
        mem.paths.delete(path)
        for (const ch of mem.channels) this.actorSend(member, ch, channelEvents.down(path, 'closed'))
      },
    }
  }

  channelInfo(
    member: string,
    ch: ChannelName,
  ): { channel: ChannelName; active: PathId | null; failovers: number; duplicates: number; delivered: number } | null {
    const c = this.hub.system.hosted(actorPath(member, ch))?.actor?.getSnapshot?.().context
    if (!c) return null
    return { channel: ch, active: c.active, failovers: c.failovers, duplicates: c.duplicates, delivered: c.recvSeq }
  }

  // events for a channel whose actor is being spawned wait here, in arrival order
  private queues = new Map<string, any[]>()

  private async ensureChannel(m: Member, ch: ChannelName): Promise<void> {
    const path = actorPath(m.id, ch)
    if (this.hub.system.hosted(path) || this.queues.has(path)) return
    const queue: any[] = [...[...m.paths.keys()].map((pid) => channelEvents.up(pid))]
    this.queues.set(path, queue)
    try {
      await this.hub.system.spawn(path, this.machine, {
        durable: this.opts.durable ?? false,
        input: { member: m.id, channel: ch, paths: ['direct', 'ws', 'relay'], session: `hub-${this.hub.startedAt}` },
      })
    } finally {
      this.queues.delete(path)
    }
    for (const e of queue) this.hub.system.send(path, e, 'channel')
  }

  private actorSend(member: string, ch: ChannelName, event: any): void {
    const path = actorPath(member, ch)
    const q = this.queues.get(path)
    if (q) q.push(event)
    else if (this.hub.system.hosted(path)?.status === 'active') this.hub.system.send(path, event, 'channel')
  }
}

const actorPath = (member: string, ch: ChannelName) => `member:${member}:${ch}`
