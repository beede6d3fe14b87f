/**
 * The inspector's Jobs view: per queue the ready depth (by priority and tenant), delayed, running,
 * dead, completed and paused state; the running jobs; the dead letters with Retry; queue
 * pause/resume. It reads the same JSON as the `/jobs` page (`GET /api/queues`, `GET /api/jobs`)
 * from the hub that serves the inspector, refreshes when opened and on `/api/jobs/events`
 * messages (coalesced), and acts with the inspector's own token. A job's id opens its actor (a
 * job's actor path is its id) in the actors view.
 */
import { clock, h } from './dom.ts'
import {
  byPriority,
  byTenant,
  Coalescer,
  gate,
  JOBS_URLS,
  jobsStateFrom,
  replyError,
  type Access,
  type JobRow,
  type JobsState,
  type QueueSummary,
  type Reply,
} from './jobsModel.ts'

/** Refreshes start at most this often, however fast job events arrive. */
export const REFRESH_GAP_MS = 400
/** A refresh this often while the view is open anyway: delayed jobs fall due without an event. */
const POLL_MS = 5000
/** Wait before reopening a lost event socket. */
const RECONNECT_MS = 2000

/** What the panel needs from the inspector around it. */
export interface JobsPanelHost {
  readonly token: string
  readonly access: Access
  /** Shows the actor at `path` in the actors view. */
  openActor(path: string): void
  toast(text: string, kind?: 'ok' | 'err'): void
}

/** The Jobs view: `show()` when its tab is opened, `hide()` when left; it draws into `root`. */
export class JobsPanel {
  state: JobsState = { kind: 'loading' }
  /** The event socket: `off` while the view is closed or the hub has no jobs API. */
  live: 'off' | 'connecting' | 'open' | 'lost' = 'off'
  /** Refreshes completed and `/api/jobs/events` messages received (for the tests). */
  refreshes = 0
  eventsSeen = 0
  private shown = false
  private ws?: WebSocket
  private poll?: ReturnType<typeof setInterval>
  private reconnect?: ReturnType<typeof setTimeout>
  private readonly coalescer = new Coalescer(() => this.refresh(), REFRESH_GAP_MS)
  /** Jobs and queues with an action in flight (their buttons wait). */
  private busy = new Set<string>()
  private lastError = ''

  constructor(
    private root: HTMLElement,
    private host: JobsPanelHost,
  ) {}

  get isShown(): boolean {
    return this.shown
  }

  /** The view was opened: refresh now, then live. */
  show(): void {
    if (this.shown) return
    this.shown = true
    this.coalescer.poke()
    this.poll = setInterval(() => this.coalescer.poke(), POLL_MS)
    this.render()
  }

  /** The view was closed: no socket, no polling. */
  hide(): void {
    this.shown = false
    this.coalescer.cancel()
    clearInterval(this.poll)
    this.disconnect()
  }

  /** The inspector's token or its access changed: reopen the event stream with it and reread. */
  tokenChanged(): void {
    // an earlier refusal was about the old token
    this.lastError = ''
    if (!this.shown) return this.render()
    this.disconnect()
    this.coalescer.poke()
    this.render()
  }

  private headers(): Record<string, string> {
    return this.host.token ? { authorization: `Bearer ${this.host.token}` } : {}
  }

  private async request(method: 'GET' | 'POST', url: string): Promise<Reply> {
    try {
      const r = await fetch(url, { method, headers: this.headers(), cache: 'no-store' })
      const text = await r.text()
      let body: unknown = text
      try {
        body = JSON.parse(text)
      } catch {}
      return { status: r.status, body }
    } catch (err) {
      return { status: 0, body: (err as Error).message }
    }
  }

  /** Rereads queues, running jobs and dead letters; opens the event stream once the API is known to exist. */
  async refresh(): Promise<void> {
    const [q, r, d] = await Promise.all([
      this.request('GET', JOBS_URLS.queues),
      this.request('GET', JOBS_URLS.running),
      this.request('GET', JOBS_URLS.dead),
    ])
    this.state = jobsStateFrom(q, r, d, Date.now())
    this.refreshes++
    if (this.state.kind === 'ok') this.connect()
    else if (this.state.kind === 'absent') this.disconnect()
    this.render()
  }

