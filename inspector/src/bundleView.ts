/**
 * Incident bundles in the inspector: "Open bundle…" (a file, a dropped file, or `?bundle=URL`)
 * shows every actor of every node of a bundle on one timeline (each node's clock put on the first
 * node's by its measured offset), with a scrubber over all their steps and each actor's state at
 * the cursor; "Incident ↓" exports the last minutes of the node the page is on as a bundle.
 * Each lane opens in the actor view (its chart and snapshots) as a read-only log.
 */
import { assembleBundle, checkIncidentPart, type IncidentPart } from '../../protocol/bundle.ts'
import { BundleTimeline, type BundleStep } from './bundleModel.ts'
import { $, clock, h, show } from './dom.ts'
import { formatValue } from './model.ts'

/** What the bundle view needs of the page. */
export interface BundleHost {
  token: string
  openLogFile(file: File): Promise<void>
}

const LANE_H = 26

export class BundleView {
  readonly root: HTMLElement
  /** What is shown: the whole bundle, or the lanes the filter chose. */
  tl?: BundleTimeline
  /** The whole bundle. */
  full?: BundleTimeline
  cursor = 0
  private body: HTMLElement
  private filterInput: HTMLInputElement

  constructor(private host: BundleHost) {
    this.root = h('section', { class: 'bundle-view', id: 'bundle-view', 'data-testid': 'bundle-view', hidden: true })
    this.body = h('div', { class: 'bundle-body' })
    this.filterInput = h('input', {
      type: 'search',
      class: 'bundle-filter',
      placeholder: 'Choose lanes: node or actor, comma-separated',
      'data-testid': 'bundle-filter',
      autocomplete: 'off',
      oninput: () => this.choose(this.filterInput.value),
    }) as HTMLInputElement
    this.root.append(this.filterInput, this.body)
    document.body.append(this.root)
    const input = h('input', {
      type: 'file',
      accept: '.bundle,.aether,.jsonl,.ndjson,.txt,.log',
      hidden: true,
      'data-testid': 'bundle-file',
    }) as HTMLInputElement
    input.addEventListener('change', () => {
      const f = input.files?.[0]
      if (f) void f.text().then((t) => this.open(f.name, t))
      input.value = ''
    })
    const anchor = $('#access')
    anchor?.before(
      h(
        'button',
        {
          type: 'button',
          class: 'btn',
          'data-testid': 'open-bundle',
          title: 'Open an incident bundle (aether.bundle/1): every node and actor on one timeline',
          onclick: () => input.click(),
        },
        'Open bundle…',
      ),
      h(
        'button',
        {
          type: 'button',
          class: 'btn',
          'data-testid': 'export-bundle',
          title: "Export the last 5 minutes of this node's actors as an incident bundle, and open it",
          onclick: () => void this.exportHere(5 * 60_000),
        },
        'Incident ↓',
      ),
      input,
    )
    const url = new URLSearchParams(location.search).get('bundle')
    if (url) void this.openUrl(url)
  }

  /** Opens a bundle from its text; a malformed one shows what is wrong and where. */
  open(name: string, text: string): BundleTimeline | undefined {
    try {
      this.full = this.tl = BundleTimeline.parse(name, text)
      this.filterInput.value = ''
    } catch (err) {
      this.fail(`Cannot open ${name}`, (err as Error).message)
      return undefined
    }
    this.cursor = this.tl.steps.length - 1
    this.root.hidden = false
    this.render()
    return this.tl
  }

  /** Shows what went wrong instead of a bundle. */
  fail(title: string, message: string): void {
    this.root.hidden = false
    this.body.replaceChildren(
      h(
        'div',
        { class: 'bundle-head' },
        h('b', {}, title),
        h('span', { class: 'err', 'data-testid': 'bundle-error' }, message),
        this.closeButton(),
      ),
    )
  }

  async openUrl(url: string): Promise<void> {
    const res = await fetch(url)
    if (!res.ok) return this.fail(`Cannot open ${url}`, `${res.status} ${await res.text()}`)
    this.open(url.split('/').pop() || url, await res.text())
  }

