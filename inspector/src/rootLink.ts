/**
 * The hub's inspector links to its root's (issue 19.3): when the hub knows the root's HTTP URL
 * (`AETHER_ROOT_URL`), `GET /api/reliability` says so under `link.rootUrl`, and the header shows
 * "root ↗" opening the root's inspector (its actors and the `inboxes` actor). A root shows nothing.
 */
import { $, h } from './dom.ts'

export async function installRootLink(): Promise<void> {
  let r: { link?: { rootUrl?: string | null; rootId?: string | null } }
  try {
    const res = await fetch('/api/reliability')
    if (!res.ok) return
    r = await res.json()
  } catch {
    return
  }
  const url = r.link?.rootUrl
  if (!url || !/^https?:\/\//.test(url)) return
  $('#access')?.before(
    h(
      'a',
      {
        class: 'btn',
        href: `${url.replace(/\/$/, '')}/inspector`,
        target: '_blank',
        rel: 'noopener',
        'data-testid': 'root-link',
        title: `The inspector of this hub's root${r.link?.rootId ? ` (${r.link.rootId})` : ''}: its inboxes per hub`,
      },
      `root${r.link?.rootId ? ` ${r.link.rootId}` : ''} ↗`,
    ),
  )
}
