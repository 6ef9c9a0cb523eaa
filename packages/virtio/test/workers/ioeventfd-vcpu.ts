/**
 * The vCPU of the kick-racing-deassignment test (../ioeventfd-race.ts):
 * rings one MMIO doorbell through an IoEventFdMatcher until told to stop,
 * counting every write after it returned and the writes that matched (a
 * miss would be a synchronous exit on a real vCPU).
 */
import { workerMain } from '@vmloop/test-kit/worker';
import { IoEventFdMatcher } from '@vmloop/virtio';
import { HITS, RaceCells, READY, STOP, type VcpuJob, type VcpuResult, WRITES } from '../ioeventfd-race.js';

workerMain((job: VcpuJob): VcpuResult => {
  const m = IoEventFdMatcher.open(job.table, 0);
  const c = RaceCells.open(job.cells).cells;
  let writes = 0;
  let hits = 0;
  c.store(READY, 1);
  while (c.load(STOP) === 0) {
    if (m.write('mmio', job.address, 4, 0)) c.store(HITS, ++hits);
    // After the write returned (and so after its notifier set, if it made one).
    c.store(WRITES, ++writes);
  }
  return { writes, hits, misses: writes - hits };
});
