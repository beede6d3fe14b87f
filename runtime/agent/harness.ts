/**
 * The harness file: which providers exist and which ordered list of {provider, model} serves each
 * role. Plain JSON, validated at load; every error names the field (`roles.chat[1].provider`).
 * Keys are never in the file: a provider names the environment variable that holds its key
 * (`apiKeyEnv`), read when the harness is loaded and kept in `Secrets` (see redact.ts).
 *
 * @example
 * {
 *   "providers": {
 *     "local":  { "kind": "openai", "baseUrl": "http://127.0.0.1:4000/v1", "apiKeyEnv": "LITELLM_KEY" },
 *     "claude": { "kind": "anthropic", "baseUrl": "https://api.anthropic.com", "apiKeyEnv": "ANTHROPIC_API_KEY" }
 *   },
 *   "roles": {
 *     "chat":    [{ "provider": "local", "model": "llama-3.1-8b" }, { "provider": "claude", "model": "claude-sonnet-4-5" }],
 *     "planner": [{ "provider": "claude", "model": "claude-sonnet-4-5" }]
 *   },
 *   "breaker": { "threshold": 3, "cooldownMs": 30000 },
 *   "timeoutMs": 60000
 * }
 */
import { readFileSync } from 'node:fs'
import { ROLE_RE } from '../../protocol/agent.ts'

export type ProviderKind = 'openai' | 'anthropic'

export interface ProviderSpec {
  kind: ProviderKind
  /** openai: the API root including `/v1` (`https://api.openai.com/v1`, a LiteLLM proxy, a local
   * server); anthropic: the host root (`https://api.anthropic.com`). */
  baseUrl: string
  /** Name of the environment variable holding the API key; absent for servers without keys. */
  apiKeyEnv?: string
  timeoutMs?: number
  /** Anthropic needs `max_tokens`; OpenAI-compatible servers get it only when set. */
  maxTokens?: number
}

export interface RouteEntry {
  provider: string
  model: string
  timeoutMs?: number
}

export interface Harness {
  providers: Record<string, ProviderSpec>
  roles: Record<string, RouteEntry[]>
  breaker: { threshold: number; cooldownMs: number }
  timeoutMs: number
}

/** The harness file is wrong; `field` is the JSON path of the offending value. */
export class HarnessError extends Error {
  readonly code = 'HARNESS_INVALID'
  constructor(
    readonly field: string,
    readonly detail: string,
    readonly file?: string,
  ) {
    super(`${file ? file + ': ' : ''}${field ? field + ': ' : ''}${detail}`)
    this.name = 'HarnessError'
  }
}

const NAME_RE = /^[A-Za-z0-9_-]{1,40}$/
const ENV_RE = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

function only(o: Record<string, unknown>, allowed: string[], at: string): void {
  for (const k of Object.keys(o)) {
    if (allowed.includes(k)) continue
    if (/key|secret|token|password/i.test(k)) {
      throw new HarnessError(
        `${at}${at ? '.' : ''}${k}`,
        'secrets do not belong in the harness file: put the key in an environment variable and name it in "apiKeyEnv"',
      )
    }
    throw new HarnessError(`${at}${at ? '.' : ''}${k}`, `unknown field; allowed here: ${allowed.join(', ')}`)
  }
}

function posInt(v: unknown, field: string, max = 3_600_000): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max)
    throw new HarnessError(field, `must be an integer from 1 to ${max}`)
  return v
}

