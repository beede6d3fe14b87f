/**
 * POST /api/actors/<path>/events on a real hub (child process, LevelDB): reserved XState events are
 * refused, an actor that throws never ends the process, every request gets an answer, and values
 * JSON cannot hold never reach the journal (issue 16, points 2 and 6).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { HubProcess } from '../helpers/hubProcess.ts'
import { tmpDir } from '../helpers/tmp.ts'

const TOKEN = 'events-test-token'
const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }

/** POSTs JSON (the body as given: `1e400` must reach the hub as written); fails if no answer in 10 s. */
async function post(url: string, body: string): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { method: 'POST', headers: auth, body, signal: AbortSignal.timeout(10_000) })
  return { status: res.status, body: await res.json() }
}

async function get(url: string): Promise<any> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) })
  assert.is(res.status, 200, `GET ${url}`)
  return res.json()
}

/** The hub answers and its process runs. */
async function alive(hub: { url: string }, what: string): Promise<void> {
  // XState rethrows from a setTimeout: give it a turn to end the process, then ask
  await new Promise((r) => setTimeout(r, 100))
  const h = await get(`${hub.url}/api/health`)
  assert.ok(h.ok, `the hub is alive after ${what}`)
}

const reserved = suite('hub - events in the xstate.* namespace are refused')

reserved('POST xstate.error.actor.x to the link and to a durable counter: 400, answered, hub alive', async () => {
  const dir = tmpDir()
  const hub = await HubProcess.start(['--data', dir, '--token', TOKEN])
  try {
    const spawned = await post(`${hub.url}/api/actors`, JSON.stringify({ path: 'c1', machine: 'counter' }))
    assert.is(spawned.status, 201)
    for (const target of ['link', 'c1']) {
      for (const type of ['xstate.error.actor.x', 'xstate.done.actor.x', 'xstate.init', 'xstate.after.1.x']) {
        const r = await post(`${hub.url}/api/actors/${target}/events`, JSON.stringify({ type }))
        assert.is(r.status, 400, `${type} to ${target}`)
        assert.is(r.body.error, 'RESERVED_EVENT')
        assert.match(r.body.message, type)
      }
      await alive(hub, `reserved events to ${target}`)
    }
    const links = await get(`${hub.url}/api/actors/link`)
    assert.not.equal(links.status, 'restarting', 'the link actor never saw the event')
    const ok = await post(`${hub.url}/api/actors/c1/events`, JSON.stringify({ type: 'inc' }))
    assert.is(ok.status, 200)
    assert.is((await get(`${hub.url}/api/actors/c1`)).context.count, 1, 'the counter took only its own event')
  } finally {
    await hub.kill()
  }
})

reserved.run()

// ---------------------------------------------------------------------------------------------
const throwing = suite('hub - an actor that throws never ends the process; every request is answered')

function startFaulty(dir: string): Promise<{ child: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/faultyHubChild.ts', dir, TOKEN], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    const rl = createInterface({ input: child.stdout! })
    rl.on('line', (l) => l.startsWith('URL ') && resolve({ child, url: l.slice(4) }))
    child.once('exit', (code) => reject(new Error(`the hub exited (${code}) before listening`)))
  })
}

