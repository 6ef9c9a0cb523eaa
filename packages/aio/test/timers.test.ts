import { runWorkers } from '@vmloop/test-kit';
import { describe, expect, it } from 'vitest';
import { AioContext, AioError, defaultClocks } from '@vmloop/aio';
import { Clocks, SCALE_MS, SCALE_NS } from '@vmloop/timers';

const worker = new URL('../build/test/workers/timer-worker.js', import.meta.url);

describe('aio / timers', () => {
  it('timers run from poll() once due, and a due timer is progress', () => {
    const clocks = Clocks.create({ source: 'manual' });
    const ctx = AioContext.create({ clocks });
    let fired = 0;
    const t = ctx.createTimer('realtime', SCALE_NS, () => fired++);
    t.modNs(clocks.now('realtime') + 10);
    expect(ctx.poll(false)).toBe(false);
    clocks.advance(10);
    expect(ctx.poll(false)).toBe(true);
    expect(fired).toBe(1);
    expect(ctx.stats.timerRuns).toBe(1);
    ctx.destroy();
  });

  it('arming a timer earlier than the earliest notifies the context', () => {
    const clocks = Clocks.create({ source: 'manual' });
    const ctx = AioContext.create({ clocks });
    const before = ctx.stats.notifies;
    const t = ctx.createTimer('realtime', SCALE_NS, () => {});
    t.modNs(100);
    expect(ctx.stats.notifies).toBe(before + 1);
    t.modNs(200); // later: no notify
    expect(ctx.stats.notifies).toBe(before + 1);
    t.del();
    ctx.destroy();
  });

  it('destroy with an armed timer fails with ERR_TIMERS_ARMED; del() it and destroy succeeds', () => {
    const ctx = AioContext.create();
    const t = ctx.createTimer('realtime', SCALE_MS, () => {});
    t.mod(Math.floor(defaultClocks().now('realtime') / 1e6) + 60_000);
    expect(() => ctx.destroy()).toThrow(expect.objectContaining({ code: 'ERR_TIMERS_ARMED' }));
    t.del();
    ctx.destroy();
    expect(() => t.modNs(1)).toThrow(expect.objectContaining({ code: 'ERR_DESTROYED' }));
    expect(AioError.isInstance(new AioError('ERR_TIMERS_ARMED', 'x'))).toBe(true);
  });

  it('a blocking poll in a worker sleeps until the timer deadline and runs the timer', async () => {
    const [r] = await runWorkers<{ fired: number; polls: number; blockingWaits: number }>(worker, [{ delayMs: 20 }], {
      what: 'the blocking poll never woke for its timer deadline',
    });
    expect(r!.fired).toBe(1);
    expect(r!.blockingWaits).toBeGreaterThan(0);
  });
});
