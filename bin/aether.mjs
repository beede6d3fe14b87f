#!/usr/bin/env node
// The `aether` command. TypeScript runs through tsx's loader, so there is no build step to forget
// and user machine modules (`aether replay --machine ./m.ts`) load as they are.
import { register } from 'tsx/esm/api'
register()
await import('../runtime/main.ts')
