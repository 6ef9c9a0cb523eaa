/**
 * Futex helpers over `Atomics.wait` / `Atomics.waitAsync` / `Atomics.notify`.
 *
 * These are the only functions in vmloop that sleep or wake a thread. Every
 * sleep follows the futex contract: the caller reads the word, decides to
 * sleep because of the value it read, and passes that value as `expected`;
 * the engine re-checks it under its waiter lock, so a store + notify that
 * lands between the caller's read and the sleep makes the wait return
 * `'not-equal'` instead of sleeping through it. Callers always loop: a wake
 * proves nothing about the condition (another thread may have taken it).
 *
 * V8 serialises wait/notify behind one process-wide mutex, so a notify with
 * nobody waiting still costs ~50–75 ns here; callers keep a waiter count and
 * skip `notify` when it is zero (see EventNotifier.set).
 */
import { checkTimeout } from './errors.js';
import { assertCanBlock } from './thread.js';

/** Result of a futex wait, as `Atomics.wait` reports it. */
export type WaitResult = 'ok' | 'not-equal' | 'timed-out';

/** Options for {@link futexWaitAsync}. */
export interface WaitAsyncOptions {
  /**
   * Keep the Node process alive while the wait is pending (default true).
   * A pending `Atomics.waitAsync` alone does not keep Node 20's loop alive;
   * with `ref: false` the process may exit while the wait is pending.
   */
  readonly ref?: boolean;
  /**
   * Abandons the wait: the promise rejects with the signal's reason and
   * stops keeping the process alive. The engine keeps the waiter registered
   * until the word is notified or the timeout passes, and a
   * `notify(…, 1)` may be spent on it, so abort only waits on words whose
   * protocol wakes every waiter (notify-all), as EventNotifier does.
   */
  readonly signal?: AbortSignal;
}

/** Options for {@link futexSpinWait}. */
export interface SpinWaitOptions {
  /** Loads of the word before falling back to a sleep (default {@link DEFAULT_SPINS}). */
  readonly spins?: number;
  /** Milliseconds to sleep at most after spinning (default forever). */
  readonly timeoutMs?: number;
}

/**
 * Default spin budget: about 1–3 µs of loads on these machines, the order of
 * a busy-poll round trip between cores and far below the 10–50 µs a real
 * futex wake costs.
 */
export const DEFAULT_SPINS = 1000;

// One ref'd timer keeps the loop alive while any ref'd waitAsync is pending.
let pendingRefs = 0;
let keepAlive: ReturnType<typeof setInterval> | undefined;
const noop = (): void => {};
const KEEPALIVE_MS = 0x3fffffff;

function ref(): void {
  if (pendingRefs++ === 0) keepAlive = setInterval(noop, KEEPALIVE_MS);
}
function unref(): void {
  if (--pendingRefs === 0 && keepAlive !== undefined) {
    clearInterval(keepAlive);
    keepAlive = undefined;
  }
}

/**
 * Sleeps while `view[index] === expected`, at most `timeoutMs` ms.
 * Throws ERR_CANNOT_BLOCK on a thread that may not block.
 * @thread any thread that may block (see canBlock)
 */
export function futexWait(view: Int32Array, index: number, expected: number, timeoutMs?: number): WaitResult {
  assertCanBlock('wait()', 'waitAsync()');
  return Atomics.wait(view, index, expected, checkTimeout('timeoutMs', timeoutMs));
}

/**
 * Asynchronous futex wait: resolves when woken, when the word differs
 * (`'not-equal'`, synchronously decided), or on timeout. Never blocks.
 * @thread any
 */
export function futexWaitAsync(
  view: Int32Array,
  index: number,
  expected: number,
  timeoutMs?: number,
  options?: WaitAsyncOptions,
): Promise<WaitResult> {
  const signal = options?.signal;
  if (signal?.aborted) return Promise.reject(signal.reason);
  const r = Atomics.waitAsync(view, index, expected, checkTimeout('timeoutMs', timeoutMs));
  if (!r.async) return Promise.resolve(r.value);
  const keep = options?.ref !== false;
  if (!keep && signal === undefined) return r.value;
  if (keep) ref();
  return new Promise<WaitResult>((resolve, reject) => {
    let done = false;
    const finish = (): boolean => {
      if (done) return false;
      done = true;
      if (keep) unref();
      signal?.removeEventListener('abort', onAbort);
      return true;
    };
    const onAbort = (): void => {
      if (finish()) reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    r.value.then(
      (v) => {
        if (finish()) resolve(v);
      },
      (e: unknown) => {
        if (finish()) reject(e);
      },
    );
  });
}

/**
 * Wakes up to `count` threads sleeping on `view[index]` (default: all).
 * Returns how many were woken.
 * @thread any
 */
export function futexNotify(view: Int32Array, index: number, count?: number): number {
  return Atomics.notify(view, index, count ?? Number.POSITIVE_INFINITY);
}

/**
 * Spins with atomic loads while `view[index] === expected`, up to the spin
 * budget, then sleeps like {@link futexWait}. Returns `'not-equal'` as soon
 * as the word changes during the spin phase.
 * @thread any thread that may block (see canBlock)
 */
export function futexSpinWait(view: Int32Array, index: number, expected: number, options?: SpinWaitOptions): WaitResult {
  const spins = options?.spins ?? DEFAULT_SPINS;
  for (let i = 0; i < spins; i++) {
    if (Atomics.load(view, index) !== expected) return 'not-equal';
  }
  return futexWait(view, index, expected, options?.timeoutMs);
}
