/**
 * The `webspace` machine with its real effects bound (what a hub registers under the name
 * `webspace`). The machine is registered before the actor system recovers, but the Yjs host is
 * made later, when the feature installs: each effect looks up the host of its own actor system
 * and waits for it, so an effect re-issued during recovery runs once the feature is up.
 */
import { fromPromise } from 'xstate'
import { hostedActorOf } from '../../actors/index.ts'
import { webspace } from '../../machines/webspace.ts'
import type { YjsWebspaces } from './YjsWebspaces.ts'

export interface WebspaceBinding {
  host: YjsWebspaces
  /** Where backups go when no file is named. */
  backupDir: string
}

const bindings = new WeakMap<object, WebspaceBinding>()
const waiting = new WeakMap<object, Array<(b: WebspaceBinding) => void>>()

/** Binds the Yjs host of an actor system (the feature calls this at install). */
export function bindWebspaces(system: object, b: WebspaceBinding): void {
  bindings.set(system, b)
  for (const fn of waiting.get(system) ?? []) fn(b)
  waiting.delete(system)
}

export function unbindWebspaces(system: object): void {
  bindings.delete(system)
}

function systemOf(ref: any): object | undefined {
  return hostedActorOf(ref)?.host
}

function binding(ref: any): Promise<WebspaceBinding> {
  const system = systemOf(ref)
  if (!system) return Promise.reject(new Error('webspace: not hosted by an actor system'))
  const b = bindings.get(system)
  if (b) return Promise.resolve(b)
  return new Promise((resolve) => {
    const list = waiting.get(system) ?? []
    list.push(resolve)
    waiting.set(system, list)
  })
}

function keyOf(self: any): string {
  const h = hostedActorOf(self)
  return h ? h.effectKey(self.id) : self.id
}

export const webspaceHosted = webspace.provide({
  actors: {
    load: fromPromise(async ({ input, self }) => (await binding(self)).host.load(input.name)),
    recreateProvider: fromPromise(async ({ input, self }) => (await binding(self)).host.recreate(input.name)),
    backup: fromPromise(async ({ input, self }) => {
      const b = await binding(self)
      // the file name comes from the effect's idempotency key: a backup re-issued after a crash
      // writes the same file again instead of a second one
      const stamp = keyOf(self).split('@').pop()
      const file = input.file ?? `${b.backupDir}/${input.name}/${input.name}.${stamp}.ydoc`
      return b.host.backup(input.name, file)
    }),
    restore: fromPromise(async ({ input, self }) =>
      (await binding(self)).host.restore(input.name, input.file, input.epoch),
    ),
    reset: fromPromise(async ({ input, self }) => (await binding(self)).host.reset(input.name, input.epoch)),
  },
  actions: {
    serve: ({ context, self }: any) => {
      const b = bindings.get(systemOf(self) as object)
      b?.host.serve(context.name)
    },
    unserve: ({ context, self }: any) => {
      const b = bindings.get(systemOf(self) as object)
      b?.host.unserve(context.name, 4000, 'webspace not synced')
    },
  },
})
