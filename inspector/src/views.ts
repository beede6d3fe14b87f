/**
 * The actor tree (by id path, searchable) and the event timelines (one actor, or all actors with
 * the sender), both redrawn from the model at most once per animation frame. The timeline is
 * virtualized: only the visible rows exist in the DOM, so a fast feed costs what the eye sees.
 */
import { eventDisplay } from './definition.ts'
import { clock, h } from './dom.ts'
import { foldRows, foldSummary, type FoldItem, type FoldRow } from './fold.ts'
import { formatValue, type ActorView, type Entry, type InspectorModel, type TimelineRow } from './model.ts'

export class ActorTree {
  private rows = new Map<string, { row: HTMLElement; state: HTMLElement; status: HTMLElement; version: number }>()
  private builtFor = -1
  private filterFor = ''
  private selectedFor?: string
  private labelsFor = ''
  /**
   * Section headers by node when the page shows more than one (behind a supervisor): `hub` for the
   * page's own hub (the active runtime), and one per other node (`supervisor`).
   */
  labels: Record<string, string> = {}

  constructor(
    private list: HTMLElement,
    private onSelect: (path: string) => void,
  ) {}

  render(model: InspectorModel, selected: string | undefined, filter: string): void {
    const f = filter.trim().toLowerCase()
    const labels = JSON.stringify(this.labels)
    if (this.builtFor !== model.treeVersion || this.filterFor !== f || this.labelsFor !== labels) {
      this.labelsFor = labels
      this.rebuild(model, f)
    }
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
    // other nodes' actors (the supervisor's), the hub's own, each external app's runs, loaded logs
    const group = (a: ActorView) => (a.kind === 'log' ? 3 : a.node ? 2 : a.host ? 0 : 1)
    const all = [...model.actors.values()].sort((a, b) =>
      group(a) !== group(b) ? group(a) - group(b) : a.path < b.path ? -1 : 1,
    )
    const matches = (a: ActorView) =>
      !f || `${a.path} ${a.machine} ${formatValue(a.current?.value)} ${a.status}`.toLowerCase().includes(f)
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
    let run = ''
    let section: string | undefined
    for (const a of all) {
      if (!shown.has(a.path)) continue
      // behind a supervisor: one header per node
      const node = a.kind === 'live' && !a.node ? (a.host ?? 'hub') : undefined
      if (node && node !== section && this.labels[node]) {
        items.push(
          h('li', { class: 'tree-section node', 'data-node': node, 'data-testid': `node-${node}` }, this.labels[node]),
        )
      }
      if (node) section = node
      if (a.kind === 'log' && !logsHeader) {
        logsHeader = true
        items.push(h('li', { class: 'tree-section' }, 'Loaded logs'))
      }
      // an external app's actors live under <app>/<run>/: one header per run, read-only
      const runOf = a.node && a.kind === 'live' ? a.path.split('/').slice(0, 2).join('/') : ''
      if (runOf && runOf !== run) {
        items.push(
          h(
            'li',
            { class: 'tree-section external', 'data-run': runOf, title: 'an app the hub watches but does not host' },
            `App ${a.node} · run ${runOf.slice(runOf.indexOf('/') + 1)}`,
            h('span', { class: 'chip readonly-chip' }, 'read-only'),
          ),
        )
      }
      run = runOf
      const depth = a.kind === 'log' ? 0 : a.path.split('/').length - (runOf ? 3 : a.host ? 2 : 1)
      const name = a.kind === 'log' ? a.path.slice(4) : a.path.slice(a.path.lastIndexOf('/') + 1)
      const status = h('span', { class: `dot s-${a.status}`, title: a.status })
      const state = h('span', { class: 'tree-state' }, stateText(a))
      const row = h(
        'li',
        {
          class: 'tree-row',
          'data-path': a.path,
          style: `padding-left:${10 + depth * 16}px`,
          onclick: () => this.onSelect(a.path),
          title: a.path,
        },
        status,
        h(
          'span',
          { class: 'tree-main' },
          h('span', { class: 'tree-name' }, name),
          h('span', { class: 'tree-machine' }, a.machine),
        ),
        state,
      )
      this.rows.set(a.path, { row, state, status, version: a.version })
      items.push(row)
    }
    if (!items.length)
      items.push(
        h(
          'li',
          { class: 'tree-empty' },
          f ? `No actor matches “${f}”.` : 'No actors yet. Spawn one: POST /api/actors {path, machine}.',
        ),
      )
    this.list.replaceChildren(...items)
  }
}

