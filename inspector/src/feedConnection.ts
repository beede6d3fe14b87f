/**
 * The browser end of `/inspector/feed`: connects (with the token, if any, to learn the access
 * level), reconnects with backoff, hands every server frame to `onFrame` (an `events` frame with
 * its packed light events unpacked, in feed order), and matches answers to requests by id.
 */
import { decodeFeedFrame, FeedDecoder, type ClientCommand, type ServerFrame } from '../../protocol/inspectorFeed.ts'

export type ConnState = 'connecting' | 'open' | 'closed'

type Cmd = ClientCommand extends infer C ? (C extends { cmd: string } ? Omit<C, 'id'> : never) : never

export class FeedConnection {
  private ws?: WebSocket
  private nextId = 1
  private waiting = new Map<number, { resolve: (f: ServerFrame) => void; reject: (e: Error) => void }>()
  private retry = 500
  private stopped = false
  state: ConnState = 'connecting'

  constructor(
    private url: () => string,
    private onFrame: (f: ServerFrame) => void,
    private onState: (s: ConnState) => void,
  ) {}

  start(): void {
    this.stopped = false
    this.connect()
  }

  /** Reconnects now (the token changed). */
  restart(): void {
    this.ws?.close()
    this.retry = 100
  }

  request(cmd: Cmd, timeoutMs = 15_000): Promise<ServerFrame> {
    const ws = this.ws
    if (!ws || ws.readyState !== WebSocket.OPEN) return Promise.reject(new Error('not connected to the hub'))
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiting.delete(id)
        reject(new Error(`no answer to ${cmd.cmd} in ${timeoutMs} ms`))
      }, timeoutMs)
      this.waiting.set(id, {
        resolve: (f) => (clearTimeout(t), resolve(f)),
        reject: (e) => (clearTimeout(t), reject(e)),
      })
      ws.send(JSON.stringify({ ...cmd, id }))
    })
  }

  private setState(s: ConnState): void {
    this.state = s
    this.onState(s)
  }

  private connect(): void {
    this.setState('connecting')
    const ws = new WebSocket(this.url())
    ws.binaryType = 'arraybuffer'
    this.ws = ws
    // Each connection has its own dictionary of packed events.
    const decoder = new FeedDecoder()
    ws.onopen = () => {
      this.retry = 500
      this.setState('open')
    }
    ws.onmessage = (m) => {
      let f: ServerFrame
      try {
        f = decodeFeedFrame(m.data as string | ArrayBuffer)
        if (f.t === 'events' && (f.light || f.dict)) f = { t: 'events', events: decoder.events(f), dropped: f.dropped }
      } catch {
        return
      }
      const id = (f as { id?: unknown }).id
      if (typeof id === 'number' && this.waiting.has(id)) {
        const w = this.waiting.get(id)!
        this.waiting.delete(id)
        if (f.t === 'error') w.reject(Object.assign(new Error(f.message), { code: f.code }))
        else w.resolve(f)
        return
      }
      this.onFrame(f)
    }
    ws.onclose = () => {
      if (this.ws !== ws) return
      for (const w of this.waiting.values()) w.reject(new Error('the connection to the hub closed'))
      this.waiting.clear()
      this.setState('closed')
      if (this.stopped) return
      setTimeout(() => this.connect(), this.retry)
      this.retry = Math.min(this.retry * 2, 5000)
    }
  }
}
