/**
 * webspace: the lifecycle of one shared Yjs document on a hub.
 *
 * Driven by the operator (`webspace.backup | restore | reset | reload`, from the API, the CLI or
 * the inspector) and by the completions of the effects runtime/ binds: `load` (build the document
 * from storage: the first sync of the document with its provider), `recreateProvider` (drop the
 * provider that did not deliver and make a new one), `backup`, `restore`, `reset`.
 *
 * Promises:
 * - the document is served to clients only in `synced` (`ready` or `backingUp`); every other state
 *   is a visible reason why not (loading, healing, restoring, resetting);
 * - a first sync that does not finish within `policy.firstSyncTimeoutMs`, or fails, heals by
 *   policy: the provider is recreated and loading starts again after a capped backoff; the count
 *   of attempts is in the context, and the state never gives up silently;
 * - restore and reset bump `epoch`: clients that synced an older epoch must drop their copy
 *   (runtime/ tells them), so a restored document is not merged back into the old one;
 * - every operator action is an event, so it is journaled and replays like any other.
 *
 * The document's content never passes through this machine: updates are persisted by the
 * runtime's Yjs adapter directly (group-committed LevelDB writes), the machine owns the lifecycle.
 */
import { assign, fromPromise, setup } from 'xstate'

export interface WebspacePolicy {
  /** How long the first sync (loading) may take before the provider is recreated. */
  firstSyncTimeoutMs: number
  /** First backoff before loading again; doubles per attempt up to `maxBackoffMs`. */
  backoffMs: number
  maxBackoffMs: number
}

export const defaultWebspacePolicy: WebspacePolicy = { firstSyncTimeoutMs: 5000, backoffMs: 200, maxBackoffMs: 10_000 }

export interface WebspaceInput {
  name: string
  policy?: Partial<WebspacePolicy>
}

export interface WebspaceContext {
  name: string
  policy: WebspacePolicy
  /** Bumped by restore and reset; clients of an older epoch drop their copy. */
  epoch: number
  /** Failed or timed-out first-sync attempts since the last success. */
  attempts: number
  /** Providers recreated over the actor's life (heals). */
  heals: number
  /** What the last load found. */
  loaded: { bytes: number; updates: number } | null
  lastBackup: { file: string; bytes: number } | null
  lastRestore: { file: string; bytes: number } | null
  lastError: string | null
  /** The last operator action taken, for the inspector. */
  lastAction: string | null
}

export type WebspaceEvent =
  | { type: 'webspace.backup'; file?: string }
  | { type: 'webspace.restore'; file: string }
  | { type: 'webspace.reset' }
  | { type: 'webspace.reload' }

export interface LoadOutput {
  bytes: number
  updates: number
  epoch: number
}

/** Event creators, so callers do not spell the strings. */
export const webspaceEvents = {
  backup: (file?: string): WebspaceEvent => (file ? { type: 'webspace.backup', file } : { type: 'webspace.backup' }),
  restore: (file: string): WebspaceEvent => ({ type: 'webspace.restore', file }),
  reset: (): WebspaceEvent => ({ type: 'webspace.reset' }),
  reload: (): WebspaceEvent => ({ type: 'webspace.reload' }),
}

const errorText = (e: unknown): string =>
  e instanceof Error ? e.message : typeof e === 'string' ? e : (JSON.stringify(e) ?? 'unknown error')

const notBound = (what: string) =>
  fromPromise<any, any>(async () => {
    throw new Error(`webspace: the "${what}" effect is not bound; runtime/ provides it with machine.provide()`)
  })

