/**
 * Loads a machine from any user's ES module (TypeScript too, through tsx), for `aether replay` and
 * `aether log export`. Every failure is a UsageError (exit 2) that says what the module exports.
 */
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { AnyStateMachine } from 'xstate'
import { isV4Machine } from '../actors/index.ts'
import { UsageError } from './args.ts'
import { importModule } from './typescript.ts'

/**
 * Imports a user's module named by the flag `--<flag>` (a path, relative to the working folder).
 * A missing file or a module that fails to load is a UsageError naming the flag and the file.
 */
export async function importUserModule(
  modulePath: string,
  flag: string,
): Promise<{ file: string; mod: Record<string, unknown> }> {
  const file = resolve(modulePath)
  if (!existsSync(file)) throw new UsageError(`--${flag}: no such file ${file}`)
  try {
    return { file, mod: await importModule(pathToFileURL(file).href) }
  } catch (err) {
    throw new UsageError(`--${flag}: cannot load ${file}: ${(err as Error).message}`)
  }
}

/** The export `exportName` of `modulePath`; `why` says where the name came from, for the error. */
export async function loadMachine(modulePath: string, exportName = 'default', why = ''): Promise<AnyStateMachine> {
  const { file, mod } = await importUserModule(modulePath, 'machine')
  const m = mod[exportName] as any
  if (m === undefined) {
    const names = Object.keys(mod).filter((k) => isMachine(mod[k]))
    throw new UsageError(
      `--machine: ${file} has no export "${exportName}"${why}${names.length ? `; machines it exports: ${names.join(', ')} (choose one with --export NAME)` : ''}`,
    )
  }
  if (!isMachine(m))
    throw new UsageError(`--machine: export "${exportName}" of ${file} is not an XState machine (v5, or v4)`)
  return m
}

/** An XState machine (v5, or a v4 one an external app recorded). */
export function isMachine(v: any): boolean {
  return (
    (!!v &&
      typeof v.transition === 'function' &&
      typeof v.getInitialSnapshot === 'function' &&
      typeof v.toJSON === 'function') ||
    isV4Machine(v)
  )
}
