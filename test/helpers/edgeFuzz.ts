/**
 * What the edge fuzz suites share: the route table's shape, the fast-check arbitraries of hostile
 * WebSocket traffic (garbage, protocol-shaped JSON with wrong values, fragments, deep nesting, then
 * a frame that breaks the protocol), runners that send them over raw sockets, and the checks made
 * on the process under test (RSS and open fds from /proc, after garbage collection through its
 * V8 inspector).
 */
import { readdirSync, readFileSync } from 'node:fs'
import { connect } from 'node:net'
import fc from 'fast-check'
import WebSocket from 'ws'
import { frame, OP, RawWs } from './rawWs.ts'
import { sleep } from './tmp.ts'

/** A stack trace in text: what no answer, frame or close reason may carry. */
export const STACK = /\n\s+at |\bat [\w.<>]+ \(|\.ts:\d+:\d+|node:internal/

/** `GET /api/routes` (runtime/http/HubServer.ts, `routeTable()`). */
export interface RouteTable {
  routes: Array<{ method: string; path: string; mutating: boolean }>
  sockets: SocketInfo[]
}
export interface SocketInfo {
  path: string
  maxPayload: number
  subpaths: boolean
  query: string
}

/** The path and query that open `s` (with `token` when given, and the query the socket needs). */
export function socketUrl(s: SocketInfo, token?: string): string {
  const q = [token ? `token=${token}` : '', s.query].filter(Boolean).join('&')
  return `${s.subpaths ? `${s.path}/fuzz-doc` : s.path}${q ? `?${q}` : ''}`
}

/** What a run sent and what broke a rule. */
export class Tally {
  inputs = 0
  ws = 0
  http = 0
  connections = 0
  readonly failures: string[] = []
  readonly stacks: string[] = []
  readonly closeCodes = new Map<number, number>()

  noStack(text: string, where: string): void {
    if (STACK.test(text)) this.stacks.push(`${where}: ${text.slice(0, 300)}`)
  }

  closed(code: number): void {
    this.closeCodes.set(code, (this.closeCodes.get(code) ?? 0) + 1)
  }
}

export async function pool<T>(items: T[], width: number, fn: (x: T) => Promise<void>): Promise<void> {
  let i = 0
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (i < items.length) await fn(items[i++])
    }),
  )
}

export const withTimeout = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([p, sleep(ms).then(() => Promise.reject(new Error(`timed out after ${ms} ms: ${what}`)))])

// ---- the process under test --------------------------------------------------------------------

export function procStats(pid: number): { rss: number; fds: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024
  return { rss, fds: readdirSync(`/proc/${pid}/fd`).length }
}

/** The fd count once it is at most `target` or has not changed for 300 ms (at most 15 s). */
export async function settledFds(pid: number, target = 0): Promise<number> {
  let fds = procStats(pid).fds
  let still = 0
  const end = Date.now() + 15_000
  while (fds > target && still < 3 && Date.now() < end) {
    await sleep(100)
    const now = procStats(pid).fds
    still = now === fds ? still + 1 : 0
    fds = now
  }
  return fds
}

/**
 * Full garbage collections in a process started with `--inspect=127.0.0.1:0` (NODE_OPTIONS), so
 * that memory checks measure what it keeps, not when its collector last ran.
 */
export class V8Gc {
  private id = 0
  private constructor(private ws: WebSocket) {}

  /** Attaches to the inspector whose "Debugger listening on ws://..." line is in `output`. */
  static async attach(output: string): Promise<V8Gc> {
    const url = /Debugger listening on (ws:\/\/\S+)/.exec(output)?.[1]
    if (!url) throw new Error('the process has no inspector: start it with NODE_OPTIONS=--inspect=127.0.0.1:0')
    const ws = new WebSocket(url)
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
    return new V8Gc(ws)
  }

  /** Two full collections, then the process's RSS and open fds. */
  async retained(pid: number): Promise<{ rss: number; fds: number }> {
    for (let i = 0; i < 2; i++) {
      const id = ++this.id
      const done = new Promise<void>((resolve) => {
        const on = (d: Buffer) => {
          if (JSON.parse(String(d)).id !== id) return
          this.ws.off('message', on)
          resolve()
        }
        this.ws.on('message', on)
      })
      this.ws.send(JSON.stringify({ id, method: 'HeapProfiler.collectGarbage' }))
      await withTimeout(done, 10_000, 'a garbage collection')
    }
    return procStats(pid)
  }

