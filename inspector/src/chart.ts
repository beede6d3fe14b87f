/**
 * Draws a laid-out statechart as SVG and keeps it current cheaply: the drawing is built once per
 * machine; a new state only toggles classes (active states lit, the last transition highlighted)
 * and rewrites the delay badges. Wheel zooms, drag pans, double-click fits.
 */
import { activeIds, delayOwner, readChart, takenTransitions, type Chart, type StateNodeJSON } from './definition.ts'
import { layoutChart, type Layout } from './layout.ts'

const NS = 'http://www.w3.org/2000/svg'

function el<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number> = {},
  parent?: Element,
): SVGElementTagNameMap[K] {
  const e = document.createElementNS(NS, tag)
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v))
  parent?.appendChild(e)
  return e
}

const pathD = (pts: Array<{ x: number; y: number }>) =>
  pts.map((p, i) => `${i ? 'L' : 'M'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ')

export interface ChartState {
  value: unknown
  /** The value before the last event, to find the transition it took. */
  previous?: unknown
  /** The last event's type. */
  event?: string
  /** Pending delayed events with their time left. */
  timers?: Array<{ event: string; leftMs: number }>
}

export class StateChartView {
  readonly svg: SVGSVGElement
  chart?: Chart
  private layout?: Layout
  private key?: string
  private nodeEls = new Map<string, SVGGElement>()
  private edgeEls = new Map<string, SVGGElement[]>()
  private internalEls = new Map<string, SVGTextElement>()
  private badges: SVGGElement
  private view = { x: 0, y: 0, w: 100, h: 100 }
  private pending?: Promise<void>

  constructor(readonly host: HTMLElement) {
    this.svg = el('svg', { class: 'chart', 'data-testid': 'chart' })
    host.appendChild(this.svg)
    this.badges = el('g', { class: 'badges' })
    this.installPanZoom()
  }

  /** Draws `def` (cached by `key`, usually the machine name). */
  async setDefinition(key: string, def: StateNodeJSON): Promise<void> {
    if (this.key === key && this.layout) return
    this.key = key
    const p = (async () => {
      const chart = readChart(def)
      const layout = await layoutChart(chart)
      if (this.key !== key) return
      this.chart = chart
      this.layout = layout
      this.draw()
    })()
    this.pending = p
    await p
  }

  clear(message = ''): void {
    this.key = undefined
    this.chart = undefined
    this.layout = undefined
    this.svg.replaceChildren()
    this.svg.removeAttribute('viewBox')
    if (message) {
      const t = el('text', { x: 20, y: 30, class: 'chart-empty' }, this.svg)
      t.textContent = message
      this.svg.setAttribute('viewBox', '0 0 600 60')
    }
  }

  get ready(): Promise<void> {
    return this.pending ?? Promise.resolve()
  }

  private draw(): void {
    const L = this.layout!
    const C = this.chart!
    this.svg.replaceChildren()
    this.nodeEls.clear()
    this.edgeEls.clear()
    this.internalEls.clear()
    const defs = el('defs', {}, this.svg)
    for (const [id, cls] of [
      ['arrow', 'arrow'],
      ['arrow-last', 'arrow last'],
    ] as const) {
      const m = el(
        'marker',
        { id, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
        defs,
      )
      el('path', { d: 'M0,0 L10,5 L0,10 z', class: cls }, m)
    }
    const nodesG = el('g', { class: 'nodes' }, this.svg)
    const ordered = [...C.nodes.values()].sort((a, b) => a.depth - b.depth)
    for (const n of ordered) {
      const b = L.nodes.get(n.id)
      if (!b) continue
      const parent = n.parent ? C.nodes.get(n.parent) : undefined
      const cls = [
        'state',
        `t-${n.type}`,
        n.children.length ? 'compound' : 'leaf',
        parent?.type === 'parallel' ? 'region' : '',
        n.id === C.root ? 'root' : '',
      ]
        .filter(Boolean)
        .join(' ')
      const g = el('g', { class: cls, 'data-state': n.id }, nodesG)
      el('rect', { x: b.x, y: b.y, width: b.w, height: b.h, rx: n.children.length ? 12 : 9 }, g)
      if (n.type === 'final')
        el('rect', { x: b.x + 3, y: b.y + 3, width: b.w - 6, height: b.h - 6, rx: 7, class: 'inner' }, g)
      const title = el(
        'text',
        {
          x: n.children.length ? b.x + 12 : b.x + b.w / 2,
          y: b.y + (n.children.length ? 20 : 23),
          class: 'label' + (n.children.length ? ' left' : ''),
        },
        g,
      )
      title.textContent =
        n.id === C.root ? `${n.key}${n.type === 'parallel' ? '  ∥' : ''}` : n.key + (n.type === 'parallel' ? '  ∥' : '')
      n.internal.forEach((t, i) => {
        {
          const tx = el(
            'text',
            {
              x: n.children.length ? b.x + 12 : b.x + 12,
              y: b.y + (n.children.length ? 38 : 42) + i * 16,
              class: 'internal',
            },
            g,
          )
          tx.textContent = `↻ ${t.label}`
          this.internalEls.set(t.id, tx)
        }
      })
      this.nodeEls.set(n.id, g)
    }
    for (const [, m] of L.initials) {
      const g = el('g', { class: 'initial' }, this.svg)
      el('circle', { cx: m.dot.x + m.dot.w / 2, cy: m.dot.y + m.dot.h / 2, r: 4.5 }, g)
      if (m.path.length) el('path', { d: pathD(m.path), 'marker-end': 'url(#arrow)' }, g)
    }
    const edgesG = el('g', { class: 'edges' }, this.svg)
    for (const e of L.edges) {
      const gs: SVGGElement[] = []
      const g = el('g', { class: 'edge', 'data-edge': e.t.id, 'data-event': e.t.eventType }, edgesG)
      for (const p of e.paths) if (p.length) el('path', { d: pathD(p), 'marker-end': 'url(#arrow)' }, g)
      if (e.label) {
        el('rect', { x: e.label.x - 2, y: e.label.y, width: e.label.w, height: e.label.h, rx: 4, class: 'label-bg' }, g)
        const t = el('text', { x: e.label.x + 2, y: e.label.y + 12 }, g)
        t.textContent = e.label.text
      }
      gs.push(g)
      this.edgeEls.set(e.t.id, gs)
    }
    this.svg.appendChild(this.badges)
    this.fit()
  }

  /** Lights the active states, highlights the last transition, shows pending delays. */
  update(s: ChartState): void {
    const C = this.chart
    if (!C) return
    const active = activeIds(C, s.value)
    for (const [id, g] of this.nodeEls)
      if (g.classList.contains('active') !== active.has(id)) g.classList.toggle('active', active.has(id))
    const last = new Set<string>()
    if (s.event) {
      const before = s.previous !== undefined ? activeIds(C, s.previous) : null
      for (const t of takenTransitions(C, s.event, before, active)) last.add(t.id)
    }
    // touch only what changes: a fast feed redraws this several times a second
    for (const [id, gs] of this.edgeEls) {
      const on = last.has(id)
      for (const g of gs) {
        if (g.classList.contains('last') === on) continue
        g.classList.toggle('last', on)
        g.querySelectorAll('path').forEach((p) => {
          p.setAttribute('marker-end', on ? 'url(#arrow-last)' : 'url(#arrow)')
        })
      }
    }
    for (const [id, t] of this.internalEls)
      if (t.classList.contains('last') !== last.has(id)) t.classList.toggle('last', last.has(id))
    this.badges.replaceChildren()
    const byOwner = new Map<string, number[]>()
    for (const t of s.timers ?? []) {
      const owner = delayOwner(C, t.event)
      if (!owner) continue
      ;(byOwner.get(owner) ?? byOwner.set(owner, []).get(owner)!).push(t.leftMs)
    }
    for (const [owner, lefts] of byOwner) {
      const b = this.layout!.nodes.get(owner)
      if (!b) continue
      const text = lefts
        .map((ms) => `◷ ${ms <= 0 ? 'due' : ms < 10_000 ? (ms / 1000).toFixed(1) + 's' : Math.round(ms / 1000) + 's'}`)
        .join(' ')
      const w = text.length * 6.6 + 12
      const g = el('g', { class: 'timer', 'data-timer-owner': owner }, this.badges)
      el('rect', { x: b.x + b.w - w + 6, y: b.y - 9, width: w, height: 18, rx: 9 }, g)
      const t = el('text', { x: b.x + b.w - w / 2 + 6, y: b.y + 4 }, g)
      t.textContent = text
    }
  }

  /** The ids of the lit states (for tests and the status line). */
  litStates(): string[] {
    return [...this.nodeEls].filter(([, g]) => g.classList.contains('active')).map(([id]) => id)
  }

  fit(): void {
    const L = this.layout
    if (!L) return
    // never magnify a small chart past 1.25x: big boxes read worse than small ones
    const r = this.svg.getBoundingClientRect()
    const w = Math.max(L.width + 28, r.width / 1.25)
    const hgt = Math.max(L.height + 28, r.height / 1.25)
    this.view = { x: -14 - (w - L.width - 28) / 2, y: -14 - (hgt - L.height - 28) / 2, w, h: hgt }
    this.applyView()
  }

  private applyView(): void {
    const v = this.view
    this.svg.setAttribute('viewBox', `${v.x} ${v.y} ${v.w} ${v.h}`)
  }

  private installPanZoom(): void {
    this.svg.addEventListener(
      'wheel',
      (ev) => {
        if (!this.layout) return
        ev.preventDefault()
        const r = this.svg.getBoundingClientRect()
        const k = Math.exp(ev.deltaY * 0.0015)
        const scale = Math.max(this.view.w / r.width, this.view.h / r.height)
        const px = this.view.x + (ev.clientX - r.left) * scale
        const py = this.view.y + (ev.clientY - r.top) * scale
        this.view = {
          x: px - (px - this.view.x) * k,
          y: py - (py - this.view.y) * k,
          w: this.view.w * k,
          h: this.view.h * k,
        }
        this.applyView()
      },
      { passive: false },
    )
    let drag: { x: number; y: number; vx: number; vy: number } | undefined
    this.svg.addEventListener('pointerdown', (ev) => {
      drag = { x: ev.clientX, y: ev.clientY, vx: this.view.x, vy: this.view.y }
      this.svg.setPointerCapture(ev.pointerId)
    })
    this.svg.addEventListener('pointermove', (ev) => {
      if (!drag) return
      const r = this.svg.getBoundingClientRect()
      const scale = Math.max(this.view.w / r.width, this.view.h / r.height)
      this.view.x = drag.vx - (ev.clientX - drag.x) * scale
      this.view.y = drag.vy - (ev.clientY - drag.y) * scale
      this.applyView()
    })
    this.svg.addEventListener('pointerup', () => (drag = undefined))
    this.svg.addEventListener('dblclick', () => this.fit())
  }
}
