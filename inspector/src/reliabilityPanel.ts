/**
 * The inspector's Reliability view: for the node serving the page (a hub or a root,
 * `GET /api/reliability`) and, behind a supervisor, for the supervisor too (from its status), the
 * readiness tree, the degraded matrix ("allowed now"), the incidents and channel stability. Live:
 * it rereads when the node's `reliability` actor changes (its feed events) and every second while
 * open. A tree node with an actor behind it opens that actor in the actors view.
 */
import type { ReliabilityReport } from '../../protocol/reliability.ts'
import { clock, h } from './dom.ts'
import { supervisorReport, treeRows, type SupervisorStatusLike } from './reliabilityModel.ts'

const POLL_MS = 1000

/** What the panel needs from the inspector around it. */
export interface ReliabilityHost {
  /** Actor paths the page shows (model paths: the supervisor's under `@supervisor/`). */
  actorPaths(): ReadonlySet<string>
  openActor(path: string): void
  /** The supervisor's last status, behind a supervisor. */
  supervisorStatus(): SupervisorStatusLike | undefined
}

export class ReliabilityPanel {
  /** The node's last report, or why there is none. */
  report?: ReliabilityReport
  error = ''
  refreshes = 0
  private shown = false
  private poll?: ReturnType<typeof setInterval>
  private inFlight = false
  /** A pointer is down in the panel: redraws wait for its release, so a click keeps its row. */
  private pressed = false
  private deferred = false

  constructor(
    private root: HTMLElement,
    private host: ReliabilityHost,
  ) {
    // The panel redraws every second and on every reliability event; a redraw between press and
    // release would replace the row being clicked and the click would be lost.
    root.addEventListener('pointerdown', () => (this.pressed = true), true)
    window.addEventListener(
      'pointerup',
      () => {
        if (!this.pressed) return
        this.pressed = false
        // after the click this release makes (a task later), not before it
        if (this.deferred) setTimeout(() => this.render(), 0)
      },
      true,
    )
  }

  get isShown(): boolean {
    return this.shown
  }

  show(): void {
    if (this.shown) return
    this.shown = true
    void this.refresh()
    this.poll = setInterval(() => void this.refresh(), POLL_MS)
    this.render()
  }

  hide(): void {
    this.shown = false
    clearInterval(this.poll)
  }

  /** Rereads `GET /api/reliability` (one request at a time) and redraws. */
  async refresh(): Promise<void> {
    if (!this.shown || this.inFlight) return
    this.inFlight = true
    try {
      const r = await fetch('/api/reliability')
      if (r.ok) {
        this.report = await r.json()
        this.error = ''
      } else this.error = `GET /api/reliability answered ${r.status}`
    } catch (err) {
      this.error = `GET /api/reliability failed: ${(err as Error).message}`
    } finally {
      this.inFlight = false
      this.refreshes++
    }
    this.render()
  }

  render(): void {
    if (!this.shown) return
    this.deferred = this.pressed
    if (this.pressed) return
    const sections: HTMLElement[] = []
    const sup = this.host.supervisorStatus()
    if (sup) sections.push(this.section(supervisorReport(sup), '@supervisor/', 'supervisor'))
    if (this.report) sections.push(this.section(this.report, '', this.report.role))
    else sections.push(h('div', { class: 'jobs-notice' }, this.error || 'Loading the reliability report…'))
    if (this.error && this.report) sections.unshift(h('div', { class: 'jobs-error' }, this.error))
    this.root.replaceChildren(
      h('div', { class: 'jobs-head' }, h('h2', {}, 'Reliability'), h('span', { class: 'chip live-open' }, 'live')),
      ...sections,
    )
  }

