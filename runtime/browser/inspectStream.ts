/**
 * A member's own actors recorded at its hub: XState's `inspect` events of the root actors it is
 * given, sent as `@statelyai/inspect` frames to the hub's `/inspector/ingest?app=<node>` (the
 * external-app recorder, runtime/inspector/ExternalApps.ts). The hub stores each actor as an
 * `aether.log/1` log stamped with its own clock, so an incident bundle carries the browser's side
 * of a peer session beside the hub's (and `aether replay --verify` checks it). Frames sent before
 * the socket opens wait in a bounded queue (the oldest dropped past 2,000, counted).
 */
import type { InspectionEvent } from 'xstate'

const MAX_QUEUE = 2000

/** JSON of a machine config with functions as `{type: name}` (what @statelyai/inspect sends). */
function definitionOf(logic: unknown): string | undefined {
  const config = (logic as { config?: unknown })?.config
  if (!config) return undefined
  try {
    return JSON.stringify(config, (_k, v) => (typeof v === 'function' ? { type: v.name || 'anonymous' } : v))
  } catch {
    return undefined
  }
}

const plain = (v: unknown) => JSON.parse(JSON.stringify(v ?? null))

export class InspectStream {
  private ws?: WebSocket
  private queue: string[] = []
  dropped = 0
  sent = 0
  private closed = false

  constructor(private url: string) {
    this.connect()
  }

  private connect(): void {
    if (this.closed) return
    const ws = new WebSocket(this.url)
    this.ws = ws
    ws.onopen = () => {
      for (const f of this.queue.splice(0)) this.send(f)
    }
    ws.onerror = () => {}
    // a new connection is a new run at the hub: what it records starts again from there
    ws.onclose = () => setTimeout(() => this.connect(), 1000)
  }

  private send(f: string): void {
    if (this.ws?.readyState === WebSocket.OPEN) {
      this.ws.send(f)
      this.sent++
      return
    }
    this.queue.push(f)
    if (this.queue.length > MAX_QUEUE) {
      this.queue.shift()
      this.dropped++
    }
  }

  /**
   * The `inspect` option of `createActor` for an actor recorded under `name` (its id path on the
   * member): records the root actor and ignores its children.
   */
  inspectAs(name: string): (ev: InspectionEvent) => void {
    return (ev) => this.record(ev, name)
  }

  private record(ev: InspectionEvent, name: string): void {
    const ref = ev.actorRef as typeof ev.actorRef & { logic?: unknown }
    if (ref.sessionId !== ev.rootId) return
    const sessionId = ref.sessionId
    if (ev.type === '@xstate.actor') {
      this.send(JSON.stringify({ type: '@xstate.actor', sessionId, name, definition: definitionOf(ref.logic) }))
    } else if (ev.type === '@xstate.event') {
      this.send(
        JSON.stringify({
          type: '@xstate.event',
          sessionId,
          event: plain(ev.event),
          ...(ev.sourceRef && ev.sourceRef !== ref ? { sourceId: ev.sourceRef.sessionId } : {}),
        }),
      )
    } else if (ev.type === '@xstate.snapshot') {
      this.send(
        JSON.stringify({ type: '@xstate.snapshot', sessionId, event: plain(ev.event), snapshot: plain(ev.snapshot) }),
      )
    }
  }

  close(): void {
    this.closed = true
    this.ws?.close()
  }
}
