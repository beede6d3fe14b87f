/**
 * Dynamic params for the actions and guards that read an effect's result. XState types an invoked
 * effect's `xstate.done.actor.*` / `xstate.error.actor.*` event only inside the transition that
 * handles it, not in the named implementations in `setup`; passing the output or error as the
 * action's params keeps the implementation named and typed:
 *
 * @example
 * onDone: { target: 'ready', actions: { type: 'loaded', params: output } }
 * onError: { target: 'healing', actions: { type: 'loadFailed', params: failure } }
 */

/** The output of the effect whose completion is handled. */
export const output = <O>({ event }: { event: { output: O } }): O => event.output

/** The error of the effect whose failure is handled. */
export const failure = ({ event }: { event: { error: unknown } }): { error: unknown } => ({ error: event.error })

/** An effect's error as text: its `message` (a journaled error is a plain object after JSON), else itself. */
export function errorMessage(e: unknown): string {
  if (typeof e === 'string') return e
  if (typeof e === 'object' && e !== null && 'message' in e && typeof e.message === 'string') return e.message
  return JSON.stringify(e) ?? 'unknown error'
}
