import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { supervisorReport, treeRows, type SupervisorStatusLike } from '../../inspector/src/reliabilityModel.ts'
import { branch, type ReadinessNode } from '../../protocol/reliability.ts'

const rel = suite('inspector reliability model')

rel('inspector reliability - tree rows carry the actor behind a node: declared, else named like it', () => {
  const tree: ReadinessNode = {
    ...branch('hub-1', 'hub hub-1', [
      { id: 'actors', label: 'actors', status: 'ready' },
      {
        id: 'root-link',
        label: 'root link',
        status: 'degraded',
        actor: 'link',
        children: [
          { id: 'stream:lifecycle', label: 'class A lifecycle', status: 'degraded', actor: 'link/stream-lifecycle' },
        ],
      },
      { id: 'gone', label: 'an actor the page does not show', status: 'ready', actor: 'nowhere' },
    ]),
    actor: 'reliability',
  }
  const rows = treeRows(tree, new Set(['link', 'link/stream-lifecycle', 'reliability', 'actors']))
  assert.equal(
    rows.map((r) => [r.node.id, r.depth, r.actor]),
    [
      ['hub-1', 0, 'reliability'],
      ['actors', 1, 'actors'],
      ['root-link', 1, 'link'],
      ['stream:lifecycle', 2, 'link/stream-lifecycle'],
      ['gone', 1, undefined],
    ],
  )
  assert.is(tree.status, 'degraded', 'the worst child')
})

const status = (over: Partial<SupervisorStatusLike> = {}): SupervisorStatusLike => ({
  phase: 'serving',
  transition: { state: 'idle', attempt: { outcome: 'committed' } },
  active: { runtimeInstanceId: 'rt-1', slot: 'A', version: '1.0.0' },
  runtime: { state: 'up', lastError: null },
  proxy: { down: null, paused: false },
  incidents: [],
  operatorActions: { cancel: false, defer: false, promote: false },
  supervisor: { version: '0.1.0' },
  ...over,
})

rel(
  'inspector reliability - the supervisor as a report: serving is ready, a switch degraded, a failed runtime down',
  () => {
    const ok = supervisorReport(status(), 5)
    assert.is(ok.status, 'ready')
    assert.equal(
      ok.tree.children!.map((c) => [c.id, c.status]),
      [
        ['runtime', 'ready'],
        ['update', 'ready'],
        ['proxy', 'ready'],
      ],
    )
    assert.is(ok.tree.children![1].actor, 'supervisor.update')
    const rows = treeRows(ok.tree, new Set(['@supervisor/supervisor.update']), '@supervisor/')
    assert.is(rows.find((r) => r.node.id === 'update')!.actor, '@supervisor/supervisor.update')
    assert.equal(
      ok.matrix.map((m) => [m.capability, m.allowed]),
      [
        ['requests to the hub', true],
        ['new update', true],
        ['cancel the update', false],
        ['defer the update', false],
        ['promote the update', false],
      ],
    )
    const switching = supervisorReport(
      status({
        phase: 'applying',
        transition: { state: 'countdown' },
        proxy: { down: null, paused: true },
        operatorActions: { cancel: true, defer: true, promote: true },
      }),
    )
    assert.is(switching.status, 'degraded')
    assert.match(switching.tree.reason!, /update transition: applying: countdown/)
    assert.ok(switching.matrix.find((m) => m.capability === 'promote the update')!.allowed)
    const down = supervisorReport(
      status({
        phase: 'failed',
        active: null,
        runtime: { state: 'failed', lastError: 'exited 6 times' },
        proxy: { down: 'the active runtime keeps exiting', paused: false },
        incidents: [{ at: 1, kind: 'exit', message: 'code 70', slot: 'A', runtimeInstanceId: 'rt-1' }],
      }),
    )
    assert.is(down.status, 'down')
    assert.equal(down.matrix[0], {
      capability: 'requests to the hub',
      allowed: false,
      why: 'the active runtime keeps exiting',
    })
    assert.equal(down.incidents, [
      { at: 1, class: 'artifact', subject: 'runtime rt-1 (slot A)', message: 'exit: code 70' },
    ])
  },
)

rel.run()
