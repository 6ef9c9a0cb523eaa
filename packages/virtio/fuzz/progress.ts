import { defineLayout, int32Array } from '@vmloop/atomics';

/**
 * Breadcrumbs of a fuzz run in a worker, for the watchdog of the CLI and of
 * test/fuzz.test.ts. Written by the fuzzing worker (store, before each
 * case), read by the watching thread (load): a case whose (chunk, index)
 * does not move on is a pop that never returned.
 */
export const FuzzProgress = defineLayout('virtio-fuzz.progress', {
  // [0] cases finished, [1] chunk of the case being replayed, [2] its index in the chunk.
  cells: int32Array(3),
});
export const DONE = 0;
export const CHUNK = 1;
export const INDEX = 2;

/** The job a fuzzing worker runs. */
export interface FuzzJob {
  readonly cases: number;
  readonly seed: number;
  readonly progress: unknown;
}
