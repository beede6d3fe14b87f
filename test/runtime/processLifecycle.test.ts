import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { FATAL_EXIT_CODE, isFatal, ProcessGuard } from '../../runtime/processLifecycle.ts'

const fixture = fileURLToPath(new URL('../fixtures/guardChild.ts', import.meta.url))
const run = (how: string) =>
  spawnSync(process.execPath, ['--import', 'tsx', fixture, how], { encoding: 'utf8', timeout: 20_000 })

const decide = suite('process guard - what ends the process')

decide('an uncaught exception is fatal; one of a single connection and any unhandled rejection are contained', () => {
  assert.is(isFatal('uncaughtException', new TypeError('x')), true)
  assert.is(isFatal('uncaughtException', 'a string'), true)
  for (const code of ['ECONNRESET', 'EPIPE', 'ERR_STREAM_DESTROYED', 'WS_ERR_INVALID_OPCODE'])
    assert.is(isFatal('uncaughtException', Object.assign(new Error(code), { code })), false, code)
  assert.is(isFatal('unhandledRejection', new TypeError('x')), false)
})

decide('caught(): records the incident, tells the log its stack, and a fatal one closes then exits 70', async () => {
  const lines: string[] = []
  const exits: number[] = []
  const recorded: any[] = []
  let closed = 0
  const g = new ProcessGuard({ name: 't', log: (l) => lines.push(l), exit: (c) => void exits.push(c) })
  g.attach({ record: (i) => recorded.push(i), close: async () => void closed++ })
  g.caught('unhandledRejection', new Error('lost promise'))
  assert.is(exits.length, 0)
  assert.is(recorded[0].fatal, false)
  assert.match(lines[0], /unhandled rejection \(contained; the process goes on\)\nError: lost promise\n\s+at /)
  g.caught('uncaughtException', new RangeError('bad state'))
  await new Promise((r) => setTimeout(r, 20))
  assert.equal(exits, [FATAL_EXIT_CODE])
  assert.is(closed, 1)
  assert.is(recorded[1].fatal, true)
  assert.is(recorded[1].kind, 'uncaughtException')
  assert.match(recorded[1].stack, /RangeError: bad state\n\s+at /)
  assert.is(g.incidents.length, 2)
})

const proc = suite('process guard - in a real process')

proc('an uncaught exception: stack in the log, close runs, exit code 70', () => {
  const r = run('throw')
  assert.is(r.status, FATAL_EXIT_CODE, r.stderr)
  assert.match(
    r.stderr,
    /aether fixture: fatal uncaught exception; closing and exiting with code 70\nTypeError: boom from a timer\n\s+at /,
  )
  assert.match(r.stdout, /closed/)
  assert.not.match(r.stdout, /alive/)
})

proc('an unhandled rejection is contained: logged with its stack, recorded, the process goes on', () => {
  const r = run('reject')
  assert.is(r.status, 0, r.stderr)
  assert.match(r.stderr, /unhandled rejection \(contained; the process goes on\)\nError: nobody awaited me\n\s+at /)
  assert.match(r.stdout, /alive; recorded 1: unhandledRejection: Error: nobody awaited me/)
})

proc("an uncaught ECONNRESET (one connection's error) is contained", () => {
  const r = run('reset')
  assert.is(r.status, 0, r.stderr)
  assert.match(r.stdout, /alive; recorded 1/)
})

decide.run()
proc.run()
