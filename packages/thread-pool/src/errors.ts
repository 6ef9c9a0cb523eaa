import { VmloopError } from '@vmloop/atomics';

/** Error codes raised by @vmloop/thread-pool. */
export type PoolErrorCode =
  /** A queued request was cancelled (QEMU: -ECANCELED). */
  | 'ECANCELED'
  /** The worker running the request died (uncaught error, process.exit, out of memory). */
  | 'ERR_WORKER_DIED'
  /** `maxQueue` requests are waiting and the pool was told to refuse more. */
  | 'ERR_QUEUE_FULL'
  /** A call on a closed pool, or a request still queued when `close({ cancel: true })` ran. */
  | 'ERR_POOL_CLOSED'
  /** No job of that name is exported by the pool's modules. */
  | 'ERR_UNKNOWN_JOB'
  /** A job module could not be loaded in a worker. */
  | 'ERR_JOB_MODULE'
  /** Bad options or arguments: limits, names, timeouts. */
  | 'ERR_INVALID_ARGUMENT';

/** Errors raised by @vmloop/thread-pool itself. Messages start with `thread-pool:`. */
export class PoolError extends VmloopError<PoolErrorCode> {
  constructor(code: PoolErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, `thread-pool: ${message}`, options);
  }

  /** True for a PoolError from any copy of this package. */
  static override isInstance(e: unknown): e is PoolError {
    return VmloopError.isInstance(e) && e.name === 'PoolError';
  }
}

/** An error as it crosses from a worker: enough to rebuild it with its name, message, stack and code. */
export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
  readonly code?: unknown;
}

/** @internal */
export function serializeError(e: unknown): SerializedError {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return { name: e.name, message: e.message, ...(e.stack ? { stack: e.stack } : {}), ...(code !== undefined ? { code } : {}) };
  }
  return { name: 'Error', message: `non-Error thrown: ${String(e)}` };
}

/** @internal Rebuilds a job's error on the pool's thread: same name, message, stack and code. */
export function reviveError(s: SerializedError): Error {
  const e = new Error(s.message);
  Object.defineProperty(e, 'name', { value: s.name, configurable: true, writable: true });
  if (s.stack !== undefined) e.stack = s.stack;
  if (s.code !== undefined) Object.assign(e, { code: s.code });
  return e;
}
