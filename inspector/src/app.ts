/**
 * The inspector page's controller: feeds the model from the hub's feed socket, keeps the selected
 * actor, the time-travel cursor (a seq, or live), pause and the token, and redraws the views at
 * most once per animation frame. Loaded log files become read-only actors scrubbed the same way.
 * Two views share the header (and its token): the actors, and the jobs panel (`?view=jobs`).
 */
import { FeedConnection, type ConnState } from './feedConnection.ts'
import { StateChartView } from './chart.ts'
import { CoverageView } from './coverageView.ts'
import { ForkView } from './forkView.ts'
import { $, clock, h } from './dom.ts'
import { ActionsView, SnapshotView } from './details.ts'
import { TraceLinks } from './traces.ts'
import { JobsPanel } from './jobsPanel.ts'
import { SkillsPanel } from './skillsPanel.ts'
import { entriesToLog, formatValue, InspectorModel, lastKnown, type ActorView } from './model.ts'
import { ActorTree, Timeline } from './views.ts'
import { periodicMatcher, periodicTypes } from './fold.ts'
import { SupervisorPane } from './supervisorPane.ts'
import { ReliabilityPanel } from './reliabilityPanel.ts'
import type { SupervisorStatusLike } from './reliabilityModel.ts'
import type { ServerFrame } from '../../protocol/inspectorFeed.ts'
import { isBundleText } from '../../protocol/bundle.ts'

/**
 * The feed redraws the views at most every FEED_FRAME_MS, or BUSY_FRAME_MS while more than
 * BUSY_RATE events/s arrive (the eye gains nothing from more; the hub's CPU neighbour does).
 * User actions redraw at once.
 */
const FEED_FRAME_MS = 50
const BUSY_FRAME_MS = 250
const BUSY_RATE = 1000
/** Entries of history loaded when an actor is selected (the most recent ones). */
const HISTORY_WINDOW = 5000

export class App {
  readonly model = new InspectorModel()
  readonly chart: StateChartView
  readonly coverage: CoverageView
  readonly fork: ForkView
  selected?: string
  /** The seq shown; undefined = live. */
  cursorSeq?: number
  paused = false
  token = ''
  access: 'operator' | 'read-only' | 'unknown' = 'unknown'
  hostId = ''
  conn: FeedConnection
  /** The view shown under the header. */
  view: View = 'actors'
  readonly jobs: JobsPanel
  readonly reliability: ReliabilityPanel
  /** Behind a supervisor: its own actors and status beside the runtime's (supervisorPane.ts). */
  supervisor?: SupervisorPane
  /** Events applied to the views (for the benchmark: what the page rendered). */
  rendered = 0
  frames = 0
  private defs = new Map<string, unknown>()
  private defState = new Map<string, 'loading' | 'missing'>()
  readonly tree: ActorTree
  private timeline: Timeline
  private snapshotView: SnapshotView
  private actions: ActionsView
  private scheduled = false
  private urgent = false
  /** Events/s received, over the last second. */
  rate = 0
  private lastRender = 0
  private rateSamples: Array<[number, number]> = []
  private pausedAt = 0
  private chartKey = ''
  /** Periodic-event tests by definition key (null: the machine declares none). */
  private periodic = new Map<string, ((type: string) => boolean) | null>()
  private defsFor = -1
  /** Opens an incident bundle given to "Open log…" or dropped on the page (bundleView.ts). */
  onBundle?: (name: string, text: string) => void

