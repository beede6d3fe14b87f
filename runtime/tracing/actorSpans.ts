/**
 * Spans of actors' phases, from the feed of journaled events (the inspection feed an actor system
 * publishes after each event): a rule per machine reads each snapshot (state value and context)
 * and names the spans open now, by slot; when a slot's key changes, its span ends and the next
 * one starts. Nothing runs inside a machine and nothing is journaled: replay is unchanged.
 *
 * - `updateTransition`: one `update` span per attempt, a child span per phase it goes through
 *   (`update countdown`, `update preparing`, `update cutover`, ...).
 * - `peerSession`: one span per negotiation (`negotiation <purpose>`, while `context.neg` names it)
 *   and one per rung of the recovery ladder (`recovery <rung>`, while `context.rung` holds it).
 *
 * Listening to a system's feed makes the system build feed records for all its actors, so a hub
 * attaches this only when tracing is on.
 */
import type { Attributes } from '@opentelemetry/api'
import type { ActorSystem } from '../../actors/ActorSystem.ts'
import type { FeedEvent } from '../../protocol/inspection.ts'
import type { SignalTraces } from '../rtc/RtcNode.ts'
import type { Span, Tracing } from './Tracing.ts'

/** A span a rule wants open: a new `key` ends the slot's previous span and starts this one. */
export interface SlotSpan {
  key: string
  name: string
  attributes?: Attributes
  /** The slot whose span is this one's parent (it comes earlier in the rule's answer). */
  parent?: string
}

/** Which spans are open for an actor of `machine`, by slot (null: none), from its snapshot. */
export interface ActorSpanRule {
  machine: string
  slots(value: unknown, context: any): Record<string, SlotSpan | null>
}

/** `countdown`, `a.b` for nested state values. */
export function stateName(value: unknown): string {
  if (typeof value === 'string') return value
  if (value && typeof value === 'object') {
    const [k, v] = Object.entries(value)[0] ?? []
    return k === undefined ? '' : `${k}.${stateName(v)}`
  }
  return String(value)
}

const UPDATE_IDLE = new Set(['idle', 'committed', 'rolledBack'])

/** `updateTransition`: an `update` span per attempt, a child per phase. */
export const updateRule: ActorSpanRule = {
  machine: 'updateTransition',
  slots(value, ctx) {
    const phase = stateName(value)
    const a = ctx?.attempt
    if (!a || UPDATE_IDLE.has(phase)) return { update: null, phase: null }
    const attrs = { 'aether.update.attempt': a.id, 'aether.update.kind': a.kind, 'aether.update.target': a.target }
    return {
      update: { key: String(a.id), name: 'update', attributes: { ...attrs, 'aether.update.from': a.from } },
      phase: { key: `${a.id}:${phase}`, name: `update ${phase}`, attributes: attrs, parent: 'update' },
    }
  },
}

/** The key of a negotiation's span: the same on both sides of a peer session. */
const negotiationKey = (peerSessionId: unknown, negotiationId: string) => `${peerSessionId}:${negotiationId}`

/** `peerSession`: a span per negotiation and per rung of the recovery ladder. */
export const peerRule: ActorSpanRule = {
  machine: 'peerSession',
  slots(_value, ctx) {
    const neg = ctx?.neg
    const session = { 'aether.rtc.peer_session': String(ctx?.peerSessionId ?? '') }
    return {
      negotiation: neg
        ? {
            key: negotiationKey(ctx.peerSessionId, neg.id),
            name: `negotiation ${neg.purpose}`,
            attributes: { ...session, 'aether.rtc.negotiation': neg.id, 'aether.rtc.origin': neg.origin },
          }
        : null,
      rung: ctx?.rung
        ? {
            key: `${ctx.peerSessionId}:${ctx.rung}:${ctx.probe?.rungStart ?? ''}`,
            name: `recovery ${ctx.rung}`,
            attributes: {
              ...session,
              'aether.rtc.rung': ctx.rung,
              'aether.rtc.reason': String(ctx.recoveryReason ?? ''),
            },
          }
        : null,
    }
  },
}

/** Statuses after which an actor's spans end. */
const GONE = new Set(['done', 'error', 'stopped', 'failed'])

/** Open spans of one actor, by slot. */
type Open = Map<string, { key: string; span: Span }>

/** Watches a system's feed and keeps the spans its rules name. */
export class ActorSpans {
  private open = new Map<string, Open>()
  private machines = new Map<string, string | null>()
  private rules = new Map<string, ActorSpanRule>()
  /** Parents from other processes (`traceparent`) of spans not open yet, by `<path>\n<key>`. */
  private remote = new Map<string, string>()
  private unlisten: () => void