  /**
   * Asks this node for its part of the last `ms` (and, on a supervisor, the supervisor's own part
   * too), makes it a bundle, downloads and opens it.
   */
  async exportHere(ms: number): Promise<void> {
    const to = Date.now()
    const from = to - ms
    const parts: Array<{ url: string; part: IncidentPart; sentAt: number; receivedAt: number }> = []
    for (const path of ['/api/incident', '/api/supervisor/incident']) {
      const sentAt = Date.now()
      const res = await fetch(`${path}?from=${from}&to=${to}`, {
        headers: this.host.token ? { authorization: `Bearer ${this.host.token}` } : {},
      })
      // only a supervisor has the second part
      if (path !== '/api/incident' && res.status === 404) continue
      if (!res.ok) return this.fail('Cannot export', `${res.status} from ${path}: ${await res.text()}`)
      try {
        parts.push({ url: location.origin, part: checkIncidentPart(await res.json()), sentAt, receivedAt: Date.now() })
      } catch (err) {
        return this.fail('Cannot export', (err as Error).message)
      }
    }
    let text: string
    try {
      text = assembleBundle(parts, { from, to }, to)
    } catch (err) {
      return this.fail('Cannot export', (err as Error).message)
    }
    const name = `incident-${parts[0].part.node}-${new Date(to).toISOString().replace(/[:.]/g, '-')}.bundle`
    const a = h('a', { href: URL.createObjectURL(new Blob([text], { type: 'application/x-ndjson' })), download: name })
    a.click()
    this.open(name, text)
  }

  /** Shows only the lanes matching `match` (see BundleTimeline.filter), on the same clock. */
  choose(match: string): void {
    if (!this.full) return
    this.tl = this.full.filter(match)
    this.cursor = this.tl.steps.length - 1
    this.render()
  }

  close(): void {
    this.root.hidden = true
  }

  private closeButton(): HTMLElement {
    return h(
      'button',
      { type: 'button', class: 'btn', onclick: () => this.close(), 'data-testid': 'bundle-close' },
      '✕',
    )
  }

  /** Moves the cursor to step `i` and redraws. */
  seek(i: number): void {
    if (!this.tl) return
    this.cursor = Math.max(-1, Math.min(this.tl.steps.length - 1, i))
    this.render()
  }

