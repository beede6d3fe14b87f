/**
 * The coverage report as one self-contained HTML page (`aether coverage --html FILE`): per machine
 * a summary, its states and its transitions with counts, each cell shaded by its count (a
 * heatmap: the more exercised, the darker), the never exercised ones in red. No script, no asset.
 */
import type { CoverageReport } from '../commands/coverage.ts'

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!)

/** Background for a count: red for 0, then light to dark green on a log scale up to `max`. */
function heat(n: number, max: number): string {
  if (n === 0) return '#f8d7da'
  const f = Math.log(1 + n) / Math.log(1 + Math.max(1, max))
  const light = Math.round(92 - f * 50)
  return `hsl(140, 55%, ${light}%)`
}

const pct = (n: number, d: number) => (d ? Math.round((100 * n) / d) : 0)

/** The report as one HTML page (see the file's header). */
export function coverageHtml(report: CoverageReport): string {
  const sections = report.machines.map((m) => {
    const s = m.summary
    const maxS = Math.max(0, ...m.states.map((x) => x.entered))
    const maxT = Math.max(0, ...m.transitions.map((x) => x.taken))
    const states = m.states
      .map(
        (x) =>
          `<tr><td class="n" style="background:${heat(x.entered, maxS)}">${x.entered}</td><td><code>${esc(x.id)}</code></td></tr>`,
      )
      .join('')
    const paths = new Map((m.paths ?? []).map((p) => [p.transition, p.events.map((e) => e.type).join(' → ')]))
    const transitions = m.transitions
      .map((t) => {
        const guard = t.guard
          ? `${esc(t.guard)}${t.guardFalse ? ` <span class="f">(false ×${t.guardFalse})</span>` : ''}`
          : ''
        const path = paths.get(t.id)
        return `<tr><td class="n" style="background:${heat(t.taken, maxT)}">${t.taken}</td><td><code>${esc(t.source)}</code></td><td><code>${esc(t.event)}</code></td><td><code>${esc(t.targets.join(', ') || '(stays)')}</code></td><td>${guard}</td><td class="p">${path ? esc(path) : ''}</td></tr>`
      })
      .join('')
    return `<section><h2>${esc(m.machine)}</h2>
<p class="sum"><b>${m.logs}</b> logs, <b>${m.events}</b> events (${m.unhandled} not handled) ·
states <b>${s.statesCovered}/${s.states}</b> (${pct(s.statesCovered, s.states)}%) ·
transitions <b>${s.transitionsCovered}/${s.transitions}</b> (${pct(s.transitionsCovered, s.transitions)}%)
<span class="bar"><span style="width:${pct(s.transitionsCovered, s.transitions)}%"></span></span></p>
<div class="cols"><table><thead><tr><th>entered</th><th>state</th></tr></thead><tbody>${states}</tbody></table>
<table><thead><tr><th>taken</th><th>source</th><th>event</th><th>target</th><th>guard</th><th>path to it (generated)</th></tr></thead><tbody>${transitions}</tbody></table></div></section>`
  })
  const skipped = report.skipped.length
    ? `<section><h2>Skipped logs</h2><ul>${report.skipped.map((x) => `<li><code>${esc(x.file)}</code>: ${esc(x.reason)}</li>`).join('')}</ul></section>`
    : ''
  return `<!doctype html><html><head><meta charset="utf-8"><title>Aether coverage</title><style>
body{font:14px system-ui,sans-serif;margin:24px;color:#1d2433}
h1{font-size:20px}h2{font-size:17px;margin:28px 0 6px}
table{border-collapse:collapse;margin:6px 12px 6px 0;vertical-align:top}
td,th{border:1px solid #d5d9e0;padding:3px 7px;text-align:left}th{background:#eef1f5}
td.n{text-align:right;font-variant-numeric:tabular-nums;min-width:42px}
code{font-size:12px;overflow-wrap:anywhere}td{max-width:340px}.f{color:#a33}.p{font-size:12px;color:#445}
.cols{display:flex;align-items:flex-start;flex-wrap:wrap}
.bar{display:inline-block;width:160px;height:9px;background:#f8d7da;margin-left:10px;vertical-align:middle}
.bar span{display:block;height:9px;background:#2e9d5b}
</style></head><body><h1>Aether coverage of recorded traffic</h1>
<p>Counts: how many times a state was entered and a transition taken in the logs. Red: never.</p>
${sections.join('\n')}${skipped}</body></html>
`
}
