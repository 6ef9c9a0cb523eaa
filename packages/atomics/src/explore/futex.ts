/**
 * The instrumented futex helpers: the API of ../futex.ts, with waits and
 * notifies handed to the installed {@link AtomicsScheduler} (the normal
 * helpers when none is). Loaded only under `--conditions=vmloop-explore`.
 *
 * Under a scheduler `futexSpinWait` skips its spin phase and waits at once:
 * a spin is loads of an unchanged word followed by the same futex wait, so
 * every outcome it can have ('not-equal' after a change, or the wait's) is an
 * outcome of the wait alone under some interleaving, and skipping it keeps
 * busy loops out of the model checker's search. `futexWaitAsync` is not
 * modelled: it throws while a scheduler is installed.
 */
import { checkTimeout } from '../errors.js';
import * as normal from '../futex.js';
import type { SpinWaitOptions, WaitAsyncOptions, WaitResult } from '../futex.js';
import { assertCanBlock } from '../thread.js';
import { hook } from './hooks.js';

export { DEFAULT_SPINS, type SpinWaitOptions, type WaitAsyncOptions, type WaitResult } from '../futex.js';

/** Sleeps while `view[index] === expected`, at most `timeoutMs` ms (instrumented build). */
export function futexWait(view: Int32Array, index: number, expected: number, timeoutMs?: number): WaitResult {
  const s = hook.scheduler;
  if (s === undefined) return normal.futexWait(view, index, expected, timeoutMs);
  assertCanBlock('wait()', 'waitAsync()');
  return s.wait(view, index, expected, checkTimeout('timeoutMs', timeoutMs));
}

/** Asynchronous futex wait (instrumented build: not modelled under a scheduler). */
export function futexWaitAsync(
  view: Int32Array,
  index: number,
  expected: number,
  timeoutMs?: number,
  options?: WaitAsyncOptions,
): Promise<WaitResult> {
  if (hook.scheduler !== undefined) throw new Error('atomics: waitAsync is not modelled by the installed scheduler');
  return normal.futexWaitAsync(view, index, expected, timeoutMs, options);
}

/** Wakes up to `count` threads sleeping on `view[index]` (instrumented build). */
export function futexNotify(view: Int32Array, index: number, count?: number): number {
  const s = hook.scheduler;
  if (s === undefined) return normal.futexNotify(view, index, count);
  return s.notify(view, index, count ?? Number.POSITIVE_INFINITY);
}

/** Spins, then sleeps, while `view[index] === expected` (instrumented build: no spin under a scheduler). */
export function futexSpinWait(view: Int32Array, index: number, expected: number, options?: SpinWaitOptions): WaitResult {
  if (hook.scheduler === undefined) return normal.futexSpinWait(view, index, expected, options);
  return futexWait(view, index, expected, options?.timeoutMs);
}