throwing('a guard, an assign or an action that throws: 409 naming the actor, hub alive, actor back', async () => {
  const dir = tmpDir()
  const { child, url } = await startFaulty(dir)
  let exited = false
  child.once('exit', () => (exited = true))
  try {
    for (const machine of ['faulty', 'faultyPure', 'faultyMemo']) {
      for (const kind of ['durable', 'memory']) {
        const path = `${machine}-${kind}`
        const hit = (where: string) => post(`${url}/api/actors/${path}/events`, JSON.stringify({ type: 'hit', where }))
        // twice without a fault first: the memo records the step it then replays with the fault
        for (let i = 0; i < 2; i++) assert.is((await hit('none')).status, 200, `${path}: a plain hit`)
        for (const where of ['guard', 'assign', 'action']) {
          const r = await hit(where)
          assert.is(r.status, 409, `${path}: the ${where} threw`)
          assert.is(r.body.error, 'EVENT_REJECTED')
          assert.is(r.body.actor, path)
          assert.match(r.body.message, `the ${where} threw`)
          if (kind === 'durable') assert.type(r.body.seq, 'number')
          await alive({ url }, `${path}: the ${where} threw`)
          assert.not.ok(exited, 'the hub process ended')
          // the actor comes back (after its backoff) without the event and takes the next one
          const deadline = Date.now() + 10_000
          while ((await get(`${url}/api/actors/${path}`)).status !== 'active' && Date.now() < deadline)
            await new Promise((r) => setTimeout(r, 20))
          const after = await hit('none')
          assert.is(after.status, 200, `${path}: a hit after the ${where} threw`)
        }
        assert.is((await get(`${url}/api/actors/${path}`)).context.n, 5, `${path}: the faulty events left no trace`)
      }
    }
    const { incidents } = await get(`${url}/api/incidents`)
    assert.ok(
      incidents.some((i: any) => i.path === 'faultyMemo-durable' && /the guard threw/.test(i.message)),
      'an incident names the actor and the fault',
    )
  } finally {
    if (!exited) child.kill('SIGKILL')
  }
})

throwing.run()

// ---------------------------------------------------------------------------------------------
const json = suite('hub - values JSON cannot hold never reach the journal')

json('inc by 1e308 twice: the second is refused naming context.count; the state survives restarts', async () => {
  const dir = tmpDir()
  let hub = await HubProcess.start(['--data', dir, '--token', TOKEN])
  try {
    assert.is((await post(`${hub.url}/api/actors`, JSON.stringify({ path: 'c', machine: 'counter' }))).status, 201)
    const inc = (by: string) => post(`${hub.url}/api/actors/c/events`, `{"type":"inc","by":${by}}`)
    assert.is((await inc('1e308')).status, 200)
    const second = await inc('1e308')
    assert.is(second.status, 409)
    assert.is(second.body.error, 'EVENT_REJECTED')
    assert.is(second.body.actor, 'c')
    assert.match(second.body.message, 'context.count is Infinity')
    // a value JSON.parse made Infinity is refused at the edge, naming where it is
    const huge = await inc('1e400')
    assert.is(huge.status, 400)
    assert.is(huge.body.error, 'UNJOURNALABLE')
    assert.match(huge.body.message, 'event.by')
    const input = await post(`${hub.url}/api/actors`, '{"path":"d","machine":"counter","input":{"xs":[1,-1e999]}}')
    assert.is(input.status, 400)
    assert.match(input.body.message, 'input.xs[1]')
    // the actor restarts without the refused event
    const deadline = Date.now() + 10_000
    while ((await get(`${hub.url}/api/actors/c`)).status !== 'active' && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20))
    assert.is((await inc('2')).status, 200)
    const before = await get(`${hub.url}/api/actors/c`)
    assert.is(before.context.count, 1e308 + 2)
    // kill -9: recovery replays the journal; a clean stop: recovery reads the snapshot
    for (const how of ['SIGKILL', 'SIGTERM'] as const) {
      await hub.kill(how)
      hub = await HubProcess.start(['--data', dir, '--token', TOKEN])
      const after = await get(`${hub.url}/api/actors/c`)
      assert.equal(after.context, before.context, `the context after a ${how} restart`)
      assert.equal(after.value, before.value)
      assert.is(after.seq, before.seq)
    }
    // the exported log replays to the same state, the refused event marked rejected
    const log = await (await fetch(`${hub.url}/api/actors/c/log`)).text()
    const lines = log
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    assert.ok(
      lines.some((l) => l.seq === 2 && l.rejected !== undefined),
      'the refused event is in the log as rejected',
    )
    assert.not.match(log, 'null', 'no value turned into null on the way to the journal')
  } finally {
    await hub.kill()
  }
})

json.run()
