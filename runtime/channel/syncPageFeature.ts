/**
 * Serves the member's sync bundle and page: `GET /member/sync.js` (runtime/browser/syncMember.ts
 * bundled by esbuild with the machines and protocol it uses, built once on first request) and
 * `GET /member/sync` (a page that runs it).
 */
import type { Hub, HubFeature } from '../Hub.ts'
import { browserBundle } from '../browser/bundle.ts'

const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>Aether member: webspace</title>
<style>body{font:14px system-ui;margin:2em}#paths{color:#555}#text{white-space:pre-wrap;border:1px solid #ccc;padding:1em;margin-top:1em;min-height:3em;word-break:break-all}</style></head>
<body><h1>Aether member</h1><div id="paths">connecting...</div><div id="text"></div>
<script type="module" src="/member/sync.js"></script></body></html>`

/** The bundle's JavaScript (ESM), built once per process. */
export function buildSyncBundle(): Promise<string> {
  return browserBundle('./syncMember.ts')
}

export class SyncPageFeature implements HubFeature {
  readonly name = 'member-sync-page'
  install(hub: Hub): void {
    hub.server.route('GET', '/member/sync.js', async (ctx) => {
      const js = await buildSyncBundle()
      ctx.res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-cache' })
      ctx.res.end(js)
      return undefined
    })
    hub.server.route('GET', '/member/sync', (ctx) => {
      ctx.res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
      ctx.res.end(PAGE)
      return undefined
    })
  }
}
