/**
 * Effects and their idempotency keys. Every idempotency key Aether gives the world is made here,
 * so a key means the same thing wherever it shows up (a sink, a provider, a file name, a job).
 *
 * - An invoked effect's key (`<actor path>/<child id>@<seq>`, `seq` being the event that started
 *   it) is fixed when the effect is first spawned and is the same when the host restarts it after a
 *   crash, so an effect that talks to the world with its key (a request id, an upsert key) happens
 *   once. `effect(run)` hands it to `run`; `effectKeyOf(self)` reads it inside any promise actor.
 * - A job step's key is `<jobId>/<step>`, the same for every attempt (`stepKey`).
 * - A schedule's run is `schedule/<name>/<due>` (`scheduleRunKey`).
 * - A request a node repeats until it is answered is `<op>-<node>-<boot>` (`requestKey`); one
 *   delivery of an attempt, `<key>#<attempt>#<boot>` (`deliveryKey`).
 *
 * @example
 * const machine = setup({ actors: { charge: effect(async ({ input, key }) => pay(input, key)) } })...
 */
import { fromPromise } from 'xstate'
import { hostingOf } from './xstateSeams.ts'

/** The key of the effect `childId` that the actor at `path` started on its event `seq`. */
export const effectKeyFor = (path: string, childId: string, seq: number): string => `${path}/${childId}@${seq}`

/** The journal seq an effect key was made at (`...@<seq>`): a stamp that survives restarts. */
export const effectSeqOf = (key: string): string => key.slice(key.lastIndexOf('@') + 1)

/** The key of step `step` of job `jobId`: one per step, whatever the attempt. */
export const stepKey = (jobId: string, step: string): string => `${jobId}/${step}`

/**
 * The id of one delivery of an effect with key `key`: its `attempt` from this `boot` of the sender,
 * so a transport drops a republished copy but never a new attempt.
 */
export const deliveryKey = (key: string, attempt: number, boot: string): string => `${key}#${attempt}#${boot}`

/** The key of the run of schedule `name` due at `due` (ms): one job per slot. */
export const scheduleRunKey = (name: string, due: number): string => `schedule/${name}/${due}`

/** The key of a request `op` that node `node` repeats until answered, once per boot (`bootAt`). */
export const requestKey = (op: string, node: string, bootAt: number): string => `${op}-${node}-${bootAt}`

/**
 * The idempotency key of the invoked effect `self` (the promise actor's own ref): the host's key
 * when a system hosts its parent, else the child's id.
 */
export function effectKeyOf(self: { id: string }): string {
  const host = hostingOf<{ effectKey(childId: string): string }>(self)
  return host ? host.effectKey(self.id) : self.id
}

export interface EffectArgs<I> {
  input: I
  key: string
  signal: AbortSignal
  /** The effect's own actor ref (to find services: `serviceOf(self, key)`). */
  self: { id: string }
}

/**
 * A promise actor that gets its idempotency key: `input.idempotencyKey` when the machine chooses
 * one, else `effectKeyOf(self)`.
 */
export function effect<O, I = any>(run: (args: EffectArgs<I>) => Promise<O>) {
  return fromPromise<O, I>(({ input, self, signal }) => {
    const explicit = (input as any)?.idempotencyKey
    const key = typeof explicit === 'string' ? explicit : effectKeyOf(self)
    return run({ input, key, signal, self })
  })
}
