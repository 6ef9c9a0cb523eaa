/**
 * event-notifier across real workers. A lost wake-up stalls a worker; the
 * watchdog then fails the test with the progress counters of every worker,
 * naming what was lost, instead of hanging CI.
 */
import { runWorkers, withWatchdog } from '@vmloop/test-kit';
import { describe, expect, it } from 'vitest';
import { EventNotifier, NotifierSet, type EventNotifierHandle, type EventNotifierStats } from '@vmloop/event-notifier';
import { Progress } from './workers/progress.js';

const worker = new URL('../build/test/workers/notifier-worker.js', import.meta.url);

function progressOf(p: ReturnType<typeof Progress.create>, n: number): string {
  return Array.from({ length: n }, (_, i) => `worker ${i}: ${p.progress.load(i)}`).join(', ');
}

describe('event-notifier / multithread', () => {
  for (const spins of [0, 1000]) {
    it(`ping-pong 1e5 round trips without a lost wake-up (spins ${spins})`, async () => {
      const rounds = 100_000;
      const ping = EventNotifier.create();
      const pong = EventNotifier.create();
      const p = Progress.create();
      const common = { ping: ping.handle, pong: pong.handle, rounds, spins, progress: Progress.handle(p) };
      const [a, b] = await runWorkers<{ stats: EventNotifierStats }>(
        worker,
        [
          { ...common, op: 'ping', id: 0 },
          { ...common, op: 'pong', id: 1 },
        ],
        {
          timeoutMs: 60_000,
          what: () => `lost wake-up in ping-pong: rounds done ${progressOf(p, 2)} of ${rounds}; ping set=${ping.isSet()} pong set=${pong.isSet()}`,
        },
      );
      expect(p.progress.load(0)).toBe(rounds);
      expect(p.progress.load(1)).toBe(rounds);
      // Every set in ping-pong is a 0 → 1 transition: none coalesce.
      expect(a!.stats.sets + b!.stats.sets).toBe(2 * rounds);
    });
  }

  it('many producers, one consumer: counter mode sums exactly', async () => {
    const producers = 4;
    const sets = 50_000;
    const target = EventNotifier.create({ counter: true });
    const p = Progress.create();
    const jobs = [
      { op: 'consume-counter', target: target.handle, total: producers * sets, progress: Progress.handle(p), id: producers },
      ...Array.from({ length: producers }, (_, id) => ({ op: 'produce', target: target.handle, sets, progress: Progress.handle(p), id })),
    ];
    const [consumer] = await runWorkers<{ sum: number; reads: number }>(worker, jobs, {
      timeoutMs: 60_000,
      what: () => `lost wake-up: consumer summed ${p.progress.load(producers)} of ${producers * sets}; producers ${progressOf(p, producers)}`,
    });
    expect(consumer).toMatchObject({ sum: producers * sets });
    expect(target.read()).toBe(0);
  });

  it('a NotifierSet over 1,000 notifiers set from 4 workers accounts for every set', async () => {
    const count = 1000;
    const setters = 4;
    const setsEach = 40; // per notifier per setter
    const total = count * setters * setsEach;
    const p = Progress.create();
    let setterRun: Promise<number[]> | undefined;
    const owner = runWorkers<{ sum: number; perNotifier: number[]; wakeRounds: number }>(
      worker,
      [{ op: 'set-owner', count, total, progress: Progress.handle(p), id: setters }],
      {
        timeoutMs: 60_000,
        what: () => `lost wake-up in NotifierSet: owner accounted ${p.progress.load(setters)} of ${total}; setters ${progressOf(p, setters)}`,
        onMessage: (_, m) => {
          const { handles } = m as { handles: EventNotifierHandle[] };
          setterRun = runWorkers<number>(
            worker,
            Array.from({ length: setters }, (_, id) => ({ op: 'setter', targets: handles, setsEach, seed: 7 + id, progress: Progress.handle(p), id })),
            { timeoutMs: 60_000, what: () => `setters stalled: ${progressOf(p, setters)}` },
          );
        },
      },
    );
    const [result] = await owner;
    const done = await withWatchdog(setterRun!, 10_000, 'setters never finished');
    expect(done).toEqual(Array(setters).fill(count * setsEach));
    expect(result!.sum).toBe(total);
    expect(result!.perNotifier).toEqual(Array(count).fill(setters * setsEach));
    // Wake-ups are shared: far fewer rounds than sets.
    expect(result!.wakeRounds).toBeLessThan(total);
  });

  it('main thread: NotifierSet.waitAsync with 4 worker setters accounts for every set', async () => {
    const count = 200;
    const setters = 4;
    const setsEach = 50;
    const total = count * setters * setsEach;
    const set = NotifierSet.create({ capacity: count });
    const ns = Array.from({ length: count }, () => set.createNotifier({ counter: true }));
    for (const n of ns) set.add(n);
    const p = Progress.create();
    const run = runWorkers<number>(
      worker,
      Array.from({ length: setters }, (_, id) => ({ op: 'setter', targets: ns.map((n) => n.handle), setsEach, seed: 99 + id, progress: Progress.handle(p), id })),
      { timeoutMs: 60_000, what: () => `setters stalled: ${progressOf(p, setters)}` },
    );
    let sum = 0;
    const drain = (async () => {
      while (sum < total) for (const n of await set.waitAsync()) sum += n.read();
    })();
    await withWatchdog(drain, 60_000, () => `lost wake-up on the main thread: accounted ${sum} of ${total}; setters ${progressOf(p, setters)}`);
    await run;
    expect(sum).toBe(total);
  });

  it('wait(timeout) in a worker returns false after the timeout when nobody sets', async () => {
    const n = EventNotifier.create();
    const [r] = await runWorkers<{ result: boolean }>(worker, [{ op: 'timeout', target: n.handle, timeoutMs: 20 }], { what: 'wait(20) never returned' });
    expect(r!.result).toBe(false);
  });
});
