/**
 * Fork from the time-travel cursor (issue 21.2): "fork here" on the travel bar opens a small panel
 * on the chart; it takes an event (JSON) to replace the event at the cursor, to insert before it,
 * or drops that event, and asks the hub (`GET /api/fork?actor=PATH&seq=N&...`, the fork code of
 * `aether replay --fork-at`, read-only) for both paths. The chart then shows the original path's
 * states from the fork point on (`fork-orig`), the fork's (`fork-path`, drawn differently; a state
 * both visit has both classes) and the state where they rejoin (`fork-rejoin`); the panel lists the
 * steps side by side. Nothing on the hub changes.
 */
import type { StateChartView } from './chart.ts'
import { activeIds } from './definition.ts'
import { h } from './dom.ts'

/** The parts of the hub's ForkResult drawn here. */
export interface ForkAnswer {
  actor: string
  forkAt: number
  rows: {
    seq: number
    action: string
    recorded?: { type: string }
    applied?: { type: string }
    original: { value: unknown }
    fork: { value: unknown }
    differs: boolean
  }[]
  rejoinedAt: number | null
  final: { original: { value: unknown }; fork: { value: unknown } }
  effects: { missing: { key: string }[] }
}

/** A state value in a few words: `light.red, pedestrian.idle`. */
const short = (v: unknown): string => {
  if (typeof v === 'string') return v
  if (!v || typeof v !== 'object') return JSON.stringify(v)
  return Object.entries(v as Record<string, unknown>)
    .map(([k, sub]) => (typeof sub === 'string' ? `${k}.${sub}` : `${k}.(${short(sub)})`))
    .join(', ')
}

export class ForkView {
  private result?: ForkAnswer
  readonly button: HTMLButtonElement
  readonly panel: HTMLElement
  private readonly kind: HTMLSelectElement
  private readonly event: HTMLTextAreaElement
  private readonly out: HTMLElement
  private at?: { path: string; seq: number }

  constructor(
    private readonly chart: StateChartView,
    travel: HTMLElement,
    chartHost: HTMLElement,
    private readonly opts: {
      token: () => string
      /** The selected actor and the event at the cursor (the last one when live). */
      cursor: () => { path: string; seq: number } | undefined
      redraw: () => void
    },
  ) {
    this.button = h(
      'button',
      { type: 'button', class: 'btn', 'data-testid': 'fork-here', title: 'What if: fork at the cursor' },
      'Fork here',
    ) as HTMLButtonElement
    travel.append(this.button)
    this.kind = h(
      'select',
      { 'data-testid': 'fork-kind' },
      h('option', { value: 'event' }, 'replace the event with'),
      h('option', { value: 'insert' }, 'insert before it'),
      h('option', { value: 'drop' }, 'drop the event'),
    ) as HTMLSelectElement
    this.event = h('textarea', {
      'data-testid': 'fork-event',
      rows: 2,
      placeholder: '{"type": "…"}',
    }) as HTMLTextAreaElement
    this.out = h('div', { class: 'fork-out', 'data-testid': 'fork-out' })
    this.panel = h(
      'div',
      { class: 'fork-panel', 'data-testid': 'fork-panel', hidden: true },
      h('div', { class: 'fork-title', 'data-testid': 'fork-title' }),
      this.kind,
      this.event,
      h(
        'div',
        { class: 'fork-buttons' },
        h(
          'button',
          { type: 'button', class: 'btn primary', 'data-testid': 'fork-run', onclick: () => this.run() },
          'Fork',
        ),
        h('button', { type: 'button', class: 'btn', onclick: () => this.close() }, 'Close'),
      ),
      h(
        'div',
        { class: 'fork-legend' },
        h('span', { class: 'k-orig' }, '■ original'),
        h('span', { class: 'k-fork' }, '■ fork'),
        h('span', { class: 'k-rejoin' }, '■ rejoin'),
      ),
      this.out,
    )
    chartHost.append(this.panel)
    this.kind.addEventListener('change', () => {
      this.event.disabled = this.kind.value === 'drop'
    })
    this.button.addEventListener('click', () => this.open())
  }

  private open(): void {
    const at = this.opts.cursor()
    if (!at) return
    this.at = at
    this.result = undefined
    this.unpaint(this.chart.svg)
    this.panel.hidden = false
    this.panel.querySelector('.fork-title')!.textContent = `Fork ${at.path} at #${at.seq}`
    this.out.replaceChildren()
    this.opts.redraw()
  }

  private close(): void {
    this.panel.hidden = true
    this.result = undefined
    this.at = undefined
    this.opts.redraw()
  }