function stateText(a: ActorView): string {
  return formatValue(a.current?.value)
}

const ROW = 24

type Row =
  | { kind: 'entry'; e: Entry; index: number; path: string; nested?: true }
  | (TimelineRow & { nested?: true })
  | Extract<FoldRow, { kind: 'fold' }>

/**
 * A virtualized, filterable event list; newest first. Unfiltered, row i is read straight from the
 * model (no copy per frame); filtered, the matching indexes are recomputed at most every 300 ms
 * while events stream in (at once when the filter, the mode or the actor changes).
 */
export class Timeline {
  mode: 'actor' | 'all' = 'actor'
  filter = ''
  /** Fold periodic events (fold.ts) into one row per kind; on by default. */
  hidePeriodic = true
  /** The periodic-event test of an actor's machine, once its definition is known. */
  periodic: (path: string) => ((type: string) => boolean) | undefined = () => undefined
  /** Folds the user opened (by key). */
  readonly open = new Set<string>()
  private folded: FoldRow[] = []
  private spacer: HTMLElement
  private viewport: HTMLElement
  private lastCursor: { path?: string; index?: number } = {}
  private count = 0
  private at: (i: number) => Row | undefined = () => undefined
  private matches: number[] = []
  private matchKey = ''
  private matchedAt = 0
  private foldKey = ''
  private foldedAt = 0
  private foldedFor = -1
  private refold?: ReturnType<typeof setTimeout>
  /** The fold rows of the last paint, by mode, key and openness (reused by the next). */
  private foldEls = new Map<string, { el: HTMLElement; time: HTMLElement; count: HTMLElement }>()
  private painted = new Map<string, { el: HTMLElement; time: HTMLElement; count: HTMLElement }>()

  constructor(
    private scroller: HTMLElement,
    private onPick: (path: string, index: number | undefined, actorSeq: number | undefined) => void,
    private onChange: () => void = () => {},
  ) {
    this.spacer = h('div', { class: 'tl-spacer' })
    this.viewport = h('div', { class: 'tl-rows' })
    scroller.append(this.spacer, this.viewport)
    scroller.addEventListener('scroll', () => this.paint(this.lastCursor))
  }

  render(model: InspectorModel, actor: ActorView | undefined, cursorIndex: number | undefined): void {
    const f = this.filter.trim().toLowerCase()
    const es = actor?.entries ?? []
    const tl = model.timeline
    const src = this.mode === 'actor' ? es.length : tl.length
    const typeOf = (i: number) =>
      this.mode === 'actor' ? (es[i].event?.type ?? '(state)') : tl[i].kind === 'event' ? (tl[i] as any).type : ''
    const rowOf = (i: number): Row =>
      this.mode === 'actor' ? { kind: 'entry', e: es[i], index: i, path: actor!.path } : tl[i]
    // the shown src indexes, newest first: all of them, or the filter's matches
    let shown: ((i: number) => number) | undefined
    let shownCount = src
    if (f) {
      const key = `${this.mode}|${f}|${actor?.path}`
      const now = performance.now()
      if (key !== this.matchKey || now - this.matchedAt > 300) {
        this.matchKey = key
        this.matchedAt = now
        const m: number[] = []
        for (let i = src - 1; i >= 0; i--) if (typeOf(i).toLowerCase().includes(f)) m.push(i)
        this.matches = m
      }
      const m = this.matches
      shownCount = m.length
      shown = (i) => m[i]
    }
    const fold = this.hidePeriodic ? this.foldFor(model, actor) : undefined
    if (fold) {
      const key = `${this.mode}|${f}|${actor?.path}|${[...this.open].join(',')}`
      const now = performance.now()
      const stale = this.foldedFor !== src
      if (stale && key === this.foldKey && now - this.foldedAt < 300 && !this.refold) {
        // a fast feed refolds at most every 300 ms; the last events still get their fold
        this.refold = setTimeout(() => ((this.refold = undefined), this.onChange()), 300 - (now - this.foldedAt))
      }
      if (key !== this.foldKey || (stale && now - this.foldedAt >= 300)) {
        this.foldKey = key
        this.foldedAt = now
        this.foldedFor = src
        const srcOf = (k: number) => (shown ? shown(shownCount - 1 - k) : k)
        const items = fold(srcOf, shownCount)
        this.folded = foldRows(shownCount, (k) => items[k], this.open)
      }
      const rows = this.folded
      this.count = rows.length
      this.at = (i) => {
        const r = rows[i]
        if (!r) return undefined
        if (r.kind === 'fold') return r
        const k = r.index
        const s = shown ? shown(shownCount - 1 - k) : k
        if (s === undefined || s >= src) return undefined
        const row = rowOf(s)
        return r.nested ? { ...row, nested: true } : row
      }
    } else if (shown) {
      this.count = shownCount
      this.at = (i) => {
        const s = shown(i)
        return i < shownCount && s < src ? rowOf(s) : undefined
      }
    } else {
      this.count = src
      this.at = (i) => (i < src ? rowOf(src - 1 - i) : undefined)
    }
    this.spacer.style.height = `${this.count * ROW}px`
    this.paint({ path: actor?.path, index: cursorIndex })
  }

