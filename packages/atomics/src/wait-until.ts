import type { Int32Cell } from './cell.js';
import { checkTimeout } from './errors.js';
import { deadlineOf, remaining } from './handle.js';

/**
 * @internal The futex wait loop of Event and Semaphore: until `take()`
 * succeeds or the timeout passes, count this thread in `waiters`, then
 * sleep while `word` equals `expected`. The waker changes `word` with an RMW
 * and then reads `waiters` to decide whether to notify (store-buffering
 * with `waiters.add` here and the futex check under the engine's lock).
 */
export function waitUntil(take: () => boolean, word: Int32Cell, expected: number, waiters: Int32Cell, timeoutMs: number | undefined): boolean {
  const deadline = deadlineOf(checkTimeout('timeoutMs', timeoutMs));
  for (;;) {
    if (take()) return true;
    const left = remaining(deadline);
    if (left === 0) return false;
    waiters.add(1);
    try {
      word.wait(expected, left);
    } finally {
      waiters.sub(1);
    }
  }
}

/** @internal `waitUntil` with waitAsync: never blocks. */
export async function waitUntilAsync(
  take: () => boolean,
  word: Int32Cell,
  expected: number,
  waiters: Int32Cell,
  timeoutMs: number | undefined,
): Promise<boolean> {
  const deadline = deadlineOf(checkTimeout('timeoutMs', timeoutMs));
  for (;;) {
    if (take()) return true;
    const left = remaining(deadline);
    if (left === 0) return false;
    waiters.add(1);
    try {
      await word.waitAsync(expected, left);
    } finally {
      waiters.sub(1);
    }
  }
}
