/**
 * Builds slot images (hub versions) for supervisor tests: a small folder with an entry script that
 * runs this repo's hub runtime (runtime/supervisor/slotRuntime.ts) and a sealed manifest. No copy
 * of node_modules: the entry imports the repo by absolute URL, which keeps the tests fast.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { PREBUILT_DIR, prebuiltIsFresh } from '../../runtime/prebuilt.mjs'
import { sealSlot, type SlotManifest } from '../../runtime/supervisor/slotImage.ts'

// The prebuilt runtime when it is fresh (runtime/prebuilt.mjs): each slot starts without compiling the
// hub. Its entry then imports only JavaScript, so the supervisors of this test (in this process or
// started by it) run slots without the tsx loader (the slot-loader setting), which would otherwise
// route every module the runtime loads through its hooks.
const prebuilt = prebuiltIsFresh()
const runtimeUrl = prebuilt
  ? new URL(`../../${PREBUILT_DIR}/slotRuntime.mjs`, import.meta.url).href
  : pathToFileURL(new URL('../../runtime/supervisor/slotRuntime.ts', import.meta.url).pathname).href
if (prebuilt) process.env.AETHER_SLOT_LOADER ??= 'none'

export type Behaviour = 'good' | 'crash-at-start' | 'never-good' | 'slow-ready' | 'throws-once'

// 'throws-once': the first runtime that serves throws an uncaught exception from a timer 300 ms
// after it is up (a marker beside the hub's data says it did); the ones after it serve normally.
const throwsOnce = `const marker = process.env.AETHER_DATA + '.threw'
if (process.env.AETHER_MODE === 'serve' && !existsSync(marker)) {
  writeFileSync(marker, String(process.pid))
  setTimeout(() => {
    throw new Error('fixture: an uncaught exception in the runtime')
  }, 300)
}
`

export function buildVersion(dir: string, version: string, behaviour: Behaviour = 'good'): SlotManifest {
  mkdirSync(dir, { recursive: true })
  const body =
    behaviour === 'crash-at-start'
      ? `console.error('broken build ${version}: cannot start')\nprocess.exit(3)\n`
      : `import { existsSync, writeFileSync } from 'node:fs'\nimport { runSlot } from '${runtimeUrl}'\nawait runSlot(${JSON.stringify(behaviour === 'never-good' ? { markGood: false } : behaviour === 'slow-ready' ? { readyDelayMs: 1500 } : {})})\n${behaviour === 'throws-once' ? throwsOnce : ''}`
  writeFileSync(join(dir, 'entry.mjs'), `// Aether hub slot image ${version} (test fixture, ${behaviour})\n${body}`)
  writeFileSync(join(dir, 'VERSION'), version + '\n')
  return sealSlot(dir, { version, buildId: `build-${version}-${behaviour}`, entry: 'entry.mjs' })
}
