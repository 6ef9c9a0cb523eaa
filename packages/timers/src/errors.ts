import { VmloopError } from '@vmloop/atomics';

/** Error codes raised by @vmloop/timers. */
export type TimerErrorCode =
  /** NaN, ±Infinity, a non-integer where an integer is needed, a bad scale or clock. */
  | 'ERR_INVALID_ARGUMENT'
  /** A timer, list or group used after its group was destroyed. */
  | 'ERR_DESTROYED'
  /** A clocks handle that is not one. */
  | 'ERR_BAD_HANDLE'
  /** A manual-clock operation on system clocks, or the other way round. */
  | 'ERR_WRONG_SOURCE';

/** Errors raised by @vmloop/timers. Messages start with `timers:`. */
export class TimerError extends VmloopError<TimerErrorCode> {
  constructor(code: TimerErrorCode, message: string) {
    super(code, `timers: ${message}`);
  }

  /** True for a TimerError from any copy of this package. */
  static override isInstance(e: unknown): e is TimerError {
    return VmloopError.isInstance(e) && e.name === 'TimerError';
  }
}

/** A time or duration in ns: a safe integer (NaN, ±Infinity and fractions are errors). */
export function checkNs(what: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
    throw new TimerError('ERR_INVALID_ARGUMENT', `${what} must be a safe integer number of nanoseconds, got ${String(v)}`);
  }
  return v;
}
