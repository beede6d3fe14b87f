/**
 * The esbuild adapter (the one runtime file that imports `esbuild`): bundles a browser entry of
 * runtime/browser/ with the machines and protocol it uses, as one ESM script, built once per
 * process and entry on first use. (inspector/build.mjs builds the inspector's static assets at
 * install time, outside the runtime.)
 */
import { fileURLToPath } from 'node:url'

const built = new Map<string, Promise<string>>()

/** The JavaScript of `runtime/browser/<entry>` bundled for the browser (inline source map). */
export function browserBundle(entry: string): Promise<string> {
  let js = built.get(entry)
  if (!js) {
    js = import('esbuild').then(async (esbuild) => {
      const r = await esbuild.build({
        entryPoints: [fileURLToPath(new URL(entry, import.meta.url))],
        bundle: true,
        format: 'esm',
        platform: 'browser',
        target: 'es2022',
        write: false,
        minify: false,
        sourcemap: 'inline',
        logLevel: 'silent',
      })
      return r.outputFiles[0].text
    })
    built.set(entry, js)
  }
  return js
}
