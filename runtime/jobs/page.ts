/**
 * The jobs panel as a small self-contained page (`GET /jobs`): queue depth, running jobs, dead
 * letters with retry. It reads `GET /api/queues` and `GET /api/jobs`, the same JSON the inspector's
 * jobs panel uses (its Jobs view, inspector/src/jobsPanel.ts; `/inspector?view=jobs`); retry needs
 * the token (typed in, kept in sessionStorage under the same key as the inspector's).
 */
export function jobsPage(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Aether jobs</title>
<style>
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.3em}h2{font-size:1.05em;margin-top:1.5em}
table{border-collapse:collapse;min-width:40em}td,th{border-bottom:1px solid #ddd;padding:.3em .6em;text-align:left}
.num{text-align:right}.FAILED{color:#b00}.RUNNING{color:#06c}.COMPLETED{color:#080}
button{font:inherit}#err{color:#b00}
</style></head><body>
<h1>Jobs</h1>
<p>Token <input id="token" type="password" size="30" placeholder="hub or tenant token"> <span id="err"></span></p>
<h2>Queues</h2><table id="queues"><thead><tr><th>queue</th><th class="num">ready</th><th class="num">delayed</th><th class="num">running</th><th class="num">dead</th><th class="num">completed</th><th>by priority</th><th>by tenant</th><th></th></tr></thead><tbody></tbody></table>
<h2>Running</h2><table id="running"><thead><tr><th>id</th><th>type</th><th>tenant</th><th class="num">priority</th><th class="num">attempts</th><th>worker</th></tr></thead><tbody></tbody></table>
<h2>Dead letters</h2><table id="dead"><thead><tr><th>id</th><th>type</th><th>tenant</th><th>error</th><th>failed in</th><th class="num">attempts</th><th></th></tr></thead><tbody></tbody></table>
<script>
const $ = (s) => document.querySelector(s)
const tok = $('#token')
tok.value = sessionStorage.getItem('aether.token') || ''
tok.onchange = () => { sessionStorage.setItem('aether.token', tok.value); refresh() }
const auth = () => tok.value ? { authorization: 'Bearer ' + tok.value } : {}
const td = (t, cls) => { const e = document.createElement('td'); e.textContent = t; if (cls) e.className = cls; return e }
async function get(u) { const r = await fetch(u, { headers: auth() }); if (!r.ok) throw new Error(u + ': ' + r.status + ' ' + (await r.text())); return r.json() }
async function post(u) { const r = await fetch(u, { method: 'POST', headers: auth() }); if (!r.ok) throw new Error((await r.json()).message); return r.json() }
function rows(sel, list, make) { const tb = $(sel + ' tbody'); tb.replaceChildren(...list.map((x) => { const tr = document.createElement('tr'); make(x).forEach((c) => tr.append(c)); return tr })) }
async function refresh() {
  try {
    const [qs, run, dead] = await Promise.all([get('/api/queues'), get('/api/jobs?status=RUNNING&limit=200'), get('/api/jobs?status=FAILED&limit=200')])
    rows('#queues', qs.queues, (q) => {
      const b = document.createElement('button'); b.textContent = q.paused ? 'resume' : 'pause'
      b.onclick = () => post('/api/queues/' + encodeURIComponent(q.name) + '/' + (q.paused ? 'resume' : 'pause')).then(refresh, (e) => ($('#err').textContent = e.message))
      const c = td(''); c.append(b)
      return [td(q.name + (q.paused ? ' (paused)' : '')), td(q.depth, 'num'), td(q.delayed, 'num'), td(q.running, 'num'), td(q.dead, 'num'), td(q.completed, 'num'), td(JSON.stringify(q.byPriority)), td(JSON.stringify(q.byTenant)), c]
    })
    rows('#running', run.jobs, (j) => [td(j.id), td(j.type), td(j.tenant), td(j.priority, 'num'), td(j.attempts, 'num'), td(j.worker || '')])
    rows('#dead', dead.jobs, (j) => {
      const b = document.createElement('button'); b.textContent = 'retry'
      b.onclick = () => post('/api/jobs/' + encodeURIComponent(j.id) + '/retry').then(refresh, (e) => ($('#err').textContent = e.message))
      const c = td(''); c.append(b)
      return [td(j.id), td(j.type), td(j.tenant), td(j.error ? j.error.message : '', 'FAILED'), td(j.error ? j.error.state : ''), td(j.attempts, 'num'), c]
    })
    $('#err').textContent = ''
  } catch (e) { $('#err').textContent = e.message }
}
refresh()
const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/api/jobs/events' + (tok.value ? '?token=' + encodeURIComponent(tok.value) : ''))
let pending = false
ws.onmessage = () => { if (!pending) { pending = true; setTimeout(() => { pending = false; refresh() }, 500) } }
setInterval(refresh, 5000)
</script></body></html>`
}
