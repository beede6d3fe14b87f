/**
 * Machine definitions sent by external apps, turned into what the inspector draws: the
 * `machine.toJSON()` shape of XState v5 (inspector/src/definition.ts reads it).
 *
 * - v5 (`@statelyai/inspect`) sends the machine's config with its keys sorted and its functions
 *   replaced by `{type: <function name>}`. XState builds a machine from that config (no function
 *   in it is ever called: only `toJSON()` is read), so the chart shows what the app runs, inline
 *   guards and actions by their function names. The `machineHash` of the app's machine cannot be
 *   computed from it (key order and functions are lost), so v5 logs carry none.
 * - v4 (`@xstate/inspect`) sends `machine.definition`, which differs from v5's `toJSON()` in a few
 *   names (`initial` is a key, guards are `cond`); it is mapped field by field. Its text is exactly
 *   `JSON.stringify(machine.toJSON())`, so its sha256 is the v4 machine's `machineHash`.
 */
import { createMachine } from 'xstate'

const isObj = (v: unknown): v is Record<string, any> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Whether a v5 config is a state machine's (other logic sends `{"id": name}` only). */
export function isMachineConfig(config: unknown): config is Record<string, unknown> {
  return isObj(config) && (isObj(config.states) || typeof config.initial === 'string' || isObj(config.on))
}

/**
 * The `toJSON()` of the machine a v5 config describes, or undefined when XState cannot build one
 * (a config cut short by `serializationDepthLimit` names states as "[Object]").
 */
export function v5DefinitionJSON(config: unknown): unknown {
  if (!isMachineConfig(config)) return undefined
  try {
    return JSON.parse(JSON.stringify(createMachine(config as any).toJSON()))
  } catch {
    return undefined
  }
}

/** The v5 `toJSON()` shape of a v4 `machine.definition`. */
export function v4DefinitionJSON(def: unknown): unknown {
  return isObj(def) ? v4Node(def) : undefined
}

function v4Node(n: Record<string, any>): Record<string, unknown> {
  const states: Record<string, unknown> = {}
  for (const [k, c] of Object.entries(isObj(n.states) ? n.states : {})) if (isObj(c)) states[k] = v4Node(c)
  const out: Record<string, unknown> = {
    id: String(n.id),
    key: String(n.key ?? n.id),
    type: n.type ?? 'atomic',
    states,
  }
  if (typeof n.initial === 'string' && isObj(n.states?.[n.initial]))
    out.initial = { target: [`#${n.states[n.initial].id}`] }
  const transitions = Array.isArray(n.transitions) ? n.transitions.filter(isObj).map(v4Transition) : []
  out.transitions = transitions
  if (Array.isArray(n.invoke))
    out.invoke = n.invoke
      .filter(isObj)
      .map((i: any) => ({ id: i.id, src: typeof i.src === 'string' ? i.src : (i.src?.type ?? 'anonymous') }))
  if (Array.isArray(n.tags)) out.tags = n.tags
  if (typeof n.description === 'string') out.description = n.description
  return out
}

function v4Transition(t: Record<string, any>): Record<string, unknown> {
  const out: Record<string, unknown> = {
    source: String(t.source ?? ''),
    eventType: String(t.eventType ?? t.event ?? ''),
  }
  if (Array.isArray(t.target)) out.target = t.target.map(String)
  if (t.cond) out.guard = typeof t.cond === 'string' ? t.cond : (t.cond.name ?? t.cond.type)
  if (t.delay !== undefined) out.delay = t.delay
  if (Array.isArray(t.actions)) out.actions = t.actions.map((a: any) => (isObj(a) ? a.type : a))
  return out
}
