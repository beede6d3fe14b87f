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
import { assertEvent, assign, fromPromise, setup } from 'xstate'
import { failure, output } from './effectParams.ts'

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

export interface LoadOutput {
  bytes: number
  updates: number
  epoch: number
}

/** Event creators: the operator's actions (API, CLI, inspector). */
export const webspaceEvents = {
  backup: (file?: string) =>
    (file ? { type: 'webspace.backup', file } : { type: 'webspace.backup' }) as {
      type: 'webspace.backup'
      file?: string
    },
  restore: (file: string) => ({ type: 'webspace.restore', file }) as const,
  reset: () => ({ type: 'webspace.reset' }) as const,
  reload: () => ({ type: 'webspace.reload' }) as const,
}

/** Every event a webspace takes (built by `webspaceEvents`). */
export type WebspaceEvent = ReturnType<(typeof webspaceEvents)[keyof typeof webspaceEvents]>

const errorText = (e: unknown): string =>
  e instanceof Error ? e.message : typeof e === 'string' ? e : (JSON.stringify(e) ?? 'unknown error')

const notBound = <O, I>(what: string) =>
  fromPromise<O, I>(async () => {
    throw new Error(`webspace: the "${what}" effect is not bound; runtime/ provides it with machine.provide()`)
  })

const machine = setup({
  types: {
    context: {} as WebspaceContext,
    events: {} as WebspaceEvent,
    input: {} as WebspaceInput,
  },
  actors: {
    load: notBound<LoadOutput, { name: string; attempt: number }>('load'),
    recreateProvider: notBound<void, { name: string; attempt: number }>('recreateProvider'),
    backup: notBound<{ file: string; bytes: number }, { name: string; file?: string }>('backup'),
    restore: notBound<{ file: string; bytes: number; epoch: number }, { name: string; file: string; epoch: number }>(
      'restore',
    ),
    reset: notBound<{ epoch: number }, { name: string; epoch: number }>('reset'),
  },
  actions: {
    // runtime/ binds these: start serving the loaded document to peers / close them
    serve: (_: { context: WebspaceContext }) => {},
    unserve: (_: { context: WebspaceContext }) => {},
    /** The operator action taken, for the inspector. */
    noteAction: assign({
      lastAction: ({ event }) =>
        event.type === 'webspace.restore' ? `restore ${event.file}` : event.type.slice('webspace.'.length),
    }),
    loaded: assign((_, o: LoadOutput) => ({
      attempts: 0,
      lastError: null,
      epoch: o.epoch,
      loaded: { bytes: o.bytes, updates: o.updates },
    })),
    loadFailed: assign(({ context }, p: { error: unknown }) => ({
      attempts: context.attempts + 1,
      lastError: `load failed: ${errorText(p.error)}`,
    })),
    firstSyncTimedOut: assign(({ context }) => ({
      attempts: context.attempts + 1,
      lastError: `first sync did not finish within ${context.policy.firstSyncTimeoutMs} ms`,
    })),
    healed: assign({ heals: ({ context }) => context.heals + 1 }),
    backedUp: assign((_, o: { file: string; bytes: number }) => ({ lastBackup: o, lastError: null })),
    restored: assign((_, o: { file: string; bytes: number }) => ({
      lastRestore: { file: o.file, bytes: o.bytes },
      lastError: null,
      attempts: 0,
    })),
    wasReset: assign({ lastError: null, attempts: 0 }),
    /** An effect other than load failed: `what` names it in `lastError`. */
    effectFailed: assign((_, p: { what: string; error: unknown }) => ({
      lastError: `${p.what} failed: ${errorText(p.error)}`,
    })),
  },
  delays: {
    firstSyncTimeout: ({ context }) => context.policy.firstSyncTimeoutMs,
    healBackoff: ({ context }) =>
      Math.min(context.policy.maxBackoffMs, context.policy.backoffMs * 2 ** Math.max(0, context.attempts - 1)),
  },
})

const failedTo = (what: string) =>
  ({ type: 'effectFailed', params: (a: { event: { error: unknown } }) => ({ what, ...failure(a) }) }) as const
const restore = { target: '#webspace.restoring', actions: 'noteAction' } as const
const reset = { target: '#webspace.resetting', actions: 'noteAction' } as const
const reload = { target: '#webspace.loading', actions: 'noteAction' } as const

export const webspace = machine.createMachine({
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
        onDone: { target: 'synced', actions: { type: 'loaded', params: output } },
        onError: { target: 'healing', actions: { type: 'loadFailed', params: failure } },
      },
      after: { firstSyncTimeout: { target: 'healing', actions: 'firstSyncTimedOut' } },
      on: { 'webspace.reset': reset, 'webspace.restore': restore },
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
            onDone: { target: 'waiting', actions: 'healed' },
            onError: { target: 'waiting', actions: failedTo('recreating the provider') },
          },
        },
        waiting: { after: { healBackoff: '#webspace.loading' } },
      },
      on: { 'webspace.reload': reload, 'webspace.reset': reset, 'webspace.restore': restore },
    },
    // Served to peers in both substates: a backup is a copy taken at one instant and does not
    // disturb the editors.
    synced: {
      entry: 'serve',
      exit: 'unserve',
      initial: 'ready',
      states: {
        ready: {
          on: { 'webspace.backup': { target: 'backingUp', actions: 'noteAction' } },
        },
        backingUp: {
          invoke: {
            id: 'backup',
            src: 'backup',
            input: ({ context, event }) => {
              assertEvent(event, 'webspace.backup') // the only way in
              return { name: context.name, file: event.file }
            },
            onDone: { target: 'ready', actions: { type: 'backedUp', params: output } },
            onError: { target: 'ready', actions: failedTo('backup') },
          },
        },
      },
      on: { 'webspace.restore': restore, 'webspace.reset': reset, 'webspace.reload': reload },
    },
    // After restore and reset the document is built again from storage (`loading`), so the
    // document clients see is exactly what storage holds.
    restoring: {
      invoke: {
        id: 'restore',
        src: 'restore',
        input: ({ context, event }) => {
          assertEvent(event, 'webspace.restore') // the only way in
          return { name: context.name, file: event.file, epoch: context.epoch + 1 }
        },
        onDone: { target: 'loading', actions: { type: 'restored', params: output } },
        onError: { target: 'loading', actions: failedTo('restore') },
      },
    },
    resetting: {
      invoke: {
        id: 'reset',
        src: 'reset',
        input: ({ context }) => ({ name: context.name, epoch: context.epoch + 1 }),
        onDone: { target: 'loading', actions: 'wasReset' },
        onError: { target: 'loading', actions: failedTo('reset') },
      },
    },
  },
})

export default webspace
