/**
 * schedule: one cron or interval schedule that creates jobs. Hosted as a durable actor
 * (`schedule-<name>`) by runtime/jobs/Schedules.ts.
 *
 * Driven by: its `clock` effect (the time, journaled, so replay computes the same due times), its
 * durable timer (the next due time) and its `fire` effect (submits the job with one idempotency
 * key per schedule and due time, made by the runtime with actors/effect.ts, so a run is created
 * once even if the effect is re-issued after a crash), and `schedule.pause | schedule.resume |
 * schedule.stop`.
 *
 * Missed runs: when the process was down across one or more due times, the durable timer fires
 * at once on recovery and creates ONE catch-up run (keyed by the first missed due time); the
 * next due time is then computed from the time of that run, so the other missed runs are skipped
 * (coalesced), never replayed in a burst.
 */
import { assign, fromPromise, setup } from 'xstate'
import { cronNext } from './cron.ts'
import { output } from './effectParams.ts'

export interface ScheduleInput {
  name: string
  /** Job type and what to submit. */
  job: { type: string; input?: unknown; priority?: number; tenant?: string; queue?: string }
  /** Either `every` (ms) or `cron` (5 fields, UTC). */
  every?: number
  cron?: string
}

export interface ScheduleContext extends ScheduleInput {
  /** Time of the last clock reading or run (from a journaled effect result). */
  now: number
  /** The next due time. */
  due: number
  runs: number
  lastJob?: string
}

export type ScheduleEvent = { type: 'schedule.pause' } | { type: 'schedule.resume' } | { type: 'schedule.stop' }

/** The next due time after a run that was due at `due` and happened at `at`. */
export function nextDue(ctx: Pick<ScheduleContext, 'every' | 'cron'>, due: number, at: number): number {
  if (ctx.cron) return cronNext(ctx.cron, Math.max(due, at))
  const every = Math.max(1, ctx.every ?? 60_000)
  const n = due + every
  return n > at ? n : at + every
}

export const scheduleMachine = setup({
  types: { context: {} as ScheduleContext, input: {} as ScheduleInput, events: {} as ScheduleEvent },
  actors: {
    clock: fromPromise<{ at: number }>(async () => {
      throw new Error('clock is not provided')
    }),
    fire: fromPromise<{ at: number; id: string }, { schedule: ScheduleInput; due: number }>(async () => {
      throw new Error('fire is not provided')
    }),
  },
  delays: {
    untilDue: ({ context }) => Math.max(0, context.due - context.now),
  },
  actions: {
    /** The clock was read: keep the due time of a schedule that had one, else compute the first. */
    clockRead: assign(({ context }, { at }: { at: number }) => ({
      now: at,
      due:
        context.due && context.due > 0
          ? context.due
          : context.cron
            ? cronNext(context.cron, at)
            : at + Math.max(1, context.every ?? 60_000),
    })),
    fired: assign(({ context }, o: { at: number; id: string }) => ({
      now: o.at,
      due: nextDue(context, context.due, o.at),
      runs: context.runs + 1,
      lastJob: o.id,
    })),
    skipRun: assign(({ context }) => ({ due: nextDue(context, context.due, context.due) })),
    clearDue: assign({ due: 0 }),
  },
}).createMachine({
  id: 'schedule',
  context: ({ input }) => ({ ...input, now: 0, due: 0, runs: 0 }),
  initial: 'reading',
  on: { 'schedule.stop': '.stopped' },
  states: {
    reading: {
      invoke: {
        src: 'clock',
        id: 'clock',
        onDone: { target: 'waiting', actions: { type: 'clockRead', params: output } },
        onError: 'reading',
      },
    },
    waiting: {
      after: { untilDue: 'firing' },
      on: { 'schedule.pause': 'paused' },
    },
    firing: {
      invoke: {
        src: 'fire',
        id: 'fire',
        input: ({ context }) => ({
          schedule: { name: context.name, job: context.job, every: context.every, cron: context.cron },
          due: context.due,
        }),
        onDone: { target: 'waiting', actions: { type: 'fired', params: output } },
        // The queue refused (e.g. an unknown type): skip this run, keep the schedule.
        onError: { target: 'reading', actions: 'skipRun' },
      },
    },
    paused: {
      on: { 'schedule.resume': { target: 'reading', actions: 'clearDue' } },
    },
    stopped: { type: 'final' },
  },
})
