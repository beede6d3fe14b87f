/** A tiny element builder: `h('div', {class: 'x', onclick}, 'text', child)`. */
type Child = Node | string | number | null | undefined | false
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Record<string, unknown> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag)
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue
    if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v as EventListener)
    else if (k === 'class') e.className = String(v)
    else if (k === 'text') e.textContent = String(v)
    else if (k in e && typeof v !== 'string') (e as any)[k] = v
    else e.setAttribute(k, v === true ? '' : String(v))
  }
  for (const c of children)
    if (c !== null && c !== undefined && c !== false) e.append(c instanceof Node ? c : String(c))
  return e
}

export const $ = <T extends Element = HTMLElement>(sel: string, root: ParentNode = document): T =>
  root.querySelector(sel) as T

/** `12:03:04.123` in local time. */
export function clock(ms: number): string {
  const d = new Date(ms)
  const p = (n: number, w = 2) => String(n).padStart(w, '0')
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`
}

/** JSON for display, shortened past `max` characters. */
export function show(v: unknown, max = 120): string {
  const s = v === undefined ? '(absent)' : JSON.stringify(v)
  return s.length > max ? s.slice(0, max - 1) + '…' : s
}
