/**
 * The `webspace` machine with its real effects bound (what a hub registers under the name
 * `webspace`). Each effect takes the Yjs host from the `webspace.host` service of its actor system,
 * which the webspaces feature provides at install, before the system recovers: an effect that
 * recovery re-issues finds it at once.
 */
import { fromPromise } from 'xstate'
import { defineService, effectKeyOf, effectSeqOf, serviceOf } from '../../actors/index.ts'
import { webspace } from '../../machines/webspace.ts'
import type { YjsWebspaces } from './YjsWebspaces.ts'

export interface WebspaceBinding {
  host: YjsWebspaces
  /** Where backups go when no file is named. */
  backupDir: string
}

/** The Yjs host of an actor system's webspace actors. */
export const webspaceHost = defineService<WebspaceBinding>('webspace.host')

export const webspaceHosted = webspace.provide({
  actors: {
    load: fromPromise(async ({ input, self }) => serviceOf(self, webspaceHost).host.load(input.name)),
    recreateProvider: fromPromise(async ({ input, self }) => serviceOf(self, webspaceHost).host.recreate(input.name)),
    backup: fromPromise(async ({ input, self }) => {
      const b = serviceOf(self, webspaceHost)
      // the file name comes from the effect's idempotency key: a backup re-issued after a crash
      // writes the same file again instead of a second one
      const stamp = effectSeqOf(effectKeyOf(self))
      const file = input.file ?? `${b.backupDir}/${input.name}/${input.name}.${stamp}.ydoc`
      return b.host.backup(input.name, file)
    }),
    restore: fromPromise(async ({ input, self }) =>
      serviceOf(self, webspaceHost).host.restore(input.name, input.file, input.epoch),
    ),
    reset: fromPromise(async ({ input, self }) => serviceOf(self, webspaceHost).host.reset(input.name, input.epoch)),
  },
  actions: {
    serve: ({ context, self }: any) => serviceOf(self, webspaceHost).host.serve(context.name),
    unserve: ({ context, self }: any) =>
      serviceOf(self, webspaceHost).host.unserve(context.name, 4000, 'webspace not synced'),
  },
})
