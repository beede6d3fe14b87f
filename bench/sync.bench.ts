/**
 * Webspaces and semantic channels:
 * - sync.updates      Yjs updates/s applied and persisted by the hub, 20 clients editing one
 *                     document over /yws, until every update is durable (acked by the hub after its
 *                     LevelDB write) vs the reference y-websocket server with y-leveldb persistence
 *                     (until y-leveldb finished every write), both servers as child processes,
 *                     same clients, same edits, in paired rounds (reference then aether, a fresh
 *                     document each); the ratio is the median of the per-round ratios (a slow
 *                     moment of the shared machine hits both halves of a round, not one figure).
 * - channel.failover  ms from the loss of the active path to the delivery (ack) on the next path of
 *                     a command sent at the moment of the loss; member client and hub over two real
 *                     WebSockets, the active one closed. Also `.silent`: the path goes quiet instead
 *                     (detected by the heartbeat).
 * - channel.failover.relay  the same from the hub WebSocket to the root relay (browser -> root
 *                     -> NATS -> hub): an `aether root` feature and a hub with its NATS link in this
 *                     process, NATS at NATS_URL (default nats://127.0.0.1:4222). `.silent` too.
 *
 *   npm run bench -- sync [--json] [--quick]
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import WebSocket from 'ws'
import { WebspaceClient, webspaceUrl } from '../runtime/browser/webspaceClient.ts'
import { MemberChannels, relayPath, WebSocketPath } from '../runtime/browser/memberChannels.ts'
import { RelayLinkFeature } from '../runtime/channel/relayLinkFeature.ts'
import { hubLinkFeature } from '../runtime/link/linkFeature.ts'
import { rootFeature } from '../runtime/root/rootFeature.ts'
import { Hub } from '../runtime/Hub.ts'
import { ChannelFeature } from '../runtime/channel/channelFeature.ts'
import { median, paired, printTable, quick, report } from './lib.ts'

const dirs: string[] = []
const kids: ChildProcess[] = []
process.on('exit', () => {
  for (const k of kids) k.kill('SIGKILL')
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})
const newDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'aether-bench-sync-'))
  dirs.push(d)
  return d
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function server(mode: 'aether' | 'yref'): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/syncServers.ts', mode, newDir()], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    kids.push(child)
    createInterface({ input: child.stdout! }).on('line', (l) => l.startsWith('URL ') && resolve(l.slice(4)))
    child.once('exit', (c) => reject(new Error(`${mode} server exited ${c}`)))
  })
}

// ---- sync.updates ---------------------------------------------------------------------------
const CLIENTS = 20
const PER_CLIENT = quick ? 150 : 500

async function connect(url: string, client: WebspaceClient): Promise<WebSocket> {
  const ws = new WebSocket(url)
  ws.binaryType = 'nodebuffer'
  // the clients are writers: they skip the other clients' broadcast updates (sync message, step
  // "update") so that the client process is not what limits the figure; the servers still apply,
  // broadcast and persist everything
  ws.on('message', (d: Buffer) => {
    if (d[0] === 0 && d[1] === 2 && client.synced) return
    client.receive(new Uint8Array(d.buffer, d.byteOffset, d.byteLength))
  })
  await new Promise((r) => ws.once('open', r))
  client.attach((f) => ws.send(f))
  await new Promise<void>((r) => (client.synced ? r() : client.on('synced', () => r())))
  return ws
}

/** 20 clients each make PER_CLIENT edits; resolves with updates/s once the server holds them durably. */
async function editRun(
  urlFor: (doc: string) => string,
  durable: (clients: WebspaceClient[], expected: number) => Promise<void>,
  doc: string,
  ready?: () => Promise<void>,
): Promise<number> {
  const clients = Array.from({ length: CLIENTS }, () => new WebspaceClient(doc))
  const sockets = await Promise.all(clients.map((c) => connect(urlFor(doc), c)))
  await ready?.()
  const t0 = performance.now()
  for (let i = 0; i < PER_CLIENT; i++) {
    for (const c of clients) c.doc.getText('t').insert(0, 'x')
    if (i % 25 === 24) await sleep(0)
  }
  await durable(clients, CLIENTS * PER_CLIENT)
  const dt = (performance.now() - t0) / 1000
  for (const s of sockets) s.close()
  for (const c of clients) c.destroy()
  return (CLIENTS * PER_CLIENT) / dt
}

/** The reference server's counters; a request that meets a closing keep-alive socket is retried. */
async function refInfo(refUrl: string): Promise<{ persisted: number; bound: string[] }> {
  for (let i = 0; ; i++) {
    try {
      return (await (await fetch(`${refUrl}/persisted`)).json()) as any
    } catch (err) {
      if (i >= 20) throw err
      await sleep(5)
    }
  }
}

