/**
 * A tiny schema language for the wire: each schema both checks a value (throwing a
 * `ProtocolError` that names the offending field) and exports itself as JSON Schema (draft
 * 2020-12), so clients in other languages can speak the protocol.
 *
 * Pure: no node:*, runs in the browser.
 *
 * @example
 * const s = obj({ name: str({ maxLength: 64 }) }, ['name'])
 * s.check({ name: 1 }, 'payload') // throws ProtocolError field "payload.name"
 */
import { ProtocolError } from './errors.ts'

export interface Schema<T = unknown> {
  /** Throws `ProtocolError` (code `BAD_FIELD`) naming `path` when `value` does not fit. */
  check(value: unknown, path: string): void
  /** Phantom: the checked type. */
  readonly _type?: T
  /** The JSON Schema of this schema. */
  json(): Record<string, unknown>
}

const typeName = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v)

function bad(path: string, expected: string, value: unknown): never {
  throw new ProtocolError('BAD_FIELD', `field "${path}" must be ${expected}, got ${typeName(value)}`, path)
}

export function str(
  o: { maxLength?: number; minLength?: number; pattern?: RegExp; enum?: readonly string[]; description?: string } = {},
): Schema<string> {
  return {
    check(v, path) {
      if (typeof v !== 'string') bad(path, 'a string', v)
      if (o.enum && !o.enum.includes(v))
        throw new ProtocolError(
          path.endsWith('kind') ? 'UNKNOWN_KIND' : 'BAD_FIELD',
          `field "${path}" must be one of ${o.enum.join(' | ')}, got "${v.slice(0, 40)}"`,
          path,
        )
      if (o.minLength !== undefined && v.length < o.minLength)
        throw new ProtocolError('BAD_FIELD', `field "${path}" must have at least ${o.minLength} characters`, path)
      if (o.maxLength !== undefined && v.length > o.maxLength)
        throw new ProtocolError('BAD_FIELD', `field "${path}" must have at most ${o.maxLength} characters`, path)
      if (o.pattern && !o.pattern.test(v))
        throw new ProtocolError('BAD_FIELD', `field "${path}" must match ${o.pattern.source}`, path)
    },
    json() {
      return {
        type: 'string',
        ...(o.enum ? { enum: [...o.enum] } : {}),
        ...(o.minLength !== undefined ? { minLength: o.minLength } : {}),
        ...(o.maxLength !== undefined ? { maxLength: o.maxLength } : {}),
        ...(o.pattern ? { pattern: o.pattern.source } : {}),
        ...(o.description ? { description: o.description } : {}),
      }
    },
  }
}

export function lit<T extends string | number>(value: T): Schema<T> {
  return {
    check(v, path) {
      if (v !== value) throw new ProtocolError('BAD_FIELD', `field "${path}" must be ${JSON.stringify(value)}`, path)
    },
    json: () => ({ const: value }),
  }
}

export function int(o: { min?: number; max?: number; description?: string } = {}): Schema<number> {
  return {
    check(v, path) {
      if (typeof v !== 'number' || !Number.isSafeInteger(v)) bad(path, 'an integer', v)
      if (o.min !== undefined && v < o.min)
        throw new ProtocolError('BAD_FIELD', `field "${path}" must be >= ${o.min}`, path)
      if (o.max !== undefined && v > o.max)
        throw new ProtocolError('BAD_FIELD', `field "${path}" must be <= ${o.max}`, path)
    },
    json: () => ({
      type: 'integer',
      ...(o.min !== undefined ? { minimum: o.min } : {}),
      ...(o.max !== undefined ? { maximum: o.max } : {}),
      ...(o.description ? { description: o.description } : {}),
    }),
  }
}

export function num(): Schema<number> {
  return {
    check(v, path) {
      if (typeof v !== 'number' || !Number.isFinite(v)) bad(path, 'a finite number', v)
    },
    json: () => ({ type: 'number' }),
  }
}

export function bool(): Schema<boolean> {
  return {
    check(v, path) {
      if (typeof v !== 'boolean') bad(path, 'a boolean', v)
    },
    json: () => ({ type: 'boolean' }),
  }
}

/** Any JSON value (the application's own payload); size is limited by the decoder. */
export function anyJson(description = 'any JSON value'): Schema<unknown> {
  return {
    check(v, path) {
      if (v === undefined) throw new ProtocolError('BAD_FIELD', `field "${path}" is required`, path)
    },
    json: () => ({ description }),
  }
}

export function arr<T>(item: Schema<T>, o: { maxItems?: number; minItems?: number } = {}): Schema<T[]> {
  return {
    check(v, path) {
      if (!Array.isArray(v)) bad(path, 'an array', v)
      if (o.maxItems !== undefined && v.length > o.maxItems)
        throw new ProtocolError('BAD_FIELD', `field "${path}" must have at most ${o.maxItems} items`, path)
      if (o.minItems !== undefined && v.length < o.minItems)
        throw new ProtocolError('BAD_FIELD', `field "${path}" must have at least ${o.minItems} items`, path)
      for (let i = 0; i < v.length; i++) item.check(v[i], `${path}[${i}]`)
    },
    json: () => ({
      type: 'array',
      items: item.json(),
      ...(o.maxItems !== undefined ? { maxItems: o.maxItems } : {}),
      ...(o.minItems !== undefined ? { minItems: o.minItems } : {}),
    }),
  }
}

/** A record of string keys to one schema (e.g. counters by name). */
export function dict<T>(value: Schema<T>, o: { maxProperties?: number } = {}): Schema<Record<string, T>> {
  return {
    check(v, path) {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(path, 'an object', v)
      const keys = Object.keys(v)
      if (o.maxProperties !== undefined && keys.length > o.maxProperties)
        throw new ProtocolError('BAD_FIELD', `field "${path}" must have at most ${o.maxProperties} keys`, path)
      for (const k of keys) value.check((v as any)[k], `${path}.${k}`)
    },
    json: () => ({
      type: 'object',
      additionalProperties: value.json(),
      ...(o.maxProperties !== undefined ? { maxProperties: o.maxProperties } : {}),
    }),
  }
}

type Props = Record<string, Schema<any>>
type ObjOf<P extends Props, R extends keyof P> = { [K in R]: P[K] extends Schema<infer T> ? T : never } & {
  [K in Exclude<keyof P, R>]?: P[K] extends Schema<infer T> ? T : never
}

/** An object with known properties; unknown properties are refused (a typo must not pass). */
export function obj<P extends Props, R extends keyof P & string>(
  props: P,
  required: readonly R[],
  o: { description?: string; open?: boolean } = {},
): Schema<ObjOf<P, R>> {
  return {
    check(v, path) {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(path, 'an object', v)
      const rec = v as Record<string, unknown>
      for (const k of required)
        if (rec[k] === undefined)
          throw new ProtocolError(
            'MISSING_FIELD',
            `field "${path ? path + '.' : ''}${k}" is required`,
            `${path ? path + '.' : ''}${k}`,
          )
      for (const k in rec) {
        const s = props[k]
        const p = path ? `${path}.${k}` : k
        if (!s) {
          if (o.open) continue
          throw new ProtocolError('UNKNOWN_FIELD', `field "${p}" is not part of this message`, p)
        }
        if (rec[k] !== undefined) s.check(rec[k], p)
      }
    },
    json() {
      const properties: Record<string, unknown> = {}
      for (const [k, s] of Object.entries(props)) properties[k] = s.json()
      return {
        type: 'object',
        properties,
        required: [...required],
        additionalProperties: !!o.open,
        ...(o.description ? { description: o.description } : {}),
      }
    },
  }
}
