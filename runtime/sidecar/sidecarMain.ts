/** `aether sidecar` alone (runtime/sidecar/main.mjs runs it), without the rest of the command line. */
import { runCommand } from '../args.ts'
import { sidecarCommand } from '../commands/sidecar.ts'

process.exitCode = await runCommand(sidecarCommand, process.argv.slice(2))
