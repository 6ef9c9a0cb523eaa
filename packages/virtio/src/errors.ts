import { VmloopError } from '@vmloop/atomics';

/**
 * Error codes raised by @vmloop/virtio. Only the host program gets errors:
 * what the guest does wrong is device state (a broken queue, NEEDS_RESET),
 * never an exception.
 */
export type VirtioErrorCode =
  /** Bad options or arguments from the host program. */
  | 'ERR_INVALID_ARGUMENT'
  /** A guest-memory access by the host program outside every region. */
  | 'ERR_GUEST_MEMORY_BOUNDS'
  /** A handle that is not what the `open` expected. */
  | 'ERR_BAD_HANDLE'
  /** A call in a state that does not allow it (e.g. configuring a running queue from the host side). */
  | 'ERR_INVALID_STATE'
  /** A disk image that cannot be opened or has the wrong size. */
  | 'ERR_BACKEND';

/** Errors raised by @vmloop/virtio. Messages start with `virtio:`. */
export class VirtioError extends VmloopError<VirtioErrorCode> {
  constructor(code: VirtioErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, `virtio: ${message}`, options);
  }

  /** True for a VirtioError from any copy of this package. */
  static override isInstance(e: unknown): e is VirtioError {
    return VmloopError.isInstance(e) && e.name === 'VirtioError';
  }
}
