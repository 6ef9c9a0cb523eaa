/**
 * (d) The pool's job module: every export is a job (@vmloop/thread-pool).
 * Each result is a function of the argument, so the home thread can check
 * that a completion belongs to its request.
 */

/** The expected result of `mix(x)` (also used by the home thread to check it). */
export function mixOf(x: number): number {
  let h = x | 0;
  for (let i = 0; i < 64; i++) h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) + i;
  return h >>> 0;
}

export function add1(x: number): number {
  return x + 1;
}

export function mix(x: number): number {
  return mixOf(x);
}

/** Holds the worker for `us` microseconds (a running request while others queue). */
export function sleepUs([x, us]: [number, number]): number {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, us / 1000);
  return x;
}

/** A result too big for the shared-memory slot: it takes the structured-clone path. */
export function big(x: number): number[] {
  return Array.from({ length: 200 }, (_, i) => x + i);
}

/** Fails with a code the home thread expects. */
export function fail(x: number): never {
  throw Object.assign(new RangeError(`soak: planned failure ${x}`), { code: 'E_SOAK' });
}

/** Ends its worker thread (the pool must fail this request with ERR_WORKER_DIED and replace the worker). */
export function die(): never {
  process.exit(7);
}