export const webspace = setup({
  types: {
    context: {} as WebspaceContext,
    events: {} as WebspaceEvent,
    input: {} as WebspaceInput,
  },
  actors: {
    load: notBound('load') as ReturnType<typeof fromPromise<LoadOutput, { name: string; attempt: number }>>,
    recreateProvider: notBound('recreateProvider') as ReturnType<
      typeof fromPromise<void, { name: string; attempt: number }>
    >,
    backup: notBound('backup') as ReturnType<
      typeof fromPromise<{ file: string; bytes: number }, { name: string; file?: string }>
    >,
    restore: notBound('restore') as ReturnType<
      typeof fromPromise<{ file: string; bytes: number; epoch: number }, { name: string; file: string; epoch: number }>
    >,
    reset: notBound('reset') as ReturnType<typeof fromPromise<{ epoch: number }, { name: string; epoch: number }>>,
  },
  actions: {
    // runtime/ binds these: start serving the loaded document to peers / close them
    serve: (_: { context: WebspaceContext }) => {},
    unserve: (_: { context: WebspaceContext }) => {},
  },
  delays: {
    firstSyncTimeout: ({ context }) => context.policy.firstSyncTimeoutMs,
    healBackoff: ({ context }) =>
      Math.min(context.policy.maxBackoffMs, context.policy.backoffMs * 2 ** Math.max(0, context.attempts - 1)),
  },
}).createMachine({
  id: 'webspace',
  context: ({ input }) => ({
    name: input.name,
    policy: { ...defaultWebspacePolicy, ...input.policy },
    epoch: 0,
    attempts: 0,
    heals: 0,
    loaded: null,
    lastBackup: null,
    lastRestore: null,
    lastError: null,
    lastAction: null,
  }),
  initial: 'loading',
  states: {
    loading: {
      invoke: {
        id: 'load',
        src: 'load',
        input: ({ context }) => ({ name: context.name, attempt: context.attempts }),
        onDone: {
          target: 'synced',
          actions: assign(({ event }) => ({
            attempts: 0,
            lastError: null,
            epoch: event.output.epoch,
            loaded: { bytes: event.output.bytes, updates: event.output.updates },
          })),
        },
        onError: {
          target: 'healing',
          actions: assign(({ context, event }) => ({
            attempts: context.attempts + 1,
            lastError: `load failed: ${errorText(event.error)}`,
          })),
        },
      },
      after: {
        firstSyncTimeout: {
          target: 'healing',
          actions: assign(({ context }) => ({
            attempts: context.attempts + 1,
            lastError: `first sync did not finish within ${context.policy.firstSyncTimeoutMs} ms`,
          })),
        },
      },
      on: {
        'webspace.reset': { target: 'resetting', actions: assign({ lastAction: 'reset' }) },
        'webspace.restore': {
          target: 'restoring',
          actions: assign({ lastAction: ({ event }) => `restore ${event.file}` }),
        },
      },
    },
    // The provider that did not deliver is dropped and a new one made; loading starts again after
    // the backoff, so a storage that is slow to come back is not hammered.
    healing: {
      initial: 'recreating',
      states: {
        recreating: {
          invoke: {
            id: 'recreateProvider',
            src: 'recreateProvider',
            input: ({ context }) => ({ name: context.name, attempt: context.attempts }),
            onDone: { target: 'waiting', actions: assign({ heals: ({ context }) => context.heals + 1 }) },
            onError: {
              target: 'waiting',
              actions: assign({
                lastError: ({ event }) => `recreating the provider failed: ${errorText(event.error)}`,
              }),
            },
          },
        },
        waiting: { after: { healBackoff: '#webspace.loading' } },
      },
      on: {
        'webspace.reload': { target: 'loading', actions: assign({ lastAction: 'reload' }) },
        'webspace.reset': { target: 'resetting', actions: assign({ lastAction: 'reset' }) },
        'webspace.restore': {
          target: 'restoring',
          actions: assign({ lastAction: ({ event }) => `restore ${event.file}` }),
        },
      },
    },
    // Served to peers in both substates: a backup is a copy taken at one instant and does not
    // disturb the editors.
    synced: {
      entry: 'serve',
      exit: 'unserve',
      initial: 'ready',
      states: {
        ready: {
          on: { 'webspace.backup': { target: 'backingUp', actions: assign({ lastAction: 'backup' }) } },
        },
        backingUp: {
          invoke: {
            id: 'backup',
            src: 'backup',
            input: ({ context, event }) => ({ name: context.name, file: (event as any).file }),
            onDone: { target: 'ready', actions: assign({ lastBackup: ({ event }) => event.output, lastError: null }) },
            onError: {
              target: 'ready',
              actions: assign({ lastError: ({ event }) => `backup failed: ${errorText(event.error)}` }),
            },
          },
        },
      },
      on: {
        'webspace.restore': {
          target: 'restoring',
          actions: assign({ lastAction: ({ event }) => `restore ${event.file}` }),
        },
        'webspace.reset': { target: 'resetting', actions: assign({ lastAction: 'reset' }) },
        'webspace.reload': { target: 'loading', actions: assign({ lastAction: 'reload' }) },
      },
    },
    // After restore and reset the document is built again from storage (`loading`), so the
    // document clients see is exactly what storage holds.
    restoring: {
      invoke: {
        id: 'restore',
        src: 'restore',
        input: ({ context, event }) => ({ name: context.name, file: (event as any).file, epoch: context.epoch + 1 }),
        onDone: {
          target: 'loading',
          actions: assign({
            lastRestore: ({ event }) => ({ file: event.output.file, bytes: event.output.bytes }),
            lastError: null,
            attempts: 0,
          }),
        },
        onError: {
          target: 'loading',
          actions: assign({ lastError: ({ event }) => `restore failed: ${errorText(event.error)}` }),
        },
      },
    },
    resetting: {
      invoke: {
        id: 'reset',
        src: 'reset',
        input: ({ context }) => ({ name: context.name, epoch: context.epoch + 1 }),
        onDone: { target: 'loading', actions: assign({ lastError: null, attempts: 0 }) },
        onError: {
          target: 'loading',
          actions: assign({ lastError: ({ event }) => `reset failed: ${errorText(event.error)}` }),
        },
      },
    },
  },
})

export default webspace
