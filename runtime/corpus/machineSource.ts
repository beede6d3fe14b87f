/**
 * Where a corpus command finds the machine of each log: the log's header names it (`peerSession`,
 * `job:echo`, `updateTransition`), and the first of these that has it wins:
 *
 * 1. `--machine MODULE`: the module's export of that name (or `--export NAME` for every log);
 * 2. `--app FILE`: the app's machines and its job types' (`job:<type>`);
 * 3. the machines Aether hosts itself (the hub's, the supervisor's `updateTransition`, the link's).
 *
 * A log whose machine none of them has is reported as such (not a crash, not a pass).
 */
import type { AnyStateMachine } from 'xstate'
import { classAStream, hubLink, reliabilityView, semanticChannel, updateTransition } from '../../machines/index.ts'
import { UsageError } from '../args.ts'
import { loadApp, appMachines } from '../app.ts'
import { builtinMachines } from '../builtinMachines.ts'
import { importUserModule, isMachine } from '../loadMachine.ts'

/** Machines Aether hosts outside the hub's registry (the supervisor's, the link's, the channels'). */
const hostedElsewhere: Record<string, AnyStateMachine> = {
  updateTransition,
  hubLink,
  classAStream,
  semanticChannel,
  reliabilityView,
}

/** Every machine Aether itself hosts, by name: the hub's registry and those hosted elsewhere. */
export const knownMachines: Record<string, AnyStateMachine> = { ...hostedElsewhere, ...builtinMachines }

/** Finds a log's machine by the name its header gives; `where` says which source it came from. */
export interface MachineSource {
  find(name: string): { machine: AnyStateMachine; where: string } | undefined
  /** What it searched, for the "no machine" line. */
  describe(): string
}

/** The flags a MachineSource is built from. */
export interface MachineSourceFlags {
  machine?: string
  export?: string
  app?: string
}

/** The machine-source flags (`--machine`, `--export`, `--app`) of parsed command-line flags. */
export function sourceFlags(flags: Record<string, unknown>): MachineSourceFlags {
  const str = (k: string) => (flags[k] === undefined ? undefined : String(flags[k]))
  return { machine: str('machine'), export: str('export'), app: str('app') }
}

/** Builds the source from the command's flags; bad modules are UsageErrors (exit 2). */
export async function machineSource(flags: MachineSourceFlags): Promise<MachineSource> {
  if (flags.machine && flags.app) throw new UsageError('give --machine MODULE or --app FILE, not both')
  if (flags.app && flags.export !== undefined) throw new UsageError('--export goes with --machine, not --app')
  if (flags.export !== undefined && !flags.machine) throw new UsageError('--export NAME needs --machine MODULE')
  let own: Record<string, AnyStateMachine> = {}
  let label = ''
  let only: AnyStateMachine | undefined
  if (flags.machine) {
    const { file, mod } = await importUserModule(flags.machine, 'machine')
    label = file
    own = Object.fromEntries(Object.entries(mod).filter(([, v]) => isMachine(v))) as Record<string, AnyStateMachine>
    if (flags.export !== undefined) {
      only = own[flags.export]
      if (!only)
        throw new UsageError(
          `--machine: ${file} has no machine export "${flags.export}"${Object.keys(own).length ? `; it exports ${Object.keys(own).join(', ')}` : ''}`,
        )
    } else if (!Object.keys(own).length) throw new UsageError(`--machine: ${file} exports no XState machine`)
  } else if (flags.app) {
    const app = await loadApp(flags.app)
    own = appMachines(app)
    label = `--app ${flags.app}`
  }
  const builtin = knownMachines
  return {
    find(name) {
      if (only) return { machine: only, where: `${label} (--export ${flags.export})` }
      if (own[name]) return { machine: own[name], where: label }
      if (builtin[name]) return { machine: builtin[name], where: 'built-in' }
      return undefined
    },
    describe() {
      return `${label ? `${label} and ` : ''}the built-in machines (${Object.keys(builtin).length})`
    },
  }
}
