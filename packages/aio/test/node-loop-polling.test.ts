/**
 * The Node-loop attachment with adaptive polling: it busy-polls before it
 * sleeps. A BH ping-pong with a worker, where every wake-up matters, must
 * neither lose one nor starve Node's own loop.
 */
import type { Worker } from 'node:worker_threads';
import { runWorkers, withWatchdog } from '@vmloop/test-kit';
import { describe, expect, it } from 'vitest';
import { AioContext, type BottomHalfHandle, RemoteBottomHalf } from '@vmloop/aio';
import { Pong } from './workers/shared.js';

const worker = new URL('../build/test/workers/aio-worker.js', import.meta.url);

describe('aio / node loop with adaptive polling', () => {
  it('a BH ping-pong between an attached main-thread context and a worker loses no wake-up', async () => {
    const rounds = 5000;
    const st = Pong.create();
    const ctx = AioContext.create({ poll: { maxNs: 1_000_000 } });
    const att = ctx.attachToNodeLoop();
    let peer: RemoteBottomHalf | undefined;
    let runs = 0;
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 1);
    const bh = ctx.bh(
      () => {
        runs++;
        st.rounds.store(0, runs);
        if (runs < rounds) peer!.schedule();
      },
      { name: 'main-pong' },
    );
    let ws: Worker[] = [];
    const done = runWorkers(worker, [{ op: 'pong', side: 1, rounds, state: Pong.handle(st), pollMaxNs: 32768 }], {
      timeoutMs: 60_000,
      what: () => `lost wake-up with the attachment polling: main ran ${runs}, worker ran ${st.rounds.load(1)} of ${rounds}`,
      onOnline: (w) => {
        ws = [...w];
      },
      onMessage: (_, msg) => {
        peer = RemoteBottomHalf.open((msg as { bh: BottomHalfHandle }).bh);
        ws[0]!.postMessage(bh.handle);
        peer.schedule(); // main serves the first ball

      },
    });
    await done;
    // The worker returns after its last run; that run's ball may still be on
    // its way to the main thread's BH.
    await withWatchdog(
      (async () => {
        while (runs < rounds) await new Promise((r) => setTimeout(r, 1));
      })(),
      20_000,
      () => `lost the last wake-up: main ran ${runs} of ${rounds}`,
    );
    clearInterval(ticker);
    expect(runs).toBe(rounds);
    // Node's own timers kept running while the attachment spun.
    expect(ticks).toBeGreaterThan(0);
    bh.delete();
    att.detach();
    await att.stopped;
  });
});
