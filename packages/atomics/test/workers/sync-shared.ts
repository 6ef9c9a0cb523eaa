import { defineLayout, int32, int32Array } from '@vmloop/atomics';

/** Shared state of the sync-primitive tests (writers and readers named per field). */
export const Shared = defineLayout('test.sync', {
  // Mutex test: the protected counter (load + store under the mutex).
  // Event test: releases counted by waiters (add).
  counter: int32(),
  // Stop flag set by the test or the seqlock writer (store 1); workers load it.
  stop: int32(),
  // Semaphore test: holders now (add/sub) and the maximum seen (CAS max).
  inside: int32(),
  maxInside: int32(),
  // Condition test: a 16-slot queue under the mutex (head, tail, taken).
  head: int32(),
  tail: int32(),
  taken: int32(),
  queue: int32Array(16),
});
