/**
 * QEMU test-thread-pool's shape, on a worker so polls may block: two
 * requests complete together; each completion callback waits (a nested
 * blocking poll) until the other's callback ran. That works only because
 * the completion BH reschedules itself before running a callback.
 */
import { AioContext } from '@vmloop/aio';
import { workerMain } from '@vmloop/test-kit/worker';
import { ThreadPool } from '@vmloop/thread-pool';

workerMain(async (d: { jobs: string; rounds: number }) => {
  const ctx = AioContext.create();
  const pool = new ThreadPool(ctx, { jobs: d.jobs, max: 2 });
  let nested = 0;
  for (let r = 0; r < d.rounds; r++) {
    let aDone = false;
    let bDone = false;
    pool.submitCallback('add1', 1, () => {
      aDone = true;
      if (!bDone) {
        nested++;
        ctx.waitWhile(() => !bDone);
      }
    });
    pool.submitCallback('add1', 2, () => {
      bDone = true;
      if (!aDone) {
        nested++;
        ctx.waitWhile(() => !aDone);
      }
    });
    // Let both finish in the workers before the completion BH runs.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    ctx.waitWhile(() => !(aDone && bDone));
  }
  const closing = pool.close();
  ctx.attachToNodeLoop();
  await closing;
  return { nested, stats: pool.stats };
});
