/**
 * Many simulated hubs in one process, for the scale benchmark and test: each has its own hub id,
 * Class A stream, LevelDB outbox (all in one store, one group-commit writer) and sender, over a
 * few shared NATS connections; optionally lifecycle heartbeats. Measures append -> ack latency
 * per record batch.
 */
import { encodeFrame, envelope, subjects } from '../../protocol/index.ts'
import { LevelStore } from '../LevelStore.ts'
import { NatsLink } from '../nats/NatsTransport.ts'
import { ClassASender } from './ClassASender.ts'
import type { Transport } from './Transport.ts'
import { GroupWriter } from './GroupWriter.ts'
import { Outbox } from './Outbox.ts'

export interface SimHub {
  id: string
  outbox: Outbox
  sender: ClassASender
  /** Appends waiting for their ack: [last cursor, append time]. */
  waiting: Array<[number, number]>
}

export interface SimOptions {
  nats: string
  dir: string
  hubs: number
  connections?: number
  prefix?: string
  sync?: boolean
  /** Heartbeat period per hub (ms); 0 = none. */
  heartbeatMs?: number
  window?: number
  batch?: number
  /** The connection `i` (default: a NatsLink to `nats`; the benchmark passes a SidecarLink). */
  transport?: (i: number) => Transport
}

export class HubSimulator {
  readonly hubs: SimHub[] = []
  readonly latencies: number[] = []
  readonly links: Transport[] = []
  heartbeats = { sent: 0, answered: 0 }
  private timers: Array<ReturnType<typeof setInterval>> = []

  private constructor(
    readonly store: LevelStore,
    readonly writer: GroupWriter,
    readonly stream: string,
  ) {}

  static async start(o: SimOptions): Promise<HubSimulator> {
    const store = await LevelStore.open(o.dir)
    const sim = new HubSimulator(store, new GroupWriter(store, o.sync ?? true), 'sim')
    for (let i = 0; i < (o.connections ?? 4); i++) {
      const l = o.transport?.(i) ?? new NatsLink({ url: o.nats, name: `aether-sim-${i}` })
      await l.connected()
      sim.links.push(l)
    }
    for (let i = 0; i < o.hubs; i++) {
      const id = `${o.prefix ?? 'sim'}-${i}`
      const outbox = await Outbox.open(sim.writer, id)
      const h: SimHub = { id, outbox, sender: undefined as unknown as ClassASender, waiting: [] }
      h.sender = new ClassASender(
        id,
        outbox,
        sim.links[i % sim.links.length],
        (e) => {
          if (e.type !== 'stream.acked') return
          const now = performance.now()
          while (h.waiting.length && h.waiting[0][0] <= e.upTo) {
            const [, t0] = h.waiting.shift()!
            if (sim.latencies.length < 2_000_000) sim.latencies.push(now - t0)
          }
        },
        { window: o.window, batch: o.batch },
      )
      sim.hubs.push(h)
    }
    if (o.heartbeatMs) {
      let k = 0
      const t = setInterval(() => {
        // Spread the hubs' heartbeats over the period rather than all at once.
        const slice = Math.ceil(sim.hubs.length / 10)
        for (let j = 0; j < slice; j++) {
          const h = sim.hubs[k++ % sim.hubs.length]
          const link = sim.links[sim.hubs.indexOf(h) % sim.links.length]
          sim.heartbeats.sent++
          link
            .request(
              subjects.rootLink(h.id),
              encodeFrame(envelope('link.heartbeat', h.id, { seq: sim.heartbeats.sent, uptimeMs: 0, degraded: false })),
              5000,
            )
            .then(
              () => sim.heartbeats.answered++,
              () => {},
            )
        }
      }, o.heartbeatMs / 10)
      t.unref?.()
      sim.timers.push(t)
    }
    return sim
  }

  /** Appends records to hub `i`'s stream; resolves once persisted (the send follows). */
  async append(i: number, payloads: unknown[]): Promise<void> {
    const h = this.hubs[i]
    const t0 = performance.now()
    const { to } = await h.outbox.append(this.stream, payloads)
    h.waiting.push([to, t0])
    h.sender.pump(this.stream)
  }

  /**
   * Every hub appends `perTick` records every `tickMs` for `durationMs`; the hubs are spread over
   * the tick in 10 groups (real hubs are not synchronised). Appends never wait for each other.
   */
  async steady(
    durationMs: number,
    tickMs: number,
    perTick: number,
    payload: (hub: number, k: number) => unknown,
  ): Promise<number> {
    let appended = 0
    const end = Date.now() + durationMs
    let k = 0
    const groups = 10
    const inflight = new Set<Promise<void>>()
    let g = 0
    while (Date.now() < end) {
      const t = Date.now()
      for (let i = g; i < this.hubs.length; i += groups) {
        const batch = Array.from({ length: perTick }, () => payload(i, k++))
        const p = this.append(i, batch).finally(() => inflight.delete(p))
        inflight.add(p)
        appended += perTick
      }
      g = (g + 1) % groups
      const wait = tickMs / groups - (Date.now() - t)
      if (wait > 0) await new Promise((r) => setTimeout(r, wait))
    }
    await Promise.all(inflight)
    return appended
  }

  pending(): number {
    let n = 0
    for (const h of this.hubs) n += h.outbox.pending()
    return n
  }

  async drained(timeoutMs: number): Promise<boolean> {
    const end = Date.now() + timeoutMs
    while (this.pending() > 0) {
      if (Date.now() > end) return false
      await new Promise((r) => setTimeout(r, 20))
    }
    return true
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t)
    for (const h of this.hubs) h.sender.close()
    await this.writer.flush().catch(() => {})
    await Promise.all(this.links.map((l) => l.close()))
    await this.store.close()
  }
}
