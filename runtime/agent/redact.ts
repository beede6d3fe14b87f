/**
 * API keys: read from the environment variables a harness names, held here, and scrubbed from
 * every string that leaves the agent runtime (errors, logs, journaled outcomes, cached answers).
 * A provider's error body may quote the key it was given (some do); redaction catches that too.
 */
import { environment, type Env } from '../config.ts'
import type { Harness } from './harness.ts'

export class Secrets {
  private byProvider = new Map<string, string>()
  private values: Array<{ value: string; label: string }> = []
  /** Providers whose key variable is named but not set. */
  readonly missing: Array<{ provider: string; env: string }> = []

  /** Reads the keys of `harness` from `env` (default: the process's environment). */
  static fromEnv(harness: Harness, env: Env = environment()): Secrets {
    const s = new Secrets()
    for (const [name, p] of Object.entries(harness.providers)) {
      if (!p.apiKeyEnv) continue
      const v = env[p.apiKeyEnv]
      if (v === undefined || v === '') s.missing.push({ provider: name, env: p.apiKeyEnv })
      else s.add(name, v, p.apiKeyEnv)
    }
    return s
  }

  add(provider: string, value: string, label: string): void {
    this.byProvider.set(provider, value)
    if (!this.values.some((v) => v.value === value)) this.values.push({ value, label })
    // Longest first, so a key that contains another is replaced whole.
    this.values.sort((a, b) => b.value.length - a.value.length)
  }

  key(provider: string): string | undefined {
    return this.byProvider.get(provider)
  }

  /** `text` with every known key replaced by `[REDACTED:<env var>]`. */
  redact(text: string): string {
    let out = text
    for (const { value, label } of this.values)
      if (out.includes(value)) out = out.split(value).join(`[REDACTED:${label}]`)
    return out
  }

  /** Deep copy of a JSON value with every string redacted. */
  redactJson<T>(v: T): T {
    if (typeof v === 'string') return this.redact(v) as T
    if (Array.isArray(v)) return v.map((x) => this.redactJson(x)) as T
    if (v && typeof v === 'object') {
      const o: Record<string, unknown> = {}
      for (const [k, x] of Object.entries(v)) o[k] = this.redactJson(x)
      return o as T
    }
    return v
  }

  /** Never serialize the keys, whatever logs this object. */
  toJSON(): unknown {
    return { providers: [...this.byProvider.keys()], missing: this.missing }
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `Secrets(${[...this.byProvider.keys()].join(', ')})`
  }
}
