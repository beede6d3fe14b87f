/**
 * The main thread's handle on the data-plane worker (runtime/link/dataPlane.worker.ts): its NATS
 * status, reconnects and the data traffic classes' counters, as last reported.
 */
import { Worker } from 'node:worker_threads'
import type { TrafficClass } from '../../protocol/index.ts'
import type { LinkStatus } from '../nats/NatsTransport.ts'
import type { TrafficCounters } from './TrafficClasses.ts'

export class DataPlane {
  status: LinkStatus = 'connecting'
  lastError?: string
  reconnectTimes: number[] = []
  counters: Partial<Record<TrafficClass, TrafficCounters>> = {}
  rejectedByCode: Record<string, number> = {}
  overBudget: TrafficClass[] = []
  readonly reconnects = { n: 0 }
  private listeners = new Set<(s: LinkStatus, prev: LinkStatus) => void>()
  private worker: Worker
  private exited: Promise<void>
  failed?: Error

  constructor(init: {
    url: string
    hubId: string
    budgets?: Partial<Record<TrafficClass, number>>
    /** Through the transport sidecar's socket instead of a NATS connection of its own. */
    sidecar?: { socket: string; token?: string }
  }) {
    this.worker = new Worker(new URL('./dataPlane.worker.mjs', import.meta.url), { workerData: init })
    this.exited = new Promise((r) => this.worker.once('exit', () => r()))
    this.worker.on('message', (m: any) => {
      if (m.type === 'status') {
        // the count with the status, so a reader that sees `connected` sees the reconnect too
        if (typeof m.reconnects === 'number') this.reconnects.n = m.reconnects
        this.setStatus(m.status, m.lastError)
      } else if (m.type === 'stats') {
        this.counters = m.counters
        this.rejectedByCode = m.rejectedByCode
        this.overBudget = m.overBudget
        this.reconnectTimes = m.reconnectTimes
        this.reconnects.n = m.reconnects
        this.lastError = m.lastError ?? undefined
        this.setStatus(m.status, m.lastError)
      }
    })
    this.worker.on('error', (err) => {
      this.failed = err
      this.setStatus('closed', err.message)
    })
    this.worker.unref()
  }

  private setStatus(s: LinkStatus, lastError?: string | null): void {
    if (lastError) this.lastError = lastError
    if (s === this.status) return
    const prev = this.status
    this.status = s
    for (const fn of this.listeners) fn(s, prev)
  }

  onStatus(fn: (s: LinkStatus, prev: LinkStatus) => void): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  async close(): Promise<void> {
    this.worker.postMessage({ type: 'close' })
    const t = setTimeout(() => void this.worker.terminate(), 3000)
    await this.exited
    clearTimeout(t)
  }
}
