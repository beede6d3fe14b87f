/**
 * The snapshot viewer (value, context, pending delays, and what changed against the previous
 * snapshot) and the operator actions: the events the live state accepts, read from the machine
 * definition, sent with the hub token after a confirmation. Without a token it is read-only and
 * says so; the hub decides (a wrong token gets the hub's 401, shown as is).
 */
import { acceptedEvents, activeIds, eventDisplay as delayText, type Chart } from './definition.ts'
import { clock, h, show } from './dom.ts'
import { diffJson } from '../../protocol/jsonDiff.ts'
import { formatValue, lastKnown, type ActorView } from './model.ts'
import type { TraceLinks } from './traces.ts'

export class SnapshotView {
  /** `traces`: the OpenTelemetry trace of an actor's work, when the hub traces (traces.ts). */
  constructor(
    private root: HTMLElement,
    private traces?: TraceLinks,
  ) {}

  render(a: ActorView | undefined, index: number | undefined, now: number): void {
    if (!a) {
      this.root.replaceChildren(h('div', { class: 'muted pad' }, 'Select an actor to see its state.'))
      return
    }
    const i = index ?? a.entries.length - 1
    const live = index === undefined
    const snap = live && a.kind === 'live' ? a.current : lastKnown(a.entries, i)
    const entry = a.entries[i]
    const prev = i > 0 ? lastKnown(a.entries, i - 1) : undefined
    const recorded = !entry || !!entry.snapshot || (live && a.kind === 'live')
    const diffs =
      prev && snap
        ? diffJson({ value: prev.value, context: prev.context }, { value: snap.value, context: snap.context }, '', 50)
        : []
    const timers = snap?.timers ?? []
    const at = live ? now : (entry?.at ?? now)
    const parts: Array<HTMLElement | null> = [
      h(
        'div',
        { class: 'kv' },
        h('span', { class: 'k' }, 'state'),
        h('span', { class: 'v state-value', 'data-testid': 'state-value' }, formatValue(snap?.value)),
      ),
      h(
        'div',
        { class: 'kv' },
        h('span', { class: 'k' }, 'status'),
        h('span', { class: 'v' }, snap?.status ?? a.status),
      ),
      entry?.event
        ? h(
            'div',
            { class: 'kv' },
            h('span', { class: 'k' }, 'after'),
            h(
              'span',
              { class: 'v mono' },
              `#${entry.seq} ${show(entry.event, 200)}${entry.source ? ` from ${entry.source}` : ''}`,
            ),
          )
        : null,
      this.traceRow(a, entry?.at),
      !recorded
        ? h('div', { class: 'warn small' }, 'The log has no snapshot at this seq: showing the last recorded state.')
        : null,
      timers.length
        ? h(
            'div',
            { class: 'kv' },
            h('span', { class: 'k' }, 'delays'),
            h(
              'span',
              { class: 'v' },
              ...timers.map((t) =>
                h(
                  'span',
                  { class: 'chip' },
                  `${delayText(t.event)} in ${Math.max(0, (t.due - at) / 1000).toFixed(1)}s`,
                ),
              ),
            ),
          )
        : null,
      h('h4', {}, 'Context'),
      snap && !('context' in snap)
        ? h(
            'div',
            { class: 'muted small', 'data-testid': 'context' },
            'Context not sent: the actor was not selected then (the hub sends contexts only for the actor you watch).',
          )
        : h('pre', { class: 'json', 'data-testid': 'context' }, JSON.stringify(snap?.context ?? null, null, 2)),
      h('h4', {}, prev ? `Changes vs previous${i > 0 ? ` (#${a.entries[i - 1].seq})` : ''}` : 'Changes vs previous'),
      diffs.length
        ? h(
            'div',
            { class: 'diff', 'data-testid': 'diff' },
            ...diffs.map((d) =>
              h(
                'div',
                { class: 'diff-line' },
                h('span', { class: 'diff-path' }, d.path),
                h('span', { class: 'del' }, show(d.before, 80)),
                h('span', { class: 'arrow' }, '→'),
                h('span', { class: 'add' }, show(d.after, 80)),
              ),
            ),
          )
        : h('div', { class: 'muted small' }, prev ? 'No change.' : 'This is the first known snapshot.'),
    ]
    this.root.replaceChildren(...(parts.filter(Boolean) as HTMLElement[]))
  }

  /** The trace of the shown event (its span's name and trace id), for hosted actors of a tracing hub. */
  private traceRow(a: ActorView, at: number | undefined): HTMLElement | null {
    const t = a.kind === 'live' && !a.node ? this.traces?.traceAt(a.path, at) : undefined
    if (!t) return null
    return h(
      'div',
      { class: 'kv' },
      h('span', { class: 'k' }, 'trace'),
      h('span', { class: 'v mono', 'data-testid': 'trace-id', title: `${t.name}, span ${t.spanId}` }, t.traceId),
    )
  }
}

export interface ActionContext {
  token: string
  access: 'operator' | 'read-only' | 'unknown'
  send(path: string, event: Record<string, unknown>): Promise<{ ok: boolean; status: number; body: any }>
  confirm(title: string, body: string): Promise<boolean>
  toast(text: string, kind?: 'ok' | 'err'): void
  /** Whether an event the state accepts is offered to the operator (default: all are). */
  offered?(a: ActorView, type: string): boolean
}

export class ActionsView {
  private key = ''
  constructor(
    private root: HTMLElement,
    private ctx: ActionContext,
  ) {}

  render(a: ActorView | undefined, chart: Chart | undefined, force = false): void {
    const value = a?.current?.value
    const key = JSON.stringify([a?.path, a?.kind, a?.status, value, this.ctx.token ? 1 : 0, this.ctx.access, !!chart])
    if (key === this.key && !force) return
    this.key = key
    if (!a) return void this.root.replaceChildren()
    if (a.kind === 'log') {
      return void this.root.replaceChildren(
        h('div', { class: 'muted small' }, 'A loaded log is read-only: scrubbing it changes nothing on the hub.'),
      )
    }
    if (a.node) {
      return void this.root.replaceChildren(
        h(
          'div',
          { class: 'readonly', 'data-testid': 'external-readonly' },
          `Read-only: this actor runs in the app “${a.node}”, which the hub watches but does not host. The hub records what the app reports and sends it nothing.`,
        ),
      )
    }
    const banner = !this.ctx.token
      ? h(
          'div',
          { class: 'readonly', 'data-testid': 'readonly' },
          'Read-only: no hub token. Set it with “Token” (top right) to send events.',
        )
      : this.ctx.access === 'read-only'
        ? h(
            'div',
            { class: 'warn small', 'data-testid': 'token-rejected' },
            'The hub did not accept this token for the feed: sends will likely be refused (401).',
          )
        : null
    if (!chart)
      return void this.root.replaceChildren(
        ...([banner, h('div', { class: 'muted small' }, 'Loading the machine definition…')].filter(
          Boolean,
        ) as HTMLElement[]),
      )
    if (a.status !== 'active')
      return void this.root.replaceChildren(
        ...([banner, h('div', { class: 'muted small' }, `The actor is ${a.status}: it takes no events.`)].filter(
          Boolean,
        ) as HTMLElement[]),
      )
    const accepted = acceptedEvents(chart, activeIds(chart, value)).filter(
      (ev) => !this.ctx.offered || this.ctx.offered(a, ev.type),
    )
    const disabled = !this.ctx.token
    const payload = h('textarea', {
      class: 'payload',
      rows: 2,
      spellcheck: false,
      placeholder: '{"by": 2}  (extra event fields, optional)',
      'data-testid': 'payload',
    }) as HTMLTextAreaElement
    const buttons = accepted.map((ev) =>
      h(
        'button',
        {
          class: 'btn event-btn',
          disabled,
          'data-event': ev.type,
          title: `handled by ${ev.from.join(', ')}${ev.guards.length ? `; guarded by ${ev.guards.join(', ')}` : ''}`,
          onclick: () => this.fire(a.path, ev.type, payload.value),
        },
        ev.type,
        ev.guards.length ? h('span', { class: 'guard' }, ` [${ev.guards.join(', ')}]`) : null,
      ),
    )
    this.root.replaceChildren(
      ...([
        banner,
        h(
          'div',
          { class: 'small muted' },
          accepted.length ? 'Events the current state accepts:' : 'The current state accepts no named event.',
        ),
        h('div', { class: 'event-buttons' }, ...buttons),
        accepted.length ? payload : null,
      ].filter(Boolean) as HTMLElement[]),
    )
  }

  private async fire(path: string, type: string, extra: string): Promise<void> {
    let fields: Record<string, unknown> = {}
    if (extra.trim()) {
      try {
        const v = JSON.parse(extra)
        if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object')
        fields = v
      } catch (err) {
        return this.ctx.toast(`The extra fields must be a JSON object: ${(err as Error).message}`, 'err')
      }
    }
    const { type: _ignored, ...rest } = fields
    const event = { type, ...rest }
    const ok = await this.ctx.confirm(`Send “${type}” to ${path}?`, JSON.stringify(event, null, 2))
    if (!ok) return
    const r = await this.ctx.send(path, event)
    if (r.ok)
      this.ctx.toast(
        `Sent ${type} to ${path}: journaled${r.body.seq === undefined ? '' : ` as #${r.body.seq}`}, now ${formatValue(r.body.value)}`,
        'ok',
      )
    else
      this.ctx.toast(
        `Refused (${r.status}${r.body?.error ? ` ${r.body.error}` : ''}): ${r.body?.message ?? 'the hub refused the event'}. Nothing changed.`,
        'err',
      )
  }
}

export { clock }