  // ---- live updates ------------------------------------------------------------------------------

  private connect(): void {
    if (!this.shown || this.ws || this.reconnect) return
    const token = this.host.token
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/jobs/events${token ? `?token=${encodeURIComponent(token)}` : ''}`
    const ws = new WebSocket(url)
    this.ws = ws
    this.live = 'connecting'
    ws.onopen = () => {
      if (this.ws !== ws) return
      this.live = 'open'
      this.render()
    }
    // every change (and `dropped`, when the hub skipped some for this slow page) means: reread
    ws.onmessage = () => {
      this.eventsSeen++
      this.coalescer.poke()
    }
    ws.onclose = () => {
      if (this.ws !== ws) return
      this.ws = undefined
      this.live = 'lost'
      this.render()
      if (!this.shown) return
      this.reconnect = setTimeout(() => {
        this.reconnect = undefined
        this.coalescer.poke()
      }, RECONNECT_MS)
    }
  }

  private disconnect(): void {
    clearTimeout(this.reconnect)
    this.reconnect = undefined
    const ws = this.ws
    this.ws = undefined
    this.live = 'off'
    ws?.close()
  }

  // ---- actions -----------------------------------------------------------------------------------

  private async act(key: string, url: string, done: string, what: string): Promise<void> {
    this.busy.add(key)
    this.render()
    const r = await this.request('POST', url)
    this.busy.delete(key)
    if (r.status >= 200 && r.status < 300) {
      this.lastError = ''
      this.host.toast(done, 'ok')
    } else {
      this.lastError = `${what} was refused: ${replyError(r)}`
      this.host.toast(this.lastError, 'err')
    }
    this.render()
    this.coalescer.poke()
  }

  retry(job: JobRow): Promise<void> {
    return this.act(
      `job:${job.id}`,
      `/api/jobs/${encodeURIComponent(job.id)}/retry`,
      `Retried ${job.id}: it is back in the queue.`,
      `Retrying ${job.id}`,
    )
  }

  setPaused(q: QueueSummary, paused: boolean): Promise<void> {
    const verb = paused ? 'pause' : 'resume'
    return this.act(
      `queue:${q.name}`,
      `/api/queues/${encodeURIComponent(q.name)}/${verb}`,
      `Queue ${q.name} ${paused ? 'paused' : 'resumed'}.`,
      `${paused ? 'Pausing' : 'Resuming'} queue ${q.name}`,
    )
  }

  // ---- drawing -----------------------------------------------------------------------------------

  render(): void {
    const s = this.state
    const head = h(
      'div',
      { class: 'jobs-head' },
      h('h2', {}, 'Jobs'),
      h(
        'span',
        {
          class: `chip live-${this.live}`,
          'data-testid': 'jobs-live',
          title: 'The /api/jobs/events stream: the view rereads on every change, at most every 0.4 s',
        },
        { off: 'not live', connecting: 'connecting…', open: '● live', lost: 'stream lost, retrying…' }[this.live],
      ),
      s.kind === 'ok'
        ? h('span', { class: 'small muted', 'data-testid': 'jobs-updated' }, `updated ${clock(s.at)}`)
        : null,
      h('div', { class: 'spacer' }),
      h('button', { class: 'btn', onclick: () => this.coalescer.poke(), title: 'Reread the queues now' }, '↻ Refresh'),
    )
    const parts: Array<HTMLElement | null> = [head]
    if (s.kind === 'loading') parts.push(h('div', { class: 'muted pad' }, 'Loading the queues…'))
    else if (s.kind !== 'ok')
      parts.push(
        h('div', { class: `jobs-notice ${s.kind}`, 'data-testid': 'jobs-notice', 'data-kind': s.kind }, s.message),
      )
    else {
      const retry = gate('retry', this.host.token, this.host.access)
      const queue = gate('queue', this.host.token, this.host.access)
      if (!this.host.token) parts.push(h('div', { class: 'readonly', 'data-testid': 'jobs-readonly' }, retry.why))
      else if (retry.why) parts.push(h('div', { class: 'warn small', 'data-testid': 'jobs-token-note' }, retry.why))
      if (this.lastError)
        parts.push(h('div', { class: 'jobs-error', 'data-testid': 'jobs-error', role: 'alert' }, this.lastError))
      parts.push(this.queuesTable(s.queues, queue.enabled, queue.why))
      if (s.workers.length) {
        parts.push(
          h(
            'div',
            { class: 'jobs-workers small muted' },
            'Workers: ',
            ...s.workers.map((w) =>
              h(
                'span',
                {
                  class: `chip${w.alive ? '' : ' gone'}`,
                  title: w.alive ? 'leasing jobs' : 'not leasing (gone or closing)',
                },
                `${w.id} ${w.held}/${w.capacity}`,
              ),
            ),
          ),
        )
      }
      parts.push(this.runningTable(s.running, s.more.running))
      parts.push(this.deadTable(s.dead, s.more.dead, retry.enabled, retry.why))
    }
    this.root.replaceChildren(...(parts.filter(Boolean) as HTMLElement[]))
  }

  private queuesTable(queues: QueueSummary[], canAct: boolean, why: string): HTMLElement {
    const rows = queues.map((q) => {
      const busy = this.busy.has(`queue:${q.name}`)
      const cell = (field: string, v: number, cls = '') =>
        h('td', { class: `num${cls && v ? ` ${cls}` : ''}`, 'data-field': field }, v)
      return h(
        'tr',
        { 'data-queue': q.name, class: q.paused ? 'paused' : '' },
        h('td', { class: 'mono' }, q.name),
        h(
          'td',
          { 'data-field': 'state' },
          h('span', { class: `chip ${q.paused ? 'q-paused' : 'q-active'}` }, q.paused ? 'paused' : 'active'),
        ),
        cell('depth', q.depth),
        h(
          'td',
          { 'data-field': 'byPriority' },
          ...(q.depth
            ? byPriority(q.byPriority).map(([p, n]) => h('span', { class: 'chip', 'data-priority': p }, `p${p} × ${n}`))
            : [h('span', { class: 'muted' }, '—')]),
        ),
        h(
          'td',
          { 'data-field': 'byTenant' },
          ...(q.depth
            ? byTenant(q.byTenant).map(([t, n]) => h('span', { class: 'chip', 'data-tenant': t }, `${t} × ${n}`))
            : [h('span', { class: 'muted' }, '—')]),
        ),
        cell('delayed', q.delayed),
        cell('running', q.running, 'c-running'),
        cell('dead', q.dead, 'c-dead'),
        cell('completed', q.completed),
        h(
          'td',
          { class: 'act' },
          h(
            'button',
            {
              class: 'btn',
              'data-testid': q.paused ? 'queue-resume' : 'queue-pause',
              disabled: !canAct || busy,
              title:
                why ||
                (q.paused
                  ? 'Let workers lease from this queue again'
                  : 'Workers lease nothing from this queue until it is resumed; running jobs finish'),
              onclick: () => void this.setPaused(q, !q.paused),
            },
            busy ? '…' : q.paused ? '▶ Resume' : '❚❚ Pause',
          ),
        ),
      )
    })
    return h(
      'section',
      { class: 'jobs-section' },
      h('div', { class: 'panel-head' }, h('span', {}, 'Queues')),
      h(
        'table',
        { class: 'jobs-table', 'data-testid': 'jobs-queues' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ...[
              'queue',
              'state',
              'ready',
              'ready by priority',
              'ready by tenant',
              'delayed',
              'running',
              'dead',
              'completed',
              '',
            ].map((t, i) => h('th', { class: i === 2 || (i >= 5 && i <= 8) ? 'num' : '' }, t)),
          ),
        ),
        h('tbody', {}, ...rows),
      ),
    )
  }

  private jobLink(id: string): HTMLElement {
    return h(
      'button',
      {
        class: 'job-link mono',
        'data-job': id,
        title: 'Show this job’s actor: its machine and history',
        onclick: () => this.host.openActor(id),
      },
      id,
    )
  }

  private runningTable(jobs: JobRow[], more: boolean): HTMLElement {
    return h(
      'section',
      { class: 'jobs-section' },
      h('div', { class: 'panel-head' }, h('span', {}, `Running (${jobs.length}${more ? '+' : ''})`)),
      jobs.length
        ? h(
            'table',
            { class: 'jobs-table', 'data-testid': 'jobs-running' },
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                h('th', {}, 'id'),
                h('th', {}, 'type'),
                h('th', {}, 'tenant'),
                h('th', { class: 'num' }, 'priority'),
                h('th', { class: 'num' }, 'attempts'),
                h('th', {}, 'worker'),
              ),
            ),
            h(
              'tbody',
              {},
              ...jobs.map((j) =>
                h(
                  'tr',
                  { 'data-job': j.id },
                  h('td', {}, this.jobLink(j.id)),
                  h('td', { class: 'mono' }, j.type),
                  h('td', {}, j.tenant),
                  h('td', { class: 'num' }, j.priority),
                  h('td', { class: 'num' }, j.attempts),
                  h('td', { class: 'mono small' }, j.worker ?? ''),
                ),
              ),
            ),
          )
        : h('div', { class: 'muted pad small', 'data-testid': 'jobs-running-empty' }, 'No job is running.'),
      more
        ? h(
            'div',
            { class: 'muted small pad' },
            `Showing the first ${jobs.length}; GET /api/jobs?status=RUNNING pages through the rest.`,
          )
        : null,
    )
  }

  private deadTable(jobs: JobRow[], more: boolean, canRetry: boolean, why: string): HTMLElement {
    return h(
      'section',
      { class: 'jobs-section' },
      h('div', { class: 'panel-head' }, h('span', {}, `Dead letters (${jobs.length}${more ? '+' : ''})`)),
      jobs.length
        ? h(
            'table',
            { class: 'jobs-table', 'data-testid': 'jobs-dead' },
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                h('th', {}, 'id'),
                h('th', {}, 'type'),
                h('th', {}, 'tenant'),
                h('th', {}, 'error'),
                h('th', {}, 'failed in'),
                h('th', { class: 'num' }, 'attempts'),
                h('th', {}, ''),
              ),
            ),
            h(
              'tbody',
              {},
              ...jobs.map((j) => {
                const busy = this.busy.has(`job:${j.id}`)
                return h(
                  'tr',
                  { 'data-job': j.id },
                  h('td', {}, this.jobLink(j.id)),
                  h('td', { class: 'mono' }, j.type),
                  h('td', {}, j.tenant),
                  h('td', { class: 'err-text', 'data-field': 'error' }, j.error?.message ?? j.lastError ?? ''),
                  h('td', { class: 'mono small', 'data-field': 'state' }, j.error?.state ?? ''),
                  h('td', { class: 'num', 'data-field': 'attempts' }, j.error?.attempts ?? j.attempts),
                  h(
                    'td',
                    { class: 'act' },
                    h(
                      'button',
                      {
                        class: 'btn',
                        'data-testid': 'retry',
                        disabled: !canRetry || busy,
                        title: why || 'Requeue this job: it runs again from the step that failed',
                        onclick: () => void this.retry(j),
                      },
                      busy ? '…' : '↻ Retry',
                    ),
                  ),
                )
              }),
            ),
          )
        : h('div', { class: 'muted pad small', 'data-testid': 'jobs-dead-empty' }, 'No dead letters.'),
      more
        ? h(
            'div',
            { class: 'muted small pad' },
            `Showing the first ${jobs.length}; GET /api/jobs?status=FAILED pages through the rest.`,
          )
        : null,
    )
  }
}
