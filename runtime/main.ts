/**
 * The `aether` program: runs the command line with the process's arguments. bin/aether.mjs loads
 * it through tsx; tests that need a CLI without tsx bundle this file (test/helpers/crash.ts).
 */
import { runCli } from './cli.ts'

runCli()
