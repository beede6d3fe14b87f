/**
 * The contract of actors/xstateSeams.ts: every seam run against the installed XState. A failure
 * says "XState seam <name> broke: ...": read that seam's doc comment, then XState's dist/ code it
 * names, before upgrading.
 */
import { readFileSync } from 'node:fs'
import { suite } from 'uvu'
import {
  and,
  assign,
  cancel,
  createActor,
  enqueueActions,
  fromPromise,
  raise,
  sendTo,
  setup,
  spawnChild,
  type AnyStateMachine,
} from 'xstate'
import {
  activeNodes,
  assignedPartial,
  assignmentOf,
  builtinType,
  cancelledSendId,
  createInertScope,
  createLiveActor,
  delayedSelfSend,
  deliverDirect,
  type ExecutableAction,
  HostScope,
  HostSystem,
  hostingOf,
  isGuardCombinator,
  isPersistedActorRef,
  isReservedEventType,
  MACHINE_SNAPSHOT_FIELDS,
  parentOf,
  persistedSnapshot,
  relay,
  type SeamName,
  SEAMS,
  setActiveNodes,
  setDelayService,
  setDoor,
  setScopeSnapshot,
  settleChildSnapshot,
  spawnedChildId,
  XSTATE_CHECKED,
} from '../../actors/xstateSeams.ts'

const t = suite('xstateSeams - the contract with the installed XState')
const tested = new Set<SeamName>()

/**
 * A seam's test: its title names the seam, and any failure inside it (a broken expectation or an
 * exception from XState) is reported as "XState seam <name> broke: ...".
 */
function seam(name: SeamName, what: string, fn: (expect: (ok: unknown, why: string) => void) => unknown): void {
  tested.add(name)
  t(`seam ${name}: ${what}`, async () => {
    const expect = (ok: unknown, why: string) => {
      if (!ok) throw new Error(`XState seam ${name} broke: ${why}`)
    }
    try {
      await fn(expect)
    } catch (err) {
      const msg = (err as Error)?.message ?? String(err)
      if (msg.startsWith(`XState seam ${name} broke`)) throw err
      throw new Error(`XState seam ${name} broke: ${msg}`, { cause: err })
    }
  })
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b)
const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms))

/** Records what a host would be told. */
function recordingHost() {
  return {
    inside: [] as any[],
    threw: [] as unknown[],
    fromInside(e: unknown) {
      this.inside.push(e)
    },
    subscriberThrew(err: unknown) {
      this.threw.push(err)
    },
  }
}

/** Runs `fn`, then waits for XState's `setTimeout` rethrows; returns what reached the process as uncaught. */
async function uncaughtDuring(fn: () => void | Promise<void>): Promise<unknown[]> {
  const caught: unknown[] = []
  const h = (err: unknown) => caught.push(err)
  process.on('uncaughtException', h)
  try {
    await fn()
    await tick(5)
  } finally {
    process.off('uncaughtException', h)
  }
  return caught
}

const childMachine = setup({
  actors: { work: fromPromise(async ({ input }: { input: number }) => input * 2) },
}).createMachine({
  id: 'parent',
  initial: 'busy',
  states: {
    busy: { invoke: { id: 'w', src: 'work', input: 21, onDone: 'done' } },
    done: { type: 'final' },
  },
})

t('seams: checked against the installed XState version', () => {
  const installed = JSON.parse(readFileSync(new URL('../../node_modules/xstate/package.json', import.meta.url), 'utf8'))
  if (installed.version !== XSTATE_CHECKED)
    throw new Error(
      `XState seams were checked against ${XSTATE_CHECKED} but ${installed.version} is installed: re-read every seam in actors/xstateSeams.ts, then set XSTATE_CHECKED`,
    )
  const pinned = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).dependencies.xstate
  if (pinned !== XSTATE_CHECKED)
    throw new Error(`package.json must pin xstate exactly to ${XSTATE_CHECKED}, not "${pinned}"`)
})

