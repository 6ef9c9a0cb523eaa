import { VmloopError } from '@vmloop/atomics';

/** Error codes raised by @vmloop/aio. */
export type AioErrorCode =
  /** A call on a destroyed AioContext (or a handle to one). */
  | 'ERR_CONTEXT_DESTROYED'
  /** destroy() found bottom halves that were never deleted (QEMU: "BH leaked"). */
  | 'ERR_BH_LEAKED'
  /** destroy() found armed timers. */
  | 'ERR_TIMERS_ARMED'
  /** A call on a deleted bottom half, or a stale handle to one. */
  | 'ERR_BH_DELETED'
  /** All BH slots of the context are in use. */
  | 'ERR_TOO_MANY_BHS'
  /** A handle that is not a live context or BH handle. */
  | 'ERR_BAD_HANDLE'
  /** A blocking call on a thread that may not block (the Node main thread). */
  | 'ERR_CANNOT_BLOCK'
  /** A notifier that does not belong to this context's set. */
  | 'ERR_FOREIGN_NOTIFIER'
  /** attachToNodeLoop() on a context that is already attached, or poll() while attached. */
  | 'ERR_ATTACHED'
  /** An IOThread failed to start, crashed, or its module threw. */
  | 'ERR_IOTHREAD'
  /** A bad option or argument. */
  | 'ERR_INVALID_ARGUMENT';

/** Errors raised by @vmloop/aio. Messages start with `aio:`. */
export class AioError extends VmloopError<AioErrorCode> {
  constructor(code: AioErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, `aio: ${message}`, options);
  }

  /** True for an AioError from any copy of this package. */
  static override isInstance(e: unknown): e is AioError {
    return VmloopError.isInstance(e) && e.name === 'AioError';
  }
}

/** Throws ERR_INVALID_ARGUMENT unless `v` is an integer in [min, max]. */
export function checkInt(what: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new AioError('ERR_INVALID_ARGUMENT', `${what} must be an integer in [${min}, ${max}], got ${String(v)}`);
  }
  return v;
}
