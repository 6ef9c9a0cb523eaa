import { CACHE_LINE, type Fields, type Layout, int32, int32Array, layoutFamily } from './layout.js';

function runFields(n: number) {
  return {
    // Rendezvous counter. Written by both litmus threads (add 1 per
    // iteration); read by both (load, spinning until 2·(i+1)).
    arrive: int32({ align: CACHE_LINE }),
    // Iterations thread 0 reached (store every 4096); read by the watchdog.
    progress: int32({ align: CACHE_LINE }),
    // Threads that finished (add 1 after their last result write); the main
    // thread loads it before reading results: the add/load pair publishes
    // the plain result writes.
    done: int32({ align: CACHE_LINE }),
    // Location x (SB, LB) / data d (MP) and y / flag f, per iteration.
    // Written and read by the two threads: atomically in 'atomic' mode, with
    // plain accesses in the 'plain' control (see litmus-shapes.ts).
    x: int32Array(n, { align: CACHE_LINE }),
    y: int32Array(n, { align: CACHE_LINE }),
    // Results: payload written by one thread each, read by the main thread
    // after `done`.
    r0: int32Array(n, { align: CACHE_LINE }),
    r1: int32Array(2 * n, { align: CACHE_LINE }),
  } satisfies Fields;
}

/** Fields of a litmus run of n iterations. */
export type LitmusRunFields = ReturnType<typeof runFields>;

/** @internal The shared memory of a run of `n` iterations. */
export const litmusLayout = layoutFamily('atomics.litmus', runFields);

/** @internal A plain Int32Array over an int32Array field of a run. */
export function plainView(buffer: SharedArrayBuffer, base: number, layout: Layout<LitmusRunFields>, field: 'x' | 'y' | 'r0' | 'r1', length: number): Int32Array {
  return new Int32Array(buffer, base + layout.offsets[field], length);
}
