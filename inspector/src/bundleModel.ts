/**
 * An incident bundle (protocol/bundle.ts) as the inspector scrubs it: every actor of every node on
 * one clock (each node's times plus its measured offset), one ordered list of steps, and each
 * actor's state at any point of it. Pure: no DOM, tested in Node.
 */
import { parseBundle, type BundleNode, type ParsedBundle } from '../../protocol/bundle.ts'
import { isSnapshotLine } from '../../protocol/log.ts'

/** One event of one actor, on the reference clock. */
export interface BundleStep {
  /** Time on the reference clock (the node's own time plus its offset). */
  t: number
  /** The node's own time. */
  at: number
  node: string
  actor: string
  /** `node actor`, the lane's key. */
  lane: string
  seq: number
  type: string
  event?: Record<string, unknown>
  /** The state after the event, when the log has it. */
  value?: unknown
  context?: unknown
  /** A note (no actor): what a node did that no actor records. */
  note?: boolean
}

export interface BundleLane {
  key: string
  node: string
  actor: string
  machine: string
  /** The state the actor's log starts from (its checkpoint), if any. */
  start?: { value: unknown; context?: unknown }
}

export class BundleTimeline {
  readonly nodes: BundleNode[]
  readonly lanes: BundleLane[] = []
  /** Every event of every actor and every note, ordered on the reference clock. */
  readonly steps: BundleStep[] = []
  readonly window: { from: number; to: number }
  /** Raw logs by lane, for opening one actor in the actor view. */
  readonly logText = new Map<string, string>()

  constructor(
    readonly name: string,
    readonly bundle: ParsedBundle,
  ) {
    const { manifest } = bundle
    this.nodes = manifest.nodes
    this.window = manifest.window
    const offset = new Map(manifest.nodes.map((n) => [n.id, n.offsetMs]))
    for (const log of bundle.logs) {
      const key = `${log.node} ${log.header.actor}`
      const lane: BundleLane = { key, node: log.node, actor: log.header.actor, machine: log.header.machine }
      this.lanes.push(lane)
      const off = offset.get(log.node) ?? 0
      let last: BundleStep | undefined
      let text = JSON.stringify(log.header) + '\n'
      for (const l of log.lines) {
        text += JSON.stringify(l) + '\n'
        if (isSnapshotLine(l)) {
          if (last && last.seq === l.seq) {
            last.value = l.snapshot.value
            last.context = l.snapshot.context
          } else if (!last) lane.start = { value: l.snapshot.value, context: l.snapshot.context }
          continue
        }
        last = {
          t: l.at + off,
          at: l.at,
          node: log.node,
          actor: log.header.actor,
          lane: key,
          seq: l.seq,
          type: l.event.type,
          event: l.event,
        }
        this.steps.push(last)
      }
      this.logText.set(key, text)
    }
    for (const n of manifest.notes ?? [])
      this.steps.push({
        t: n.at + (offset.get(n.node) ?? 0),
        at: n.at,
        node: n.node,
        actor: '',
        lane: `${n.node} (notes)`,
        seq: 0,
        type: n.text,
        note: true,
      })
    if (manifest.notes?.length)
      for (const n of manifest.nodes)
        if (manifest.notes.some((x) => x.node === n.id))
          this.lanes.push({ key: `${n.id} (notes)`, node: n.id, actor: '(notes)', machine: '' })
    // stable: equal times keep each log's order
    this.steps.sort((a, b) => a.t - b.t)
    const order = new Map(manifest.nodes.map((n, i) => [n.id, i]))
    this.lanes.sort((a, b) => (order.get(a.node) ?? 0) - (order.get(b.node) ?? 0))
  }

  /** Parses a bundle's text; throws BundleFormatError naming the line and what is wrong. */
  static parse(name: string, text: string): BundleTimeline {
    return new BundleTimeline(name, parseBundle(text))
  }

  /**
   * Only the lanes whose `node actor` key contains one of the comma-separated terms (case
   * insensitive), their steps and their nodes' notes; all of it for an empty filter.
   */
  filter(match: string): BundleTimeline {
    const terms = match
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter(Boolean)
    if (!terms.length) return this
    const ok = (key: string) => terms.some((t) => key.toLowerCase().includes(t))
    const logs = this.bundle.logs.filter((l) => ok(`${l.node} ${l.header.actor}`))
    const notes = (this.bundle.manifest.notes ?? []).filter((n) => ok(`${n.node} (notes)`))
    return new BundleTimeline(this.name, { manifest: { ...this.bundle.manifest, notes }, logs })
  }

  /** The time range the steps cover on the reference clock (the window when there are none). */
  range(): { from: number; to: number } {
    if (!this.steps.length) return this.window
    return { from: this.steps[0].t, to: this.steps[this.steps.length - 1].t }
  }

  /** Each lane's state after the steps up to index `i` (inclusive); -1: before any step. */
  statesAt(i: number): Map<string, { value: unknown; context?: unknown; seq?: number }> {
    const out = new Map<string, { value: unknown; context?: unknown; seq?: number }>()
    for (const l of this.lanes) if (l.start) out.set(l.key, l.start)
    for (let k = 0; k <= i && k < this.steps.length; k++) {
      const s = this.steps[k]
      if (!s.note && s.value !== undefined) out.set(s.lane, { value: s.value, context: s.context, seq: s.seq })
    }
    return out
  }
}