  /**
   * What the fold needs, for the mode shown: a function from the shown src indexes to fold items,
   * or undefined when nothing shown is declared periodic (then rows are read straight, no copy).
   */
  private foldFor(
    model: InspectorModel,
    actor: ActorView | undefined,
  ): ((srcOf: (k: number) => number, n: number) => FoldItem[]) | undefined {
    if (this.mode === 'actor') {
      const test = actor && this.periodic(actor.path)
      if (!actor || !test) return undefined
      const es = actor.entries
      return (srcOf, n) => {
        const out: FoldItem[] = new Array(n)
        for (let k = 0; k < n; k++) {
          const i = srcOf(k)
          const e = es[i]
          const type = e.event?.type ?? ''
          const periodic =
            !!type && test(type) && i > 0 && valueKey(e.snapshot?.value) === valueKey(es[i - 1].snapshot?.value)
          out[k] = { path: actor.path, type, at: e.at, id: e.seq, periodic }
        }
        return out
      }
    }
    const tl = model.timeline
    const tests = new Map<string, ((type: string) => boolean) | undefined>()
    const testOf = (path: string) => {
      if (!tests.has(path)) tests.set(path, this.periodic(path))
      return tests.get(path)
    }
    let any = false
    for (const a of model.actors.values()) if (testOf(a.path)) any = true
    if (!any) return undefined
    return (srcOf, n) => {
      // the value each actor had before a row: its previous row's (the first row of an actor folds)
      const before = new Map<string, string>()
      const changed: boolean[] = new Array(tl.length)
      for (let i = 0; i < tl.length; i++) {
        const r = tl[i]
        if (r.kind !== 'event') continue
        const v = valueKey(r.value)
        const prev = before.get(r.path)
        changed[i] = prev !== undefined && prev !== v
        before.set(r.path, v)
      }
      const out: FoldItem[] = new Array(n)
      for (let k = 0; k < n; k++) {
        const i = srcOf(k)
        const r = tl[i]
        if (r.kind !== 'event') {
          out[k] = { path: '', type: '', at: r.at, id: -i, periodic: false }
          continue
        }
        const test = testOf(r.path)
        out[k] = { path: r.path, type: r.type, at: r.at, id: r.feedSeq, periodic: !!test?.(r.type) && !changed[i] }
      }
      return out
    }
  }

  private paint(cursor: { path?: string; index?: number }): void {
    this.lastCursor = cursor
    this.painted = new Map()
    const top = this.scroller.scrollTop
    const height = this.scroller.clientHeight || 400
    const first = Math.max(0, Math.floor(top / ROW) - 4)
    const last = Math.min(this.count, Math.ceil((top + height) / ROW) + 4)
    const out: HTMLElement[] = []
    for (let i = first; i < last; i++) {
      const r = this.at(i)
      if (r) out.push(this.row(r, i, cursor))
    }
    if (!this.count)
      out.push(
        h(
          'div',
          { class: 'tl-empty' },
          this.filter
            ? 'No events match the filter.'
            : this.mode === 'actor'
              ? 'No events for this actor yet.'
              : 'No events yet.',
        ),
      )
    this.viewport.replaceChildren(...out)
    this.foldEls = this.painted
  }

