/** Errors of the actor host. Each has a stable `code` and says what to do. */

export class ActorError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = 'ActorError'
  }
}

export const unknownActor = (path: string) =>
  new ActorError('UNKNOWN_ACTOR', `no actor at "${path}"; list the actors with system.list() or GET /api/actors`)
export const unknownParent = (path: string, parent: string) =>
  new ActorError(
    'UNKNOWN_PARENT',
    `cannot spawn "${path}": its parent "${parent}" does not exist; spawn the parent first`,
  )
export const actorExists = (path: string) =>
  new ActorError('ACTOR_EXISTS', `an actor already lives at "${path}"; stop it first or choose another id`)
export const actorNotRunning = (path: string, status: string) =>
  new ActorError('ACTOR_NOT_RUNNING', `actor "${path}" is ${status} and takes no events`)
export const badPath = (path: string) =>
  new ActorError(
    'BAD_PATH',
    `invalid id path "${path}": use segments of letters, digits, "-", "_", "." or ":" joined by "/"`,
  )
export const unknownMachine = (name: string) =>
  new ActorError('UNKNOWN_MACHINE', `no machine registered as "${name}"; pass it in ActorSystem options "machines"`)
export const noStore = () =>
  new ActorError('NO_STORE', 'durable actors need a store: open the ActorSystem with a store (runtime LevelStore)')
export const notFinished = (path: string, status: string) =>
  new ActorError(
    'NOT_FINISHED',
    `actor "${path}" is ${status}: only a durable actor in its final state (done) can be archived`,
  )
export const notRecovered = (path: string) =>
  new ActorError(
    'NOT_RECOVERED',
    `cannot spawn the durable actor "${path}" before the system recovers its store (the path may be taken there); call system.recover() first`,
  )
export const badEvent = (why: string) => new ActorError('BAD_EVENT', `invalid event: ${why}`)
export const reservedEvent = (type: string) =>
  new ActorError(
    'RESERVED_EVENT',
    `event type "${type}" is in XState's reserved namespace "xstate.*": only XState and the host send those; use an event type of your machine`,
  )
/** A value JSON cannot carry, found at `where` (`event.by`, `input.items[2]`, `context.count`). */
export const unjournalable = (path: string, where: string, what: string) =>
  new ActorError(
    'UNJOURNALABLE',
    `${where} of actor "${path}" is ${what}, which JSON cannot hold, so it cannot be journaled; send finite numbers, strings, booleans, null, plain objects and arrays`,
  )

/** The actor did not take an event: it threw on it, or the state it led to cannot be journaled. */
export class EventRejectedError extends ActorError {
  constructor(
    readonly path: string,
    readonly type: string,
    readonly seq: number | undefined,
    readonly reason: string,
  ) {
    super(
      'EVENT_REJECTED',
      `actor "${path}" rejected event "${type}"${seq === undefined ? '' : ` (seq ${seq})`}: ${reason}; the actor restarts without it (see GET /api/incidents)`,
    )
    this.name = 'EventRejectedError'
  }
}