/** Validates a parsed harness document. */
export function validateHarness(doc: unknown): Harness {
  if (!isObj(doc)) throw new HarnessError('', 'the harness must be a JSON object with "providers" and "roles"')
  only(doc, ['$schema', 'description', 'providers', 'roles', 'breaker', 'timeoutMs'], '')
  if (!isObj(doc.providers) || Object.keys(doc.providers).length === 0)
    throw new HarnessError('providers', 'must be an object with at least one provider')
  const providers: Record<string, ProviderSpec> = {}
  for (const [name, raw] of Object.entries(doc.providers)) {
    const at = `providers.${name}`
    if (!NAME_RE.test(name)) throw new HarnessError(at, 'a provider name is 1-40 letters, digits, "-" or "_"')
    if (!isObj(raw)) throw new HarnessError(at, 'must be an object {kind, baseUrl, apiKeyEnv?}')
    only(raw, ['kind', 'baseUrl', 'apiKeyEnv', 'timeoutMs', 'maxTokens', 'description'], at)
    if (raw.kind !== 'openai' && raw.kind !== 'anthropic')
      throw new HarnessError(
        `${at}.kind`,
        'must be "openai" (OpenAI-compatible chat completions: OpenAI, LiteLLM, local servers) or "anthropic"',
      )
    if (typeof raw.baseUrl !== 'string') throw new HarnessError(`${at}.baseUrl`, 'must be an http(s) URL')
    let url: URL
    try {
      url = new URL(raw.baseUrl)
    } catch {
      throw new HarnessError(`${at}.baseUrl`, 'must be an http(s) URL')
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new HarnessError(`${at}.baseUrl`, 'must be an http(s) URL')
    if (url.username || url.password)
      throw new HarnessError(`${at}.baseUrl`, 'must not carry credentials; name an environment variable in "apiKeyEnv"')
    const spec: ProviderSpec = { kind: raw.kind, baseUrl: raw.baseUrl.replace(/\/+$/, '') }
    if (raw.apiKeyEnv !== undefined) {
      if (typeof raw.apiKeyEnv !== 'string' || !ENV_RE.test(raw.apiKeyEnv))
        throw new HarnessError(`${at}.apiKeyEnv`, 'must be the name of an environment variable (letters, digits, "_")')
      spec.apiKeyEnv = raw.apiKeyEnv
    }
    if (raw.timeoutMs !== undefined) spec.timeoutMs = posInt(raw.timeoutMs, `${at}.timeoutMs`)
    if (raw.maxTokens !== undefined) spec.maxTokens = posInt(raw.maxTokens, `${at}.maxTokens`, 1_000_000)
    providers[name] = spec
  }
  if (!isObj(doc.roles) || Object.keys(doc.roles).length === 0)
    throw new HarnessError(
      'roles',
      'must be an object mapping roles (chat, vision, planner, browser, or your own) to lists of {provider, model}',
    )
  const roles: Record<string, RouteEntry[]> = {}
  for (const [role, list] of Object.entries(doc.roles)) {
    const at = `roles.${role}`
    if (!ROLE_RE.test(role))
      throw new HarnessError(at, 'a role name is lowercase letters, digits, "-" or "_", starting with a letter')
    if (!Array.isArray(list) || list.length === 0)
      throw new HarnessError(at, 'must be a non-empty array of {provider, model}, first choice first')
    roles[role] = list.map((e, i) => {
      const eat = `${at}[${i}]`
      if (!isObj(e)) throw new HarnessError(eat, 'must be an object {provider, model}')
      only(e, ['provider', 'model', 'timeoutMs'], eat)
      if (typeof e.provider !== 'string' || !(e.provider in providers)) {
        throw new HarnessError(
          `${eat}.provider`,
          `must name a provider defined in "providers" (${Object.keys(providers).join(', ')})`,
        )
      }
      if (typeof e.model !== 'string' || e.model.length === 0 || e.model.length > 200)
        throw new HarnessError(`${eat}.model`, 'must be a model name (a non-empty string)')
      const entry: RouteEntry = { provider: e.provider, model: e.model }
      if (e.timeoutMs !== undefined) entry.timeoutMs = posInt(e.timeoutMs, `${eat}.timeoutMs`)
      return entry
    })
  }
  let breaker = { threshold: 3, cooldownMs: 30_000 }
  if (doc.breaker !== undefined) {
    if (!isObj(doc.breaker)) throw new HarnessError('breaker', 'must be an object {threshold, cooldownMs}')
    only(doc.breaker, ['threshold', 'cooldownMs'], 'breaker')
    breaker = {
      threshold: doc.breaker.threshold === undefined ? 3 : posInt(doc.breaker.threshold, 'breaker.threshold', 1000),
      cooldownMs: doc.breaker.cooldownMs === undefined ? 30_000 : posInt(doc.breaker.cooldownMs, 'breaker.cooldownMs'),
    }
  }
  const timeoutMs = doc.timeoutMs === undefined ? 60_000 : posInt(doc.timeoutMs, 'timeoutMs')
  return { providers, roles, breaker, timeoutMs }
}

/** Parses and validates harness JSON text (`file` only labels errors). */
export function parseHarness(text: string, file?: string): Harness {
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch (err) {
    throw new HarnessError('', `not valid JSON: ${(err as Error).message}`, file)
  }
  try {
    return validateHarness(doc)
  } catch (err) {
    if (err instanceof HarnessError && file) throw new HarnessError(err.field, err.detail, file)
    throw err
  }
}

/** Reads and validates a harness file. */
export function loadHarness(file: string): Harness {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new HarnessError(
      '',
      `cannot read the harness file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      file,
    )
  }
  return parseHarness(text, file)
}