seam('parent', "an invoked child's parent is the actor that invoked it; a root has none", async (expect) => {
  let childSelf: any
  const m = setup({
    actors: {
      work: fromPromise(async ({ self }) => {
        childSelf = self
        return 1
      }),
    },
  }).createMachine({ initial: 'a', states: { a: { invoke: { src: 'work' } } } })
  const actor = createActor(m).start()
  await tick()
  expect(childSelf, 'the child never ran')
  expect(parentOf(childSelf) === actor, 'the child does not point at its parent')
  expect(parentOf(actor) === undefined, 'a root actor has a parent')
  const host = recordingHost()
  const live = createLiveActor(childMachine, { id: 'p' }, host)
  expect(hostingOf(live) === host, 'the host of a live actor is not found on it')
  live.start()
  const child = live.getSnapshot().children.w
  expect(hostingOf(child) === host, "the host is not found from the actor's child")
  live.stop()
  actor.stop()
})

seam(
  'send',
  "every event XState routes to a live actor reaches the host's door; deliverDirect applies it",
  async (expect) => {
    const host = recordingHost()
    const live = createLiveActor(childMachine, { id: 'p' }, host)
    live.start()
    await tick()
    expect(
      host.inside.some((e) => e.type === 'xstate.done.actor.w' && e.output === 42),
      `the child's completion did not come to the door: ${JSON.stringify(host.inside)}`,
    )
    expect(live.getSnapshot().value === 'busy', 'an event passed the door without the host')
    live.send({ type: 'nothing' })
    expect(host.inside.at(-1)?.type === 'nothing', '`send` did not come to the door')
    deliverDirect(live, host.inside[0])
    expect(live.getSnapshot().status === 'done', 'deliverDirect did not apply the event')
  },
)

seam('deliver', "XState's sendTo reaches an object's door", (expect) => {
  const got: unknown[] = []
  class Target {
    id = 'target'
    sessionId = 'target'
    send(e: unknown) {
      got.push(e)
    }
  }
  setDoor(Target.prototype, Target.prototype.send)
  const target = new Target()
  const m = createMachine1(sendTo(() => target as any, { type: 'hello' }))
  const actor = createActor(m).start()
  actor.send({ type: 'go' })
  expect(same(got, [{ type: 'hello' }]), `the target got ${JSON.stringify(got)}`)
  actor.stop()
})

/** A machine that runs `action` on `go`. */
function createMachine1(action: any): AnyStateMachine {
  return setup({}).createMachine({ initial: 'a', states: { a: { on: { go: { actions: action } } } } })
}

seam('timers', 'delayed events, cancel and stop go to the delay service', (expect) => {
  const calls: any[] = []
  const m = setup({}).createMachine({
    id: 'm',
    initial: 'a',
    states: {
      a: {
        after: { 100: 'b' },
        on: { later: { actions: raise({ type: 'ping' }, { id: 'p', delay: 50 }) }, undo: { actions: cancel('p') } },
      },
      b: {},
    },
  })
  const actor = createActor(m)
  setDelayService(actor, {
    schedule: (source, target, event, delay, id) => calls.push(['schedule', source, target, event.type, delay, id]),
    cancel: (source, id) => calls.push(['cancel', source, id]),
    cancelAll: (ref) => calls.push(['cancelAll', ref]),
  })
  actor.start()
  actor.send({ type: 'later' })
  actor.send({ type: 'undo' })
  actor.stop()
  const kinds = calls.map((c) => c[0])
  const after = calls.find((c) => c[0] === 'schedule' && c[4] === 100)
  expect(after && after[1] === actor && after[2] === actor, `no delayed transition scheduled: ${kinds}`)
  expect(after[3] === 'xstate.after.100.m.a', `the delayed event is ${after[3]}`)
  const ping = calls.find((c) => c[0] === 'schedule' && c[3] === 'ping')
  expect(ping && ping[4] === 50 && ping[5] === 'p', 'a delayed raise was not scheduled with its id and delay')
  expect(
    calls.some((c) => c[0] === 'cancel' && c[1] === actor && c[2] === 'p'),
    `cancel('p') did not reach the service: ${kinds}`,
  )
  expect(
    calls.some((c) => c[0] === 'cancelAll' && c[1] === actor),
    `stopping the actor did not cancel its delays: ${kinds}`,
  )
})

