/**
 * The coverage heatmap on the statechart (issue 21.3): with the "coverage" toggle on, the chart of
 * the selected actor's machine is painted with the counts the hub computes over its stored
 * journals (`GET /api/coverage?machine=NAME`, the same CoverageRecorder as `aether coverage`):
 * states shaded by how often they became active, a count on each state and transition, and the
 * transitions no journal took drawn dashed red. The drawing is the chart's own SVG: this view only
 * adds classes and a layer of count badges, and paints again when the chart was redrawn.
 */
import type { StateChartView } from './chart.ts'
import { h } from './dom.ts'

const NS = 'http://www.w3.org/2000/svg'

/** What `GET /api/coverage` answers (the parts drawn). */
export interface CoverageAnswer {
  machine: string
  logs: number
  events: number
  states: { id: string; entered: number }[]
  transitions: { id: string; source: string; event: string; targets: string[]; taken: number; guardFalse: number }[]
  summary: { states: number; statesCovered: number; transitions: number; transitionsCovered: number }
  actorsRead: number
  actorsFound: number
  limits: { actors: number; events: number }
  capped: { actors: boolean; events: boolean }
}

/**
 * The chart's transition id (`<source>#<index>`, index over the node's transitions in definition
 * order) for each coverage transition: the recorder lists a node's transitions in the same order.
 */
export function chartIds(transitions: CoverageAnswer['transitions']): Map<string, CoverageAnswer['transitions'][0]> {
  const out = new Map<string, CoverageAnswer['transitions'][0]>()
  const next = new Map<string, number>()
  for (const t of transitions) {
    const i = next.get(t.source) ?? 0
    next.set(t.source, i + 1)
    out.set(`${t.source}#${i}`, t)
  }
  return out
}

export class CoverageView {
  on = false
  private data?: CoverageAnswer
  private machine?: string
  private loading?: string
  readonly button: HTMLButtonElement
  readonly legend: HTMLElement

  constructor(
    private readonly chart: StateChartView,
    host: HTMLElement,
    private readonly opts: { token: () => string; redraw: () => void },
  ) {
    this.button = h(
      'button',
      { type: 'button', class: 'btn coverage-toggle', 'data-testid': 'coverage-toggle', title: 'Coverage heatmap' },
      'coverage',
    ) as HTMLButtonElement
    this.legend = h('div', { class: 'coverage-legend', 'data-testid': 'coverage-legend', hidden: '' })
    host.append(this.button, this.legend)
    this.button.addEventListener('click', () => {
      this.on = !this.on
      this.data = undefined // a fresh count each time it is switched on
      this.button.classList.toggle('on', this.on)
      this.opts.redraw()
    })
  }

  /** Called after each chart update with the selected actor's machine (undefined: none). */
  paint(machine: string | undefined): void {
    const svg = this.chart.svg
    if (!this.on || !machine || !this.chart.chart) {
      this.legend.hidden = true
      this.unpaint(svg)
      return
    }
    if (this.data?.machine !== machine || this.machine !== machine) {
      this.machine = machine
      if (this.loading !== machine) void this.load(machine)
      return
    }
    if (svg.querySelector('.coverage-layer')) return
    this.draw(svg, this.data)
  }

  private async load(machine: string): Promise<void> {
    this.loading = machine
    this.legend.hidden = false
    this.legend.textContent = `coverage of ${machine}: reading the hub's journals…`
    try {
      const headers: Record<string, string> = {}
      const token = this.opts.token()
      if (token) headers.authorization = `Bearer ${token}`
      const r = await fetch(`/api/coverage?machine=${encodeURIComponent(machine)}`, { headers })
      const body = await r.json()
      if (!r.ok) throw new Error(body.message ?? `HTTP ${r.status}`)
      if (this.machine === machine) this.data = body
    } catch (err) {
      this.legend.textContent = `coverage of ${machine}: ${(err as Error).message}`
      this.on = false
      this.button.classList.remove('on')
    } finally {
      this.loading = undefined
      this.opts.redraw()
    }
  }

  private unpaint(svg: SVGSVGElement): void {
    svg.querySelector('.coverage-layer')?.remove()
    svg.classList.remove('coverage')
    for (const e of svg.querySelectorAll('.cov-none, .cov-taken')) {
      e.classList.remove('cov-none', 'cov-taken')
      e.removeAttribute('data-count')
      for (const r of e.querySelectorAll(':scope > rect:not(.inner):not(.label-bg)')) (r as SVGElement).style.fill = ''
    }
  }

  private draw(svg: SVGSVGElement, c: CoverageAnswer): void {
    this.unpaint(svg)
    svg.classList.add('coverage')
    const layer = document.createElementNS(NS, 'g')
    layer.setAttribute('class', 'coverage-layer')
    const badge = (x: number, y: number, text: string, cls: string) => {
      const t = document.createElementNS(NS, 'text')
      t.setAttribute('x', String(x))
      t.setAttribute('y', String(y))
      t.setAttribute('class', cls)
      t.textContent = text
      layer.appendChild(t)
    }
    const max = Math.max(1, ...c.states.map((s) => s.entered))
    for (const s of c.states) {
      const g = svg.querySelector(`g.state[data-state="${CSS.escape(s.id)}"]`)
      const rect = g?.querySelector(':scope > rect') as SVGRectElement | null
      if (!g || !rect) continue
      g.classList.add(s.entered ? 'cov-taken' : 'cov-none')
      g.setAttribute('data-count', String(s.entered))
      if (!g.classList.contains('compound')) {
        const heat = Math.log1p(s.entered) / Math.log1p(max)
        rect.style.fill = s.entered ? `hsl(${40 - 30 * heat}, 85%, ${22 + 22 * heat}%)` : ''
      }
      const b = rect.getBBox()
      badge(b.x + b.width - 6, b.y + b.height - 6, `×${s.entered}`, 'cov-count state-count')
    }
    for (const [id, t] of chartIds(c.transitions)) {
      const g = svg.querySelector(`g.edge[data-edge="${CSS.escape(id)}"]`)
      // an edge the chart reads differently is left unpainted rather than mislabelled
      if (!g || g.getAttribute('data-event') !== t.event) continue
      g.classList.add(t.taken ? 'cov-taken' : 'cov-none')
      g.setAttribute('data-count', String(t.taken))
      const bg = g.querySelector('.label-bg') as SVGRectElement | null
      if (bg) {
        const b = bg.getBBox()
        badge(b.x + b.width + 3, b.y + 12, t.taken ? `${t.taken}` : '0', `cov-count ${t.taken ? '' : 'zero'}`)
      }
    }
    svg.appendChild(layer)
    const s = c.summary
    this.legend.hidden = false
    this.legend.textContent =
      `coverage of ${c.machine}: ${c.actorsRead} of ${c.actorsFound} actors, ${c.events} events; ` +
      `states ${s.statesCovered}/${s.states}, transitions ${s.transitionsCovered}/${s.transitions}; dashed red: never taken` +
      (c.capped.actors || c.capped.events ? ` (capped at ${c.limits.actors} actors, ${c.limits.events} events)` : '')
  }
}
