/** Opening and "crashing" actor systems on a real LevelDB in tests. */
import { ActorSystem, type ActorSystemOptions } from '../../actors/index.ts'
import { LevelStore } from '../../runtime/LevelStore.ts'

export async function openSystem(
  dir: string,
  opts: Omit<ActorSystemOptions, 'store'> = {},
): Promise<{ system: ActorSystem; store: LevelStore }> {
  const store = await LevelStore.open(dir)
  const system = await ActorSystem.open({ ...opts, store })
  return { system, store }
}

/**
 * Ends a system as a crash would: no checkpoint, no orderly stop. What was committed stays;
 * live actors and timers are abandoned.
 */
export async function crash(system: ActorSystem, store: LevelStore, opts: { flush?: boolean } = {}): Promise<void> {
  if (opts.flush !== false) await system.flush()
  system.timers.close()
  for (const info of system.list()) {
    const a = system.hosted(info.path)
    try {
      a?.actor?.stop()
    } catch {}
  }
  await store.db.close()
}