seam('relay', 'relay delivers an event to the target through its door', (expect) => {
  const host = recordingHost()
  const live = createLiveActor(createMachine1([]), { id: 'x' }, host)
  live.start()
  relay(live.system, undefined, live, { type: 'relayed' })
  expect(host.inside.at(-1)?.type === 'relayed', 'the relayed event did not reach the door')
  const plain = createActor(setup({}).createMachine({ initial: 'a', states: { a: { on: { go: 'b' } }, b: {} } }))
  plain.start()
  relay(plain.system, undefined, plain, { type: 'go' })
  expect(plain.getSnapshot().value === 'b', 'a relayed event did not reach a plain actor')
  live.stop()
  plain.stop()
})

seam('errors', 'without the seam XState rethrows an actor error; with it nothing escapes', async (expect) => {
  const boom = setup({
    actions: {
      explode: () => {
        throw new Error('boom')
      },
    },
  }).createMachine({ initial: 'a', states: { a: { on: { go: { actions: 'explode' } } } } })
  // the behaviour the seam exists for: a subscriber without an error listener makes XState rethrow
  const bare = await uncaughtDuring(() => {
    const a = createActor(boom).start()
    a.subscribe(() => {})
    a.send({ type: 'go' })
  })
  expect(
    bare.length === 1,
    `XState no longer rethrows an actor's error (${bare.length} uncaught): the seam may be obsolete`,
  )
  const host = recordingHost()
  const alone = await uncaughtDuring(() => {
    const a = createLiveActor(boom, { id: 'a' }, host)
    a.start()
    deliverDirect(a, { type: 'go' })
  })
  expect(alone.length === 0, `the error of an actor nobody subscribes to escaped: ${alone.map(String)}`)
  const caught = await uncaughtDuring(() => {
    const a = createLiveActor(boom, { id: 'b' }, host)
    a.start()
    a.subscribe(() => {})
    a.subscribe({ next: () => {} })
    a.send({ type: 'go' })
    deliverDirect(a, { type: 'go' })
  })
  expect(caught.length === 0, `an actor error escaped: ${caught.map(String)}`)
  // after the crash: a subscriber without an error listener, and one that throws
  const after = await uncaughtDuring(() => {
    const a = createLiveActor(boom, { id: 'c' }, host)
    a.start()
    a.subscribe(() => {
      throw new Error('subscriber bug')
    })
    a.send({ type: 'nothing' })
    deliverDirect(a, { type: 'go' })
    a.subscribe(() => {})
  })
  expect(after.length === 0, `an error escaped after the crash: ${after.map(String)}`)
  // the throwing subscriber is reported to the host
  const noisy = createLiveActor(createMachine1(assign({})), { id: 'd' }, host)
  noisy.start()
  const before = host.threw.length
  noisy.subscribe(() => {
    throw new Error('subscriber bug')
  })
  noisy.on('*', () => {
    throw new Error('listener bug')
  })
  const escaped = await uncaughtDuring(() => deliverDirect(noisy, { type: 'go' }))
  expect(escaped.length === 0, `a subscriber's error escaped: ${escaped.map(String)}`)
  expect(host.threw.length === before + 1, `the throwing subscriber was reported ${host.threw.length - before} times`)
  noisy.stop()
})

seam('nodes', "a snapshot's active state nodes are its configuration, in document order", (expect) => {
  const m = setup({}).createMachine({
    id: 'n',
    initial: 'a',
    states: { a: { initial: 'a1', states: { a1: {} } } },
  })
  const s = createActor(m).getSnapshot()
  const ids = activeNodes(s).map((n: any) => n.id)
  expect(same(ids, ['n', 'n.a', 'n.a.a1']), `active nodes are ${JSON.stringify(ids)}`)
  const copy = [...activeNodes(s)]
  setActiveNodes(s, copy)
  expect(activeNodes(s) === copy, 'the node array could not be replaced')
  expect(s.matches({ a: 'a1' }), 'a snapshot with replaced nodes no longer matches its value')
})

