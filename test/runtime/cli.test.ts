// The CLI's table of commands (runtime/cli.ts) loads each command only when it runs; its names and
// summaries are what `aether --help` prints without loading them, so they must be the commands' own.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { commands } from '../../runtime/cli.ts'

const table = suite('cli - the lazy table of commands')

table('every entry loads its command, with the same name and summary', async () => {
  assert.ok(commands.length >= 16)
  assert.is(new Set(commands.map((c) => c.name)).size, commands.length, 'names are unique')
  for (const entry of commands) {
    const cmd = await entry.load()
    assert.is(cmd.name, entry.name)
    assert.is(cmd.summary, entry.summary, entry.name)
    assert.type(cmd.run, 'function')
  }
})

table('importing the table loads no command and starts nothing', async () => {
  // importing cli.ts ran no command: the test process is still here, and no exit code was set
  assert.is(process.exitCode, undefined)
})

table.run()
