/**
 * Worker deaths under load, across real workers. Found by the soak run
 * (tools/soak): when a worker died, reclaim() judged the other slots by
 * `worker[slot]`, which a live worker wrote only once it was running the
 * job — so a slot a live worker had just activated, still naming the dead
 * worker from an earlier use, failed with ERR_WORKER_DIED and was freed
 * while it ran; and a slot a live worker had taken off the ring (W1) but
 * not yet activated (W2) was put back on the ring and ran twice. Both reuse
 * a slot that is still in use: results go to the wrong request, or a
 * completion is lost and the pool hangs.
 */
import { withWatchdog } from '@vmloop/test-kit';
import { describe, expect, it } from 'vitest';
import { AioContext } from '@vmloop/aio';
import { ThreadPool } from '@vmloop/thread-pool';

const codeOf = (p: Promise<unknown>): Promise<string | undefined> =>
  p.then(
    () => undefined,
    (e: unknown) => (e as { code?: string }).code,
  );

const jobs = new URL('../build/test/workers/jobs.js', import.meta.url);

describe('thread-pool / worker death races', () => {
  it('wrong result or lost completion when a worker dies while others take and activate slots: every request completes once, with its own result', async () => {
    const ctx = AioContext.create();
    const att = ctx.attachToNodeLoop();
    // More workers than cores: a live worker is often preempted between
    // taking a slot and running it, which is when a death used to hurt.
    const pool = new ThreadPool(ctx, { jobs, max: 6 });
    const N = 40_000;
    const DIE_EVERY = 500;
    const ends = new Uint8Array(N);
    const wrong: string[] = [];
    let done = 0;
    let sent = 0;
    let inflight = 0;
    let lastDone = 0;
    let stall: ReturnType<typeof setInterval> | undefined;
    try {
      await withWatchdog(
        new Promise<void>((resolve, reject) => {
          // A lost completion stops progress: fail after 10 s without one.
          stall = setInterval(() => {
            if (done === lastDone) reject(new Error(`lost completions: ${done} of ${N} done, ${inflight} in flight, stats ${JSON.stringify(pool.stats)}`));
            lastDone = done;
          }, 10_000);
          const pump = (): void => {
            while (inflight < 256 && sent < N) {
              const i = sent++;
              inflight++;
              const dies = i % DIE_EVERY === DIE_EVERY - 1;
              pool.submitCallback<number>(dies ? 'exitProcess' : 'add1', dies ? 3 : i, (err, r) => {
                inflight--;
                if (ends[i] !== 0) wrong.push(`request ${i} completed twice`);
                ends[i] = 1;
                const code = (err as { code?: string } | null)?.code;
                if (dies ? code !== 'ERR_WORKER_DIED' : err !== null || r !== i + 1) wrong.push(`request ${i} (${dies ? 'exitProcess' : `add1 ${i}`}) got ${err ? code : r}`);
                if (wrong.length > 0) reject(new Error(wrong.join('; ')));
                else if (++done === N) resolve();
                else pump();
              });
            }
          };
          pump();
        }),
        110_000,
        () => `${done} of ${N} done, ${inflight} in flight, stats ${JSON.stringify(pool.stats)}`,
      );
      expect(pool.stats).toMatchObject({ submitted: N, done: N - N / DIE_EVERY, failed: N / DIE_EVERY, died: N / DIE_EVERY });
    } finally {
      clearInterval(stall);
      // A pool whose slots got mixed up may never finish closing.
      await Promise.race([pool.close({ cancel: true }), new Promise((r) => setTimeout(r, 5000))]);
      att.detach();
    }
  });

  it('workers that finished requests and then die together are not startup deaths: the queued requests still run (not ERR_WORKER_DIED "in a row")', async () => {
    // Found by the test above: deaths of busy workers arrive as 'exit'
    // events in bursts, and five in a row with no completion between used
    // to count as "workers keep dying at startup", failing every queued
    // request with ERR_WORKER_DIED.
    const ctx = AioContext.create();
    const att = ctx.attachToNodeLoop();
    const words = new SharedArrayBuffer(4);
    const pool = new ThreadPool(ctx, { jobs, min: 6, max: 6, workerData: { words } });
    try {
      await withWatchdog(
        (async () => {
          // Six distinct workers each finish a request (each waits for the other five).
          expect(await Promise.all(Array.from({ length: 6 }, () => pool.submit('meet', 6)))).toEqual(Array(6).fill(6));
          // Then all six die at once, with requests queued behind them.
          const deaths = Array.from({ length: 6 }, () => codeOf(pool.submit('exitProcess', 3)));
          const queued = Array.from({ length: 100 }, (_, i) => pool.submit<number>('add1', i));
          expect(await Promise.all(deaths)).toEqual(Array(6).fill('ERR_WORKER_DIED'));
          expect(await Promise.all(queued.map((q) => q.catch((e: unknown) => (e as { code?: string }).code)))).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
        })(),
        60_000,
        () => `stats ${JSON.stringify(pool.stats)}`,
      );
      expect(pool.stats.died).toBe(6);
    } finally {
      await Promise.race([pool.close({ cancel: true }), new Promise((r) => setTimeout(r, 5000))]);
      att.detach();
    }
  });

  it('workers that die before their first request (a job module that exits at import): after 5 in a row the queued requests fail with ERR_WORKER_DIED, no endless respawn', async () => {
    const ctx = AioContext.create();
    const att = ctx.attachToNodeLoop();
    const pool = new ThreadPool(ctx, { jobs: new URL('../build/test/workers/exit-at-import.js', import.meta.url), max: 2 });
    try {
      const codes = await withWatchdog(Promise.all(Array.from({ length: 3 }, () => codeOf(pool.submit('never')))), 60_000, () => `stats ${JSON.stringify(pool.stats)}`);
      expect(codes).toEqual(Array(3).fill('ERR_WORKER_DIED'));
      expect(pool.stats.died).toBeGreaterThanOrEqual(5);
    } finally {
      await Promise.race([pool.close({ cancel: true }), new Promise((r) => setTimeout(r, 5000))]);
      att.detach();
    }
  });
});
