import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { counter } from '../../machines/counter.ts'
import { trafficLight } from '../../machines/trafficLight.ts'
import { acceptedEvents, activeIds, delayOwner, readChart, takenTransitions } from '../../inspector/src/definition.ts'
import { layoutChart } from '../../inspector/src/layout.ts'

// the page gets definitions as JSON over the socket
const wire = (m: { toJSON(): unknown }) => JSON.parse(JSON.stringify(m.toJSON()))

const read = suite('definition - reading machine.toJSON()')

read('definition - nested and parallel states, transitions labelled with event and guard', () => {
  const c = readChart(wire(trafficLight))
  assert.is(c.root, 'trafficLight')
  assert.is(c.nodes.get('trafficLight')!.type, 'parallel')
  assert.equal(c.nodes.get('trafficLight.light')!.children.length, 5)
  assert.is(c.nodes.get('trafficLight.light')!.initial, 'trafficLight.light.green')
  const labels = c.edges.map((e) => e.label)
  assert.ok(labels.includes('after green'))
  assert.ok(labels.includes('after red [limitReached]'))
  assert.ok(labels.includes('after 5000ms'))
  assert.ok(labels.includes('emergency'))
  const counterChart = readChart(wire(counter))
  assert.equal(
    counterChart.nodes.get('counter.open')!.internal.map((t) => t.label),
    ['inc', 'reset'],
    'targetless transitions are listed in their state',
  )
})

read('definition - active states, accepted events, delay owners, the transition taken', () => {
  const c = readChart(wire(trafficLight))
  const active = activeIds(c, { light: 'green', pedestrian: 'idle' })
  assert.equal([...active].sort(), [
    'trafficLight',
    'trafficLight.light',
    'trafficLight.light.green',
    'trafficLight.pedestrian',
    'trafficLight.pedestrian.idle',
  ])
  assert.equal(
    acceptedEvents(c, active).map((e) => e.type),
    ['emergency', 'pedestrian.request', 'tick'],
    'xstate.after.* is not an operator event',
  )
  assert.is(delayOwner(c, 'xstate.after.green.trafficLight.light.green'), 'trafficLight.light.green')
  assert.is(delayOwner(c, 'xstate.after.5000.trafficLight.pedestrian.waiting'), 'trafficLight.pedestrian.waiting')
  assert.is(delayOwner(c, 'tick'), undefined)
  const after = activeIds(c, { light: 'yellow', pedestrian: 'idle' })
  const taken = takenTransitions(c, 'xstate.after.green.trafficLight.light.green', active, after)
  assert.equal(
    taken.map((t) => t.source),
    ['trafficLight.light.green'],
  )
  assert.is(
    takenTransitions(c, 'tick', active, activeIds(c, { light: 'green', pedestrian: 'idle' })).length,
    0,
    'a tick that did not move is not highlighted',
  )
  const cc = readChart(wire(counter))
  const open = activeIds(cc, 'open')
  assert.equal(
    acceptedEvents(cc, open).map((e) => e.type),
    ['inc', 'lock', 'reset'],
  )
  assert.equal(
    acceptedEvents(cc, activeIds(cc, 'locked')).map((e) => e.type),
    ['unlock'],
  )
  assert.equal(
    takenTransitions(cc, 'inc', open, open).map((t) => t.eventType),
    ['inc'],
  )
  assert.equal(
    takenTransitions(cc, 'lock', null, activeIds(cc, 'locked')).map((t) => t.eventType),
    ['lock'],
    'without the previous state, the target decides',
  )
})

read('definition - elkjs lays out every state and transition inside the root', async () => {
  const c = readChart(wire(trafficLight))
  const l = await layoutChart(c)
  assert.is(l.nodes.size, c.nodes.size)
  const root = l.nodes.get('trafficLight')!
  for (const n of l.nodes.values()) {
    assert.ok(
      n.x >= root.x && n.y >= root.y && n.x + n.w <= root.x + root.w + 0.5 && n.y + n.h <= root.y + root.h + 0.5,
      `${n.id} inside the root`,
    )
  }
  for (const [parent, child] of [
    ['trafficLight.light', 'trafficLight.light.red'],
    ['trafficLight.pedestrian', 'trafficLight.pedestrian.waiting'],
  ]) {
    const p = l.nodes.get(parent)!
    const k = l.nodes.get(child)!
    assert.ok(k.x > p.x && k.y > p.y && k.x + k.w < p.x + p.w && k.y + k.h < p.y + p.h, `${child} nested in ${parent}`)
  }
  assert.is(l.edges.length, c.edges.length)
  for (const e of l.edges) assert.ok(e.paths[0].length >= 2 && e.label, `${e.t.label} routed and labelled`)
  assert.is(l.initials.size, 2)
})

read.run()