  constructor() {
    const params = new URLSearchParams(location.search)
    const urlToken = params.get('token')
    if (urlToken) {
      sessionStorage.setItem('aether.token', urlToken)
      params.delete('token')
      history.replaceState(null, '', location.pathname + (params.size ? `?${params}` : '') + location.hash)
    }
    this.token = sessionStorage.getItem('aether.token') ?? ''
    this.chart = new StateChartView($('#chart-wrap'))
    this.coverage = new CoverageView(this.chart, $('#chart-wrap'), {
      token: () => this.token,
      redraw: () => this.invalidate(true),
    })
    this.fork = new ForkView(this.chart, $('#travel'), $('#chart-wrap'), {
      token: () => this.token,
      cursor: () => {
        const a = this.current()
        const e = a?.entries[a ? (this.cursorIndex(a) ?? a.entries.length - 1) : 0]
        return a && e ? { path: a.path, seq: e.seq } : undefined
      },
      redraw: () => this.invalidate(true),
    })
    this.tree = new ActorTree($('#tree'), (p) => this.select(p))
    this.timeline = new Timeline(
      $('#timeline'),
      (path, index, actorSeq) => this.pick(path, index, actorSeq),
      () => this.invalidate(true),
    )
    this.timeline.periodic = (path) => this.periodicOf(path)
    this.snapshotView = new SnapshotView($('#snapshot'), new TraceLinks(() => this.invalidate(true)))
    this.actions = new ActionsView($('#actions'), {
      get token() {
        return app.token
      },
      get access() {
        return app.access
      },
      send: (path, event) => this.sendEvent(path, event),
      confirm: (title, body) => confirmDialog(title, body),
      toast,
      offered: (a, type) => !a.host || !!this.supervisor?.offers(a, type),
    })
    this.jobs = new JobsPanel($('#jobs-view'), {
      get token() {
        return app.token
      },
      get access() {
        return app.access
      },
      openActor: (path) => this.openActor(path),
      toast,
    })
    this.reliability = new ReliabilityPanel($('#reliability-view'), {
      actorPaths: () => new Set(this.model.actors.keys()),
      openActor: (path) => this.openActor(path),
      supervisorStatus: () => this.supervisor?.status as SupervisorStatusLike | undefined,
    })
    const app = this
    this.conn = new FeedConnection(
      () =>
        `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/inspector/feed${this.token ? `?token=${encodeURIComponent(this.token)}` : ''}`,
      (f) => this.onFrame(f),
      (s) => this.onConn(s),
    )
    this.wire()
    this.conn.start()
    setInterval(() => this.tick(), 250)
    const hash = decodeURIComponent(location.hash.replace(/^#\/?/, ''))
    if (hash) this.selected = hash
    const view = params.get('view')
    if (view === 'jobs' || view === 'reliability') this.showView(view)
    void this.showMigration()
    new SkillsPanel($('#skills')).start()
    void SupervisorPane.detect(this).then((p) => (this.supervisor = p))
  }

  /** The feed an actor's commands go to (its node's), and its path there. */
  private feedOf(a: ActorView): { conn: FeedConnection; path: string } {
    if (a.host && this.supervisor && a.host === 'supervisor') return { conn: this.supervisor.conn, path: a.remotePath! }
    return { conn: this.conn, path: a.path }
  }

  /**
   * The migration report the hub started with (`GET /api/migration`, see docs/apps.md): a chip in the
   * header when stored actors were checked against changed machine code, the actors in its title.
   */
  private async showMigration(): Promise<void> {
    let r: any
    try {
      const res = await fetch('/api/migration')
      if (!res.ok) return
      r = await res.json()
    } catch {
      return
    }
    if (!r?.checked) return
    const el = $('#migration')
    const bad = r.diverged.length + r.stranded.length + r.timers.length
    el.textContent = `migration: ${r.checked} checked, ${r.identical.length} identical${bad ? `, ${r.diverged.length} diverged, ${r.stranded.length} stranded, ${r.timers.length} timers` : ''}`
    el.classList.toggle('warn', bad > 0)
    el.title = [
      ...r.diverged.map((a: any) => `${a.path}: diverges at seq ${a.seq} (${a.message})`),
      ...r.stranded.map((a: any) => `${a.path}: in state "${a.state}", gone from the new code`),
      ...r.timers.map((a: any) => `${a.path}: timer pending in "${a.state}", gone from the new code`),
    ].join('\n')
    el.hidden = false
  }

  // ---- views ---------------------------------------------------------------------------------------

  /** Switches between the views; the URL keeps it (`?view=jobs`, `?view=reliability`) for a reload or a link. */
  showView(v: View): void {
    if (v === this.view) return
    this.view = v
    $('#actors-view').hidden = v !== 'actors'
    $('#jobs-view').hidden = v !== 'jobs'
    $('#reliability-view').hidden = v !== 'reliability'
    for (const b of document.querySelectorAll<HTMLButtonElement>('#views button'))
      b.classList.toggle('on', b.dataset.view === v)
    const params = new URLSearchParams(location.search)
    if (v !== 'actors') params.set('view', v)
    else params.delete('view')
    history.replaceState(null, '', location.pathname + (params.size ? `?${params}` : '') + location.hash)
    if (v === 'jobs') this.jobs.show()
    else this.jobs.hide()
    if (v === 'reliability') this.reliability.show()
    else this.reliability.hide()
    if (v === 'actors') this.invalidate(true)
  }

  /** From the jobs view: show a job's actor (its path is the job id) with its machine and history. */
  openActor(path: string): void {
    this.showView('actors')
    this.select(path)
    // the tree may be long (one row per job): bring the row into sight once it is drawn
    setTimeout(() => $('.tree-row.selected')?.scrollIntoView({ block: 'nearest' }), 50)
  }

  // ---- feed --------------------------------------------------------------------------------------

  private onConn(s: ConnState): void {
    const el = $('#conn')
    el.className = `conn ${s}`
    $('#conn-text').textContent =
      s === 'open'
        ? `connected${this.hostId ? ` to ${this.hostId}` : ''}`
        : s === 'connecting'
          ? 'connecting…'
          : 'disconnected, retrying…'
  }

  private onFrame(f: ServerFrame): void {
    if (f.t === 'hello') {
      this.hostId = f.hostId
      this.access = f.access
      this.onConn('open')
      this.renderAccess()
    } else if (f.t === 'snapshot') {
      this.model.applySnapshot(f.actors, f.seq)
      if (this.selected && this.model.actors.get(this.selected)) this.select(this.selected, true)
      else this.sendFocus()
      this.invalidate()
    } else if (f.t === 'events') {
      this.model.applyEvents(f.events, f.dropped)
      if (this.reliability.isShown && f.events.some((e) => e.path === 'reliability')) void this.reliability.refresh()
      if (f.dropped) {
        $('#dropped-stat').hidden = false
        $('#dropped').textContent = String(this.model.dropped)
        const a = this.selected ? this.model.actors.get(this.selected) : undefined
        if (a && a.kind === 'live' && a.durable && a.history === 'none') void this.loadHistory(a)
      }
      this.invalidate()
    }
  }

  // ---- selection and time travel -------------------------------------------------------------------

  select(path: string, keepCursor = false): void {
    const a = this.model.actors.get(path)
    this.selected = path
    this.model.selected = path
    if (!keepCursor) this.cursorSeq = undefined
    history.replaceState(null, '', `#/${encodeURIComponent(path)}`)
    this.sendFocus()
    if (!a) return this.invalidate(true)
    void this.loadDefinition(a)
    // entries that arrived while the actor was not selected came light (no context): reload them
    if (
      a.kind === 'live' &&
      a.durable &&
      (a.history === 'none' || (a.history === 'loaded' && this.model.hasLightEntries(a)))
    )
      void this.loadHistory(a)
    if (a.kind === 'live' && !a.durable)
      a.note = 'A memory actor keeps no journal: its events since this page connected are shown.'
    this.invalidate(true)
  }

  /** Tells the hub which actor this page shows in full; the others' events come light. */
  sendFocus(): void {
    const a = this.current()
    const paths = a && a.kind === 'live' && !a.host ? [a.path] : []
    this.supervisor?.focus(a)
    this.conn
      .request({ cmd: 'focus', paths })
      .then((f) => {
        if (f.t === 'focus') {
          this.model.applyFocus(f.actors)
          this.invalidate(true)
        }
      })
      .catch(() => {
        // not connected: the next snapshot frame sends it again
      })
  }

  private pick(path: string, index: number | undefined, actorSeq: number | undefined): void {
    if (path !== this.selected) this.select(path)
    const a = this.model.actors.get(path)
    if (!a) return
    if (index !== undefined) this.cursorSeq = a.entries[index]?.seq
    else if (actorSeq !== undefined) this.cursorSeq = actorSeq
    this.invalidate(true)
  }

  /** The entry index the cursor points at (the last entry with seq <= cursorSeq). */
  cursorIndex(a: ActorView): number | undefined {
    if (this.cursorSeq === undefined) return undefined
    const es = a.entries
    let lo = 0
    let hi = es.length - 1
    let ans = 0
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      if (es[mid].seq <= this.cursorSeq) {
        ans = mid
        lo = mid + 1
      } else hi = mid - 1
    }
    return ans
  }

  step(delta: number | 'first' | 'last' | 'live'): void {
    const a = this.current()
    if (!a?.entries.length) return
    if (delta === 'live') this.cursorSeq = undefined
    else if (delta === 'first') this.cursorSeq = a.entries[0].seq
    else if (delta === 'last') this.cursorSeq = a.entries[a.entries.length - 1].seq
    else {
      const i = this.cursorIndex(a) ?? a.entries.length - 1
      const j = Math.max(0, Math.min(a.entries.length - 1, i + delta))
      this.cursorSeq = a.entries[j].seq
    }
    this.invalidate(true)
  }

  current(): ActorView | undefined {
    return this.selected ? this.model.actors.get(this.selected) : undefined
  }

  /** The periodic-event test of an actor's machine (fold.ts), once its definition is loaded. */
  private periodicOf(path: string): ((type: string) => boolean) | undefined {
    const a = this.model.actors.get(path)
    if (!a) return undefined
    const key = defKey(a)
    let m = this.periodic.get(key)
    if (m === undefined && this.defs.has(key)) {
      const types = periodicTypes(this.defs.get(key))
      m = types.length ? periodicMatcher(types) : null
      this.periodic.set(key, m)
    }
    return m ?? undefined
  }

  /** The all-actors timeline folds the periodic events of every machine: load each definition once. */
  private loadAllDefinitions(): void {
    if (this.defsFor === this.model.treeVersion) return
    this.defsFor = this.model.treeVersion
    const seen = new Set<string>()
    for (const a of this.model.actors.values()) {
      const key = defKey(a)
      if (a.kind !== 'live' || seen.has(key)) continue
      seen.add(key)
      if (!this.defs.has(key) && !this.defState.has(key)) void this.loadDefinition(a)
    }
  }

  private async loadDefinition(a: ActorView): Promise<void> {
    const name = defKey(a)
    if (this.defs.has(name) || this.defState.get(name) === 'loading') return
    this.defState.set(name, 'loading')
    try {
      let def: unknown
      if (a.kind === 'live') {
        const { conn, path } = this.feedOf(a)
        const f = await conn.request({ cmd: 'definition', path })
        if (f.t === 'definition') def = f.definition
      } else {
        const r = await fetch(`/api/machines/${encodeURIComponent(name)}`)
        if (r.ok) def = (await r.json()).definition
      }
      if (def) {
        this.defs.set(name, def)
        this.defState.delete(name)
      } else this.defState.set(name, 'missing')
    } catch {
      this.defState.set(name, 'missing')
    }
    this.invalidate(true)
  }

  /** Loads the journal from `from` (default: the last HISTORY_WINDOW events) up to `until`, page by page. */
  private async loadHistory(a: ActorView, from?: number, until = Infinity): Promise<void> {
    a.history = 'loading'
    let after = from ?? Math.max(0, a.actorSeq - HISTORY_WINDOW)
    try {
      for (;;) {
        const { conn, path } = this.feedOf(a)
        const f = await conn.request({ cmd: 'history', path, after, limit: 1000 })
        if (f.t !== 'history') break
        this.model.applyHistory(a.path, after, f.start, f.entries, f.startSeq)
        this.invalidate(true)
        if (f.next === null || f.next >= until) break
        after = f.next
      }
      a.history = 'loaded'
    } catch (err) {
      a.history = 'unavailable'
      a.note = `History unavailable: ${(err as Error).message}`
    }
    this.invalidate(true)
  }

  // ---- operator actions ----------------------------------------------------------------------------

  async sendEvent(path: string, event: Record<string, unknown>): Promise<{ ok: boolean; status: number; body: any }> {
    const a = this.model.actors.get(path)
    if (a?.host && this.supervisor) return this.supervisor.act(event)
    const url = `/api/actors/${path.split('/').map(encodeURIComponent).join('/')}/events`
    const headers: Record<string, string> = { 'content-type': 'application/json' }
    if (this.token) headers.authorization = `Bearer ${this.token}`
    const r = await fetch(url, { method: 'POST', headers, body: JSON.stringify(event) })
    let body: any = null
    try {
      body = await r.json()
    } catch {}
    return { ok: r.ok, status: r.status, body }
  }

  setToken(t: string): void {
    this.token = t.trim()
    if (this.token) sessionStorage.setItem('aether.token', this.token)
    else sessionStorage.removeItem('aether.token')
    this.access = 'unknown'
    this.renderAccess()
    this.jobs.tokenChanged()
    this.conn.restart()
    this.supervisor?.conn.restart()
    this.invalidate(true)
  }

  private renderAccess(): void {
    const b = $('#access')
    const op = this.token && this.access === 'operator'
    b.className = `badge ${op ? 'operator' : this.token && this.access === 'read-only' ? 'rejected' : 'readonly'}`
    b.textContent = op
      ? 'operator'
      : this.token
        ? this.access === 'read-only'
          ? 'token not accepted'
          : 'checking token…'
        : 'read-only'
    b.title = op
      ? 'The hub accepted your token: you can send events.'
      : 'Without the hub token the inspector only watches.'
    this.actions.render(this.current(), undefined, true)
    this.jobs.render()
    this.invalidate(true)
  }

  // ---- logs ----------------------------------------------------------------------------------------

  async openLogFile(file: File): Promise<void> {
    try {
      const text = await file.text()
      if (this.onBundle && isBundleText(text)) return this.onBundle(file.name, text)
      const a = this.model.loadLog(file.name, text)
      toast(`Loaded ${file.name}: ${a.log!.events} events, ${a.log!.snapshots} snapshots (${a.machine}).`, 'ok')
      this.select(a.path)
      // start at the first recorded state (a log may begin with its first event, not a snapshot)
      this.cursorSeq = (a.entries.find((e) => e.snapshot) ?? a.entries[0]).seq
      this.invalidate(true)
    } catch (err) {
      toast(`Cannot load ${file.name}: ${(err as Error).message}`, 'err')
    }
  }

  download(): void {
    const a = this.current()
    if (!a) return
    if (a.kind === 'live' && a.node) {
      // the hub's recording of an external actor
      h('a', {
        href: `/api/external/actors/${a.path.split('/').map(encodeURIComponent).join('/')}/log`,
        download: `${a.path.replace(/[^A-Za-z0-9_.-]/g, '_')}.aether.log`,
      }).click()
      return
    }
    if (a.kind === 'live' && a.host && this.supervisor) return this.supervisor.download(a)
    if (a.kind === 'live' && a.durable) {
      const link = h('a', {
        href: `/api/actors/${a.path.split('/').map(encodeURIComponent).join('/')}/log?snapshots=all`,
        download: `${a.path.replace(/[^A-Za-z0-9_.-]/g, '_')}.aether.log`,
      })
      link.click()
      return
    }
    const text = a.kind === 'log' ? a.log!.text : entriesToLog(a)
    const url = URL.createObjectURL(new Blob([text], { type: 'application/x-ndjson' }))
    h('a', {
      href: url,
      download: a.kind === 'log' ? a.log!.file : `${a.path.replace(/[^A-Za-z0-9_.-]/g, '_')}.aether.log`,
    }).click()
    setTimeout(() => URL.revokeObjectURL(url), 5000)
  }

  // ---- rendering -----------------------------------------------------------------------------------

  /**
   * Asks for a redraw. User actions (`force`) redraw on the next frame, even while paused; the
   * feed redraws at most every FEED_FRAME_MS, so a fast feed costs a bounded share of the page.
   */
  invalidate(force = false): void {
    if (this.paused && !force) return
    if (force) this.urgent = true
    if (this.scheduled) return
    this.scheduled = true
    const frame = this.rate > BUSY_RATE ? BUSY_FRAME_MS : FEED_FRAME_MS
    const wait = this.urgent ? 0 : Math.max(0, frame - (performance.now() - this.lastRender))
    // a timer, not requestAnimationFrame: a busy or hidden page may produce no frames for a
    // while, and the views must still catch up
    setTimeout(() => {
      this.scheduled = false
      const urgent = this.urgent
      this.urgent = false
      // a feed redraw asked for before a pause must not show what arrived after it
      if (this.paused && !urgent) return
      this.lastRender = performance.now()
      try {
        this.render()
      } catch (err) {
        console.error('[inspector] render failed', err)
      }
    }, wait)
  }

  private tick(): void {
    const now = performance.now()
    this.rateSamples.push([now, this.model.received])
    while (this.rateSamples.length > 2 && now - this.rateSamples[0][0] > 1000) this.rateSamples.shift()
    const [t0, n0] = this.rateSamples[0]
    const rate = now > t0 ? ((this.model.received - n0) * 1000) / (now - t0) : 0
    this.rate = rate
    $('#rate').textContent = rate >= 1000 ? `${(rate / 1000).toFixed(1)}k` : String(Math.round(rate))
    if (this.paused) $('#pause-info').textContent = `${this.model.received - this.pausedAt} new`
    const a = this.current()
    if (!this.paused && a?.current?.timers?.length && this.cursorSeq === undefined) this.invalidate()
  }

  togglePause(): void {
    this.paused = !this.paused
    this.pausedAt = this.model.received
    $('#pause').textContent = this.paused ? '▶ Resume' : '❚❚ Pause'
    $('#pause').classList.toggle('on', this.paused)
    $('#pause-info').textContent = ''
    $('#pause-info').hidden = !this.paused
    document.body.classList.toggle('paused', this.paused)
    if (!this.paused) return this.invalidate(true)
    // Pausing freezes the view as it is now: drawn at once, not on a timer that events could beat.
    this.lastRender = performance.now()
    this.render()
  }

  private render(): void {
    this.frames++
    this.rendered = this.model.received
    const a = this.current()
    this.tree.render(this.model, this.selected, ($('#search') as HTMLInputElement).value)
    const index = a ? this.cursorIndex(a) : undefined
    if (this.timeline.mode === 'all' && this.timeline.hidePeriodic) this.loadAllDefinitions()
    this.timeline.render(this.model, a, index ?? (a ? a.entries.length - 1 : undefined))
    this.renderHead(a, index)
    this.snapshotView.render(a, index, Date.now())
    this.renderChart(a, index)
    this.coverage.paint(a && this.chartFor(a) ? a.machine : undefined)
    this.fork.paint(a && this.chartFor(a) ? a.path : undefined)
    this.actions.render(a, a ? this.chartFor(a) : undefined)
    this.renderTravel(a, index)
    const dl = $('#event-types')
    if (dl.childElementCount !== this.model.eventTypes.size && this.model.eventTypes.size < 500) {
      dl.replaceChildren(...[...this.model.eventTypes].sort().map((t) => h('option', { value: t })))
    }
  }

  private chartFor(a: ActorView) {
    const key = defKey(a)
    return this.defs.has(key) && this.chart.chart && this.chartKey === key ? this.chart.chart : undefined
  }

  private renderChart(a: ActorView | undefined, index: number | undefined): void {
    if (!a) {
      if (this.chartKey !== '') this.chart.clear('Select an actor in the tree.')
      this.chartKey = ''
      return
    }
    const key = defKey(a)
    const def = this.defs.get(key)
    if (!def) {
      const missing = this.defState.get(key) === 'missing'
      const msg = missing
        ? a.node
          ? `The app “${a.node}” sent no machine definition the hub can draw for this actor: states are shown as text below.`
          : `The machine “${a.machine}” is not known to this hub: states are shown as text below.`
        : 'Loading the machine definition…'
      if (this.chartKey !== `msg:${msg}`) this.chart.clear(msg)
      this.chartKey = `msg:${msg}`
      return
    }
    if (this.chartKey !== key) {
      this.chartKey = key
      void this.chart.setDefinition(key, def as any).then(() => this.invalidate(true))
      return
    }
    const live = index === undefined
    const i = index ?? a.entries.length - 1
    const snap = live && a.kind === 'live' ? a.current : lastKnown(a.entries, i)
    const entry = a.entries[i]
    const prev = i > 0 ? lastKnown(a.entries, i - 1) : undefined
    const at = live ? Date.now() : (entry?.at ?? Date.now())
    this.chart.update({
      value: snap?.value,
      previous: entry?.event ? prev?.value : undefined,
      event: entry?.event?.type,
      timers: (snap?.timers ?? []).map((t) => ({ event: t.event, leftMs: t.due - at })),
    })
  }

  private renderHead(a: ActorView | undefined, index: number | undefined): void {
    const head = $('#actor-head')
    if (!a) {
      head.replaceChildren(h('div', { class: 'muted' }, 'No actor selected.'))
      return
    }
    const key = `${a.path}|${a.status}|${a.history}|${a.note}|${a.durable}|${index === undefined}|${a.truncated}|${a.entries[0]?.seq}|${a.journalFrom}`
    if (head.dataset.key === key) return
    head.dataset.key = key
    head.replaceChildren(
      h(
        'div',
        { class: 'actor-title' },
        h('span', { class: `dot s-${a.status}` }),
        h('span', { class: 'path', 'data-testid': 'actor-path' }, a.kind === 'log' ? a.log!.file : a.path),
        h('span', { class: 'chip' }, a.machine),
        ...(a.node
          ? [
              h('span', { class: 'chip', 'data-testid': 'actor-node' }, `app ${a.node}`),
              h('span', { class: 'chip readonly-chip' }, 'read-only'),
            ]
          : [h('span', { class: 'chip' }, a.kind === 'log' ? 'log file' : a.durable ? 'durable' : 'memory')]),
        h('span', { class: 'chip' }, a.status),
      ),
      h(
        'div',
        { class: 'head-note small muted' },
        a.history === 'loading'
          ? 'Loading history from the journal…'
          : (a.note ??
              (a.truncated
                ? `Earlier history is in the journal (showing the last ${a.entries.length} entries).`
                : a.journalFrom
                  ? `The journal starts at #${a.journalFrom}: earlier events were compacted away (hub --retain).`
                  : '')),
      ),
      h('div', { class: 'spacer' }),
      ...(a.kind === 'live' && a.durable && a.truncated && a.history === 'loaded' && a.entries[0].seq > 0
        ? [
            h(
              'button',
              {
                class: 'btn',
                title: `Load ${HISTORY_WINDOW} earlier events from the journal`,
                onclick: () =>
                  void this.loadHistory(a, Math.max(0, a.entries[0].seq - HISTORY_WINDOW), a.entries[0].seq),
              },
              '↑ Earlier history',
            ),
          ]
        : []),
      h(
        'button',
        {
          class: 'btn',
          onclick: () => this.download(),
          title: 'Download this history as an aether.log/1 file',
          'data-testid': 'download',
        },
        '↓ Download log',
      ),
      ...(a.kind === 'log'
        ? [
            h(
              'button',
              {
                class: 'btn',
                onclick: () => (this.model.removeActor(a.path), (this.selected = undefined), this.invalidate(true)),
              },
              '✕ Close log',
            ),
          ]
        : []),
    )
  }

  private renderTravel(a: ActorView | undefined, index: number | undefined): void {
    const slider = $('#slider') as HTMLInputElement
    const n = a?.entries.length ?? 0
    slider.max = String(Math.max(0, n - 1))
    slider.value = String(index ?? Math.max(0, n - 1))
    slider.disabled = n < 2
    const live = index === undefined
    $('#live').classList.toggle('on', live && a?.kind === 'live')
    $('#travel').classList.toggle('past', !live)
    const e = a && n ? a.entries[index ?? n - 1] : undefined
    $('#travel-pos').textContent = !a
      ? ''
      : e
        ? `${live && a.kind === 'live' ? 'live · ' : ''}#${e.seq} · ${clock(e.at)} · ${index !== undefined ? index + 1 : n} of ${n}${e.event ? ` · ${e.event.type}` : ''}`
        : ''
    $('#travel-state').textContent = !live
      ? `viewing the past: ${formatValue(lastKnown(a!.entries, index!)?.value)}`
      : ''
  }

  // ---- wiring --------------------------------------------------------------------------------------

  private wire(): void {
    $('#search').addEventListener('input', () => this.invalidate(true))
    $('#pause').addEventListener('click', () => this.togglePause())
    $('#slider').addEventListener('input', (ev) => {
      const a = this.current()
      if (!a) return
      const i = Number((ev.target as HTMLInputElement).value)
      this.cursorSeq = a.entries[i]?.seq
      this.invalidate(true)
    })
    $('#first').addEventListener('click', () => this.step('first'))
    $('#prev').addEventListener('click', () => this.step(-1))
    $('#next').addEventListener('click', () => this.step(1))
    $('#last').addEventListener('click', () => this.step('last'))
    $('#live').addEventListener('click', () => this.step('live'))
    for (const b of document.querySelectorAll<HTMLButtonElement>('.tabs button')) {
      b.addEventListener('click', () => {
        this.timeline.mode = b.dataset.mode as 'actor' | 'all'
        for (const x of document.querySelectorAll('.tabs button')) x.classList.toggle('on', x === b)
        this.invalidate(true)
      })
    }
    $('#tl-filter').addEventListener('input', (ev) => {
      this.timeline.filter = (ev.target as HTMLInputElement).value
      this.invalidate(true)
    })
    $('#tl-periodic').addEventListener('change', (ev) => {
      this.timeline.hidePeriodic = (ev.target as HTMLInputElement).checked
      this.invalidate(true)
    })
    const input = $('#log-file') as HTMLInputElement
    $('#open-log').addEventListener('click', () => input.click())
    input.addEventListener('change', () => {
      const f = input.files?.[0]
      if (f) void this.openLogFile(f)
      input.value = ''
    })
    const overlay = $('#drop-overlay')
    window.addEventListener('dragover', (ev) => {
      if (!ev.dataTransfer?.types.includes('Files')) return
      ev.preventDefault()
      overlay.hidden = false
    })
    overlay.addEventListener('dragleave', () => (overlay.hidden = true))
    window.addEventListener('drop', (ev) => {
      ev.preventDefault()
      overlay.hidden = true
      const f = ev.dataTransfer?.files?.[0]
      if (f) void this.openLogFile(f)
    })
    $('#token-btn').addEventListener('click', async () => {
      const t = await promptDialog(
        'Hub token',
        'The token `aether hub` printed at start (or --token). It stays in this tab only.',
        this.token,
      )
      if (t !== null) this.setToken(t)
    })
    for (const b of document.querySelectorAll<HTMLButtonElement>('#views button')) {
      b.addEventListener('click', () => this.showView(b.dataset.view as View))
    }
    window.addEventListener('keydown', (ev) => {
      if ((ev.target as HTMLElement).closest('input, textarea')) return
      if (this.view !== 'actors') return
      if (ev.key === 'ArrowLeft') this.step(-1)
      else if (ev.key === 'ArrowRight') this.step(1)
      else if (ev.key === 'End') this.step('live')
      else if (ev.key === ' ') ev.preventDefault(), this.togglePause()
    })
    new ResizeObserver(() => this.invalidate(true)).observe($('#timeline'))
  }
}

type View = 'actors' | 'jobs' | 'reliability'

/**
 * The key a machine definition is cached under: the hub's machines by name; an external actor's by
 * its path (apps name their machines freely, and two runs may send different definitions).
 */
function defKey(a: ActorView): string {
  return a.node ? `${a.node}:${a.path}` : a.machine
}

// ---- dialogs -----------------------------------------------------------------------------------------

export function toast(text: string, kind: 'ok' | 'err' = 'ok'): void {
  const t = h('div', { class: `toast ${kind}`, role: 'status', 'data-testid': `toast-${kind}` }, text)
  $('#toasts').append(t)
  setTimeout(() => t.remove(), kind === 'err' ? 9000 : 5000)
}

function dialog(build: (close: (v: unknown) => void) => HTMLElement[]): Promise<unknown> {
  return new Promise((resolve) => {
    const modal = $('#modal')
    const close = (v: unknown) => {
      modal.hidden = true
      modal.replaceChildren()
      resolve(v)
    }
    modal.replaceChildren(h('div', { class: 'dialog', role: 'dialog' }, ...build(close)))
    modal.hidden = false
    modal.onclick = (ev) => ev.target === modal && close(null)
    ;(modal.querySelector('[autofocus]') as HTMLElement | null)?.focus()
  })
}

export async function confirmDialog(title: string, body: string): Promise<boolean> {
  const v = await dialog((close) => [
    h('h3', {}, title),
    h('pre', { class: 'json' }, body),
    h(
      'div',
      { class: 'dialog-buttons' },
      h('button', { class: 'btn', onclick: () => close(false) }, 'Cancel'),
      h(
        'button',
        { class: 'btn primary', autofocus: true, 'data-testid': 'confirm', onclick: () => close(true) },
        'Send',
      ),
    ),
  ])
  return v === true
}

export async function promptDialog(title: string, help: string, value: string): Promise<string | null> {
  const v = await dialog((close) => {
    const input = h('input', {
      type: 'password',
      value,
      class: 'token-input',
      autofocus: true,
      placeholder: 'token',
      'data-testid': 'token-input',
      onkeydown: (e: KeyboardEvent) => e.key === 'Enter' && close(input.value),
    }) as HTMLInputElement
    return [
      h('h3', {}, title),
      h('p', { class: 'small muted' }, help),
      input,
      h(
        'div',
        { class: 'dialog-buttons' },
        h('button', { class: 'btn', onclick: () => close('') }, 'Forget token'),
        h('button', { class: 'btn', onclick: () => close(null) }, 'Cancel'),
        h('button', { class: 'btn primary', 'data-testid': 'token-save', onclick: () => close(input.value) }, 'Save'),
      ),
    ]
  })
  return typeof v === 'string' ? v : null
}
