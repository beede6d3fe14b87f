#!/usr/bin/env node
// `aether sidecar` without the rest of the CLI: the supervised sidecar starts in a fraction of the
// time `bin/aether.mjs` takes (it loads only this command), so a restart after a crash is short.
import { register } from 'tsx/esm/api'
register()
const { runCommand } = await import('../args.ts')
const { sidecarCommand } = await import('../commands/sidecar.ts')
process.exitCode = await runCommand(sidecarCommand, process.argv.slice(2))
