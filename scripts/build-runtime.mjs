#!/usr/bin/env node
// Builds the prebuilt runtime into dist/runtime (runtime/prebuilt.mjs says when it is used): the
// entries below as ES modules with their shared code split into chunks, our TypeScript inlined and
// packages left to node_modules. Run by `npm install` (prepare) and `npm test`; about a second.
//
// Modules that find files beside themselves (`new URL('../../inspector/dist', import.meta.url)`)
// keep finding them: in each source file `import.meta.url` becomes that file's own URL, computed
// from the chunk's (all outputs are in one folder). AETHER_PREBUILT is defined as true, so code can
// tell that it runs prebuilt (runtime/typescript.ts registers tsx for a user's TypeScript module).
import { build } from 'esbuild'
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { PREBUILT_DIR, STAMP, stampMatches } from '../runtime/prebuilt.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))
const out = `${root}${PREBUILT_DIR}`

/**
 * Each source module also becomes an entry of its own, `mod.<path with dots>.mjs` (its code stays in
 * the shared chunks), so that a user's module that imports one of them by path gets the running
 * runtime's copy (runtime/prebuiltHooks.mjs).
 */
export const MODULE_PREFIX = 'mod.'

function sourceModules(dir, out = []) {
  for (const name of readdirSync(`${root}${dir}`)) {
    const p = `${dir}/${name}`
    if (statSync(`${root}${p}`).isDirectory()) sourceModules(p, out)
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p)
  }
  return out
}

export const ENTRIES = {
  main: 'runtime/main.ts',
  index: 'index.ts',
  sidecar: 'runtime/sidecar/sidecarMain.ts',
  dataPlaneWorker: 'runtime/link/dataPlane.worker.ts',
  slotRuntime: 'runtime/supervisor/slotRuntime.ts',
}

const ownUrl = {
  name: 'own-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, (args) => {
      if (args.path.includes('/node_modules/')) return undefined
      let contents = readFileSync(args.path, 'utf8')
      if (contents.includes('import.meta.url')) {
        const fromOut = JSON.stringify(relative(out, args.path))
        contents = contents.replaceAll('import.meta.url', `new URL(${fromOut}, import.meta.url).href`)
      }
      return { contents, loader: 'ts' }
    })
  },
}

/**
 * Builds dist/runtime unless its stamp shows it was built from the files as they are (and from every
 * source module there is now), so that `npm pack` (prepare) during a test run keeps the build the
 * running suites use. A build is written beside it and swapped in (the old one is gone for a moment
 * only, not for the whole build).
 */
export async function buildRuntime({ quiet = false, force = false } = {}) {
  const t0 = Date.now()
  const modules = ['runtime', 'actors', 'protocol', 'machines'].flatMap((d) => sourceModules(d))
  if (!force && stampMatches()) {
    const { inputs } = JSON.parse(readFileSync(`${out}/${STAMP}`, 'utf8'))
    if (modules.every((m) => m in inputs)) {
      if (!quiet) console.log(`runtime: ${out} is up to date`)
      return false
    }
  }
  const next = `${out}.next`
  rmSync(next, { recursive: true, force: true })
  mkdirSync(next, { recursive: true })
  const r = await build({
    absWorkingDir: root,
    entryPoints: Object.fromEntries(
      [
        ...Object.entries(ENTRIES),
        ...modules.map((p) => [`${MODULE_PREFIX}${p.slice(0, -3).replaceAll('/', '.')}`, p]),
      ].map(([k, v]) => [k, `${root}${v}`]),
    ),
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    outdir: next,
    outExtension: { '.js': '.mjs' },
    define: { AETHER_PREBUILT: 'true' },
    metafile: true,
    logLevel: quiet ? 'error' : 'warning',
    plugins: [ownUrl],
  })
  const inputs = {}
  for (const file of [
    ...Object.keys(r.metafile.inputs),
    'package.json',
    'package-lock.json',
    'scripts/build-runtime.mjs',
  ]) {
    if (file.includes('node_modules/')) continue
    const s = statSync(`${root}${file}`)
    inputs[file] = [s.size, s.mtimeMs]
  }
  writeFileSync(`${next}/${STAMP}`, JSON.stringify({ inputs }))
  rmSync(out, { recursive: true, force: true })
  renameSync(next, out)
  if (!quiet) console.log(`runtime: built ${out} (${Object.keys(inputs).length} files) in ${Date.now() - t0} ms`)
  return true
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1])
  await buildRuntime({ force: process.argv.includes('--force') })
