/**
 * `aether sidecar`: the process that owns a hub's NATS connections (`control`: heartbeats, Class
 * A, the control class and the relay ingress; `data`: the data plane's traffic classes) and
 * serves them to the hub over a Unix socket (protocol/sidecarFrame.ts). The hub keeps everything
 * durable (the Class A outbox in its LevelDB) and its degraded policy; the sidecar keeps nothing
 * but connections, so it can be killed and restarted alone: the hub sees its transport go,
 * degrades, and sends again from its outbox once the sidecar is back.
 *
 * One client per channel: a second `hello` for a channel supersedes the first (its socket gets a
 * `bye` and is closed), so a hub that restarted never shares its subscriptions with a ghost. A
 * client whose frames are bad, or whose hello lacks the token, is quarantined: refused with a
 * `bye` naming the error, counted by code, its socket closed, nothing else changed. Both are
 * kept in the status (`status()`), with the connections' reconnect diagnostics.
 *
 * The socket file is created with mode 0600 in the hub's data folder; the token (from the
 * environment, never argv) is the second lock.
 */
import { randomBytes } from 'node:crypto'
import { chmodSync, unlinkSync } from 'node:fs'
import { connect, createServer, type Server, type Socket } from 'node:net'
import {
  encodeSidecarFrame,
  SidecarFrameReader,
  type SidecarFrame,
  type SidecarHeader,
} from '../../protocol/sidecarFrame.ts'
import { NatsLink, type LinkStatus, type NatsSub } from '../nats/NatsTransport.ts'
import { CodedError } from '../errors.ts'

export type SidecarChannel = 'control' | 'data'
const CHANNELS: SidecarChannel[] = ['control', 'data']

export interface SidecarOptions {
  nats: string
  /** The Unix socket path the hub connects to. */
  socket: string
  /** Required in each client's hello when set. */
  token?: string
  /** Names the NATS connections (`aether-<name>-control`). */
  name?: string
}

/** The sidecar could not start (another one serves the socket, or it cannot listen). */
export class SidecarError extends CodedError<'SOCKET_IN_USE' | 'LISTEN'> {}

interface HistoryEntry {
  at: number
  channel: SidecarChannel | null
  client: string | null
  reason: string
}

interface Client {
  socket: Socket
  channel?: SidecarChannel
  name?: string
  attachedAt?: number
  subs: Map<number, NatsSub>
}

const HISTORY = 50
const push = <T>(xs: T[], x: T) => {
  xs.push(x)
  if (xs.length > HISTORY) xs.shift()
}

export class Sidecar {
  readonly id = `sc-${randomBytes(4).toString('hex')}`
  readonly startedAt = Date.now()
  readonly links: Record<SidecarChannel, NatsLink>
  readonly counters = { clients: 0, framesIn: 0, published: 0, publishFailed: 0, requests: 0, requestErrors: 0 }
  readonly refusedByCode: Record<string, number> = {}
  readonly attachments: HistoryEntry[] = []
  readonly supersedes: HistoryEntry[] = []
  readonly quarantines: HistoryEntry[] = []
  private current = new Map<SidecarChannel, Client>()
  private server?: Server

  private constructor(readonly opts: SidecarOptions) {
    const name = opts.name ?? 'sidecar'
    this.links = {
      control: new NatsLink({ url: opts.nats, name: `aether-${name}-control` }),
      data: new NatsLink({ url: opts.nats, name: `aether-${name}-data` }),
    }
    for (const ch of CHANNELS) {
      this.links[ch].connected().catch(() => {})
      this.links[ch].onStatus((s, prev) => {
        const c = this.current.get(ch)
        if (c) this.send(c, natsFrame(s, prev, this.links[ch].lastError))
      })
    }
  }

