import { AioError, checkInt } from './errors.js';

/** Adaptive polling parameters (QEMU aio_context_set_poll_params). */
export interface PollParams {
  /** Longest busy-poll window in ns; 0 disables polling (QEMU poll-max-ns). */
  readonly maxNs: number;
  /** Factor to grow the window by; 0 means 2 (QEMU poll-grow). */
  readonly grow: number;
  /** Divisor to shrink the window by; 0 means reset to 0 (QEMU poll-shrink). */
  readonly shrink: number;
}

/** Polling off, as a new QEMU AioContext. IOThreads default to QEMU's 32768 ns. */
export const POLL_OFF: PollParams = { maxNs: 0, grow: 0, shrink: 0 };
/** QEMU's IOThread default poll-max-ns. */
export const IOTHREAD_POLL_MAX_NS = 32768;
/** The first window when growing from 0 (QEMU: 4 µs). */
export const POLL_START_NS = 4000;

/** Validates user poll parameters (integers ≥ 0; maxNs ≤ 1 s). */
export function checkPollParams(p: Partial<PollParams>): PollParams {
  if (typeof p !== 'object' || p === null) throw new AioError('ERR_INVALID_ARGUMENT', 'poll parameters must be an object');
  return {
    maxNs: checkInt('maxNs', p.maxNs ?? 0, 0, 1_000_000_000),
    grow: checkInt('grow', p.grow ?? 0, 0, 1 << 16),
    shrink: checkInt('shrink', p.shrink ?? 0, 0, 1 << 16),
  };
}

/**
 * QEMU adjust_polling_time: the next poll window after a poll that blocked
 * (spun plus slept) for `blockNs`.
 * - `blockNs <= windowNs`: the sweet spot; keep it.
 * - `blockNs > maxNs`: polling would have had to be too long; shrink.
 * - otherwise, if there is room, grow (from 0 to 4 µs, then ×grow, capped).
 */
export function adjustPollWindow(windowNs: number, blockNs: number, p: PollParams): number {
  if (blockNs <= windowNs) return windowNs;
  if (blockNs > p.maxNs) return p.shrink !== 0 ? Math.floor(windowNs / p.shrink) : 0;
  if (windowNs < p.maxNs && blockNs < p.maxNs) {
    const grown = windowNs !== 0 ? windowNs * (p.grow !== 0 ? p.grow : 2) : POLL_START_NS;
    return Math.min(grown, p.maxNs);
  }
  return windowNs;
}
