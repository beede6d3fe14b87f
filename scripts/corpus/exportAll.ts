/** Exports every durable actor of a system as a log, as `aether log export` writes it. */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { exportLog, type ActorSystem } from '../../actors/index.ts'
import { machineSource } from '../../runtime/corpus/machineSource.ts'

const appFile = fileURLToPath(new URL('../../test/corpus/app.ts', import.meta.url))

/** Writes the log of every durable actor of `system` that received an event into `dir`. */
export async function exportAll(system: ActorSystem, dir: string, prefix = ''): Promise<number> {
  await system.flush()
  const source = await machineSource({ app: appFile })
  mkdirSync(dir, { recursive: true })
  let n = 0
  for (const meta of await system.store!.listMeta()) {
    const found = source.find(meta.machine)
    if (!found) throw new Error(`no machine ${meta.machine} for ${meta.path}`)
    let text = ''
    for await (const chunk of exportLog(system.store!, meta.path, { snapshots: 'all', machine: found.machine }))
      text += chunk
    if (text.split('\n').length <= 2) continue // the header only: nothing happened to it
    writeFileSync(join(dir, `${prefix}${meta.path.replace(/[/:]/g, '_')}.log`), text)
    n++
  }
  return n
}
