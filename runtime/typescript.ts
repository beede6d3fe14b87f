/**
 * A user's module (`aether replay --machine ./m.ts`, an app, a skill's entry) may be TypeScript and
 * may import Aether. From source the runtime itself runs through tsx, which loads both. The prebuilt
 * runtime (runtime/prebuilt.mjs) registers tsx the first time it imports a user's module, and hooks
 * that give the module the prebuilt Aether (runtime/prebuiltHooks.mjs) rather than a second copy.
 */
import { register } from 'node:module'

declare const AETHER_PREBUILT: boolean | undefined

let registered: Promise<void> | undefined

/** Imports a user's module (its URL), TypeScript or JavaScript, whether the runtime runs prebuilt or not. */
export async function importModule(url: string): Promise<Record<string, unknown>> {
  if (typeof AETHER_PREBUILT !== 'undefined') {
    registered ??= import('tsx/esm/api').then((tsx) => {
      tsx.register()
      register('./prebuiltHooks.mjs', new URL('../runtime/', import.meta.url), {
        data: { root: new URL('../', import.meta.url).href, dist: new URL('../dist/runtime/', import.meta.url).href },
      })
    })
    await registered
  }
  return import(url)
}