  close(): void {
    this.ws.close()
  }
}

// ---- hostile WebSocket traffic -----------------------------------------------------------------

/** Field names the protocols use (signaling, channels, the inspector feed, agents, jobs, actors). */
export const FIELDS = [
  'type',
  't',
  'v',
  'kind',
  'cmd',
  'id',
  'path',
  'paths',
  'name',
  'after',
  'limit',
  'nodeId',
  'member',
  'ch',
  'channel',
  'seq',
  'cursor',
  'payload',
  'event',
  'sdp',
  'c',
  'candidate',
  'peerSessionId',
  'negotiationId',
  'mediaShape',
  'targetNodeId',
  'subject',
  'class',
  'key',
  'ts',
  'from',
  'to',
  'role',
  'prompt',
  'taskId',
  'images',
  'input',
  'machine',
  'durable',
  'priority',
  'tenant',
  'queue',
  'runAt',
  'maxAttempts',
  'action',
  'reason',
  'ms',
  '__proto__',
  'constructor',
]
/** Values that mean something somewhere (reserved XState events, frame kinds, actor names) or nothing at all. */
export const VALUES = [
  'xstate.error.actor.x',
  'xstate.done.actor.step-1',
  'xstate.init',
  'xstate.after.1000.x',
  'xstate.stop',
  'hello',
  'task',
  'ping',
  'history',
  'focus',
  'definition',
  'machine',
  'offer',
  'candidate',
  'rtc.offer',
  'rtc.ice',
  'echo',
  'sleep',
  'counter',
  'link',
  'reliability',
  '../..',
  '%zz',
  '',
  '\u0000',
  '𝄞',
  'a'.repeat(5000),
]
export const arbValue = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...VALUES) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.constantFrom(-1, 0, 1, 1e308, -0, 2 ** 53, 0.5, true, null, [], {}) },
)
/** JSON that looks like the protocols' frames: their field names, wrong or odd values. */
export const arbShaped = fc
  .dictionary(fc.constantFrom(...FIELDS), arbValue, { minKeys: 1, maxKeys: 6 })
  .map((o) => JSON.stringify(o))
const deep = (n: number) => `{"type":"x","v":1,"cmd":"ping","input":${'['.repeat(n)}${']'.repeat(n)}}`

export interface Msg {
  op: number
  data: Uint8Array | string
  /** Sent as this many frames (a fragmented message). */
  parts: number
}
export const arbMessage: fc.Arbitrary<Msg> = fc.oneof(
  { weight: 3, arbitrary: arbShaped.map((d) => ({ op: OP.text, data: d, parts: 1 })) },
  { weight: 2, arbitrary: fc.string({ maxLength: 200 }).map((d) => ({ op: OP.text, data: d, parts: 1 })) },
  {
    weight: 1,
    arbitrary: fc.string({ unit: 'grapheme', maxLength: 60 }).map((d) => ({ op: OP.text, data: d, parts: 1 })),
  },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 300 }).map((d) => ({ op: OP.binary, data: d, parts: 1 })) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(arbShaped, fc.integer({ min: 2, max: 5 }), fc.constantFrom(OP.text, OP.binary))
      .map(([d, parts, op]) => ({ op, data: d, parts })),
  },
  { weight: 1, arbitrary: fc.constantFrom(500, 5000).map((n) => ({ op: OP.text, data: deep(n), parts: 1 })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 50 }).map((d) => ({ op: OP.ping, data: d, parts: 1 })) },
)

/** A frame that breaks the protocol (the server must close with 1002/1007/1008, never 1011). */
export const arbBreak = fc.oneof(
  fc.constant(frame(OP.text, Buffer.from([0x61, 0xff, 0xfe, 0x80]))), // invalid UTF-8
  fc.integer({ min: 3, max: 7 }).map((op) => frame(op, 'x')), // reserved data opcodes
  fc.integer({ min: 11, max: 15 }).map((op) => frame(op, 'x')), // reserved control opcodes
  fc.integer({ min: 1, max: 7 }).map((rsv) => frame(OP.text, '{}', { rsv })),
  fc.constant(frame(OP.text, 'unmasked', { mask: false })),
  fc.constant(frame(OP.ping, 'x'.repeat(126))), // control payload over 125
  fc.constant(frame(OP.ping, 'x', { fin: false })), // fragmented control frame
  fc.constant(frame(OP.cont, 'no start')), // continuation with nothing to continue
  fc.constant(Buffer.concat([frame(OP.text, 'a', { fin: false }), frame(OP.text, 'b')])), // new message mid-fragment
  fc.constantFrom(999, 1004, 1005, 1006, 1015, 2999, 5000).map((code) => {
    const p = Buffer.alloc(2)
    p.writeUInt16BE(code)
    return frame(OP.close, p)
  }),
  fc.constant(frame(OP.close, Buffer.from([0x03]))), // a close payload of one byte
  fc.constant(Buffer.from([0x81, 0xff, 0x7f, 0xff])), // a length header cut short, then nothing
)

