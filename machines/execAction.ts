/**
 * execAction: the one way a machine with an exec command list (peerSession, mediaSubflow) turns a
 * pure step function into a named action.
 *
 * A step function reads the context, the event and the action's params and returns what the
 * transition does: a context update, the commands for the runtime's executor and the events the
 * machine raises to itself. The action applies them in that order: `assign`, then one `exec`
 * with the whole command list, then the raises. Declared under a name in `setup({ actions })`,
 * it shows by that name in the inspector, and the commands it sent show as the `exec` action's
 * params, so a journal and the inspector read the same as the executor's input.
 */
import { enqueueActions, type EventObject, type MachineContext, type ParameterizedObject } from 'xstate'

/** What one transition does in an exec-command-list machine. */
export interface ExecStep<TContext, TEvent, TCommand> {
  /** Fields of the context to replace. */
  ctx?: Partial<TContext>
  /** Commands for the executor, run in order by one `exec` action. */
  cmds?: TCommand[]
  /** Events the machine raises to itself after the commands. */
  raise?: TEvent[]
}

/**
 * Builds a named action from a pure step function. The machine must declare the placeholder
 * `exec: (_, params: { cmds: TCommand[] }) => {}` beside it, which runtime/ binds with `.provide()`.
 *
 * @example
 * setup({ actions: { exec: (_: unknown, _p: { cmds: Cmd[] }) => {}, ping: execAction((c) => ({ cmds: [{ op: 'ping' }] })) } })
 */
export function execAction<
  TContext extends MachineContext,
  TEvent extends EventObject,
  TCommand,
  TParams extends ParameterizedObject['params'] = undefined,
>(fn: (context: TContext, event: TEvent, params: TParams) => ExecStep<TContext, TEvent, TCommand>) {
  return enqueueActions<
    TContext,
    TEvent,
    TParams,
    TEvent,
    never,
    { type: 'exec'; params: { cmds: TCommand[] } },
    never,
    never,
    EventObject
  >(({ context, event, enqueue }, params) => {
    const r = fn(context, event, params)
    if (r.ctx) enqueue.assign(r.ctx)
    if (r.cmds?.length) enqueue({ type: 'exec', params: { cmds: r.cmds } })
    for (const e of r.raise ?? []) enqueue.raise(e)
  })
}
