/**
 * A WebSocket client at the byte level, for edge tests: it sends frames no well-behaved library
 * would (oversized, fragmented wrong, bad opcodes, unmasked, invalid UTF-8), reads what the server
 * answers (text frames, the close code and reason) and can stop reading (a slow client).
 */
import { randomBytes } from 'node:crypto'
import { connect, type Socket } from 'node:net'

export const OP = { cont: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const

export interface FrameOptions {
  fin?: boolean
  /** RSV1-3 bits (0-7); non-zero is a protocol error without an extension. */
  rsv?: number
  /** Mask the payload (clients must); `zero` masks with the key 0 (fast for huge payloads). */
  mask?: boolean | 'zero'
}

/** One frame's bytes (header and payload); a huge payload can be sent separately with `frameHeader`. */
export function frame(opcode: number, payload: Uint8Array | string, o: FrameOptions = {}): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload)
  const header = frameHeader(opcode, body.length, o)
  const key = header.subarray(header.length - 4)
  if (o.mask !== false && o.mask !== 'zero') for (let i = 0; i < body.length; i++) body[i] ^= key[i & 3]
  return Buffer.concat([header, body])
}

/** The header of a frame of `length` bytes (with its masking key when masked). */
export function frameHeader(opcode: number, length: number, o: FrameOptions = {}): Buffer {
  const masked = o.mask !== false
  const b0 = ((o.fin ?? true) ? 0x80 : 0) | (((o.rsv ?? 0) & 7) << 4) | (opcode & 0x0f)
  const ext = length < 126 ? 0 : length < 65536 ? 2 : 8
  const h = Buffer.alloc(2 + ext + (masked ? 4 : 0))
  h[0] = b0
  h[1] = (masked ? 0x80 : 0) | (ext === 0 ? length : ext === 2 ? 126 : 127)
  if (ext === 2) h.writeUInt16BE(length, 2)
  if (ext === 8) h.writeBigUInt64BE(BigInt(length), 2)
  if (masked) (o.mask === 'zero' ? Buffer.alloc(4) : randomBytes(4)).copy(h, 2 + ext)
  return h
}

export interface RawOpen {
  /** HTTP status of the upgrade answer (101 when it opened). */
  status: number
  /** The whole answer head when it did not open. */
  head: string
}

/**
 * A raw client connection. `closed` resolves once the TCP connection ends, with the close frame's
 * code and reason (1006 and '' when there was none).
 */
export class RawWs {
  readonly texts: string[] = []
  readonly closed: Promise<{ code: number; reason: string }>
  /** Bytes of server frames received (payload, all kinds). */
  received = 0
  private buf: Buffer = Buffer.alloc(0)
  private closeFrame?: { code: number; reason: string }
  private endedFlag = false
  private pongWaiters = new Map<string, () => void>()
  private pingN = 0

