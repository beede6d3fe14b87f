#!/usr/bin/env node
// Builds the inspector UI into inspector/dist (index.html, app.js, app.css): one esbuild bundle,
// no CDN, so the hub serves it offline. Run by `npm install` (prepare), `npm start` (prestart)
// and `npm run build:inspector`; the e2e tests and the benchmark call `buildInspector()`.
import { build } from 'esbuild'
import { copyFileSync, mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const here = fileURLToPath(new URL('.', import.meta.url))

export async function buildInspector({ quiet = false } = {}) {
  const out = `${here}dist`
  mkdirSync(out, { recursive: true })
  const t0 = Date.now()
  await build({
    entryPoints: [`${here}src/main.ts`],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2022',
    minify: !process.env.AETHER_INSPECTOR_DEBUG,
    sourcemap: 'linked',
    outfile: `${out}/app.js`,
    logLevel: quiet ? 'error' : 'warning',
    // elkjs's bundle probes for Node's worker_threads; the browser build never takes that path
    external: ['web-worker'],
  })
  copyFileSync(`${here}index.html`, `${out}/index.html`)
  copyFileSync(`${here}style.css`, `${out}/app.css`)
  if (!quiet) console.log(`inspector: built ${out} in ${Date.now() - t0} ms`)
  return out
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  buildInspector().catch((err) => {
    console.error(err)
    process.exit(1)
  })
}