  private async run(): Promise<void> {
    if (!this.at) return
    const q = new URLSearchParams({ actor: this.at.path, seq: String(this.at.seq) })
    if (this.kind.value === 'drop') q.set('drop', '1')
    else q.set(this.kind.value, this.event.value.trim())
    const headers: Record<string, string> = {}
    const token = this.opts.token()
    if (token) headers.authorization = `Bearer ${token}`
    this.out.textContent = 'forking…'
    this.unpaint(this.chart.svg)
    try {
      const r = await fetch(`/api/fork?${q}`, { headers })
      const body = await r.json()
      if (!r.ok) throw new Error(body.message ?? `HTTP ${r.status}`)
      this.result = body
      this.show(body)
    } catch (err) {
      this.result = undefined
      this.out.replaceChildren(h('div', { class: 'fork-error', 'data-testid': 'fork-error' }, (err as Error).message))
    }
    this.opts.redraw()
  }

  private show(f: ForkAnswer): void {
    const verdict =
      f.rejoinedAt !== null
        ? `rejoins the original at #${f.rejoinedAt} (${short(f.rows.find((r) => r.seq === f.rejoinedAt)?.fork.value)})`
        : `does not rejoin: ends in ${short(f.final.fork.value)}, the original in ${short(f.final.original.value)}`
    const rows = f.rows
      .slice(0, 40)
      .map((r) =>
        h(
          'tr',
          { class: r.differs ? 'differs' : '' },
          h('td', {}, `#${r.seq}`),
          h('td', {}, r.action),
          h('td', {}, (r.applied ?? r.recorded)?.type ?? ''),
          h('td', {}, short(r.original.value)),
          h('td', { class: 'fork-col' }, short(r.fork.value)),
        ),
      )
    const parts: Array<Node | string> = [
      h('div', { class: 'fork-verdict', 'data-testid': 'fork-verdict' }, `The fork ${verdict}.`),
      f.effects.missing.length
        ? h(
            'div',
            { class: 'fork-error' },
            `needs effect results never recorded: ${f.effects.missing.map((m) => m.key).join(', ')}`,
          )
        : '',
      h(
        'table',
        { class: 'fork-rows' },
        h(
          'tr',
          {},
          h('th', {}, 'seq'),
          h('th', {}, ''),
          h('th', {}, 'event'),
          h('th', {}, 'original'),
          h('th', {}, 'fork'),
        ),
        ...rows,
      ),
      f.rows.length > 40 ? h('div', { class: 'muted' }, `…${f.rows.length - 40} more steps`) : '',
    ].filter((p) => p !== '')
    this.out.replaceChildren(...parts)
  }

  /** Called after each chart update with the selected actor's path: marks both paths. */
  paint(path: string | undefined): void {
    const svg = this.chart.svg
    const C = this.chart.chart
    const f = this.result
    if (!f || !C || path !== f.actor) {
      if (svg.querySelector('.fork-layer')) this.unpaint(svg)
      if (path !== this.at?.path && !this.panel.hidden) this.close()
      return
    }
    if (svg.querySelector('.fork-layer')) return
    const leaves = (v: unknown) => [...activeIds(C, v)].filter((id) => !C.nodes.get(id)?.children.length)
    const mark = (ids: string[], cls: string) => {
      for (const id of ids) svg.querySelector(`g.state[data-state="${CSS.escape(id)}"]`)?.classList.add(cls)
    }
    // from the fork point to the rejoin (excluded): the states only one path is in at a step
    const end = f.rejoinedAt ?? Number.POSITIVE_INFINITY
    const apart = new Set<string>()
    for (const r of f.rows) {
      if (r.seq >= end) break
      const o = leaves(r.original.value)
      const k = leaves(r.fork.value)
      const onlyO = o.filter((id) => !k.includes(id))
      const onlyK = k.filter((id) => !o.includes(id))
      mark(onlyO, 'fork-orig')
      mark(onlyK, 'fork-path')
      for (const id of [...onlyO, ...onlyK]) apart.add(id)
    }
    if (f.rejoinedAt !== null) {
      const row = f.rows.find((r) => r.seq === f.rejoinedAt)
      if (row)
        mark(
          leaves(row.fork.value).filter((id) => apart.has(id)),
          'fork-rejoin',
        )
    }
    svg.classList.add('forked')
    svg.appendChild(document.createElementNS('http://www.w3.org/2000/svg', 'g')).setAttribute('class', 'fork-layer')
  }

  private unpaint(svg: SVGSVGElement): void {
    svg.querySelector('.fork-layer')?.remove()
    svg.classList.remove('forked')
    for (const e of svg.querySelectorAll('.fork-orig, .fork-path, .fork-rejoin'))
      e.classList.remove('fork-orig', 'fork-path', 'fork-rejoin')
  }
}
