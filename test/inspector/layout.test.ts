import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { readChart, type StateNodeJSON } from '../../inspector/src/definition.ts'
import { layoutChart } from '../../inspector/src/layout.ts'
import { classAStream } from '../../machines/classAStream.ts'

const layout = suite('inspector layout')

layout('inspector layout - a transition on the machine root (classAStream) does not fail the layout', async () => {
  const chart = readChart(classAStream.toJSON() as unknown as StateNodeJSON)
  assert.ok(
    chart.edges.some((e) => e.source === chart.root),
    'the machine has a root transition',
  )
  const l = await layoutChart(chart)
  assert.is(l.nodes.size, chart.nodes.size)
  assert.ok(l.edges.length > 0)
})

layout.run()