  constructor(
    private readonly tracing: Tracing,
    private readonly system: ActorSystem,
    rules: ActorSpanRule[] = [updateRule, peerRule],
  ) {
    for (const r of rules) this.rules.set(r.machine, r)
    this.unlisten = system.feed.listen((e) => this.onFeed(e))
  }

  private ruleOf(path: string): ActorSpanRule | undefined {
    let m = this.machines.get(path)
    if (m === undefined) {
      m = this.system.hosted(path)?.machineName ?? null
      this.remember(path, m)
    }
    return m === null ? undefined : this.rules.get(m)
  }

  /** Machine names by path, bounded (a cleared entry is looked up again). */
  private remember(path: string, machine: string | null): void {
    if (this.machines.size > 100_000) this.machines.clear()
    this.machines.set(path, machine)
  }

  private onFeed(e: FeedEvent): void {
    const path = (e as { path?: string }).path
    if (!path) return
    if (e.type === '@xstate.actor') {
      // an actor record names its machine: a path may be hosted again, by another machine
      if (GONE.has(e.status)) {
        this.machines.delete(path)
        return this.endAll(path)
      }
      this.remember(path, e.machine)
    }
    const rule = this.ruleOf(path)
    if (!rule) return
    const snap = e.snapshot as { value?: unknown; context?: unknown } | undefined
    if (!snap) return
    this.apply(path, rule.slots(snap.value, snap.context))
  }

  private apply(path: string, want: Record<string, SlotSpan | null>): void {
    let open = this.open.get(path)
    const slots = Object.keys(want)
    // end what changed, children (later slots) before their parents
    if (open)
      for (const slot of [...slots].reverse()) {
        const cur = open.get(slot)
        if (cur && cur.key !== want[slot]?.key) {
          this.tracing.end(cur.span)
          open.delete(slot)
        }
      }
    for (const slot of slots) {
      const w = want[slot]
      if (!w || open?.has(slot)) continue
      const parent = w.parent ? open?.get(w.parent)?.span : this.takeRemote(path, w.key)
      const span = this.tracing.span(w.name, { 'aether.actor': path, ...w.attributes }, parent)
      if (!open) this.open.set(path, (open = new Map()))
      open.set(slot, { key: w.key, span })
      if (!w.parent) this.tracing.link(path, span, w.name)
    }
    if (open && !open.size) this.open.delete(path)
  }

  /** The span at `path`'s `slot` will be the child of `traceparent` if it opens with `key`. */
  expectParent(path: string, key: string, traceparent: string): void {
    const k = `${path}\n${key}`
    for (const o of this.open.get(path)?.values() ?? []) if (o.key === key) return // open already
    this.remote.delete(k)
    this.remote.set(k, traceparent)
    if (this.remote.size > 1000) this.remote.delete(this.remote.keys().next().value as string)
  }

  private takeRemote(path: string, key: string): string | undefined {
    const k = `${path}\n${key}`
    const tp = this.remote.get(k)
    if (tp !== undefined) this.remote.delete(k)
    return tp
  }

  /** The `traceparent` of the span open at `path`'s `slot` under `key`, if there is one. */
  traceparentOf(path: string, slot: string, key: string): string | undefined {
    const o = this.open.get(path)?.get(slot)
    return o && o.key === key ? this.tracing.traceparent(o.span) : undefined
  }

  private endAll(path: string): void {
    const open = this.open.get(path)
    if (!open) return
    // children first (they were opened after their parents)
    for (const o of [...open.values()].reverse()) this.tracing.end(o.span)
    this.open.delete(path)
  }

  close(): void {
    this.unlisten()
    for (const path of [...this.open.keys()]) this.endAll(path)
  }
}

/**
 * Signaling's trace context from a system's negotiation spans: a message goes with its
 * negotiation's `traceparent`, and a negotiation opened by the other side's message is the child
 * of that side's span, so both sides' spans of one negotiation are one trace.
 */
export function signalTraces(spans: ActorSpans): SignalTraces {
  return {
    outgoing: (path, m) => spans.traceparentOf(path, 'negotiation', negotiationKey(m.peerSessionId, m.negotiationId)),
    incoming: (path, m, traceparent) =>
      spans.expectParent(path, negotiationKey(m.peerSessionId, m.negotiationId), traceparent),
  }
}
