import { defineLayout, int32, int32Array } from '@vmloop/atomics';

/** Shared counters of the aio benchmarks. */
export const BenchState = defineLayout('bench.aio', {
  // inflight[j]: 1 while BH j is scheduled and not yet run. The producer
  // sets it (compareExchange 0 → 1) before scheduling; the BH clears it.
  inflight: int32Array(64),
  // BH runs on the consumer (consumer stores; producer loads to stop).
  runs: int32(),
  // Workers at the start line (add, then spin until 2).
  ready: int32(),
});
