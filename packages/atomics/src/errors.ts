/**
 * Typed errors shared by every vmloop package.
 *
 * Host-program contract violations (bad arguments, wrong thread, use after
 * close) throw a `VmloopError` subclass at the API boundary. The `code` is
 * stable across releases; the message is for people and may change.
 * Guest misbehaviour is never an exception: devices record it as state.
 */

const BRAND = Symbol.for('vmloop.error');

/** Error codes raised by @vmloop/atomics. */
export type AtomicsErrorCode =
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_CANNOT_BLOCK'
  | 'ERR_LAYOUT_BOUNDS'
  | 'ERR_BAD_HANDLE'
  | 'ERR_NOT_OWNER'
  | 'ERR_LITMUS_TIMEOUT';

/**
 * Base class of every error thrown by a vmloop package.
 *
 * `VmloopError.isInstance(e)` recognises errors from any copy of the package
 * (two versions installed side by side), which `instanceof` does not.
 */
export class VmloopError<Code extends string = string> extends Error {
  /** Stable, documented error code, e.g. `ERR_CANNOT_BLOCK`. */
  readonly code: Code;

  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /** True for an error thrown by any copy of any vmloop package. */
  static isInstance(e: unknown): e is VmloopError {
    return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[BRAND] === true;
  }
}

/** Errors raised by @vmloop/atomics. Messages start with `atomics:`. */
export class AtomicsError extends VmloopError<AtomicsErrorCode> {
  constructor(code: AtomicsErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, `atomics: ${message}`, options);
  }

  /** True for an AtomicsError from any copy of this package. */
  static override isInstance(e: unknown): e is AtomicsError {
    return VmloopError.isInstance(e) && e.name === 'AtomicsError';
  }
}

/** Throws ERR_INVALID_ARGUMENT unless `v` is a safe integer in [min, max]. */
export function checkInt(what: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new AtomicsError(
      'ERR_INVALID_ARGUMENT',
      `${what} must be an integer in [${min}, ${max}], got ${String(v)}`,
    );
  }
  return v;
}

/**
 * Normalises a timeout in milliseconds: `undefined` and `Infinity` mean
 * "forever"; otherwise a finite number ≥ 0. NaN and negatives are rejected.
 */
export function checkTimeout(what: string, v: number | undefined): number {
  if (v === undefined || v === Number.POSITIVE_INFINITY) return Number.POSITIVE_INFINITY;
  if (typeof v !== 'number' || Number.isNaN(v) || v < 0) {
    throw new AtomicsError('ERR_INVALID_ARGUMENT', `${what} must be a number ≥ 0 or Infinity, got ${String(v)}`);
  }
  return v;
}