  private row(r: Row, i: number, cursor: { path?: string; index?: number }): HTMLElement {
    const style = `transform:translateY(${i * ROW}px)`
    if (r.kind === 'dropped') {
      return h(
        'div',
        { class: 'tl-row dropped', style, 'data-testid': 'dropped-marker' },
        h('span', { class: 'tl-time' }, clock(r.at)),
        h('span', {}, `⚠ ${r.count} events dropped (the view fell behind; the journal still has them)`),
      )
    }
    if (r.kind === 'fold') {
      // A fold row changes with every periodic event: it is updated in place, not made anew, so a
      // click on it is not lost to a redraw between the press and the release.
      const key = `${this.mode}|${r.key}|${r.open}`
      const title = `${r.count} periodic ${r.type} events from ${clock(r.first)} to ${clock(r.last)}: click to ${r.open ? 'fold' : 'unfold'}`
      const kept = this.foldEls.get(key)
      if (kept) {
        kept.el.setAttribute('style', style)
        kept.el.title = title
        kept.time.textContent = clock(r.last)
        kept.count.textContent = foldSummary(r.count, r.rate)
        this.painted.set(key, kept)
        return kept.el
      }
      const time = h('span', { class: 'tl-time' }, clock(r.last))
      const count = h(
        'span',
        { class: 'tl-source fold-count', 'data-testid': 'fold-count' },
        foldSummary(r.count, r.rate),
      )
      const el = h(
        'div',
        {
          class: `tl-row fold${r.open ? ' open' : ''}`,
          style,
          'data-testid': 'fold-row',
          'data-type': r.type,
          title,
          onclick: () => {
            if (this.open.has(r.key)) this.open.delete(r.key)
            else this.open.add(r.key)
            this.onChange()
          },
        },
        h('span', { class: 'tl-seq' }, r.open ? '▾' : '▸'),
        time,
        ...(this.mode === 'all' ? [h('span', { class: 'tl-path' }, r.path)] : []),
        h('span', { class: 'tl-type', title: r.type }, eventDisplay(r.type)),
        count,
        h('span', { class: 'tl-value muted' }, `periodic, since ${clock(r.first)}`),
      )
      this.painted.set(key, { el, time, count })
      return el
    }
    if (r.kind === 'entry') {
      const e = r.e
      const current = cursor.index === r.index
      return h(
        'div',
        {
          class: `tl-row${current ? ' current' : ''}${e.event ? '' : ' state-only'}${r.nested ? ' nested' : ''}`,
          style,
          onclick: () => this.onPick(r.path, r.index, undefined),
          'data-seq': e.seq,
        },
        h('span', { class: 'tl-seq' }, `#${e.seq}`),
        h('span', { class: 'tl-time' }, clock(e.at)),
        h(
          'span',
          { class: 'tl-type', title: e.event?.type ?? '' },
          e.event ? eventDisplay(e.event.type) : e.seq === 0 ? 'start' : 'checkpoint',
        ),
        h(
          'span',
          { class: 'tl-source' },
          e.source
            ? `from ${e.source}`
            : e.timer || e.event?.type.startsWith('xstate.after.')
              ? 'timer'
              : e.rejected
                ? `rejected: ${e.rejected}`
                : '',
        ),
        h('span', { class: 'tl-value' }, e.snapshot ? `→ ${formatValue(e.snapshot.value)}` : '→ (not recorded)'),
      )
    }
    return h(
      'div',
      {
        class: `tl-row${cursor.path === r.path ? ' mine' : ''}${r.nested ? ' nested' : ''}`,
        style,
        onclick: () => this.onPick(r.path, undefined, r.actorSeq),
      },
      h('span', { class: 'tl-time' }, clock(r.at)),
      h('span', { class: 'tl-path' }, r.path),
      h('span', { class: 'tl-type', title: r.type }, eventDisplay(r.type)),
      h(
        'span',
        { class: 'tl-source' },
        r.source ? `from ${r.source}` : r.type.startsWith('xstate.after.') ? 'timer' : '',
      ),
      h('span', { class: 'tl-value' }, `→ ${formatValue(r.value)}`),
    )
  }
}

const valueKeys = new WeakMap<object, string>()

/** A state value as a comparable string (cached per value object: snapshots are kept, not copied). */
function valueKey(v: unknown): string {
  if (typeof v !== 'object' || v === null) return String(v)
  let k = valueKeys.get(v)
  if (k === undefined) valueKeys.set(v, (k = JSON.stringify(v)))
  return k
}