  /** Listens on `opts.socket` (mode 0600); refuses when another sidecar answers there. */
  static async start(opts: SidecarOptions): Promise<Sidecar> {
    if (await answers(opts.socket))
      throw new SidecarError('SOCKET_IN_USE', `another sidecar serves ${opts.socket}: stop it first`)
    try {
      unlinkSync(opts.socket) // a socket file left by a sidecar that was killed
    } catch {}
    const sc = new Sidecar(opts)
    const server = createServer((s) => sc.accept(s))
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) =>
        reject(new SidecarError('LISTEN', `cannot listen on ${opts.socket}: ${err.message}`)),
      )
      server.listen(opts.socket, () => resolve())
    }).catch(async (err) => {
      await sc.closeLinks()
      throw err
    })
    chmodSync(opts.socket, 0o600)
    sc.server = server
    return sc
  }

  private accept(socket: Socket): void {
    this.counters.clients++
    const c: Client = { socket, subs: new Map() }
    const reader = new SidecarFrameReader()
    socket.setNoDelay(true)
    socket.on('data', (chunk) => {
      let frames: SidecarFrame[]
      try {
        frames = reader.push(chunk)
      } catch (err) {
        this.quarantine(c, err)
        return
      }
      for (const f of frames) {
        if (socket.destroyed) return
        this.counters.framesIn++
        try {
          this.handle(c, f)
        } catch (err) {
          this.quarantine(c, err)
          return
        }
      }
    })
    socket.on('error', () => {})
    socket.on('close', () => this.detach(c))
  }

  private handle(c: Client, { header: h, body }: SidecarFrame): void {
    if (!c.channel) {
      if (h.op !== 'hello') throw new CodedError('NO_HELLO', `the first frame must be a hello, got ${h.op}`)
      if (this.opts.token !== undefined && h.token !== this.opts.token)
        throw new CodedError('BAD_TOKEN', 'the hello carries no token or a wrong one')
      const channel = h.channel as SidecarChannel // checked by the schema
      const old = this.current.get(channel)
      if (old) {
        push(this.supersedes, {
          at: Date.now(),
          channel: channel,
          client: old.name ?? null,
          reason: `superseded by ${h.name}`,
        })
        this.bye(old, `superseded by a newer ${channel} client (${h.name})`)
      }
      c.channel = channel
      c.name = h.name
      c.attachedAt = Date.now()
      this.current.set(channel, c)
      push(this.attachments, { at: c.attachedAt, channel: channel, client: h.name, reason: 'hello' })
      const link = this.links[channel]
      this.send(c, {
        op: 'welcome',
        status: link.status,
        sidecar: this.id,
        ...(link.lastError ? { error: link.lastError.slice(0, 2000) } : {}),
      })
      return
    }
    const link = this.links[c.channel]
    switch (h.op) {
      case 'sub': {
        c.subs.get(h.sid)?.unsubscribe()
        const sid = h.sid
        c.subs.set(
          sid,
          link.subscribe(
            h.subject,
            (m) =>
              this.send(
                c,
                {
                  op: 'msg',
                  sid,
                  subject: m.subject,
                  ...(m.reply ? { reply: m.reply } : {}),
                  ...(m.traceparent ? { tp: m.traceparent } : {}),
                },
                m.data,
              ),
            h.queue ? { queue: h.queue } : {},
          ),
        )
        return
      }
      case 'unsub':
        c.subs.get(h.sid)?.unsubscribe()
        c.subs.delete(h.sid)
        return
      case 'pub':
        if (link.publish(h.subject, body, h.reply, h.tp)) this.counters.published++
        else this.counters.publishFailed++
        return
      case 'req': {
        this.counters.requests++
        const id = h.id
        link.request(h.subject, body, h.ms).then(
          (data) => this.send(c, { op: 'res', id }, data),
          (err) => {
            this.counters.requestErrors++
            this.send(c, { op: 'res', id, error: String((err as Error).message).slice(0, 2000) })
          },
        )
        return
      }
      case 'flush': {
        const id = h.id
        link.flush().then(
          () => this.send(c, { op: 'res', id }),
          (err) => this.send(c, { op: 'res', id, error: String((err as Error).message).slice(0, 2000) }),
        )
        return
      }
      case 'status':
        this.send(c, { op: 'res', id: h.id }, new TextEncoder().encode(JSON.stringify(this.status())))
        return
      default:
        throw new CodedError('WRONG_WAY', `"${h.op}" is a frame the sidecar sends, not one it takes`)
    }
  }

  private send(c: Client, header: SidecarHeader, body?: Uint8Array): void {
    if (!c.socket.destroyed) c.socket.write(encodeSidecarFrame(header, body))
  }

  private bye(c: Client, reason: string): void {
    this.send(c, { op: 'bye', reason: reason.slice(0, 2000) })
    c.socket.end()
    c.socket.destroySoon()
    this.detach(c)
  }

  private quarantine(c: Client, err: unknown): void {
    const code = (err as { code?: string }).code ?? 'ERROR'
    this.refusedByCode[code] = (this.refusedByCode[code] ?? 0) + 1
    push(this.quarantines, {
      at: Date.now(),
      channel: c.channel ?? null,
      client: c.name ?? null,
      reason: `${code}: ${(err as Error).message}`,
    })
    this.bye(c, `refused: ${code}: ${(err as Error).message}`)
  }

  private detach(c: Client): void {
    for (const s of c.subs.values()) s.unsubscribe()
    c.subs.clear()
    if (c.channel && this.current.get(c.channel) === c) this.current.delete(c.channel)
  }

  /** Control and route readiness, reconnect diagnostics, quarantine and supersede history, provenance. */
  status(): SidecarStatus {
    const side = (ch: SidecarChannel) => {
      const l = this.links[ch]
      const c = this.current.get(ch)
      return {
        ready: l.status === 'connected' && !!c,
        nats: l.status,
        lastError: l.lastError ?? null,
        reconnects: l.counters.reconnects,
        disconnects: l.counters.disconnects,
        reconnectTimes: l.reconnectTimes.slice(-20),
        client: c ? { name: c.name!, attachedAt: c.attachedAt!, subscriptions: c.subs.size } : null,
      }
    }
    return {
      provenance: {
        sidecar: this.id,
        pid: process.pid,
        startedAt: this.startedAt,
        uptimeMs: Date.now() - this.startedAt,
        nats: this.opts.nats,
        socket: this.opts.socket,
        node: process.version,
      },
      control: side('control'),
      route: side('data'),
      counters: { ...this.counters },
      refusedByCode: { ...this.refusedByCode },
      history: { attachments: this.attachments, supersedes: this.supersedes, quarantines: this.quarantines },
    }
  }

  private async closeLinks(): Promise<void> {
    await Promise.all(CHANNELS.map((ch) => this.links[ch].close()))
  }

  async close(): Promise<void> {
    for (const c of this.current.values()) this.bye(c, 'the sidecar is stopping')
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()))
    await this.closeLinks()
  }
}

/** What `status()` returns (served to the hub over the socket; the hub adds its own side). */
export interface SidecarStatus {
  provenance: Record<string, unknown>
  control: SidecarSide
  route: SidecarSide
  counters: Sidecar['counters']
  refusedByCode: Record<string, number>
  history: { attachments: HistoryEntry[]; supersedes: HistoryEntry[]; quarantines: HistoryEntry[] }
}

export interface SidecarSide {
  ready: boolean
  nats: LinkStatus
  lastError: string | null
  reconnects: number
  disconnects: number
  reconnectTimes: number[]
  client: { name: string; attachedAt: number; subscriptions: number } | null
}

function natsFrame(s: LinkStatus, prev: LinkStatus, error?: string): SidecarHeader {
  return { op: 'nats', status: s, prev, ...(error ? { error: error.slice(0, 2000) } : {}) }
}

/** Whether something accepts connections on the socket path. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path)
    s.once('connect', () => (s.destroy(), resolve(true)))
    s.once('error', () => resolve(false))
  })
}
