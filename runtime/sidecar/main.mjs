#!/usr/bin/env node
// `aether sidecar` without the rest of the CLI: the supervised sidecar starts in a fraction of the
// time `bin/aether.mjs` takes (it loads only this command), so a restart after a crash is short.
import { runEntry } from '../prebuilt.mjs'

await runEntry('sidecar', new URL('./sidecarMain.ts', import.meta.url).href)
