/**
 * Watchdogs: a race test that loses a wake-up must fail with a message that
 * names what was lost, never hang CI.
 */

/** Thrown when a watchdog fires. */
export class WatchdogError extends Error {
  override name = 'WatchdogError';
}

/**
 * Resolves with `p`, or rejects with a WatchdogError after `ms` milliseconds.
 * `what` describes what was being waited for; a function is called only when
 * the watchdog fires, so it can read counters out of shared memory then.
 */
export function withWatchdog<T>(p: Promise<T>, ms: number, what: string | (() => string)): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const fired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const detail = typeof what === 'function' ? what() : what;
      reject(new WatchdogError(`watchdog: no progress after ${ms} ms: ${detail}`));
    }, ms);
  });
  return Promise.race([p, fired]).finally(() => clearTimeout(timer));
}