  render(): void {
    const tl = this.tl
    if (!tl) return
    const { from, to } = tl.range()
    const span = Math.max(1, to - from)
    const cur = tl.steps[this.cursor] as BundleStep | undefined
    const states = tl.statesAt(this.cursor)
    const x = (t: number) => `${(((t - from) / span) * 100).toFixed(3)}%`
    const nodes = h(
      'div',
      { class: 'bundle-nodes', 'data-testid': 'bundle-nodes' },
      ...tl.nodes.map((n) =>
        h(
          'span',
          { class: `chip node-${tl.nodes.indexOf(n) % 4}`, 'data-node': n.id },
          `${n.id} (${n.role}) `,
          n.offsetVia === 'reference'
            ? 'reference clock'
            : `${n.offsetMs >= 0 ? '+' : ''}${n.offsetMs.toFixed(1)} ms via ${n.offsetVia}${n.rttMs !== undefined ? ` (±${(n.rttMs / 2).toFixed(1)})` : ''}`,
        ),
      ),
    )
    const nodeIndex = new Map(tl.nodes.map((n, i) => [n.id, i % 4]))
    const lanes = h(
      'div',
      { class: 'bundle-lanes', 'data-testid': 'bundle-lanes' },
      ...tl.lanes.map((l) => {
        const st = states.get(l.key)
        const dots = tl.steps
          .map((s, i) => [s, i] as const)
          .filter(([s]) => s.lane === l.key)
          .map(([s, i]) =>
            h('span', {
              class: `dot node-${nodeIndex.get(s.node)}${i === this.cursor ? ' current' : ''}${i > this.cursor ? ' later' : ''}`,
              style: `left:${x(s.t)}`,
              title: `${clock(s.t)} ${s.node} ${s.actor} #${s.seq} ${s.type}`,
              onclick: () => this.seek(i),
            }),
          )
        return h(
          'div',
          { class: 'lane', style: `height:${LANE_H}px`, 'data-lane': l.key },
          h(
            'div',
            { class: 'lane-label', title: `${l.actor} (${l.machine}) on ${l.node}` },
            h('span', { class: `chip node-${nodeIndex.get(l.node)}` }, l.node),
            ' ',
            l.machine
              ? h(
                  'a',
                  {
                    href: '#',
                    title: 'Open this actor in the actor view (chart, snapshots)',
                    onclick: (ev: Event) => {
                      ev.preventDefault()
                      this.openLane(l.key)
                    },
                  },
                  l.actor,
                )
              : h('span', { class: 'muted' }, l.actor),
          ),
          h('div', { class: 'lane-track' }, ...dots),
          h('div', { class: 'lane-state mono', 'data-testid': 'lane-state' }, st ? formatValue(st.value) : ''),
        )
      }),
      cur
        ? h('div', {
            class: 'bundle-cursor',
            style: `left:calc(var(--label-w) + (100% - var(--label-w) - var(--state-w)) * ${((cur.t - from) / span).toFixed(4)})`,
          })
        : null,
    )
    const slider = h('input', {
      type: 'range',
      min: -1,
      max: tl.steps.length - 1,
      value: this.cursor,
      'data-testid': 'bundle-slider',
      oninput: (ev: Event) => this.seek(Number((ev.target as HTMLInputElement).value)),
    })
    const list = h(
      'div',
      { class: 'bundle-steps', 'data-testid': 'bundle-steps' },
      ...tl.steps.map((s, i) =>
        h(
          'div',
          { class: `tl-row static${i === this.cursor ? ' current' : ''}`, onclick: () => this.seek(i) },
          h('span', { class: 'tl-time' }, clock(s.t)),
          h('span', { class: `chip node-${nodeIndex.get(s.node)}` }, s.node),
          h('span', { class: 'tl-path' }, s.note ? '(note)' : `${s.actor} #${s.seq}`),
          h('span', { class: 'tl-type', title: s.event ? show(s.event, 400) : s.type }, s.type),
          h('span', { class: 'tl-value' }, s.value !== undefined ? `→ ${formatValue(s.value)}` : ''),
        ),
      ),
    )
    this.body.replaceChildren(
      h(
        'div',
        { class: 'bundle-head' },
        h('b', {}, tl.name),
        h(
          'span',
          { class: 'muted' },
          `${tl.lanes.length} lanes, ${tl.steps.length} steps, window ${clock(tl.window.from)} – ${clock(tl.window.to)}`,
        ),
        nodes,
        h('span', { class: 'spacer' }),
        this.closeButton(),
      ),
      lanes,
      h(
        'div',
        { class: 'bundle-travel' },
        h('button', { type: 'button', class: 'btn icon', onclick: () => this.seek(this.cursor - 1) }, '◀'),
        slider,
        h('button', { type: 'button', class: 'btn icon', onclick: () => this.seek(this.cursor + 1) }, '▶'),
        h(
          'span',
          { class: 'small', 'data-testid': 'bundle-pos' },
          cur ? `${this.cursor + 1}/${tl.steps.length} ${clock(cur.t)} ${cur.node} ${cur.actor} ${cur.type}` : 'start',
        ),
      ),
      list,
    )
    list.querySelector('.current')?.scrollIntoView({ block: 'nearest' })
  }

  /** Opens one lane's log in the actor view (read-only, scrubbed like any loaded log). */
  openLane(key: string): void {
    const text = this.tl?.logText.get(key)
    if (!text) return
    this.close()
    void this.host.openLogFile(new File([text], `${key.replace(' ', ':')}.log`))
  }
}
