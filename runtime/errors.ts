/**
 * The runtime's errors share one shape (STYLE 7): a class per failure, named after it, with a
 * stable `code` a caller can switch on and a message that says what to do.
 */

/** An error with a stable `code`; a subclass names the failure and narrows the codes. */
export class CodedError<Code extends string = string> extends Error {
  constructor(
    readonly code: Code,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = new.target.name
  }
}
