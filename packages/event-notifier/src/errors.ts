import { VmloopError } from '@vmloop/atomics';

/** Error codes raised by @vmloop/event-notifier. */
export type NotifierErrorCode =
  /** A method was called on an EventNotifier after `close()`. */
  | 'ERR_NOTIFIER_CLOSED'
  /** A method was called on a NotifierSet after `close()`. */
  | 'ERR_SET_CLOSED'
  /** `EventNotifier.open` got something that is not a live notifier handle. */
  | 'ERR_BAD_HANDLE'
  /** `NotifierSet.createNotifier` found every slot of the set in use. */
  | 'ERR_SET_FULL'
  /** `NotifierSet.add/remove` got a notifier that lives in another set's memory. */
  | 'ERR_FOREIGN_NOTIFIER'
  /** A blocking wait on a thread that may not block (the Node main thread). */
  | 'ERR_CANNOT_BLOCK'
  /** A bad option or argument: NaN timeout, capacity out of range, … */
  | 'ERR_INVALID_ARGUMENT';

/** Errors raised by @vmloop/event-notifier. Messages start with `event-notifier:`. */
export class NotifierError extends VmloopError<NotifierErrorCode> {
  constructor(code: NotifierErrorCode, message: string) {
    super(code, `event-notifier: ${message}`);
  }

  /** True for a NotifierError from any copy of this package. */
  static override isInstance(e: unknown): e is NotifierError {
    return VmloopError.isInstance(e) && e.name === 'NotifierError';
  }
}

/** Milliseconds ≥ 0, or forever for `undefined`/`Infinity`; NaN and negatives are an error. */
export function checkTimeout(timeoutMs: number | undefined): number {
  if (timeoutMs === undefined) return Number.POSITIVE_INFINITY;
  if (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs) || timeoutMs < 0) {
    throw new NotifierError('ERR_INVALID_ARGUMENT', `timeoutMs must be a number ≥ 0 or Infinity, got ${String(timeoutMs)}`);
  }
  return timeoutMs;
}

/** A spin budget: an integer ≥ 0. */
export function checkSpins(spins: number | undefined, fallback: number): number {
  if (spins === undefined) return fallback;
  if (!Number.isSafeInteger(spins) || spins < 0) {
    throw new NotifierError('ERR_INVALID_ARGUMENT', `spins must be an integer ≥ 0, got ${String(spins)}`);
  }
  return spins;
}
