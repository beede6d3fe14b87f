/**
 * Schedules and webhook triggers: the two ways jobs are created other than `POST /api/jobs`.
 *
 * Each schedule is a durable `schedule` actor (machines/schedule.ts; its missed-run policy is
 * stated there: one catch-up run, then back on the schedule). Its effects are bound here to the
 * `jobs.schedules` service of the hosting system: `clock` reads the host clock, `fire` submits the
 * job with the key `scheduleRunKey(name, due)` (actors/effect.ts; idempotent). Triggers are named
 * job templates; `POST /api/triggers/NAME` submits one with the request body as the job's input
 * (an `Idempotency-Key` header becomes the job's key).
 */
import { fromPromise } from 'xstate'
import { type ActorSystem, defineService, scheduleRunKey, serviceOf } from '../../actors/index.ts'
import { parseCron } from '../../machines/cron.ts'
import { scheduleMachine, type ScheduleInput } from '../../machines/schedule.ts'
import { JobError, type JobQueue } from './JobQueue.ts'

/** The schedules of an actor system, for its schedule actors' effects. */
export const jobSchedules = defineService<Schedules>('jobs.schedules')

/** The schedule machine with its effects bound to the Schedules of the hosting system. */
export const boundScheduleMachine = scheduleMachine.provide({
  actors: {
    clock: fromPromise(async ({ self }) => ({ at: serviceOf(self, jobSchedules).queue.clock.now() })),
    fire: fromPromise(async ({ input, self }: { input: { schedule: ScheduleInput; due: number }; self: any }) => {
      const s = serviceOf(self, jobSchedules)
      try {
        const r = await s.queue.submit({ ...input.schedule.job, key: scheduleRunKey(input.schedule.name, input.due) })
        s.stats.fired++
        return { at: s.queue.clock.now(), id: r.id }
      } catch (err) {
        throw { message: (err as Error).message }
      }
    }),
  },
})

export interface TriggerConfig {
  type: string
  priority?: number
  tenant?: string
  queue?: string
}

export const NAME_RE = /^[A-Za-z0-9_.-]{1,64}$/

/**
 * The schedules of one job queue (durable `schedule-<name>` actors) and its triggers. It is the
 * `jobs.schedules` service of its actor system from construction: make it before the system
 * recovers, so recovered schedules reach it at once.
 */
export class Schedules {
  readonly triggers = new Map<string, TriggerConfig>()
  readonly stats = { fired: 0, triggered: 0 }

  constructor(
    readonly system: ActorSystem,
    readonly queue: JobQueue,
  ) {
    if (!system.machine('schedule')) system.register('schedule', boundScheduleMachine)
    system.services.provide(jobSchedules, this)
  }

  /** Validates a schedule definition; throws JobError naming the field. */
  check(s: Partial<ScheduleInput>): ScheduleInput {
    if (typeof s.name !== 'string' || !NAME_RE.test(s.name))
      throw new JobError('BAD_BODY', 'field "name" must match [A-Za-z0-9_.-]{1,64}')
    if (typeof s.job !== 'object' || s.job === null || typeof s.job.type !== 'string')
      throw new JobError('BAD_BODY', 'field "job" must be an object with a string "type"')
    if (!this.queue.types.has(s.job.type))
      throw new JobError('BAD_BODY', `field "job.type": no job type "${s.job.type}"`)
    if ((s.every === undefined) === (s.cron === undefined))
      throw new JobError('BAD_BODY', 'give exactly one of the fields "every" (ms) or "cron"')
    if (s.every !== undefined && (!Number.isInteger(s.every) || s.every < 1000))
      throw new JobError('BAD_BODY', 'field "every" must be an integer number of ms >= 1000')
    if (s.cron !== undefined) {
      if (typeof s.cron !== 'string') throw new JobError('BAD_BODY', 'field "cron" must be a string')
      try {
        parseCron(s.cron)
      } catch (err) {
        throw new JobError('BAD_BODY', `field "cron": ${(err as Error).message}`)
      }
    }
    return {
      name: s.name,
      job: s.job,
      ...(s.every !== undefined ? { every: s.every } : {}),
      ...(s.cron !== undefined ? { cron: s.cron } : {}),
    }
  }

  /** Creates a schedule (an actor); an existing one with the same name is left as it is (409). */
  async add(def: Partial<ScheduleInput>): Promise<Record<string, unknown>> {
    const s = this.check(def)
    const path = `schedule-${s.name}`
    if (this.system.hosted(path)) throw new JobError('EXISTS', `schedule "${s.name}" exists; stop it first`, 409)
    await this.system.spawn(path, 'schedule', { input: s, durable: true })
    return this.view(s.name)!
  }

  async act(name: string, action: 'pause' | 'resume' | 'stop'): Promise<Record<string, unknown>> {
    const path = `schedule-${name}`
    if (!this.system.hosted(path)) throw new JobError('UNKNOWN_SCHEDULE', `no schedule "${name}"`, 404)
    await this.system.sendCommitted(path, { type: `schedule.${action}` })
    const v = this.view(name)!
    if (action === 'stop') await this.system.stop(path)
    return v
  }

  view(name: string): Record<string, unknown> | undefined {
    const a = this.system.hosted(`schedule-${name}`)
    const snap = a?.actor?.getSnapshot()
    if (!snap) return undefined
    const c = snap.context
    return {
      name,
      state: snap.value,
      job: c.job,
      every: c.every,
      cron: c.cron,
      due: c.due || null,
      runs: c.runs,
      lastJob: c.lastJob ?? null,
    }
  }

  list(): Record<string, unknown>[] {
    return this.system
      .list()
      .filter((i) => i.machine === 'schedule')
      .map((i) => this.view(i.path.slice('schedule-'.length))!)
      .filter(Boolean)
  }

  /** Submits the trigger's job with `input`. */
  async trigger(name: string, input: unknown, key?: string, tenant?: string) {
    const t = this.triggers.get(name)
    if (!t)
      throw new JobError(
        'UNKNOWN_TRIGGER',
        `no trigger "${name}"; configured: ${[...this.triggers.keys()].join(', ') || 'none'}`,
        404,
      )
    if (tenant !== undefined && (t.tenant ?? 'default') !== tenant)
      throw new JobError('UNKNOWN_TRIGGER', `no trigger "${name}"`, 404)
    this.stats.triggered++
    return this.queue.submit({ type: t.type, input, priority: t.priority, tenant: t.tenant, queue: t.queue, key })
  }
}