{
  const [aetherUrl, refUrl] = await Promise.all([server('aether'), server('yref')])
  let round = 0
  const r = await paired(
    quick ? 3 : 5,
    () =>
      editRun(
        (doc) => webspaceUrl(aetherUrl, doc, 'bench'),
        async (clients) => {
          // every update message acked as durable by the hub
          while (clients.some((c) => c.acked < c.sent)) await sleep(2)
        },
        `a${round++}`,
      ),
    async () => {
      const before = (await refInfo(refUrl)).persisted
      const doc = `r${round++}`
      return editRun(
        (doc) => `${refUrl.replace('http', 'ws')}/${doc}`,
        async (_clients, expected) => {
          for (;;) {
            const n = (await refInfo(refUrl)).persisted - before
            if (n >= expected) return
            await sleep(5)
          }
        },
        doc,
        async () => {
          while (!(await refInfo(refUrl)).bound.includes(doc)) await sleep(5)
        },
      )
    },
  )
  const ratios = r.as.map((a, i) => a / r.bs[i])
  const ratio = median(ratios)
  report({
    figure: 'sync.updates',
    aether: r.a,
    baseline: r.b,
    ratio,
    unit: 'updates/s',
    goal: '>= 1.0',
    pass: ratio >= 1,
    clients: CLIENTS,
    updates: CLIENTS * PER_CLIENT,
    runs: {
      aether: r.as.map(Math.round),
      baseline: r.bs.map(Math.round),
      ratios: ratios.map((x) => Math.round(x * 100) / 100),
    },
  })
}

/** ms from breaking `primary` (`cut`: closed; `silent`: blackholed) to the next command's ack. */
async function timeLoss(ch: MemberChannels, primary: WebSocketPath, mode: 'cut' | 'silent'): Promise<number> {
  await ch.command('command', { warm: true })
  const t0 = performance.now()
  if (mode === 'cut') primary.cut()
  else primary.blackhole = true
  await ch.command('command', { at: 'loss' })
  const dt = performance.now() - t0
  ch.close()
  return dt
}

/** `<name>` (cut) and `<name>.silent`: medians of repeated failovers, goal <= 500 ms. */
async function failoverFigures(
  name: string,
  measure: (mode: 'cut' | 'silent', i: number) => Promise<number>,
): Promise<void> {
  const runs = quick ? 5 : 11
  for (const mode of ['cut', 'silent'] as const) {
    const xs: number[] = []
    for (let i = 0; i < runs; i++) xs.push(await measure(mode, i))
    const m = median(xs)
    report({
      figure: mode === 'cut' ? name : `${name}.silent`,
      aether: m,
      baseline: null,
      ratio: null,
      unit: 'ms',
      goal: '<= 500',
      pass: m <= 500,
      runs: xs.map((x) => Math.round(x)),
    })
  }
}

// ---- channel.failover -----------------------------------------------------------------------
{
  const hub = await Hub.start({ data: newDir(), token: 'bench' }, [new ChannelFeature()])
  const policy = { freezeMs: 1000, ackTimeoutMs: 1000, maxAttempts: 100 }
  const measure = async (mode: 'cut' | 'silent', i: number): Promise<number> => {
    const member = `m-${mode}-${i}`
    const opts = { url: hub.url, member, token: 'bench', WebSocket, heartbeatMs: 100, deadAfterMs: 300 }
    const primary = new WebSocketPath({ ...opts, id: 'direct' })
    const secondary = new WebSocketPath({ ...opts, id: 'ws' })
    const ch = new MemberChannels({ member, paths: [primary, secondary], policy, channels: ['command'] })
    while (ch.active('command') !== 'direct' || !secondary.open) await sleep(2)
    return timeLoss(ch, primary, mode)
  }
  await failoverFigures('channel.failover', measure)
  await hub.close()
}

// ---- channel.failover.relay -------------------------------------------------------------------
{
  const nats = process.env.NATS_URL ?? 'nats://127.0.0.1:4222'
  const hubId = `bench-${process.pid}`
  const root = await Hub.start({ data: newDir(), token: 'root', hostId: 'root' }, [
    rootFeature({ nats, rootId: `root-${process.pid}`, sync: false }),
  ])
  const channels = new ChannelFeature()
  const hub = await Hub.start({ data: newDir(), token: 'bench' }, [
    hubLinkFeature({ nats, hubId, sync: false }),
    channels,
    new RelayLinkFeature(channels),
  ])
  const policy = { freezeMs: 1000, ackTimeoutMs: 1000, maxAttempts: 100 }
  const measure = async (mode: 'cut' | 'silent', i: number): Promise<number> => {
    const member = `r-${mode}-${i}`
    const hb = { WebSocket, heartbeatMs: 100, deadAfterMs: 300 }
    const primary = new WebSocketPath({ url: hub.url, member, token: 'bench', ...hb })
    const relay = relayPath({ url: root.url, hub: hubId, member, token: 'root', ...hb })
    const ch = new MemberChannels({ member, paths: [primary, relay], policy, channels: ['command'] })
    const end = Date.now() + 20_000
    while ((ch.active('command') !== 'ws' || !(await ch.probe('relay'))) && Date.now() < end) await sleep(5)
    if (Date.now() >= end) throw new Error(`the relay did not come up (is NATS at ${nats}?)`)
    return timeLoss(ch, primary, mode)
  }
  await failoverFigures('channel.failover.relay', measure)
  await hub.close()
  await root.close()
}

printTable('sync: webspaces and semantic channels')
process.exit(0)
