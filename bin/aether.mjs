#!/usr/bin/env node
// The `aether` command. It runs the prebuilt runtime (dist/runtime) when it is fresh, otherwise the
// TypeScript through tsx's loader (runtime/prebuilt.mjs), so an edit needs no build step, and user
// machine modules (`aether replay --machine ./m.ts`) load as they are either way.
import { runEntry } from '../runtime/prebuilt.mjs'

await runEntry('main', new URL('../runtime/main.ts', import.meta.url).href)
