/**
 * The actor tree (by id path, searchable) and the event timelines (one actor, or all actors with
 * the sender), both redrawn from the model at most once per animation frame. The timeline is
 * virtualized: only the visible rows exist in the DOM, so a fast feed costs what the eye sees.
 */
import { clock, h } from './dom.ts'
import { formatValue, type ActorView, type Entry, type InspectorModel, type TimelineRow } from './model.ts'

export class ActorTree {
  private rows = new Map<string, { row: HTMLElement; state: HTMLElement; status: HTMLElement; version: number }>()
  private builtFor = -1
  private filterFor = ''
  private selectedFor?: string

  constructor(private list: HTMLElement, private onSelect: (path: string) => void) {}

  render(model: InspectorModel, selected: string | undefined, filter: string): void {
    const f = filter.trim().toLowerCase()
    if (this.builtFor !== model.treeVersion || this.filterFor !== f) this.rebuild(model, f)
    for (const [path, r] of this.rows) {
      const a = model.actors.get(path)
      if (!a || a.version === r.version) continue
      r.version = a.version
      r.state.textContent = stateText(a)
      r.status.className = `dot s-${a.status}`
      r.status.title = a.status
    }
    if (this.selectedFor !== selected) {
      this.selectedFor = selected
      for (const [path, r] of this.rows) r.row.classList.toggle('selected', path === selected)
    }
  }

  private rebuild(model: InspectorModel, f: string): void {
    this.builtFor = model.treeVersion
    this.filterFor = f
    this.selectedFor = undefined
    this.rows.clear()
    const all = [...model.actors.values()].sort((a, b) => (a.kind !== b.kind ? (a.kind === 'log' ? 1 : -1) : a.path < b.path ? -1 : 1))
    const matches = (a: ActorView) => !f || `${a.path} ${a.machine} ${formatValue(a.current?.value)} ${a.status}`.toLowerCase().includes(f)
    const shown = new Set<string>()
    for (const a of all) {
      if (!matches(a)) continue
      shown.add(a.path)
      // keep the ancestors of a match visible, so the tree still reads as a tree
      let p = a.path
      for (let i = p.lastIndexOf('/'); i > 0; i = p.lastIndexOf('/')) {
        p = p.slice(0, i)
        shown.add(p)
      }
    }
    const items: HTMLElement[] = []
    let logsHeader = false
    for (const a of all) {
      if (!shown.has(a.path)) continue
      if (a.kind === 'log' && !logsHeader) {
        logsHeader = true
        items.push(h('li', { class: 'tree-section' }, 'Loaded logs'))
      }
      const depth = a.kind === 'log' ? 0 : a.path.split('/').length - 1
      const name = a.kind === 'log' ? a.path.slice(4) : a.path.slice(a.path.lastIndexOf('/') + 1)
      const status = h('span', { class: `dot s-${a.status}`, title: a.status })
      const state = h('span', { class: 'tree-state' }, stateText(a))
      const row = h(
        'li',
        { class: 'tree-row', 'data-path': a.path, style: `padding-left:${10 + depth * 16}px`, onclick: () => this.onSelect(a.path), title: a.path },
        status,
        h('span', { class: 'tree-main' }, h('span', { class: 'tree-name' }, name), h('span', { class: 'tree-machine' }, a.machine)),
        state,
      )
      this.rows.set(a.path, { row, state, status, version: a.version })
      items.push(row)
    }
    if (!items.length) items.push(h('li', { class: 'tree-empty' }, f ? `No actor matches “${f}”.` : 'No actors yet. Spawn one: POST /api/actors {path, machine}.'))
    this.list.replaceChildren(...items)
  }
}

function stateText(a: ActorView): string {
  return formatValue(a.current?.value)
}

const ROW = 24

type Row = { kind: 'entry'; e: Entry; index: number; path: string } | TimelineRow

/** A virtualized, filterable event list; newest first. */
export class Timeline {
  mode: 'actor' | 'all' = 'actor'
  filter = ''
  private rows: Row[] = []
  private spacer: HTMLElement
  private viewport: HTMLElement
  private key = ''

