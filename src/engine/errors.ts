/**
 * @file Errors the user should read. Every failure that bad input can cause ends in one of these,
 * with a message that says what went wrong and what to do, never a stack trace.
 */

/** A problem with the user's input or settings, worded for the user. */
export class UserFacingError extends Error {
  /** What the user can do about it, one sentence. */
  readonly hint: string;
  constructor(message: string, hint: string) {
    super(message);
    this.name = 'UserFacingError';
    this.hint = hint;
  }
}

/** The run was cancelled by the user or replaced by a newer run. */
export class CancelledError extends Error {
  constructor() {
    super('The attention run was cancelled.');
    this.name = 'CancelledError';
  }
}

/** Something the forward pass polls between steps, so a long run can stop early. */
export interface CancellationCheck {
  /** Throws CancelledError when the run should stop. */
  throwIfCancelled(): void;
}

export const neverCancelled: CancellationCheck = { throwIfCancelled() {} };
