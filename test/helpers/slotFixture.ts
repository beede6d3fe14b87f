/**
 * Builds slot images (hub versions) for supervisor tests: a small folder with an entry script that
 * runs this repo's hub runtime (runtime/supervisor/slotRuntime.ts) and a sealed manifest. No copy
 * of node_modules: the entry imports the repo by absolute URL, which keeps the tests fast.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { sealSlot, type SlotManifest } from '../../runtime/supervisor/slotImage.ts'

const runtimeUrl = pathToFileURL(new URL('../../runtime/supervisor/slotRuntime.ts', import.meta.url).pathname).href

export type Behaviour = 'good' | 'crash-at-start' | 'never-good' | 'slow-ready'

export function buildVersion(dir: string, version: string, behaviour: Behaviour = 'good'): SlotManifest {
  mkdirSync(dir, { recursive: true })
  const body =
    behaviour === 'crash-at-start'
      ? `console.error('broken build ${version}: cannot start')\nprocess.exit(3)\n`
      : `import { runSlot } from '${runtimeUrl}'\nawait runSlot(${JSON.stringify(behaviour === 'never-good' ? { markGood: false } : behaviour === 'slow-ready' ? { readyDelayMs: 1500 } : {})})\n`
  writeFileSync(join(dir, 'entry.mjs'), `// Aether hub slot image ${version} (test fixture, ${behaviour})\n${body}`)
  writeFileSync(join(dir, 'VERSION'), version + '\n')
  return sealSlot(dir, { version, buildId: `build-${version}-${behaviour}`, entry: 'entry.mjs' })
}
