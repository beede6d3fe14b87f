/**
 * Effects: side effects as invoked promise actors that carry an idempotency key.
 *
 * The key is fixed when the effect is first spawned (`<actor path>/<child id>@<seq>`) and is the
 * same when the host restarts the effect after a crash, so an effect that talks to the world
 * with its key (a request id, an upsert key) happens once. Pass `input.idempotencyKey` to choose
 * the key yourself (jobs use `jobId/stepId`).
 *
 * @example
 * const machine = setup({ actors: { charge: effect(async ({ input, key }) => pay(input, key)) } })...
 */
import { fromPromise } from 'xstate'
import { hostedActorOf } from './HostedActor.ts'

export interface EffectArgs<I> {
  input: I
  key: string
  signal: AbortSignal
}

export function effect<O, I = any>(run: (args: EffectArgs<I>) => Promise<O>) {
  return fromPromise<O, I>(({ input, self, signal }) => {
    const explicit = (input as any)?.idempotencyKey
    const host = hostedActorOf(self)
    const key = typeof explicit === 'string' ? explicit : host ? host.effectKey(self.id) : self.id
    return run({ input, key, signal })
  })
}
