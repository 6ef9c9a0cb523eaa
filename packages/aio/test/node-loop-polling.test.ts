/**
 * The Node-loop attachment with adaptive polling: it busy-polls before it
 * sleeps. A BH ping-pong with a worker, where every wake-up matters, must
 * neither lose one nor starve Node's own loop.
 */
import type { Worker } from 'node:worker_threads';
import { runWorkers, withWatchdog } from '@vmloop/test-kit';
import { describe, expect, it } from 'vitest';
import { AioContext, type BottomHalfHandle, RemoteBottomHalf } from '@vmloop/aio';
import { Pong, Suppress } from './workers/shared.js';

const worker = new URL('../build/test/workers/aio-worker.js', import.meta.url);

describe('aio / node loop with adaptive polling', () => {
  it('a poll handler whose producer stays quiet while it polls loses no item: poll mode always ends before the attachment sleeps', async () => {
    // QEMU poll_set_started around the attachment's spin: onPollBegin when
    // it starts, onPollEnd (then one more onPoll) before it can sleep. The
    // producer sets the notifier only while `polling` is 0; an item that
    // lands while the attachment spins is found by onPoll alone, and one
    // that lands as the spin ends by the look after onPollEnd. A sleep in
    // poll mode, or without that look, strands an item: the watchdog fires.
    const rounds = 3000;
    const s = Suppress.create();
    const ctx = AioContext.create({ poll: { maxNs: 20_000 } });
    const n = ctx.createNotifier();
    let consumed = 0;
    let begins = 0;
    let ends = 0;
    let polled = 0;
    let read = 0;
    const consume = (): void => {
      const w = s.work.load();
      if (w === consumed) return;
      if (w !== consumed + 1) throw new Error(`item ${w} after ${consumed}`);
      consumed = w;
      s.ack.store(consumed);
      s.ack.notify();
    };
    ctx.setNotifierHandler(
      n,
      {
        onRead: (x) => {
          x.testAndClear();
          read++;
          consume();
        },
        onPoll: () => s.work.load() !== consumed,
        onPollReady: () => {
          polled++;
          consume();
        },
        onPollBegin: () => {
          begins++;
          s.polling.store(1);
        },
        onPollEnd: () => {
          ends++;
          s.polling.store(0);
        },
      },
    );
    const att = ctx.attachToNodeLoop();
    await runWorkers(worker, [{ op: 'suppressed-producer', state: Suppress.handle(s), notifier: n.handle, rounds, maxDelayUs: 60 }], {
      timeoutMs: 60_000,
      what: () => `lost an item the producer did not signal (it saw the context in poll mode): consumed ${consumed} of ${s.work.load()} produced, ${rounds} rounds; poll mode begun ${begins}, ended ${ends}`,
    });
    await withWatchdog(
      (async () => {
        while (consumed < rounds) await new Promise((r) => setTimeout(r, 1));
      })(),
      20_000,
      () => `lost the last item: consumed ${consumed} of ${rounds}`,
    );
    // Both ways were taken: items found by polling alone, and by the notifier.
    expect(polled).toBeGreaterThan(0);
    expect(read).toBeGreaterThan(0);
    // Balanced: removing the handler in poll mode ends it.
    ctx.setNotifierHandler(n, null);
    expect(ends).toBe(begins);
    att.detach();
    await att.stopped;
  });

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