  private section(r: ReliabilityReport, prefix: string, kind: string): HTMLElement {
    const actors = this.host.actorPaths()
    const rows = treeRows(r.tree, actors, prefix)
    return h(
      'section',
      { class: 'rel-node', 'data-testid': `rel-${kind}`, 'data-status': r.status },
      h(
        'h3',
        {},
        h('span', { class: `rel-status st-${r.status}` }, r.status.toUpperCase()),
        kind === 'supervisor' ? ' Supervisor' : ` ${kind === 'root' ? 'Root' : 'Hub'} ${r.node}`,
        h('span', { class: 'muted small' }, ` · ${clock(r.at)}`),
      ),
      h(
        'div',
        { class: 'rel-grid' },
        h(
          'div',
          { class: 'jobs-section' },
          h('div', { class: 'rel-title' }, 'Readiness'),
          h(
            'ul',
            { class: 'rel-tree', 'data-testid': 'rel-tree' },
            ...rows.map((row) =>
              h(
                'li',
                {
                  class: `rel-row${row.actor ? ' link' : ''}`,
                  style: `padding-left:${10 + row.depth * 16}px`,
                  'data-node': row.node.id,
                  'data-status': row.node.status,
                  ...(row.actor
                    ? {
                        'data-actor': row.actor,
                        title: `Open ${row.actor}`,
                        onclick: () => this.host.openActor(row.actor!),
                      }
                    : {}),
                },
                h('span', { class: `rel-status st-${row.node.status}` }, row.node.status.toUpperCase()),
                h('span', { class: 'rel-label' }, row.node.label),
                row.node.reason ? h('span', { class: 'rel-reason' }, row.node.reason) : null,
                ...Object.entries(row.node.detail ?? {})
                  .slice(0, 6)
                  .map(([k, v]) =>
                    h('span', { class: 'chip' }, `${k} ${typeof v === 'object' ? JSON.stringify(v) : v}`),
                  ),
              ),
            ),
          ),
        ),
        h(
          'div',
          { class: 'jobs-section' },
          h('div', { class: 'rel-title' }, 'Allowed now'),
          h(
            'table',
            { class: 'jobs-table', 'data-testid': 'rel-matrix' },
            h('thead', {}, h('tr', {}, h('th', {}, 'capability'), h('th', {}, 'allowed now'), h('th', {}, 'why'))),
            h(
              'tbody',
              {},
              ...r.matrix.map((m) =>
                h(
                  'tr',
                  { 'data-capability': m.capability, 'data-allowed': String(m.allowed) },
                  h('td', {}, m.capability),
                  h('td', { class: m.allowed ? 'rel-yes' : 'rel-no' }, m.allowed ? '✓ allowed' : '✕ not allowed'),
                  h('td', { class: 'muted' }, m.why ?? ''),
                ),
              ),
            ),
          ),
        ),
        h(
          'div',
          { class: 'jobs-section' },
          h('div', { class: 'rel-title' }, 'Channel stability'),
          r.channels.length
            ? h(
                'table',
                { class: 'jobs-table', 'data-testid': 'rel-channels' },
                h(
                  'thead',
                  {},
                  h('tr', {}, ...['channel', 'level', 'score', 'incidents', 'reconnects'].map((t) => h('th', {}, t))),
                ),
                h(
                  'tbody',
                  {},
                  ...r.channels.map((c) =>
                    h(
                      'tr',
                      { 'data-channel': c.channel },
                      h('td', {}, c.channel),
                      h('td', { class: `rel-level ${c.level}` }, c.level),
                      h('td', { class: 'num' }, c.score.toFixed(2)),
                      h('td', { class: 'num' }, String(c.incidents)),
                      h('td', { class: 'num' }, String(c.reconnects)),
                    ),
                  ),
                ),
              )
            : h('div', { class: 'muted small pad' }, 'No channels reported.'),
        ),
        h(
          'div',
          { class: 'jobs-section' },
          h('div', { class: 'rel-title' }, `Incidents (${r.incidents.length})`),
          r.incidents.length
            ? h(
                'table',
                { class: 'jobs-table', 'data-testid': 'rel-incidents' },
                h(
                  'tbody',
                  {},
                  ...r.incidents
                    .slice(-30)
                    .reverse()
                    .map((i) =>
                      h(
                        'tr',
                        {},
                        h('td', { class: 'num' }, clock(i.at)),
                        h('td', {}, h('span', { class: 'chip' }, i.class)),
                        h('td', {}, i.subject),
                        h('td', {}, i.message),
                      ),
                    ),
                ),
              )
            : h('div', { class: 'muted small pad' }, 'No incidents.'),
        ),
      ),
    )
  }
}
