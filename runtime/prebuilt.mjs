// The prebuilt runtime (dist/runtime, written by scripts/build-runtime.mjs): the hub's TypeScript
// bundled into a few ES modules, so a process starts without compiling and loading hundreds of
// modules through tsx's loader (about half of a hub's start-up CPU). The entry scripts
// (bin/aether.mjs, runtime/sidecar/main.mjs, runtime/link/dataPlane.worker.mjs) use it when it is
// present and fresh and load the TypeScript through tsx otherwise, so an edit to the source takes
// effect at once. AETHER_PREBUILT=0 always takes the TypeScript.
import { readFileSync, statSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))

/** The build's folder, relative to the repository. */
export const PREBUILT_DIR = 'dist/runtime'

/** The stamp's file name in PREBUILT_DIR: every source file of the build with its size and mtime. */
export const STAMP = 'stamp.json'

/** True when the stamp in dist/runtime lists every file the build read, unchanged (size, mtime). */
export function stampMatches() {
  let stamp
  try {
    stamp = JSON.parse(readFileSync(`${root}${PREBUILT_DIR}/${STAMP}`, 'utf8'))
  } catch {
    return false
  }
  for (const [file, [size, mtimeMs]] of Object.entries(stamp.inputs)) {
    let s
    try {
      s = statSync(`${root}${file}`)
    } catch {
      return false
    }
    if (s.size !== size || s.mtimeMs !== mtimeMs) return false
  }
  return true
}

let fresh
/** True when dist/runtime exists and none of the files it was built from changed since (checked once per process). */
export function prebuiltIsFresh() {
  fresh ??= process.env.AETHER_PREBUILT !== '0' && stampMatches()
  return fresh
}

/**
 * Runs entry `name` of the build (main, sidecar, dataPlaneWorker) when it is fresh, otherwise
 * registers tsx and imports `source` (a URL of the TypeScript module that is the same entry).
 */
export async function runEntry(name, source) {
  if (prebuiltIsFresh()) return import(new URL(`../${PREBUILT_DIR}/${name}.mjs`, import.meta.url).href)
  const { register } = await import('tsx/esm/api')
  register()
  return import(source)
}