  private constructor(readonly socket: Socket) {
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        this.endedFlag = true
        for (const w of this.pongWaiters.values()) w()
        this.pongWaiters.clear()
        resolve(this.closeFrame ?? { code: 1006, reason: '' })
      })
    })
    socket.on('error', () => {})
  }

  get ended(): boolean {
    return this.endedFlag
  }

  get closeCode(): number | undefined {
    return this.closeFrame?.code
  }

  /** Opens `path` on `port` (127.0.0.1); resolves once the server answered the upgrade. */
  static open(
    port: number,
    path: string,
    headers: Record<string, string> = {},
    opts: { readFrames?: boolean } = {},
  ): Promise<RawWs & RawOpen> {
    return new Promise((resolve, reject) => {
      // no Nagle: a small frame (a ping) goes out at once, not after the server's delayed ACK
      const socket = connect({ host: '127.0.0.1', port, noDelay: true })
      const ws = new RawWs(socket) as RawWs & RawOpen
      let head = Buffer.alloc(0)
      const onData = (d: Buffer) => {
        head = Buffer.concat([head, d])
        const end = head.indexOf('\r\n\r\n')
        if (end < 0) return
        socket.off('data', onData)
        const text = head.subarray(0, end).toString('latin1')
        ws.status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)
        ws.head = text
        if (opts.readFrames !== false) socket.on('data', (x: Buffer) => ws.read(x))
        const rest = head.subarray(end + 4)
        if (rest.length && opts.readFrames !== false) ws.read(rest)
        resolve(ws)
      }
      socket.on('data', onData)
      socket.once('error', reject)
      socket.once('connect', () => {
        const lines = [
          `GET ${path} HTTP/1.1`,
          `Host: ${headers.Host ?? `127.0.0.1:${port}`}`,
          'Upgrade: websocket',
          'Connection: Upgrade',
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
          'Sec-WebSocket-Version: 13',
          ...Object.entries(headers)
            .filter(([k]) => k !== 'Host')
            .map(([k, v]) => `${k}: ${v}`),
        ]
        socket.write(lines.join('\r\n') + '\r\n\r\n')
      })
      socket.once('close', () => {
        if (ws.status === undefined) {
          ws.status = 0
          ws.head = head.toString('latin1')
          resolve(ws)
        }
      })
    })
  }

  /** Writes bytes; resolves when they are handed to the kernel (or the connection is gone). */
  write(bytes: Uint8Array): Promise<void> {
    if (this.endedFlag || this.socket.destroyed) return Promise.resolve()
    return new Promise((resolve) => {
      if (this.socket.write(bytes)) resolve()
      else {
        const done = () => {
          this.socket.off('drain', done)
          this.socket.off('close', done)
          resolve()
        }
        this.socket.on('drain', done)
        this.socket.on('close', done)
      }
    })
  }

  /**
   * Sends one frame of `length` bytes of payload (masked with the zero key), in 1 MiB chunks, and
   * stops early once the server has sent its close frame or dropped the connection.
   */
  async sendHuge(opcode: number, length: number, fill = 0x61): Promise<number> {
    await this.write(frameHeader(opcode, length, { mask: 'zero' }))
    const chunk = Buffer.alloc(1 << 20, fill)
    let sent = 0
    while (sent < length && !this.closeFrame && !this.endedFlag) {
      const n = Math.min(chunk.length, length - sent)
      await this.write(n === chunk.length ? chunk : chunk.subarray(0, n))
      sent += n
    }
    return sent
  }

  /**
   * A ping; resolves true when its pong comes back (the server has read everything sent before
   * it), false when the connection ends or closes first.
   */
  ping(): Promise<boolean> {
    if (this.endedFlag || this.closeFrame) return Promise.resolve(false)
    const id = `rawws-${++this.pingN}`
    return new Promise((resolve) => {
      this.pongWaiters.set(id, () => resolve(!this.closeFrame && !this.endedFlag))
      void this.write(frame(OP.ping, id))
    })
  }

  /** Our close frame, then the end of our side. */
  close(code = 1000): void {
    const p = Buffer.alloc(2)
    p.writeUInt16BE(code)
    if (!this.socket.destroyed) this.socket.end(frame(OP.close, p))
  }

  destroy(): void {
    this.socket.destroy()
  }

  private read(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d
    for (;;) {
      const b = this.buf
      if (b.length < 2) return
      const op = b[0] & 0x0f
      let len = b[1] & 0x7f
      let off = 2
      if (len === 126) {
        if (b.length < 4) return
        len = b.readUInt16BE(2)
        off = 4
      } else if (len === 127) {
        if (b.length < 10) return
        len = Number(b.readBigUInt64BE(2))
        off = 10
      }
      if (b[1] & 0x80) off += 4 // a server never masks; tolerate it anyway
      if (b.length < off + len) return
      const payload = b.subarray(off, off + len)
      this.buf = b.subarray(off + len)
      this.received += len
      if (op === OP.text) this.texts.push(payload.toString('utf8'))
      else if (op === OP.pong) {
        const id = payload.toString('latin1')
        this.pongWaiters.get(id)?.()
        this.pongWaiters.delete(id)
      } else if (op === OP.close && !this.closeFrame) {
        for (const w of this.pongWaiters.values()) w()
        this.pongWaiters.clear()
        this.closeFrame =
          payload.length >= 2
            ? { code: payload.readUInt16BE(0), reason: payload.subarray(2).toString('utf8') }
            : { code: 1005, reason: '' }
        // answer the close (as a client must), then let the server end the connection
        if (!this.socket.destroyed) this.socket.end(frame(OP.close, payload.subarray(0, 2)))
      }
    }
  }
}