seam(
  'scope',
  "XState's pure functions call the host scope: actions in order, deferred work, delays, no children",
  (expect) => {
    const order: string[] = []
    const machine = setup({
      actions: {
        first: () => order.push('first'),
        second: (_: unknown, p: { n: number }) => order.push(`second:${p.n}`),
      },
      actors: { child: fromPromise(async () => 1) },
    }).createMachine({
      id: 's',
      context: { n: 0 },
      initial: 'a',
      states: {
        a: {
          on: {
            go: {
              target: 'b',
              actions: ['first', assign({ n: 1 }), { type: 'second', params: { n: 2 } }],
            },
          },
        },
        b: { entry: raise({ type: 'tick' }, { delay: 10 }), on: { spawn: 'c' } },
        c: { invoke: { src: 'child' } },
      },
    })
    const executed: ExecutableAction[] = []
    const deferred: Array<() => void> = []
    const system = new HostSystem('s')
    const delays: unknown[] = []
    system.scheduler = { schedule: (...a: unknown[]) => delays.push(a), cancel() {}, cancelAll() {} }
    const owner = {
      id: 's',
      sessionId: 'pure:1',
      system,
      execute(a: ExecutableAction) {
        executed.push(a)
        a.exec?.(a.info, a.params)
      },
      deferWork(fn: () => void) {
        deferred.push(fn)
      },
    }
    const scope: any = new HostScope(owner, system)
    const s0 = machine.getInitialSnapshot(scope)
    const s1 = machine.transition(s0, { type: 'go' }, scope)
    expect(s1.value === 'b' && s1.context.n === 1, `the transition gave ${JSON.stringify(s1.value)}`)
    expect(same(order, ['first', 'second:2']), `custom actions ran as ${JSON.stringify(order)}`)
    const types = executed.map((a) => a.type)
    expect(types.includes('first') && types.includes('xstate.raise'), `the executor saw ${types}`)
    const second = executed.find((a) => a.type === 'second')!
    expect(
      same(second.params, { n: 2 }) && second.info.event.type === 'go',
      'an executed action lacks its params or info',
    )
    for (const fn of deferred) fn()
    expect(delays.length === 1 && (delays[0] as any)[3] === 10, 'the delayed raise did not reach the delay service')
    let refused: unknown
    try {
      machine.transition(s1, { type: 'spawn' }, scope)
    } catch (err) {
      refused = err
    }
    expect(
      /hosted pure and cannot spawn children/.test(String(refused)),
      `invoking a child was not refused: ${refused}`,
    )
  },
)

seam('inertScope', 'replay through an inert scope collects actions and executes none', (expect) => {
  let ran = 0
  const machine = setup({
    actions: { effect: () => void ran++ },
    actors: { child: fromPromise(async () => 1) },
  }).createMachine({
    initial: 'a',
    states: {
      a: { on: { go: 'b' } },
      b: { entry: 'effect', invoke: { src: 'child', systemId: 'kid' }, on: { back: 'a' } },
    },
  })
  const seen: ExecutableAction[] = []
  const scope = createInertScope(machine, (a) => seen.push(a))
  let s = machine.getInitialSnapshot(scope)
  setScopeSnapshot(scope, s)
  expect((scope.self as any).getSnapshot() === s, "the scope's self does not report its snapshot")
  for (const type of ['go', 'back', 'go']) {
    s = machine.transition(s, { type }, scope)
    setScopeSnapshot(scope, s)
  }
  expect(ran === 0, `an action ran during replay (${ran} times)`)
  expect(seen.filter((a) => a.type === 'effect').length === 2, 'the effect action was not collected twice')
})

