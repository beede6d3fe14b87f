/**
 * reliabilityView: the node's reliability report as an actor, so the inspection feed (and the
 * inspector) can show the readiness tree beside the machines.
 *
 * Driven by the runtime: `reliability.report` with the latest `ReliabilityReport`, sent when it
 * changes. Promises: the state is the report's overall status (ready | degraded | down), the
 * context holds the whole report.
 */
import { assign, setup } from 'xstate'
import type { ReliabilityReport } from '../protocol/reliability.ts'

export type ReliabilityViewEvent = { type: 'reliability.report'; report: ReliabilityReport }

export const reliabilityView = setup({
  types: {
    context: {} as { report: ReliabilityReport | null },
    events: {} as ReliabilityViewEvent,
  },
  guards: {
    isReady: ({ event }) => event.report.status === 'ready' || event.report.status === 'unknown',
    isDegraded: ({ event }) => event.report.status === 'degraded',
  },
  actions: { keep: assign({ report: ({ event }) => event.report }) },
}).createMachine({
  id: 'reliabilityView',
  context: { report: null },
  initial: 'unknown',
  on: {
    'reliability.report': [
      { guard: 'isReady', target: '.ready', actions: 'keep' },
      { guard: 'isDegraded', target: '.degraded', actions: 'keep' },
      { target: '.down', actions: 'keep' },
    ],
  },
  states: { unknown: {}, ready: {}, degraded: {}, down: {} },
})

export default reliabilityView
