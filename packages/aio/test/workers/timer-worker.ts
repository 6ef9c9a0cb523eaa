import { AioContext } from '@vmloop/aio';
import { workerMain } from '@vmloop/test-kit/worker';
import { SCALE_MS } from '@vmloop/timers';

workerMain((d: { delayMs: number }) => {
  const ctx = AioContext.create();
  let fired = 0;
  const t = ctx.createTimer('realtime', SCALE_MS, () => fired++);
  t.modNs(ctx.timers.clocks.now('realtime') + d.delayMs * 1e6);
  // Nothing but the timer can end this wait: the deadline must bound the sleep.
  ctx.waitWhile(() => fired === 0);
  const stats = ctx.stats;
  ctx.destroy();
  return { fired, polls: stats.polls, blockingWaits: stats.blockingWaits };
});