seam('childSnapshot', 'a settled child persists as done and is not restarted', (expect) => {
  const scope = createInertScope(childMachine, () => {})
  let s: any = childMachine.getInitialSnapshot(scope)
  const child = s.children.w
  settleChildSnapshot(child, { output: 42 })
  const persisted: any = childMachine.getPersistedSnapshot(s)
  expect(
    persisted.children.w.snapshot.status === 'done',
    `the child persisted as ${persisted.children.w.snapshot.status}`,
  )
  expect(persisted.children.w.snapshot.output === 42, 'the output was not persisted')
  settleChildSnapshot(child, { error: { message: 'x' } })
  s = childMachine.getPersistedSnapshot(s)
  expect(s.children.w.snapshot.status === 'error', 'an error outcome did not persist')
})

seam('builtinActions', 'built-in actions are recognized and their params read as the host reads them', (expect) => {
  const inc = assign({ n: ({ context }: any) => context.n + 1 })
  expect(builtinType(inc) === 'xstate.assign', `assign's type is ${builtinType(inc)}`)
  expect(builtinType(enqueueActions(() => {})) === 'xstate.enqueueActions', 'enqueueActions is not recognized')
  expect(builtinType(() => {}) === undefined, 'a custom action passes for a built-in')
  expect(typeof assignmentOf(inc) === 'object', 'the assignment of an assign is not readable')
  expect(isGuardCombinator(and(['a', 'b'])), 'a guard combinator is not recognized')
  expect(!isGuardCombinator(() => true), 'a plain guard passes for a combinator')
  const machine = setup({ actors: { child: fromPromise(async () => 1) } }).createMachine({
    id: 'b',
    initial: 'a',
    states: {
      a: {
        on: {
          go: {
            actions: [
              raise({ type: 'r' }, { id: 'r1', delay: 10 }),
              sendTo(({ self }) => self, { type: 's' }, { id: 's1', delay: 20 }),
              cancel('r1'),
              spawnChild('child', { id: 'c1' }),
            ],
          },
        },
      },
    },
  })
  const seen: ExecutableAction[] = []
  const scope = createInertScope(machine, (a) => seen.push(a))
  const s = machine.getInitialSnapshot(scope)
  setScopeSnapshot(scope, s)
  machine.transition(s, { type: 'go' }, scope)
  const delayed = seen.map((a) => delayedSelfSend(a, scope.self)).filter(Boolean)
  expect(
    same(delayed, [
      { id: 'r1', event: { type: 'r' }, delay: 10 },
      { id: 's1', event: { type: 's' }, delay: 20 },
    ]),
    `delayed self-sends read as ${JSON.stringify(delayed)}`,
  )
  expect(seen.map(cancelledSendId).filter(Boolean).join() === 'r1', 'the cancelled send id is not read from cancel()')
  expect(seen.map(spawnedChildId).filter(Boolean).join() === 'c1', 'the spawned child id is not read')
})

seam('assign', "assignedPartial computes what XState's assign merges into the context", (expect) => {
  const fnAssign = ({ context, event }: any, p: { k: number }) => ({ n: context.n + event.by * p.k })
  const objAssign = { n: ({ context }: any, p: { k: number }) => context.n * p.k, tag: 'fixed' }
  for (const [name, assignment] of [
    ['function', fnAssign],
    ['object', objAssign],
  ] as const) {
    const machine = setup({ actions: { set: assign(assignment as any) } }).createMachine({
      context: { n: 3, tag: '' },
      on: { go: { actions: { type: 'set', params: { k: 5 } } } },
    })
    const actor = createActor(machine).start()
    actor.send({ type: 'go', by: 2 })
    const partial = assignedPartial(assignment, { context: { n: 3, tag: '' }, event: { type: 'go', by: 2 } }, { k: 5 })
    const merged = { n: 3, tag: '', ...partial }
    expect(same(merged, actor.getSnapshot().context), `${name} assignment: ${JSON.stringify(merged)}`)
    actor.stop()
  }
})

