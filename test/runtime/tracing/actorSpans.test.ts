/**
 * Spans from the feed of journaled events (runtime/tracing/actorSpans.ts): a rule names the
 * spans open for each snapshot; keys that change end one span and start the next; an actor that
 * stops ends its spans; nothing reaches the journal.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { assign, setup } from 'xstate'
import { exportLog } from '../../../actors/index.ts'
import { ActorSpans, type ActorSpanRule, peerRule, stateName, updateRule } from '../../../runtime/tracing/actorSpans.ts'
import { openSystem } from '../../helpers/system.ts'
import { tmpDir } from '../../helpers/tmp.ts'
import { memoryTracing } from '../../helpers/tracing.ts'

const toy = setup({
  types: { context: {} as { run: number }, events: {} as { type: 'go' } | { type: 'next' } | { type: 'end' } },
}).createMachine({
  id: 'toy',
  context: { run: 0 },
  initial: 'idle',
  states: {
    idle: { on: { go: { target: 'one', actions: assign({ run: ({ context }) => context.run + 1 }) } } },
    one: { on: { next: 'two' } },
    two: { on: { end: 'idle' } },
  },
})

/** A `run` span per run, a child per state of it (like `updateRule`). */
const toyRule: ActorSpanRule = {
  machine: 'toy',
  slots(value, ctx) {
    const s = stateName(value)
    if (s === 'idle') return { run: null, state: null }
    return {
      run: { key: String(ctx.run), name: 'run' },
      state: { key: `${ctx.run}:${s}`, name: `run ${s}`, parent: 'run' },
    }
  },
}

const t = suite('actorSpans - spans from the feed of journaled events')

t('a span per run, a child per state; a new run is a new trace; the journal holds no trace id', async () => {
  const mem = memoryTracing('test')
  const { system, store } = await openSystem(tmpDir(), { machines: { toy } })
  const spans = new ActorSpans(mem.tracing, system, [toyRule])
  await system.spawn('toy-1', 'toy', { durable: true })
  for (const type of ['go', 'next', 'end', 'go', 'next'] as const) system.send('toy-1', { type })
  await system.flush()
  const done = mem.spans()
  assert.equal(
    done.map((s) => s.name),
    ['run one', 'run two', 'run', 'run one'],
    'ended in order; the second run is still in "two"',
  )
  const [one, two, run, one2] = done
  assert.is(one.parentSpanId, run.spanId)
  assert.is(two.parentSpanId, run.spanId)
  assert.is(run.parentSpanId, '')
  assert.is(one.attributes['aether.actor'], 'toy-1')
  assert.is.not(one2.traceId, run.traceId, 'each run its own trace')
  assert.equal(
    mem.tracing.index.of('toy-1').map((r) => r.name),
    ['run', 'run'],
  )
  let log = ''
  for await (const chunk of exportLog(store, 'toy-1', { snapshots: 'all', machine: toy })) log += chunk
  for (const s of done) assert.not.ok(log.includes(s.traceId) || log.includes(s.spanId))
  await system.stop('toy-1')
  assert.equal(
    mem
      .spans()
      .slice(4)
      .map((s) => s.name),
    ['run two', 'run'],
    'a stopped actor ends its spans',
  )
  spans.close()
  await system.close()
})

t('updateRule: an update span per attempt with a child per phase; none when idle', () => {
  const attempt = { id: 3, kind: 'install', from: 'A', target: 'B' }
  assert.equal(updateRule.slots('idle', { attempt: null }), { update: null, phase: null })
  assert.equal(updateRule.slots('committed', { attempt }), { update: null, phase: null })
  const s = updateRule.slots('cutover', { attempt })
  assert.is(s.update?.key, '3')
  assert.is(s.phase?.name, 'update cutover')
  assert.is(s.phase?.parent, 'update')
  assert.is.not(s.phase?.key, updateRule.slots('verifying', { attempt }).phase?.key)
})

t('peerRule: a span per negotiation and per rung', () => {
  const ctx = { peerSessionId: 'm.s0', neg: { id: 'n1', origin: 'local', purpose: 'initial' }, rung: null }
  const a = peerRule.slots('open', ctx)
  assert.is(a.negotiation?.name, 'negotiation initial')
  assert.is(a.rung, null)
  const b = peerRule.slots('recovering', { ...ctx, neg: null, rung: 'ice-restart', probe: { rungStart: 5 } })
  assert.is(b.negotiation, null)
  assert.is(b.rung?.name, 'recovery ice-restart')
})

t.run()
