/**
 * Typed protocol errors. Every message from outside is checked at the edge; a bad one becomes a
 * `ProtocolError` with a stable `code` and, when one field is to blame, the `field` path
 * (`payload.upTo`, `[3].cursor`), so the sender can fix it and the receiver can count it.
 */

/** Stable codes: counters and clients key on them. */
export const ProtocolErrorCode = {
  TOO_LARGE: 'TOO_LARGE',
  BAD_JSON: 'BAD_JSON',
  BAD_FIELD: 'BAD_FIELD',
  MISSING_FIELD: 'MISSING_FIELD',
  UNKNOWN_FIELD: 'UNKNOWN_FIELD',
  UNKNOWN_KIND: 'UNKNOWN_KIND',
  UNKNOWN_SUBJECT: 'UNKNOWN_SUBJECT',
  BAD_VERSION: 'BAD_VERSION',
  WRONG_SENDER: 'WRONG_SENDER',
  WRONG_CLASS: 'WRONG_CLASS',
} as const
export type ProtocolErrorCode = (typeof ProtocolErrorCode)[keyof typeof ProtocolErrorCode]

export class ProtocolError extends Error {
  constructor(
    readonly code: ProtocolErrorCode,
    message: string,
    readonly field?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = 'ProtocolError'
  }

  /** The wire form of this error (the payload of an `error` message). */
  toJSON(): { code: ProtocolErrorCode; message: string; field?: string } {
    return { code: this.code, message: this.message, ...(this.field ? { field: this.field } : {}) }
  }
}
