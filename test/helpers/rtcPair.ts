/**
 * Two peer-session nodes in one process, both driven by the machines: a member (polite, leads
 * recovery) and a hub (impolite), each with its own ActorSystem on LevelDB in a temp folder,
 * joined by an in-process signaling link that encodes and validates every frame and can delay
 * deliveries by a seeded random amount (order per direction is kept, as on a WebSocket).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ActorSystem } from '../../actors/index.ts'
import { LevelStore } from '../../runtime/LevelStore.ts'
import { RtcNode, type RtcNodeOptions, type SignalTraces } from '../../runtime/rtc/RtcNode.ts'
import { syntheticMediaSource, weriftBackend, type WeriftOptions } from '../../runtime/rtc/werift.ts'

/** mulberry32: a small seeded PRNG. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * The recovery ladder at test speed (probe every 100 ms, 5 silent probes, then ICE restart,
 * renegotiation and rebuild with short deadlines): the recovery tests and the corpus recorder.
 */
export const fastLadder = {
  probeMs: 100,
  silenceProbes: 5,
  iceRestartMs: 1500,
  renegotiateMs: 1000,
  rebuildMs: 4000,
  followMs: 20_000,
}

export interface PairOptions {
  timings?: RtcNodeOptions['timings']
  memberWerift?: WeriftOptions
  hubWerift?: WeriftOptions
  uploadRate?: number
  /** Extra delay per signaling frame: () => ms (seeded). */
  delay?: () => number
  memberId?: string
  /** Trace context for each side's signaling (tracing tests), made once its system is open. */
  traces?: (system: ActorSystem, side: 'hub' | 'member') => SignalTraces | undefined
}

export interface Pair {
  member: RtcNode
  hub: RtcNode
  memberSystem: ActorSystem
  hubSystem: ActorSystem
  memberId: string
  /** Frames the link carried, by type. */
  carried: Record<string, number>
  /** Replaces delivery to a node (fuzz/replay tests). */
  intercept?: (to: string, frame: string) => boolean
  close(): Promise<void>
  dirs: string[]
}

export async function openPair(o: PairOptions = {}): Promise<Pair> {
  const dirs = [mkdtempSync(join(tmpdir(), 'aether-rtc-m-')), mkdtempSync(join(tmpdir(), 'aether-rtc-h-'))]
  const memberSystem = await ActorSystem.open({
    store: await LevelStore.open(dirs[0]),
    hostId: 'member',
    fsync: 'none',
  })
  const hubSystem = await ActorSystem.open({ store: await LevelStore.open(dirs[1]), hostId: 'hub', fsync: 'none' })
  const memberId = o.memberId ?? 'member-1'
  const carried: Record<string, number> = {}
  const queues: Record<string, Promise<void>> = { hub: Promise.resolve(), [memberId]: Promise.resolve() }
  const pair = {} as Pair
  const deliver = (to: string, frame: string) => {
    const t = JSON.parse(frame).subject
    carried[t] = (carried[t] ?? 0) + 1
    if (pair.intercept?.(to, frame)) return
    const d = o.delay?.() ?? 0
    // Per-direction order is kept: each frame waits for the one before it.
    queues[to] = queues[to].then(async () => {
      if (d > 0) await new Promise((r) => setTimeout(r, d))
      await (to === 'hub' ? hub : member).receive(frame)
    })
  }
  const hub: RtcNode = new RtcNode(hubSystem, {
    nodeId: 'hub',
    polite: false,
    backend: weriftBackend(o.hubWerift),
    send: deliver,
    timings: o.timings,
    traces: o.traces?.(hubSystem, 'hub'),
  })
  const member: RtcNode = new RtcNode(memberSystem, {
    nodeId: memberId,
    polite: true,
    backend: weriftBackend(o.memberWerift),
    send: deliver,
    media: syntheticMediaSource(),
    uploadRate: o.uploadRate,
    timings: o.timings,
    traces: o.traces?.(memberSystem, 'member'),
  })
  Object.assign(pair, {
    member,
    hub,
    memberSystem,
    hubSystem,
    memberId,
    carried,
    dirs,
    async close() {
      member.close()
      hub.close()
      await memberSystem.close()
      await hubSystem.close()
      for (const d of dirs) rmSync(d, { recursive: true, force: true })
    },
  })
  return pair
}

/** Waits until `cond()` is true, polling; throws with `what` after `ms`. */
export async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const t0 = Date.now()
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

export function snap(system: ActorSystem, path: string): any {
  return system.hosted(path)?.actor?.getSnapshot()
}

export function linkValue(system: ActorSystem, path: string): string {
  const v = snap(system, path)?.value
  if (!v || typeof v === 'string') return String(v)
  const l = v.active?.link
  return typeof l === 'string' ? l : `recovering.${l?.recovering}`
}

/**
 * werift 0.24 can leave UDP sockets bound after `close()`, which keeps the process alive; a test
 * file calls this after its suites so that it exits (with uvu's exit code) once they are done.
 */
export function exitWhenDone(ms = 1000): void {
  setTimeout(() => process.exit(process.exitCode ?? 0), ms).unref()
}
