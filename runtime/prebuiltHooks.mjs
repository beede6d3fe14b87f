// Module hooks for the prebuilt runtime (registered by runtime/typescript.ts): a user's module that
// imports Aether (`aether`, index.ts or any source module by path) gets the prebuilt module
// (dist/runtime/index.mjs, mod.<path>.mjs, scripts/build-runtime.mjs), whose chunks the running
// runtime shares, so there is one copy of each class, registry and machine.
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

let root
let dist

export function initialize(data) {
  root = data.root
  dist = data.dist
}

function prebuilt(url) {
  if (!url.startsWith(root) || !url.endsWith('.ts')) return undefined
  const path = url.slice(root.length, -3)
  const name = path === 'index' ? 'index' : `mod.${path.replaceAll('/', '.')}`
  const to = `${dist}${name}.mjs`
  return existsSync(fileURLToPath(to)) ? to : undefined
}

export async function resolve(specifier, context, next) {
  const r = await next(specifier, context)
  const to = prebuilt(r.url)
  return to ? { ...r, url: to, format: 'module' } : r
}
