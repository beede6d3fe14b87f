/**
 * The skills panel under the actor tree: every skill the hub runs with its version, provenance
 * (workspace, dev, slot, builtin) and state (`GET /api/skills`), and the scenario switch of the
 * default webspace: effective, requested, last error (`GET /api/scenario`). Read-only; polled.
 */
import { h } from './dom.ts'

export class SkillsPanel {
  private timer: ReturnType<typeof setInterval> | undefined

  constructor(private el: HTMLElement) {}

  start(everyMs = 3000): void {
    void this.refresh()
    this.timer = setInterval(() => void this.refresh(), everyMs)
  }

  stop(): void {
    clearInterval(this.timer)
  }

  async refresh(): Promise<void> {
    let skills: any[] = []
    let scenario: any = null
    try {
      const [a, b] = await Promise.all([fetch('/api/skills'), fetch('/api/scenario')])
      if (!a.ok) return
      skills = ((await a.json()) as any).skills ?? []
      if (b.ok) scenario = await b.json()
    } catch {
      return
    }
    this.el.hidden = skills.length === 0 && !scenario?.effective
    this.el.replaceChildren(
      h('div', { class: 'skills-head' }, 'Skills', h('span', { class: 'muted' }, ` ${skills.length}`)),
      scenarioLine(scenario) ?? '',
      h(
        'ul',
        { class: 'skills-list' },
        ...skills.map((s) =>
          h(
            'li',
            {
              class: `skill ${s.state}`,
              'data-testid': `skill-${s.name}`,
              title: s.state === 'failed' ? s.error : `${s.checksum}\nfrom ${s.source}`,
            },
            h('span', { class: 'skill-name' }, s.name),
            h('span', { class: 'muted' }, s.version ?? ''),
            h('span', { class: `prov prov-${s.provenance}` }, s.provenance),
            s.kind === 'scenario' ? h('span', { class: 'prov prov-scenario' }, 'scenario') : null,
            s.state === 'failed' ? h('span', { class: 'prov prov-failed' }, 'failed') : null,
          ),
        ),
      ),
    )
  }
}

function scenarioLine(sc: any): HTMLElement | null {
  if (!sc?.state) return null
  const parts: Array<HTMLElement | string> = [h('span', { class: 'muted' }, `${sc.webspace}: `)]
  parts.push(h('b', { 'data-testid': 'scenario-effective' }, sc.effective?.name ?? 'none'))
  if (sc.requested) parts.push(h('span', { class: 'prov prov-dev' }, `→ ${sc.requested.name} (${sc.state})`))
  if (sc.error)
    parts.push(
      h(
        'div',
        { class: 'scenario-error', title: sc.error.message },
        `last error: ${sc.error.scenario}: ${sc.error.message}`,
      ),
    )
  return h('div', { class: 'scenario-line', 'data-testid': 'scenario' }, ...parts)
}