  constructor(
    private scroller: HTMLElement,
    private onPick: (path: string, index: number | undefined, actorSeq: number | undefined) => void,
  ) {
    this.spacer = h('div', { class: 'tl-spacer' })
    this.viewport = h('div', { class: 'tl-rows' })
    scroller.append(this.spacer, this.viewport)
    scroller.addEventListener('scroll', () => this.paint(this.lastCursor))
  }

  private lastCursor: { path?: string; index?: number } = {}

  render(model: InspectorModel, actor: ActorView | undefined, cursorIndex: number | undefined): void {
    const f = this.filter.trim().toLowerCase()
    const key = `${this.mode}|${f}|${actor?.path}|${actor?.version}|${model.received}|${model.timeline.length}`
    if (key !== this.key) {
      this.key = key
      if (this.mode === 'actor') {
        const rows: Row[] = []
        const es = actor?.entries ?? []
        for (let i = es.length - 1; i >= 0; i--) {
          const e = es[i]
          const type = e.event?.type ?? '(state)'
          if (f && !type.toLowerCase().includes(f)) continue
          rows.push({ kind: 'entry', e, index: i, path: actor!.path })
        }
        this.rows = rows
      } else {
        const rows: Row[] = []
        const tl = model.timeline
        for (let i = tl.length - 1; i >= 0; i--) {
          const r = tl[i]
          if (f && (r.kind !== 'event' || !r.type.toLowerCase().includes(f))) continue
          rows.push(r)
        }
        this.rows = rows
      }
      this.spacer.style.height = `${this.rows.length * ROW}px`
    }
    this.paint({ path: actor?.path, index: cursorIndex })
  }

  private paint(cursor: { path?: string; index?: number }): void {
    this.lastCursor = cursor
    const top = this.scroller.scrollTop
    const height = this.scroller.clientHeight || 400
    const first = Math.max(0, Math.floor(top / ROW) - 4)
    const last = Math.min(this.rows.length, Math.ceil((top + height) / ROW) + 4)
    const out: HTMLElement[] = []
    for (let i = first; i < last; i++) out.push(this.row(this.rows[i], i, cursor))
    if (!this.rows.length) out.push(h('div', { class: 'tl-empty' }, this.filter ? 'No events match the filter.' : this.mode === 'actor' ? 'No events for this actor yet.' : 'No events yet.'))
    this.viewport.replaceChildren(...out)
  }

  private row(r: Row, i: number, cursor: { path?: string; index?: number }): HTMLElement {
    const style = `transform:translateY(${i * ROW}px)`
    if (r.kind === 'dropped') {
      return h('div', { class: 'tl-row dropped', style, 'data-testid': 'dropped-marker' }, h('span', { class: 'tl-time' }, clock(r.at)), h('span', {}, `⚠ ${r.count} events dropped (the view fell behind; the journal still has them)`))
    }
    if (r.kind === 'entry') {
      const e = r.e
      const current = cursor.index === r.index
      return h(
        'div',
        { class: `tl-row${current ? ' current' : ''}${e.event ? '' : ' state-only'}`, style, onclick: () => this.onPick(r.path, r.index, undefined), 'data-seq': e.seq },
        h('span', { class: 'tl-seq' }, `#${e.seq}`),
        h('span', { class: 'tl-time' }, clock(e.at)),
        h('span', { class: 'tl-type' }, e.event ? e.event.type : e.seq === 0 ? 'start' : 'checkpoint'),
        h('span', { class: 'tl-source' }, e.source ? `from ${e.source}` : e.timer ? 'timer' : e.rejected ? `rejected: ${e.rejected}` : ''),
        h('span', { class: 'tl-value' }, e.snapshot ? `→ ${formatValue(e.snapshot.value)}` : '→ (not recorded)'),
      )
    }
    return h(
      'div',
      { class: `tl-row${cursor.path === r.path ? ' mine' : ''}`, style, onclick: () => this.onPick(r.path, undefined, r.actorSeq) },
      h('span', { class: 'tl-time' }, clock(r.at)),
      h('span', { class: 'tl-path' }, r.path),
      h('span', { class: 'tl-type' }, r.type),
      h('span', { class: 'tl-source' }, r.source ? `from ${r.source}` : ''),
      h('span', { class: 'tl-value' }, `→ ${formatValue(r.value)}`),
    )
  }
}
