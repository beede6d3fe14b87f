/**
 * The inspector behind `aether supervisor`: the page at the supervisor's URL talks to the active
 * runtime through the supervisor's proxy (`/inspector/feed`), and here, beside it, to the
 * supervisor itself: its own actors (`updateTransition` at `supervisor.update`) from its feed
 * (`/api/supervisor/inspector/feed`, shown under `@supervisor/`), and its status pushed on
 * `/api/supervisor/ws` (phase, transition state, the active runtime's slot, version and instance).
 * A cutover closes the runtime's feed; the page reconnects by itself and keeps what it had
 * (InspectorModel.applySnapshot). The operator actions of the transition (`cancel`, `defer`,
 * `promote`) go to `POST /api/supervisor/actions` with the token; the states that accept them are
 * read from the machine definition, as for any actor.
 */
import type { App } from './app.ts'
import { $, h } from './dom.ts'
import { FeedConnection, type ConnState } from './feedConnection.ts'
import { hostPath, type ActorView } from './model.ts'
import type { ServerFrame } from '../../protocol/inspectorFeed.ts'

const HOST = 'supervisor'
/** The transition's events an operator may send, and the action each is. */
const ACTIONS: Record<string, 'cancel' | 'defer' | 'promote'> = {
  'update.cancel': 'cancel',
  'update.defer': 'defer',
  'update.promote': 'promote',
}

/** What the page reads of `GET /api/supervisor/status` (docs/supervisor.md). */
interface SupervisorStatus {
  phase: string
  serving: string
  transition: { state: string }
  active: { runtimeInstanceId: string; slot: string; version: string } | null
}

export class SupervisorPane {
  readonly conn: FeedConnection
  status?: SupervisorStatus
  private chip: HTMLElement
  private statusWs?: WebSocket
  private closed = false

  /** The pane when the page is served by a supervisor (its status answers), else undefined. */
  static async detect(app: App): Promise<SupervisorPane | undefined> {
    try {
      const r = await fetch('/api/supervisor/status')
      if (!r.ok) return undefined
      const s = await r.json()
      if (typeof s?.phase !== 'string') return undefined
      const pane = new SupervisorPane(app)
      pane.setStatus(s)
      return pane
    } catch {
      return undefined
    }
  }

  private constructor(private app: App) {
    this.chip = h('span', { class: 'chip supervisor-chip', 'data-testid': 'supervisor-status' }, 'supervisor')
    $('#conn').after(this.chip)
    this.conn = new FeedConnection(
      () =>
        `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/supervisor/inspector/feed${app.token ? `?token=${encodeURIComponent(app.token)}` : ''}`,
      (f) => this.onFrame(f),
      (s) => this.onConn(s),
    )
    this.conn.start()
    this.watchStatus()
  }

  /** Whether the operator is offered `type` on a supervisor actor: the transition's operator actions. */
  offers(_a: ActorView, type: string): boolean {
    return type in ACTIONS
  }

  /** Sends an operator action (`update.defer` with `reason`, `ms`) as `POST /api/supervisor/actions`. */
  async act(event: Record<string, unknown>): Promise<{ ok: boolean; status: number; body: any }> {
    const action = ACTIONS[String(event.type)]
    const { type: _type, ...fields } = event
    const headers: Record<string, string> = { 'content-type': 'application/json' }
    if (this.app.token) headers.authorization = `Bearer ${this.app.token}`
    const r = await fetch('/api/supervisor/actions', {
      method: 'POST',
      headers,
      body: JSON.stringify({ action, ...fields }),
    })
    let body: any = null
    try {
      body = await r.json()
    } catch {}
    return { ok: r.ok, status: r.status, body: r.ok ? { value: body?.state } : body }
  }

  /** The transition's journal as an aether.log/1 file. */
  download(_a: ActorView): void {
    h('a', { href: '/api/supervisor/log', download: 'supervisor.update.aether.log' }).click()
  }

  /** Tells the supervisor which of its actors the page shows in full. */
  focus(a: ActorView | undefined): void {
    const paths = a?.host === HOST && a.kind === 'live' ? [a.remotePath!] : []
    this.conn
      .request({ cmd: 'focus', paths })
      .then((f) => {
        if (f.t !== 'focus') return
        this.app.model.applyFocus(f.actors.map((s) => ({ ...s, path: hostPath(HOST, s.path) })))
        this.app.invalidate(true)
      })
      .catch(() => {
        // not connected: the next snapshot frame focuses again
      })
  }

  close(): void {
    this.closed = true
    this.statusWs?.close()
  }

  private onFrame(f: ServerFrame): void {
    const app = this.app
    if (f.t === 'snapshot') {
      app.model.applySnapshot(f.actors, f.seq, HOST)
      const a = app.current()
      if (a?.host === HOST) app.select(a.path, true)
      app.invalidate()
    } else if (f.t === 'events') {
      app.model.applyEvents(f.events, f.dropped, HOST)
      app.invalidate()
    }
  }

  private onConn(s: ConnState): void {
    this.chip.classList.toggle('off', s !== 'open')
  }

  /** Follows the status socket, reconnecting after a second when it closes. */
  private watchStatus(): void {
    if (this.closed) return
    const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/supervisor/ws`)
    this.statusWs = ws
    ws.onmessage = (m) => {
      try {
        const msg = JSON.parse(String(m.data))
        if (msg?.type === 'supervisor.status') this.setStatus(msg.status)
      } catch {}
    }
    ws.onclose = () => setTimeout(() => this.watchStatus(), 1000)
  }

  private setStatus(s: SupervisorStatus): void {
    this.status = s
    const rt = s.active
    this.chip.textContent = `supervisor ${s.phase} · update ${s.transition.state} · ${rt ? `slot ${rt.slot} · v${rt.version} · ${rt.runtimeInstanceId}` : 'no runtime'}`
    this.chip.dataset.phase = s.phase
    this.chip.dataset.state = s.transition.state
    this.chip.dataset.slot = rt?.slot ?? ''
    this.chip.dataset.instance = rt?.runtimeInstanceId ?? ''
    this.chip.title =
      'The supervisor: its phase, the update transition, and the active runtime (slot, version, instance)'
    this.app.tree.labels = {
      [HOST]: 'Supervisor',
      hub: rt ? `Runtime ${rt.runtimeInstanceId} · slot ${rt.slot} · v${rt.version}` : 'Runtime (none active)',
    }
    this.app.reliability.render()
    this.app.invalidate(true)
  }
}
