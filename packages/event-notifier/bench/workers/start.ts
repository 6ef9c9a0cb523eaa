import { defineLayout, int32 } from '@vmloop/atomics';

/** Start barrier of a ping-pong pair. */
export const Start = defineLayout('bench.start', {
  // Workers that reached the barrier. Written by each worker (add, then
  // notify); read by both (load, futex wait on the value read) until 2.
  ready: int32(),
});