seam(
  'actorRefInContext',
  'an actor ref kept in context is recognized and persisted by XState as a reference',
  (expect) => {
    const machine = setup({ actors: { child: fromPromise(() => new Promise(() => {})) } }).createMachine({
      context: ({ spawn }) => ({ ref: spawn('child', { id: 'kid' }) as any }),
    })
    const actor = createActor(machine).start()
    const ref = actor.getSnapshot().context.ref
    expect(isPersistedActorRef(ref), 'a spawned ref is not recognized')
    expect(!isPersistedActorRef({ id: 'x' }), 'plain data passes for a ref')
    const persisted: any = actor.getPersistedSnapshot()
    expect(
      same(persisted.context.ref, { xstate$$type: 1, id: 'kid' }),
      `XState persisted the ref as ${JSON.stringify(persisted.context.ref)}`,
    )
    actor.stop()
  },
)

seam('reservedEvents', "XState's own events are all in the xstate.* namespace", async (expect) => {
  const types = new Set<string>()
  const machine = setup({ actors: { work: fromPromise(async () => 1) } }).createMachine({
    initial: 'a',
    states: {
      a: { invoke: { id: 'w', src: 'work', onDone: 'b' } },
      b: { after: { 1: 'c' } },
      c: { initial: 'c1', states: { c1: { type: 'final' } }, onDone: 'd' },
      d: { type: 'final' },
    },
  })
  const actor = createActor(machine, {
    inspect: (e: any) => {
      if (e.type === '@xstate.event' || e.type === '@xstate.microstep') types.add(e.event.type)
    },
  }).start()
  await tick(20)
  expect(actor.getSnapshot().status === 'done', 'the probe machine did not finish')
  for (const type of ['xstate.init', 'xstate.done.actor.w', 'xstate.done.state']) {
    expect(
      [...types].some((x) => x.startsWith(type)),
      `XState sent no ${type}* event: ${[...types]}`,
    )
  }
  for (const type of types) expect(isReservedEventType(type), `XState's event "${type}" is outside xstate.*`)
  expect(!isReservedEventType('inc') && !isReservedEventType('xstatefoo'), 'a user event is taken for a reserved one')
})

seam('persist', "persistedSnapshot is what XState's getPersistedSnapshot returns, key order included", (expect) => {
  const child = setup({}).createMachine({ initial: 'x', states: { x: {} } })
  const machine = setup({ actors: { child } }).createMachine({
    id: 'p',
    context: ({ input }: any) => ({ n: 1, items: [1, { a: 'b' }], input, ref: null as any }),
    initial: 'a',
    states: {
      a: { on: { go: 'b', spawn: { actions: assign({ ref: ({ spawn }) => spawn('child', { id: 'c1' }) }) } } },
      b: {
        initial: 'b1',
        states: { b1: { on: { next: 'b2' } }, b2: {}, hist: { type: 'history', history: 'deep' } },
        on: { out: 'a', back: '.hist', end: 'z' },
      },
      z: { type: 'final', output: ({ context }: any) => context.n },
    },
  })
  const actor = createActor(machine, { input: { k: 'v' } }).start()
  const own = Object.keys(actor.getSnapshot())
  expect(
    JSON.stringify(own) === JSON.stringify(MACHINE_SNAPSHOT_FIELDS),
    `a machine snapshot's own fields changed: ${own}`,
  )
  const same = (label: string) => {
    const s = actor.getSnapshot()
    const ours = JSON.stringify(persistedSnapshot(machine, s))
    const theirs = JSON.stringify(machine.getPersistedSnapshot(s))
    expect(ours === theirs, `${label}: ${ours} !== ${theirs}`)
  }
  same('initial')
  for (const type of ['go', 'next', 'out', 'back', 'end']) {
    actor.send({ type })
    same(`after ${type}`)
  }
  const withChild = createActor(machine, { input: 1 }).start()
  withChild.send({ type: 'spawn' })
  const s = withChild.getSnapshot()
  expect(
    JSON.stringify(persistedSnapshot(machine, s)) === JSON.stringify(machine.getPersistedSnapshot(s)),
    'a snapshot with a child and a ref in context differs',
  )
})

t('every seam has a contract test', () => {
  const missing = SEAMS.filter((s) => !tested.has(s))
  if (missing.length) throw new Error(`seams without a contract test: ${missing.join(', ')}`)
})

t.run()