export interface Script {
  messages: Msg[]
  end: Buffer | null
}
/** One connection's traffic: messages, then (often) a frame that breaks the protocol. */
export const arbScript: fc.Arbitrary<Script> = fc.record({
  messages: fc.array(arbMessage, { minLength: 5, maxLength: 60, size: 'medium' }),
  end: fc.option(arbBreak, { freq: 2 }),
})

export function encode(m: Msg): Buffer {
  const data = typeof m.data === 'string' ? Buffer.from(m.data, 'utf8') : Buffer.from(m.data)
  if (m.parts <= 1) return frame(m.op, data)
  const step = Math.ceil(data.length / m.parts) || 1
  const out: Buffer[] = []
  for (let i = 0, k = 0; k < m.parts; i += step, k++) {
    const last = k === m.parts - 1
    out.push(frame(k === 0 ? m.op : OP.cont, data.subarray(i, last ? data.length : i + step), { fin: last }))
  }
  return Buffer.concat(out)
}

/**
 * Sends one script to `url`; tallies the inputs, the close codes and any stack trace. After each
 * message a ping: its pong says the server read the message and goes on. When the server closes
 * instead (a message it refused), the rest of the script goes on a new connection, so every message
 * counted was read by the server, whatever the timing.
 */
export async function runScript(port: number, url: string, script: Script, tally: Tally): Promise<void> {
  const open = async () => {
    const ws = await RawWs.open(port, url)
    tally.connections++
    if (ws.status !== 101) ws.destroy()
    return ws
  }
  const finish = async (ws: RawWs) => {
    const closed = await Promise.race([ws.closed, sleep(1500).then(() => undefined)])
    if (!closed) {
      // a frame header cut short (the last break case) leaves the server waiting for its bytes
      ws.destroy()
      await ws.closed
    }
    tally.closed(closed?.code ?? 1006)
    tally.noStack(closed?.reason ?? '', url)
    for (const t of ws.texts) tally.noStack(t, `${url} frame`)
  }
  let ws = await open()
  if (ws.status !== 101) return
  for (const m of script.messages) {
    if (ws.closeCode !== undefined || ws.ended) {
      await finish(ws)
      ws = await open()
      if (ws.status !== 101) return
    }
    await ws.write(encode(m))
    tally.inputs++
    tally.ws++
    await ws.ping()
  }
  if (script.end && ws.closeCode === undefined && !ws.ended) {
    await ws.write(script.end)
    tally.inputs++
    tally.ws++
  } else ws.close(1000)
  await finish(ws)
}

/** Sends one frame of `size` bytes; resolves with how the server closed the connection. */
export async function oversized(
  port: number,
  url: string,
  size: number,
  op: number = OP.text,
): Promise<{ status: number; code: number; reason: string }> {
  const ws = await RawWs.open(port, url)
  if (ws.status !== 101) {
    ws.destroy()
    return { status: ws.status, code: 0, reason: ws.head }
  }
  await ws.sendHuge(op, size)
  const closed = await withTimeout(ws.closed, 20_000, `${url} closed after ${size} bytes`)
  return { status: ws.status, ...closed }
}

/** Opens `n` connections, 25 at a time: a third closed politely, a third reset, a third cut mid-handshake. */
export async function openAndDrop(port: number, url: string, n: number, tally: Tally): Promise<void> {
  await pool(
    Array.from({ length: n }, (_, i) => i),
    25,
    async (i) => {
      tally.connections++
      if (i % 3 === 2) {
        const sock = connect({ host: '127.0.0.1', port })
        sock.on('error', () => {})
        await new Promise((r) => sock.once('connect', r))
        sock.write(`GET ${url} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n`)
        sock.destroy()
        return
      }
      const ws = await RawWs.open(port, url)
      if (i % 3 === 0) {
        ws.close(1000)
        await Promise.race([ws.closed, sleep(3000)])
      }
      ws.destroy()
      await ws.closed
    },
  )
}
